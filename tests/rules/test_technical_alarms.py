"""Technical alarms: one alarm per cause (a stream silent per kind, a device problem per kind, a
missed check-in, failing rules), each raised, latched, acknowledged and cleared on its own.

Each case is a script of steps on one session and the technical alarms showing after it, as
(rule, state, condition ended?) triples. Times are the session's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile_loader import load_profile
from vitals.readings import DeviceProblem, Reading, SessionEvent, SessionEventType
from vitals.vital_signs import Kind

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
S = "s1"
HR_SILENT = "data.stream_silent.hr"
SPO2_SILENT = "data.stream_silent.spo2"
BP_GAP = "data.bp_gap"
BP_PROBLEM = "data.device_problem.bp"
CHECKIN = "data.checkin_missed"


@pytest.fixture(scope="module")
def profile():
    return load_profile()


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def reading(kind: Kind, when: datetime, **extra: object) -> Reading:
    values = {Kind.HR: {"bpm": 79}, Kind.SPO2: {"spo2": 97},
              Kind.BP: {"systolic": 120, "diastolic": 80}}[kind]
    return Reading(S, kind, when, values, **extra)


# Steps: ("hr"|"spo2"|"bp", minutes) a reading, ("bp!", minutes) a BP with a device problem,
# ("tick", minutes), ("checkin", minutes), ("ack", minutes, rule).
def run(engine: AlertEngine, steps: list[tuple]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for step in steps:
        what, when = step[0], at(step[1])
        if what in ("hr", "spo2", "bp"):
            events += engine.on_reading(reading(Kind(what), when), when)
        elif what == "bp!":
            events += engine.on_reading(
                reading(Kind.BP, when, problems=(DeviceProblem.CUFF_LOOSE,)), when)
        elif what == "tick":
            events += engine.on_tick(when)
        elif what == "checkin":
            events += engine.on_event(SessionEvent(S, SessionEventType.CHECKIN, when), when)
        elif what == "ack":
            events += engine.acknowledge(S, Metric.DATA, "nurse", None, when, rule=step[2])
        else:
            raise AssertionError(what)
    return events


def technical(engine: AlertEngine) -> set[tuple[str, AlertState, bool]]:
    return {(a.rule, a.state, a.ended is not None)
            for a in engine.active(S) if a.metric is Metric.DATA}


CASES = [
    pytest.param(
        [("hr", 0), ("spo2", 0), ("tick", 0.6)],
        {(HR_SILENT, AlertState.ACTIVE, False), (SPO2_SILENT, AlertState.ACTIVE, False)},
        id="two streams silent at once: two alarms, one per stream"),
    pytest.param(
        [("hr", 0), ("bp!", 0), ("tick", 0.6)],
        {(HR_SILENT, AlertState.ACTIVE, False), (BP_PROBLEM, AlertState.ACTIVE, False)},
        id="a device problem beside a silent stream: both show"),
    pytest.param(
        [("hr", 0), ("spo2", 0), ("tick", 0.6), ("hr", 0.7)],
        {(HR_SILENT, AlertState.ACTIVE, True), (SPO2_SILENT, AlertState.ACTIVE, False)},
        id="the HR stream back: its alarm says ended (latched), SpO2 still silent"),
    pytest.param(
        [("hr", 0), ("spo2", 0), ("tick", 0.6), ("ack", 0.65, HR_SILENT), ("hr", 0.7)],
        {(SPO2_SILENT, AlertState.ACTIVE, False)},
        id="the acknowledged HR alarm clears when HR is back, SpO2 still silent"),
    pytest.param(
        [("bp", 0), ("hr", 0), ("tick", 0.6), ("tick", 16)],
        {(HR_SILENT, AlertState.ACTIVE, False), (BP_GAP, AlertState.ACTIVE, False)},
        id="HR silent then BP late: two alarms (the BP gap is not hidden by the HR one)"),
    pytest.param(
        [("bp", 0), ("hr", 0), ("tick", 16), ("ack", 16.1, HR_SILENT), ("hr", 16.2)],
        {(BP_GAP, AlertState.ACTIVE, False)},
        id="HR back clears No heart rate reading while BP is still late"),
    pytest.param(
        [("checkin", 0), ("hr", 0), ("tick", 0.6), ("tick", 17.5)],
        {(HR_SILENT, AlertState.ACTIVE, False), (CHECKIN, AlertState.ACTIVE, False)},
        id="a missed check-in alarms while a stream-silent alarm is active"),
    pytest.param(
        [("checkin", 0), ("hr", 0), ("tick", 17.5), ("checkin", 18)],
        {(HR_SILENT, AlertState.ACTIVE, False), (CHECKIN, AlertState.ACTIVE, True)},
        id="a check-in ends only the check-in alarm (latched until acknowledged)"),
    pytest.param(
        [("checkin", 0), ("hr", 0), ("tick", 17.5), ("ack", 17.6, CHECKIN), ("checkin", 18)],
        {(HR_SILENT, AlertState.ACTIVE, False)},
        id="a check-in clears the acknowledged check-in alarm, not the HR one"),
    pytest.param(
        [("hr", 0), ("spo2", 0), ("tick", 0.6), ("ack", 0.65, SPO2_SILENT)],
        {(HR_SILENT, AlertState.ACTIVE, False), (SPO2_SILENT, AlertState.ACKNOWLEDGED, False)},
        id="acknowledging one technical alarm leaves the other unacknowledged"),
    pytest.param(
        [("hr", 0), ("spo2", 0), ("tick", 0.6), ("ack", 0.65, None)],
        {(HR_SILENT, AlertState.ACKNOWLEDGED, False),
         (SPO2_SILENT, AlertState.ACKNOWLEDGED, False)},
        id="an ack naming only data acknowledges every technical alarm of the session"),
    pytest.param(
        [("hr", 0), ("tick", 0.6), ("hr", 0.7), ("tick", 1.5)],
        {(HR_SILENT, AlertState.ACTIVE, False)},
        id="a latched alarm whose cause comes back no longer says ended"),
]


@pytest.mark.parametrize(("steps", "showing"), CASES)
def test_one_technical_alarm_per_cause(profile, steps, showing):
    engine = AlertEngine(profile)
    run(engine, steps)
    assert technical(engine) == showing


def test_each_technical_alarm_escalates_on_its_own_clock(profile):
    engine = AlertEngine(profile)
    run(engine, [("checkin", 0), ("hr", 0), ("tick", 0.6)])
    escalated = run(engine, [("tick", 5.6)])  # 5 min after the HR alarm was due
    assert [(e.rule, e.priority) for e in escalated] == [(HR_SILENT, Priority.HIGH)]
    raised = run(engine, [("tick", 17.5)])  # the check-in alarm is raised beside it
    assert [(e.rule, e.priority) for e in raised] == [(CHECKIN, Priority.MEDIUM)]
    later = run(engine, [("tick", 22.5)])  # 5 min after the check-in alarm was due
    assert [(e.rule, e.priority) for e in later] == [(CHECKIN, Priority.HIGH)]


def test_a_latched_technical_alarm_says_when_its_condition_ended(profile):
    engine = AlertEngine(profile)
    run(engine, [("hr", 0), ("tick", 0.6)])
    [ended] = run(engine, [("hr", 2)])
    assert (ended.rule, ended.state, ended.ended) == (HR_SILENT, AlertState.ACTIVE, at(2))
    assert ended.to_json()["ended"] == "2026-11-28T17:02:00Z"


def test_end_of_session_clears_every_technical_alarm_in_a_fixed_order(profile):
    engine = AlertEngine(profile)
    run(engine, [("hr", 0), ("spo2", 0), ("bp!", 0), ("tick", 0.6)])
    cleared = engine.on_event(SessionEvent(S, SessionEventType.END, at(1)), at(1))
    assert [(e.rule, e.state) for e in cleared] == [
        (BP_PROBLEM, AlertState.CLEARED), (HR_SILENT, AlertState.CLEARED),
        (SPO2_SILENT, AlertState.CLEARED)]
    assert engine.active(S) == []


def test_restore_keeps_each_technical_alarm_exactly(profile):
    live = AlertEngine(profile)
    steps = [("checkin", 0), ("hr", 0), ("spo2", 0), ("tick", 0.6), ("tick", 17.5),
             ("ack", 17.6, SPO2_SILENT), ("checkin", 18)]
    stored = run(live, steps)
    events = [SessionEvent(S, SessionEventType.CHECKIN, at(m)) for m in (0, 18)]
    readings = [reading(Kind.HR, at(0)), reading(Kind.SPO2, at(0))]
    restored = AlertEngine(profile)
    restored.restore(S, events, readings, stored)
    assert restored.active(S) == live.active(S)
    # Both go on alike: the SpO2 stream back clears its acknowledged alarm; the latched check-in
    # alarm escalates 5 min after it was due; acknowledging it clears it (its cause ended).
    # The SpO2 stream then falls silent again: a new alarm of its own.
    then = [("spo2", 19), ("tick", 22.5), ("ack", 23, CHECKIN)]
    assert run(restored, then) == run(live, then)
    assert technical(restored) == {(HR_SILENT, AlertState.ACTIVE, False),
                                   (SPO2_SILENT, AlertState.ACTIVE, False)}
    assert {e.priority for e in restored.active(S)} == {Priority.HIGH, Priority.MEDIUM}
