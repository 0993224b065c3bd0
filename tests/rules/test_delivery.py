"""A notification the notifier could not deliver is a medium technical alarm of its session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.parser import parse
from vitals.profile_loader import load_profile
from vitals.readings import DeliveryReport, Reading, Rejection
from vitals.rules import DATA_RULE_NOTIFY
from vitals.vital_signs import Kind

T0 = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)


@pytest.fixture
def engine() -> AlertEngine:
    engine = AlertEngine(load_profile())
    engine.on_reading(Reading("s1", Kind.HR, T0, {"bpm": 72}), received_at=T0)
    return engine


def report(seconds: float, delivered: bool, person: str = "Dr X", channel: str = "mailto",
           error: str | None = "connection refused") -> DeliveryReport:
    return DeliveryReport("s1", T0 + timedelta(seconds=seconds), person, channel, delivered,
                          None if delivered else error)


def test_a_failed_delivery_raises_a_medium_technical_alarm_naming_the_person_and_channel(
        engine) -> None:
    [event] = engine.on_delivery(report(1, False))
    assert (event.metric, event.priority, event.state, event.rule) == (
        Metric.DATA, Priority.MEDIUM, AlertState.ACTIVE, f"{DATA_RULE_NOTIFY}.Dr-X.mailto")
    assert event.message.startswith("Could not notify Dr X by mailto: connection refused")
    assert engine.on_delivery(report(2, False)) == []  # raised once while it lasts


def test_a_later_delivery_on_another_channel_does_not_end_the_failure(engine) -> None:
    engine.on_delivery(report(1, False))
    assert engine.on_delivery(report(1, True, channel="json")) == []
    engine.acknowledge("s1", Metric.DATA, "nurse", None, T0 + timedelta(seconds=2))
    assert [a.state for a in engine.active("s1")] == [AlertState.ACKNOWLEDGED]


def test_an_acknowledged_failure_clears_when_that_person_is_reached_again(engine) -> None:
    engine.on_delivery(report(1, False))
    engine.acknowledge("s1", Metric.DATA, "nurse", None, T0 + timedelta(seconds=2))
    [cleared] = engine.on_delivery(report(3, True))
    assert cleared.state is AlertState.CLEARED and "Dr X" in cleared.message
    assert engine.active("s1") == []


def test_an_unacknowledged_failure_stays_latched_after_a_good_delivery_until_acknowledged(
        engine) -> None:
    engine.on_delivery(report(1, False))
    [ended] = engine.on_delivery(report(3, True))  # nobody has seen it yet: it stays
    assert (ended.state, ended.ended) == (AlertState.ACTIVE, T0 + timedelta(seconds=3))
    events = engine.acknowledge("s1", Metric.DATA, "nurse", None, T0 + timedelta(seconds=4))
    assert [e.state for e in events] == [AlertState.ACKNOWLEDGED, AlertState.CLEARED]


def test_two_people_not_reached_are_two_alarms_each_ending_with_its_own_delivery(engine) -> None:
    [x] = engine.on_delivery(report(1, False))
    [y] = engine.on_delivery(report(2, False, person="Dr Y", channel="json"))
    assert x.rule != y.rule and "Dr Y" in y.message
    for rule in (x.rule, y.rule):
        engine.acknowledge("s1", Metric.DATA, "nurse", None, T0 + timedelta(seconds=3), rule)
    [cleared] = engine.on_delivery(report(4, True, person="Dr Y", channel="json"))
    assert (cleared.rule, cleared.state) == (y.rule, AlertState.CLEARED)
    assert [(a.rule, a.state) for a in engine.active("s1")] == [(x.rule, AlertState.ACKNOWLEDGED)]


def test_a_good_delivery_alone_raises_nothing(engine) -> None:
    assert engine.on_delivery(report(1, True)) == []


def test_two_replicas_raise_the_same_event_for_the_same_report() -> None:
    events = []
    for _ in range(2):
        engine = AlertEngine(load_profile())
        engine.on_reading(Reading("s1", Kind.HR, T0, {"bpm": 72}), received_at=T0)
        events.append(engine.on_delivery(report(1, False)))
    assert events[0] == events[1]


@pytest.mark.parametrize(("why", "payload", "accepted"), [
    ("a failure", b'{"time": "2026-12-02T17:00:01Z", "person": "Dr X", "channel": "mailto", '
                  b'"delivered": false, "error": "connection refused"}', True),
    ("a success", b'{"person": "Dr X", "channel": "json", "delivered": true}', True),
    ("no person", b'{"channel": "json", "delivered": true}', False),
    ("delivered not a boolean", b'{"person": "A", "channel": "json", "delivered": "no"}', False),
    ("no channel", b'{"person": "A", "delivered": false}', False),
])
def test_delivery_reports_are_parsed_or_refused_with_a_reason(why, payload, accepted) -> None:
    parsed = parse("vitals/s1/delivery", payload, T0)
    assert isinstance(parsed, DeliveryReport) is accepted, why
    if not accepted:
        assert isinstance(parsed, Rejection) and parsed.reason


def test_after_an_ingest_restart_an_open_failure_still_clears_with_the_next_good_delivery(
        engine) -> None:
    stored = engine.on_delivery(report(1, False))
    stored += engine.acknowledge("s1", Metric.DATA, "nurse", None, T0 + timedelta(seconds=2))
    restarted = AlertEngine(load_profile())
    restarted.restore("s1", [], [Reading("s1", Kind.HR, T0, {"bpm": 72})], stored)
    # What the notifier stored: the failure, and an older good delivery on another channel.
    restarted.restore_deliveries("s1", [report(0, True, channel="json"), report(1, False)])
    [cleared] = restarted.on_delivery(report(3, True))
    assert cleared.state is AlertState.CLEARED


def test_a_failure_followed_by_a_good_delivery_before_the_restart_is_not_a_cause_again(
        engine) -> None:
    stored = engine.on_delivery(report(1, False))
    stored += engine.acknowledge("s1", Metric.DATA, "nurse", None, T0 + timedelta(seconds=2))
    stored += engine.on_delivery(report(3, True))  # cleared
    restarted = AlertEngine(load_profile())
    restarted.restore("s1", [], [Reading("s1", Kind.HR, T0, {"bpm": 72})], stored)
    restarted.restore_deliveries("s1", [report(1, False), report(3, True)])
    assert restarted.active("s1") == []
    assert restarted.state("s1").data_causes == {}
