"""One ingest cycle without I/O: deduplication, own outputs skipped, refusals, rule failures.

The real alert engine and default profile; no broker, no store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.pipeline import REJECTION_REASON_CHARS, REJECTION_TOPIC_CHARS, Inbound, Pipeline
from vitals.alerts import AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile_loader import load_profile
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
    ("too deep", "vitals/s1/hr/ox-1/extra", b'{"bpm": 70}', "topic must be"),
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


# --- replicas: every worker judges every session, and their outputs are the same -------------


def hr_at(seconds: float, bpm: int = 72, session: str = "s1") -> Inbound:
    at = T0 + timedelta(seconds=seconds)
    return Inbound(f"vitals/{session}/hr", json.dumps(
        {"bpm": bpm, "time": at.isoformat().replace("+00:00", "Z"), "device": "ox-1"}).encode(),
        at + timedelta(milliseconds=40))


def test_two_replicas_fed_the_same_readings_emit_the_same_alert_events() -> None:
    first, second = pipeline(), pipeline()
    messages = [hr_at(0), hr_at(5, 140), hr_at(10, 150), hr_at(15, 80), hr_at(20, 79)]
    assert [first.process([m]).alerts for m in messages] == [
        second.process([m]).alerts for m in messages]
    assert first.engine.active() == second.engine.active()


@pytest.mark.parametrize("late_by", [0.1, 0.9, 7.0])
def test_a_silence_alarm_is_dated_when_it_became_due_whenever_a_tick_notices_it(
        late_by: float) -> None:
    # Two replicas tick at different moments; the event they store must be the same point.
    replica = pipeline()
    replica.process([hr_at(0)])
    limit = replica.engine.profile.technical.stream_seconds
    due = T0 + timedelta(seconds=limit)
    assert replica.tick(due - timedelta(seconds=0.5)).alerts == []
    [alert] = replica.tick(due + timedelta(seconds=late_by)).alerts
    assert (alert.metric, alert.time, alert.value) == (Metric.DATA, due, limit)


def test_a_silence_noticed_by_a_tick_or_only_by_the_next_reading_is_the_same_event() -> None:
    ticked, unticked = pipeline(), pipeline()
    for replica in (ticked, unticked):
        replica.process([hr_at(0)])
    limit = ticked.engine.profile.technical.stream_seconds
    [raised] = ticked.tick(T0 + timedelta(seconds=limit + 2)).alerts
    late = hr_at(limit + 5)
    assert unticked.process([late]).alerts == [raised, *ticked.process([late]).alerts]


def test_a_late_noticed_alarm_is_dated_when_due_apart_from_other_technical_alarms() -> None:
    # A device problem raised and cleared on the BP stream while the HR silence was already
    # due: two alarms (one per cause), each in its own time order; the silence is dated when
    # it fell due, not after the other alarm's events.
    p = pipeline()
    p.process([hr_at(0)])
    limit = p.engine.profile.technical.stream_seconds

    def bp(seconds: float, problems: list[str]) -> Inbound:
        at = T0 + timedelta(seconds=seconds)
        return Inbound("vitals/s1/bp", json.dumps(
            {"systolic": 120, "diastolic": 80, "problems": problems,
             "time": at.isoformat().replace("+00:00", "Z")}).encode(), at)

    # The BP readings also advance the session's clock past the HR silence's due time.
    emitted = [*p.process([bp(limit - 10, ["body_movement"])]).alerts,
               *p.process([bp(limit + 1, [])]).alerts]
    emitted += p.process([bp(limit + 2, [])]).alerts + p.tick(
        T0 + timedelta(seconds=limit + 2.04)).alerts
    for rule in ("data.device_problem.bp", "data.stream_silent.hr"):
        times = [a.time for a in emitted if a.rule == rule]
        assert times == sorted(times) and len(set(times)) == len(times)
    assert emitted[-1].state.value == "active" and "heart rate" in emitted[-1].message
    assert emitted[-1].time == T0 + timedelta(seconds=limit)


def test_the_notifiers_failed_delivery_is_a_technical_alarm_and_nothing_is_stored_for_it() -> None:
    ingest = pipeline()
    ingest.process([inbound("vitals/s1/hr", HIGH_HR)])
    outcome = ingest.process([inbound("vitals/s1/delivery", {
        "time": "2026-11-28T17:05:02Z", "person": "Dr X", "channel": "mailto",
        "delivered": False, "error": "connection refused"})])
    [alarm] = outcome.alerts
    assert alarm.metric is Metric.DATA and alarm.rule.startswith("data.notify_failed.")
    assert len(outcome.batch) == 1 and not outcome.rejections  # just the alert event
    assert ingest.counters.deliveries == 1


def test_rules_failing_on_every_reading_raise_one_latched_alarm_that_can_be_acknowledged() -> None:
    p = Pipeline(FailingEngine(load_profile(None)))
    first = p.process([inbound("vitals/s1/hr", HIGH_HR)])
    again = p.process([inbound("vitals/s1/hr", {**HIGH_HR, "time": "2026-11-28T17:04:30Z"})])
    assert len(first.alerts) == 1 and again.alerts == []  # raised once while it lasts
    assert p.counters.rule_failures == 2  # every failure still counted and logged
    (acknowledged,) = p.engine.acknowledge("s1", Metric.DATA, "nurse", None,
                                           datetime(2026, 11, 28, 17, 7, tzinfo=UTC))
    assert (acknowledged.state, acknowledged.rule) == (AlertState.ACKNOWLEDGED,
                                                       "ingest.rules_failed")


def test_a_retraction_goes_in_the_batch_and_a_later_rule_no_longer_counts_it() -> None:
    p = pipeline()
    sedation = {"observation": "sedation", "severity": "moderate", "by": "nurse-a",
                "time": "2026-11-28T17:00:00Z"}
    retraction = {"retract": {"observation": "sedation", "time": "2026-11-28T17:00:00Z"},
                  "by": "nurse-a", "time": "2026-11-28T17:01:00Z"}
    vomiting = {"observation": "vomiting", "by": "nurse-a", "time": "2026-11-28T17:02:00Z"}

    first = p.process([inbound("vitals/s1/observation", m) for m in (sedation, retraction)])
    again = p.process([inbound("vitals/s1/observation", retraction)])
    after = p.process([inbound("vitals/s1/observation", vomiting)])

    assert [(r.observation.value, r.by) for r in first.batch.retractions] == [
        ("sedation", "nurse-a")]
    assert first.alerts == again.alerts == after.alerts == []  # no aspiration-risk alarm
    assert len(again.batch.retractions) == 1
