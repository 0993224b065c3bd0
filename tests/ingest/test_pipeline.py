"""One ingest cycle without I/O: deduplication, own outputs skipped, refusals, rule failures.

The real alert engine and default profile; no broker, no store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.pipeline import REJECTION_REASON_CHARS, REJECTION_TOPIC_CHARS, Inbound, Pipeline
from ingest.shards import Forwarded, envelope
from vitals.alerts import Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile import load_profile
from vitals.readings import MAX_PAYLOAD_BYTES, Reading

T0 = datetime(2026, 11, 28, 17, 5, tzinfo=UTC)


def pipeline() -> Pipeline:
    return Pipeline(AlertEngine(load_profile(None)))


def inbound(topic: str, payload: bytes | dict) -> Inbound:
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    return Inbound(topic, payload, T0)


HIGH_HR = {"bpm": 140, "time": "2026-11-28T17:05:00Z", "device": "ox-1"}


def test_a_redelivered_reading_is_stored_again_but_judged_once() -> None:
    p = pipeline()
    first = p.process([inbound("vitals/s1/hr", HIGH_HR)])
    again = p.process([inbound("vitals/s1/hr", HIGH_HR)])
    assert [a.priority for a in first.alerts] == [Priority.HIGH]
    assert again.alerts == []
    # Written again (an overwrite of the same identity), so a lost first write cannot lose it.
    assert len(again.batch.readings) == 1
    assert (p.counters.readings, p.counters.duplicates, p.counters.alerts) == (2, 1, 1)


def test_what_a_restart_restored_from_storage_is_not_judged_again_when_redelivered() -> None:
    # The last run stored the reading and its alarm but died before acknowledging: the broker
    # redelivers it to the restarted worker, which rebuilt its state from storage first.
    before = pipeline().process([inbound("vitals/s1/hr", HIGH_HR)])
    p = pipeline()
    p.restore("s1", [], before.batch.readings, before.batch.alerts)

    again = p.process([inbound("vitals/s1/hr", HIGH_HR)])

    assert again.alerts == []
    assert len(again.batch.readings) == 1  # stored again: an overwrite of the same point
    assert (p.counters.readings, p.counters.duplicates) == (1, 1)


@pytest.mark.parametrize("topic", [
    "vitals/s1/alert", "vitals/s1/rejected", "vitals/s1/status", "vitals/_ingest/w1/status",
])
def test_the_ingests_own_publications_coming_back_are_not_input(topic) -> None:
    p = pipeline()
    outcome = p.process([inbound(topic, {"state": "running"})])
    assert len(outcome.batch) == 0 and outcome.rejections == []
    assert p.counters.received == 0


HOSTILE = [
    ("oversized payload", "vitals/s1/hr", b'{"bpm": 70, "x": "' + b"a" * MAX_PAYLOAD_BYTES + b'"}',
     "the limit is"),
    ("deep JSON", "vitals/s1/hr", b'{"bpm": 70, "a": {"b": {"c": {"d": {"e": 1}}}}}',
     "nested deeper"),
    ("very deep JSON", "vitals/s1/hr", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "limit"),
    ("NaN", "vitals/s1/hr", b'{"bpm": NaN}', "NaN"),
    ("Infinity", "vitals/s1/spo2", b'{"spo2": Infinity}', "Infinity"),
    ("-Infinity", "vitals/s1/bp", b'{"systolic": -Infinity, "diastolic": 80}', "Infinity"),
    ("huge number", "vitals/s1/hr", b'{"bpm": 1e400}', "finite"),
    ("non-UTF-8", "vitals/s1/hr", b'{"bpm": "\xff\xfe"}', "not UTF-8"),
    ("binary junk", "vitals/s1/hr", bytes(range(256)), "not UTF-8"),
    ("empty payload", "vitals/s1/hr", b"", "not valid JSON"),
    ("JSON array", "vitals/s1/hr", b"[70]", "JSON object"),
    ("string value", "vitals/s1/hr", b'{"bpm": "70"}', "must be a number"),
    ("boolean value", "vitals/s1/hr", b'{"bpm": true}', "must be a number"),
    ("device with line protocol", "vitals/s1/hr", b'{"bpm": 70, "device": "a,b=c d"}',
     "device must be"),
    ("comma in session", "vitals/a,b/hr", b'{"bpm": 70}', "session id"),
    ("space in session", "vitals/a b/hr", b'{"bpm": 70}', "session id"),
    ("equals in session", "vitals/a=b/hr", b'{"bpm": 70}', "session id"),
    ("double quote in session", 'vitals/a"b/hr', b'{"bpm": 70}', "session id"),
    ("single quote in session", "vitals/a'b/hr", b'{"bpm": 70}', "session id"),
    ("newline in session", "vitals/a\nb/hr", b'{"bpm": 70}', "session id"),
    ("backslash in session", "vitals/a\\/hr", b'{"bpm": 70}', "session id"),
    ("InfluxQL in session", "vitals/x' OR 1=1 --/hr", b'{"bpm": 70}', "session id"),
    ("session too long", "vitals/" + "s" * 65 + "/hr", b'{"bpm": 70}', "session id"),
    ("too deep", "vitals/s1/hr/extra", b'{"bpm": 70}', "topic must be"),
    ("too shallow", "vitals/s1", b'{"bpm": 70}', "topic must be"),
    ("empty level", "vitals//hr", b'{"bpm": 70}', "session id"),
    ("huge topic", "vitals/s1/" + "x" * 60_000, b'{"bpm": 70}', "unknown reading kind"),
    ("huge deep topic", "vitals/" + "/".join(["x"] * 20_000), b"{}", "topic must be"),
    ("unknown kind", "vitals/s1/temperature", b'{"celsius": 37}', "unknown reading kind"),
]


@pytest.mark.parametrize(("why", "topic", "payload", "words"), HOSTILE,
                         ids=[row[0] for row in HOSTILE])
def test_hostile_input_is_refused_with_a_bounded_reason_and_counted(why, topic, payload,
                                                                    words) -> None:
    p = pipeline()
    outcome = p.process([inbound(topic, payload), inbound("vitals/s1/hr", HIGH_HR)])
    (rejection,) = outcome.rejections
    assert words in rejection.reason, why
    assert len(rejection.topic) <= REJECTION_TOPIC_CHARS
    assert len(rejection.reason) <= REJECTION_REASON_CHARS
    assert len(rejection.payload) <= 512
    assert [r.session for r in outcome.batch.readings] == ["s1"]  # its neighbour is kept
    assert (p.counters.rejected, sum(p.counters.rejected_by_reason.values())) == (1, 1)


class FailingEngine(AlertEngine):
    """A rule set that breaks on every reading (a simple fake of our own interface)."""

    def on_reading(self, reading: Reading, received_at: datetime):
        raise ZeroDivisionError("a broken rule")


def test_a_failing_rule_keeps_the_reading_and_raises_a_technical_alarm() -> None:
    p = Pipeline(FailingEngine(load_profile(None)))
    outcome = p.process([inbound("vitals/s1/hr", HIGH_HR)])
    assert len(outcome.batch.readings) == 1
    (alarm,) = outcome.alerts
    assert (alarm.metric, alarm.priority, alarm.rule) == (Metric.DATA, Priority.HIGH,
                                                          "ingest.rules_failed")
    assert p.counters.rule_failures == 1


topics = st.one_of(
    st.text(max_size=80),
    st.builds(lambda s, k: f"vitals/{s}/{k}", st.text(max_size=70),
              st.sampled_from(["bp", "hr", "spo2", "session", "ack", "alert", "x"])),
)
payloads = st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4)
                 | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                 max_leaves=12).map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries({"bpm": st.floats() | st.integers(), "time": st.text(max_size=30),
                           "device": st.text(max_size=70)}).map(lambda d: json.dumps(d).encode()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(topics, payloads), min_size=1, max_size=5))
def test_no_message_makes_the_pipeline_raise_and_valid_neighbours_are_kept(messages) -> None:
    p = pipeline()
    valid = inbound("vitals/fuzz/hr", {"bpm": 70, "time": "2026-11-28T17:05:00Z"})
    outcome = p.process([*(inbound(t, b) for t, b in messages), valid])
    assert valid.topic in [f"vitals/{r.session}/{r.kind}" for r in outcome.batch.readings]
    assert len(outcome.rejections) == p.counters.rejected


# --- sessions pinned to shards: store what arrives, judge only what this shard owns ------------

OWNED_BY_1 = "a"  # shard_of("a", 2) == 1 (tests/ingest/test_shards.py)
OWNED_BY_0 = "s1"


def shard_pipeline(shard: int) -> Pipeline:
    return Pipeline(AlertEngine(load_profile(None)), shard=shard, shards=2)


def test_another_shards_reading_is_stored_here_and_forwarded_to_its_owner_unjudged() -> None:
    p = shard_pipeline(0)
    outcome = p.process([inbound(f"vitals/{OWNED_BY_1}/hr", HIGH_HR)])
    assert len(outcome.batch.readings) == 1 and outcome.alerts == []
    [forward] = outcome.forwards
    assert forward.topic == "vitals-judge/1"
    assert (forward.message.topic, forward.message.received_at) == (f"vitals/{OWNED_BY_1}/hr", T0)
    assert p.engine.state(OWNED_BY_1) is None
    assert (p.counters.received, p.counters.forwarded) == (1, 1)


def test_a_forwarded_message_is_judged_by_its_owner_and_not_stored_again() -> None:
    receiver, owner = shard_pipeline(0), shard_pipeline(1)
    [forward] = receiver.process([inbound(f"vitals/{OWNED_BY_1}/hr", HIGH_HR)]).forwards
    outcome = owner.process([Inbound(forward.topic, json.dumps(envelope(forward.message))
                                     .encode(), T0)])
    assert [a.priority for a in outcome.alerts] == [Priority.HIGH]
    assert outcome.batch.readings == [] and outcome.batch.alerts == outcome.alerts
    assert not outcome.forwards
    assert (owner.counters.received, owner.counters.judged_for_others) == (0, 1)


def test_a_shards_own_session_is_judged_at_once_and_rejections_are_never_forwarded() -> None:
    p = shard_pipeline(0)
    outcome = p.process([inbound(f"vitals/{OWNED_BY_0}/hr", HIGH_HR),
                         inbound(f"vitals/{OWNED_BY_1}/hr", {"bpm": "fast"})])
    assert [a.session for a in outcome.alerts] == [OWNED_BY_0]
    assert len(outcome.rejections) == 1 and not outcome.forwards


def test_a_shard_judges_what_arrived_together_in_time_order() -> None:
    # A newer reading received directly, older ones forwarded by the other worker in the same
    # batch: in arrival order the engine would see 60 s without heart rate (limit 30 s).
    owner, other = shard_pipeline(0), shard_pipeline(1)

    def hr(second: int) -> Inbound:
        return inbound(f"vitals/{OWNED_BY_0}/hr",
                       {"bpm": 70, "time": f"2026-11-28T17:06:{second:02d}Z"})

    def forwarded(second: int) -> Inbound:
        [forward] = other.process([hr(second)]).forwards
        return Inbound(forward.topic, json.dumps(envelope(forward.message)).encode(), T0)

    assert owner.process([hr(0)]).alerts == []
    assert owner.process([hr(59), forwarded(20), forwarded(40)]).alerts == []


@pytest.mark.parametrize(("why", "payload"), [
    ("a broken envelope", b"{"),
    ("an invalid message inside", json.dumps(envelope(Forwarded(
        f"vitals/{OWNED_BY_1}/hr", b'{"bpm": "fast"}', T0))).encode()),
])
def test_a_forward_that_cannot_be_judged_is_refused_aloud(why, payload) -> None:
    outcome = shard_pipeline(1).process([Inbound("vitals-judge/1", payload, T0)])
    [rejection] = outcome.rejections
    assert rejection.reason.startswith("forwarded message not judged")
    assert outcome.alerts == [] and len(outcome.batch) == 1  # the rejection, stored


def test_one_shard_forwards_nothing() -> None:
    outcome = pipeline().process([inbound(f"vitals/{OWNED_BY_1}/hr", HIGH_HR)])
    assert not outcome.forwards
    assert len(outcome.alerts) == 1
