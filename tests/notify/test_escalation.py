"""Routing and escalation with a fake clock: who is told, when, and that it stops."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from notify.escalation import Escalations, Kind
from notify.roster import Role
from tests.notify.rosters import on_call, person
from vitals.alerts import AlertEvent, AlertState, Metric, Priority

T0 = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
ROSTER = on_call(
    person("nurse", Role.MONITOR, "json://localhost/n"),
    person("doctor", Role.CLINICIAN, "json://localhost/d"),
    person("director", Role.DIRECTOR, "json://localhost/m"),
    person("home-nurse", Role.MONITOR, "json://localhost/h", sessions=("home-*",)),
    high=60, medium=300)
ACTIVE = AlertEvent(T0, "room-1", Metric.SYSTOLIC, Priority.HIGH, AlertState.ACTIVE,
                    "Systolic 185 mmHg", "systolic.crisis", 185.0, 180.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def names(notifications) -> list[str]:
    return [n.person.name for n in notifications]


def test_a_high_alarm_goes_to_the_monitor_at_once_then_up_the_chain_then_repeats() -> None:
    chain = Escalations(ROSTER)
    assert names(chain.on_event(ACTIVE, at(0))) == ["nurse"]
    assert chain.due(at(59)) == []
    assert names(chain.due(at(60))) == ["doctor"]
    assert names(chain.due(at(120))) == ["director"]
    assert names(chain.due(at(180))) == ["director"]  # repeats at the last level
    assert chain.next_due() == at(240)


@pytest.mark.parametrize(("priority", "first_escalation"), [
    (Priority.HIGH, 60), (Priority.MEDIUM, 300)])
def test_each_priority_escalates_after_its_own_delay(priority, first_escalation) -> None:
    chain = Escalations(ROSTER)
    chain.on_event(replace(ACTIVE, priority=priority), at(0))
    assert chain.due(at(first_escalation - 1)) == []
    assert names(chain.due(at(first_escalation))) == ["doctor"]


def test_a_low_alarm_never_leaves_the_screen() -> None:
    chain = Escalations(ROSTER)
    assert chain.on_event(replace(ACTIVE, priority=Priority.LOW), at(0)) == []
    assert chain.due(at(3600)) == [] and chain.next_due() is None


def test_an_acknowledgement_stops_the_escalation_silently() -> None:
    chain = Escalations(ROSTER)
    chain.on_event(ACTIVE, at(0))
    ack = replace(ACTIVE, state=AlertState.ACKNOWLEDGED, time=at(30), by="nurse")
    assert chain.on_event(ack, at(30)) == []
    assert chain.due(at(600)) == []


def test_a_clearing_sends_all_clear_to_everyone_told() -> None:
    chain = Escalations(ROSTER)
    chain.on_event(ACTIVE, at(0))
    chain.due(at(60))
    cleared = chain.on_event(replace(ACTIVE, state=AlertState.CLEARED, time=at(90)), at(90))
    assert names(cleared) == ["nurse", "doctor"]
    assert {n.kind for n in cleared} == {Kind.ALL_CLEAR}
    assert chain.due(at(600)) == []


def test_the_copies_of_replicas_are_collapsed_by_the_alert_identity() -> None:
    chain = Escalations(ROSTER)
    assert len(chain.on_event(ACTIVE, at(0))) == 1
    assert chain.on_event(replace(ACTIVE), at(0.1)) == []


def test_routing_by_session_adds_the_people_of_that_site() -> None:
    chain = Escalations(ROSTER)
    home = replace(ACTIVE, session="home-7")
    assert names(chain.on_event(home, at(0))) == ["nurse", "home-nurse"]


def test_two_notifiers_compute_the_same_identities_for_the_same_events() -> None:
    first, second = Escalations(ROSTER), Escalations(ROSTER)
    a = [n.identity for n in first.on_event(ACTIVE, at(0)) + first.due(at(60))]
    b = [n.identity for n in second.on_event(ACTIVE, at(0.4)) + second.due(at(60.4))]
    assert a == b and len(set(a)) == 2


def test_a_rise_in_priority_restarts_at_the_first_level_with_the_new_delay() -> None:
    chain = Escalations(ROSTER)
    medium = replace(ACTIVE, priority=Priority.MEDIUM, rule="systolic.urgency")
    chain.on_event(medium, at(0))
    assert names(chain.on_event(replace(ACTIVE, time=at(10)), at(10))) == ["nurse"]
    assert names(chain.due(at(70))) == ["doctor"]


def test_each_message_links_to_the_alarm_on_the_dashboard() -> None:
    chain = Escalations(ROSTER, link="https://vitals.example.org/")
    [message] = chain.on_event(ACTIVE, at(0))
    assert "https://vitals.example.org/session/room-1?alarm=systolic" in message.body
    assert "token" not in message.body


def test_an_acknowledged_alarm_still_sends_all_clear_to_those_told() -> None:
    chain = Escalations(ROSTER)
    chain.on_event(ACTIVE, at(0))
    chain.on_event(replace(ACTIVE, state=AlertState.ACKNOWLEDGED, time=at(30)), at(30))
    cleared = chain.on_event(replace(ACTIVE, state=AlertState.CLEARED, time=at(90)), at(90))
    assert names(cleared) == ["nurse"] and cleared[0].kind is Kind.ALL_CLEAR


# ---- rebuilt after a restart --------------------------------------------------------------------


def test_a_restart_rebuilds_the_escalation_and_owes_nothing_new() -> None:
    before = Escalations(ROSTER)
    sent = before.on_event(ACTIVE, at(0)) + before.due(at(60))
    after = Escalations(ROSTER)
    current = after.restore([ACTIVE], at(90))
    # Exactly the messages a running notifier had sent (the ledger's claim skips them all), no
    # other; and the next step falls due when it would have.
    assert [n.identity for n in current] == [n.identity for n in sent]
    assert after.next_due() == at(120)
    assert names(after.due(at(120))) == ["director"]


@pytest.mark.parametrize(("down_for", "told", "next_due"), [
    (30, ["nurse"], 60),  # within the first delay: the monitor only
    (90, ["nurse", "doctor"], 120),  # the monitor is told too, not only the level reached
    (150, ["nurse", "doctor", "director"], 180),
    (400, ["nurse", "doctor", "director"], 420),  # missed repeats collapse into one
])
def test_an_alarm_raised_while_no_notifier_ran_tells_every_level_it_has_reached(
        down_for, told, next_due) -> None:
    chain = Escalations(ROSTER)
    assert names(chain.restore([ACTIVE], at(down_for))) == told
    assert chain.next_due() == at(next_due)


def test_an_alarm_acknowledged_or_cleared_before_the_restart_sends_nothing() -> None:
    ack = replace(ACTIVE, state=AlertState.ACKNOWLEDGED, time=at(30), by="nurse")
    cleared = replace(ACTIVE, state=AlertState.CLEARED, time=at(40))
    assert Escalations(ROSTER).restore([ACTIVE, ack], at(600)) == []
    chain = Escalations(ROSTER)
    assert chain.restore([ACTIVE, cleared], at(600)) == [] and chain.next_due() is None


def test_the_replicas_copies_after_a_restart_are_still_collapsed() -> None:
    chain = Escalations(ROSTER)
    chain.restore([ACTIVE], at(10))
    assert chain.on_event(replace(ACTIVE), at(11)) == []


def test_the_all_clear_after_a_restart_reaches_everyone_told_before_it() -> None:
    chain = Escalations(ROSTER)
    chain.restore([ACTIVE], at(90))
    cleared = chain.on_event(replace(ACTIVE, state=AlertState.CLEARED, time=at(100)), at(100))
    assert names(cleared) == ["nurse", "doctor"]


def test_the_messages_name_the_sessions_label_beside_its_id() -> None:
    chain = Escalations(ROSTER)

    [first] = chain.on_event(ACTIVE, at(0), label="Chair 3 · AB")
    [escalated] = chain.due(at(60))[:1]
    cleared = chain.on_event(replace(ACTIVE, state=AlertState.CLEARED, time=at(90)), at(90))

    assert first.title == "HIGH alarm, Chair 3 · AB (session room-1)"
    assert escalated.title == first.title  # the label stays with the open alarm
    assert {n.title for n in cleared} == {"All clear, Chair 3 · AB (session room-1)"}


def test_without_a_label_the_messages_name_the_session_id() -> None:
    [first] = Escalations(ROSTER).on_event(ACTIVE, at(0))

    assert first.title == "HIGH alarm, session room-1"


def test_a_restart_names_the_label_again_from_the_stored_starts() -> None:
    [owed] = Escalations(ROSTER).restore([ACTIVE], at(10), {"room-1": "Room 1 · chair A"})

    assert owed.title == "HIGH alarm, Room 1 · chair A (session room-1)"
