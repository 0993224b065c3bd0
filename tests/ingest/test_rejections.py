"""Rejections aggregated per source: a few kept whole per interval, the rest counted (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.rejections import RejectionLimiter, source_of
from vitals.readings import Rejection

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


def rejection(session: str, n: int = 0) -> Rejection:
    return Rejection(f"vitals/{session}/hr", f"bpm {n} is outside the plausible range", "{}",
                     T0, session)


def test_a_source_keeps_a_few_rejections_whole_per_interval_then_counts_the_rest() -> None:
    limiter = RejectionLimiter(per_source=3, overall=100, interval=timedelta(seconds=60))
    kept = [limiter.offer(rejection("s1", n), "s1/hr", T0) for n in range(10)]
    assert kept == [True] * 3 + [False] * 7
    assert limiter.flush(T0 + timedelta(seconds=59)) == []  # the interval is not over
    [summary] = limiter.flush(T0 + timedelta(seconds=60))
    assert summary.session == "s1" and summary.reason.startswith("7 more rejections from s1/hr")
    assert "bpm 9" in summary.reason  # the last reason, for a person to act on
    assert limiter.offer(rejection("s1"), "s1/hr", T0 + timedelta(seconds=61))  # a new interval


def test_one_flooding_source_does_not_use_up_another_sources_share() -> None:
    limiter = RejectionLimiter(per_source=2, overall=100)
    for n in range(50):
        limiter.offer(rejection("flood", n), "flood/hr", T0)
    assert limiter.offer(rejection("s2"), "s2/hr", T0)


def test_many_sources_together_keep_at_most_the_overall_bound() -> None:
    limiter = RejectionLimiter(per_source=2, overall=10)
    kept = sum(limiter.offer(rejection(f"s{n}"), f"s{n}/hr", T0) for n in range(1000))
    summaries = limiter.flush(T0 + timedelta(minutes=1))
    assert kept == 10
    assert len(summaries) <= 11  # one per source that lost some, the rest folded into one
    assert sum(int(s.reason.split()[0]) for s in summaries) == 990


def test_the_source_is_the_topics_session_and_leaf() -> None:
    assert source_of("vitals/s1/hr") == "s1/hr"
    assert source_of("vitals/s1/gatt/2a35") == "s1/gatt"
    assert source_of("junk") == "_invalid"
