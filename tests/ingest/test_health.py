"""The health status document and when it is published: pure tables, no broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.health import (
    LatencyWindow,
    Snapshot,
    State,
    offline_document,
    percentile,
    should_publish,
    status_document,
)
from vitals.mqtt import is_output, status_subscription, status_topic

T0 = datetime(2026, 11, 28, 17, 5, tzinfo=UTC)


def snapshot(**changes: object) -> Snapshot:
    base: dict[str, object] = dict(
        state=State.RUNNING, time=T0, client_id="vitals-ingest", broker_up=True, store_up=True,
        store_down_since=None, received=10, stored=8, rejected=2, duplicates=1, alerts=3,
        backlog=0, max_backlog=7, write_latency_ms={"p50": 1.5, "p99": 9.0}, interval_s=5.0)
    base.update(changes)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_status_document_carries_every_field_the_dashboard_reads() -> None:
    assert status_document(snapshot()) == {
        "state": "running", "time": "2026-11-28T17:05:00Z", "client_id": "vitals-ingest",
        "interval_s": 5.0, "broker": "up", "store": "up", "store_down_since": None,
        "received": 10, "stored": 8, "rejected": 2, "duplicates": 1, "alerts": 3,
        "backlog": 0, "max_backlog": 7, "write_latency_ms": {"p50": 1.5, "p99": 9.0},
        "state_restored": True, "window": 0, "rejections_suppressed": 0,
        "refused_sessions": 0, "refused_sessions_last": None,
    }


def test_a_worker_started_without_the_store_says_its_alarm_state_is_not_restored() -> None:
    document = status_document(snapshot(store_up=False, state_restored=False, window=1000))
    assert (document["store"], document["state_restored"], document["window"]) == (
        "down", False, 1000)


def test_status_document_during_a_store_outage_says_since_when_and_what_is_held() -> None:
    document = status_document(snapshot(store_up=False, store_down_since=T0, backlog=42))
    assert (document["store"], document["store_down_since"], document["backlog"]) == (
        "down", "2026-11-28T17:05:00Z", 42)


def test_the_last_will_says_offline() -> None:
    assert offline_document("w1") == {"state": "offline", "client_id": "w1", "broker": "down"}


RUNNING = status_document(snapshot())


@pytest.mark.parametrize(("why", "previous", "current", "elapsed", "expected"), [
    ("first status", None, RUNNING, 0.0, True),
    ("nothing changed, interval not over", RUNNING, RUNNING, 1.0, False),
    ("counters changed, interval not over", RUNNING, {**RUNNING, "received": 11}, 1.0, False),
    ("interval over", RUNNING, RUNNING, 5.0, True),
    ("store went down", RUNNING, {**RUNNING, "store": "down"}, 0.1, True),
    ("broker came back", {**RUNNING, "broker": "down"}, RUNNING, 0.1, True),
    ("stopped", RUNNING, {**RUNNING, "state": "stopped"}, 0.1, True),
])
def test_status_is_published_on_change_or_once_per_interval(why, previous, current, elapsed,
                                                            expected) -> None:
    assert should_publish(previous, current, elapsed, 5.0) is expected, why


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 0.5, None),
    ([4.0], 0.99, 4.0),
    ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
    ([float(n) for n in range(1, 101)], 0.99, 99.0),
    ([float(n) for n in range(1, 101)], 0.5, 50.0),
    ([5.0, 1.0, 3.0], 1.0, 5.0),
])
def test_percentile_is_nearest_rank(values, q, expected) -> None:
    assert percentile(values, q) == expected


def test_latency_window_keeps_only_the_most_recent_writes() -> None:
    window = LatencyWindow(size=3)
    for ms in (100.0, 1.0, 2.0, 3.0):
        window.add(ms)
    assert window.summary() == {"p50": 2.0, "p99": 3.0}
    assert LatencyWindow().summary() == {"p50": None, "p99": None}


@pytest.mark.parametrize(("client_id", "topic"), [
    ("vitals-ingest", "vitals/_ingest/vitals-ingest/status"),
    ("worker.2", "vitals/_ingest/worker.2/status"),
    ("a/b", "vitals/_ingest/a_b/status"),
    ("w+#", "vitals/_ingest/w__/status"),
    ("", "vitals/_ingest/_/status"),
])
def test_status_topic_is_one_level_per_worker_whatever_its_client_id(client_id, topic) -> None:
    assert status_topic("vitals", client_id) == topic
    assert is_output(topic, "vitals")


@pytest.mark.parametrize(("topic", "output"), [
    ("vitals/_ingest/w1/status", True),
    ("vitals/s1/alert", True),
    ("vitals/s1/rejected", True),
    ("vitals/s1/hr", False),
    ("vitals/_ingest/w1/hr", False),  # only the status leaf is ours: the rest is refused input
    ("vitals/_notify/n1/status", True),  # the notifier's status is not a reading either
    ("other/_ingest/w1/status", False),
])
def test_the_ingest_skips_its_own_status_but_nothing_else_at_that_depth(topic, output) -> None:
    assert is_output(topic, "vitals") is output


def test_one_subscription_sees_the_status_of_every_worker() -> None:
    assert status_subscription("vitals") == "vitals/_ingest/+/status"
