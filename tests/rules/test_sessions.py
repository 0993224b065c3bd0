"""The session protocol: baseline, pre-session verdict, cadence cues, discharge readiness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.checklist import GUIDELINES, checklist_note
from vitals.profile_loader import load_profile
from vitals.readings import Reading, SessionEvent, SessionEventType
from vitals.sessions import (
    CueKind,
    Phase,
    PresessionVerdict,
    Verdict,
    alarm_urgency,
    baseline_of,
    discharge_readiness,
    present_alarms,
    presession_verdict,
    protocol_verdict,
    raising_events,
    session_status,
    showing_alerts,
)
from vitals.vital_signs import Kind

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
S = "s1"


@pytest.fixture(scope="module")
def profile():
    return load_profile()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def bp(minutes: float, systolic: float, diastolic: float) -> Reading:
    return Reading(S, Kind.BP, at(minutes), {"systolic": systolic, "diastolic": diastolic})


def hr(minutes: float, bpm: float) -> Reading:
    return Reading(S, Kind.HR, at(minutes), {"bpm": bpm})


def spo2(minutes: float, value: float) -> Reading:
    return Reading(S, Kind.SPO2, at(minutes), {"spo2": value})


def ev(kind: SessionEventType, minutes: float) -> SessionEvent:
    return SessionEvent(S, kind, at(minutes))


def alert(minutes: float, state: AlertState, metric: Metric = Metric.SYSTOLIC) -> AlertEvent:
    return AlertEvent(at(minutes), S, metric, Priority.MEDIUM, state, "m", "systolic.urgency")


# ---- baseline -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pre_dose", "first_two", "dosed", "expected"),
    [
        ([110, 120, 130], [110, 120], True, 120),  # mean of readings between start and dose
        ([125], [125, 140], True, 125),  # at least one pre-dose reading is enough
        ([], [100, 110], True, 105),  # dosed without pre-dose readings: first two
        ([110, 120, 130], [110, 120], False, 115),  # no dose: the first two readings
        ([110], [110], False, None),  # no dose and one reading: no baseline yet
    ],
)
def test_baseline(pre_dose, first_two, dosed, expected):
    samples = [(at(i), v) for i, v in enumerate(pre_dose)]
    first = [(at(i), v) for i, v in enumerate(first_two)]
    assert baseline_of(samples, first, dosed=dosed) == expected


# ---- pre-session verdict ------------------------------------------------------------------------

GOOD = {Metric.SYSTOLIC: 125, Metric.DIASTOLIC: 80, Metric.HEART_RATE: 75, Metric.SPO2: 98}

VERDICTS = [
    ({}, Verdict.GO),
    ({Metric.SYSTOLIC: 139}, Verdict.GO),
    ({Metric.SYSTOLIC: 140}, Verdict.CAUTION),
    ({Metric.SYSTOLIC: 159}, Verdict.CAUTION),
    ({Metric.SYSTOLIC: 160}, Verdict.NO_GO),
    ({Metric.DIASTOLIC: 89}, Verdict.GO),
    ({Metric.DIASTOLIC: 90}, Verdict.CAUTION),
    ({Metric.DIASTOLIC: 99}, Verdict.CAUTION),
    ({Metric.DIASTOLIC: 100}, Verdict.NO_GO),
    ({Metric.HEART_RATE: 100}, Verdict.GO),
    ({Metric.HEART_RATE: 101}, Verdict.CAUTION),
    ({Metric.HEART_RATE: 110}, Verdict.CAUTION),
    ({Metric.HEART_RATE: 111}, Verdict.NO_GO),
    ({Metric.HEART_RATE: 50}, Verdict.GO),
    ({Metric.HEART_RATE: 49}, Verdict.CAUTION),
    ({Metric.HEART_RATE: 45}, Verdict.CAUTION),
    ({Metric.HEART_RATE: 44}, Verdict.NO_GO),
    ({Metric.SPO2: 95}, Verdict.GO),
    ({Metric.SPO2: 94}, Verdict.CAUTION),
    ({Metric.SPO2: 92}, Verdict.CAUTION),
    ({Metric.SPO2: 91}, Verdict.NO_GO),
    ({Metric.SYSTOLIC: 150, Metric.SPO2: 90}, Verdict.NO_GO),  # the worst band wins
]


@pytest.mark.parametrize(("change", "verdict"), VERDICTS)
def test_presession_verdict(profile, change, verdict):
    result = presession_verdict({**GOOD, **change}, profile)
    assert result.verdict is verdict
    assert bool(result.reasons) is (verdict is not Verdict.GO)


@pytest.mark.parametrize(
    ("vitals", "checklist", "verdict"),
    [
        pytest.param(Verdict.GO, None, Verdict.PENDING, id="go needs the checklist recorded"),
        pytest.param(Verdict.GO, (), Verdict.GO, id="go with a clean checklist"),
        pytest.param(Verdict.GO, ("contraindication: Pregnancy",), Verdict.NO_GO,
                     id="a checklist finding is no-go"),
        pytest.param(Verdict.CAUTION, None, Verdict.CAUTION, id="caution stays caution"),
        pytest.param(Verdict.NO_GO, (), Verdict.NO_GO, id="the vitals' no-go stands"),
    ],
)
def test_protocol_verdict_is_the_vitals_with_the_checklist(vitals, checklist, verdict):
    assert protocol_verdict(PresessionVerdict(vitals), checklist).verdict is verdict


def test_presession_verdict_pending_until_every_metric_is_measured(profile):
    values = {Metric.SYSTOLIC: 120, Metric.DIASTOLIC: 80}
    result = presession_verdict(values, profile)
    assert result.verdict is Verdict.PENDING
    assert result.reasons == ("no Heart rate reading yet", "no SpO2 reading yet")


def test_presession_no_go_known_before_every_metric_is_measured(profile):
    assert presession_verdict({Metric.SYSTOLIC: 165}, profile).verdict is Verdict.NO_GO


# ---- discharge readiness ------------------------------------------------------------------------

READY = {
    "dosed": at(0),
    "blood_pressures": [(at(100), 135, 85), (at(115), 130, 84)],
    "heart_rate": 80,
    "spo2": 97,
    "showing_alerts": [],
    "now": at(120),
}

DISCHARGE = [
    ({}, True, None),
    ({"now": at(119.9)}, False, "time_since_dose"),
    ({"dosed": None}, False, "time_since_dose"),
    ({"blood_pressures": [(at(110), 135, 85), (at(115), 130, 84)]}, False, "blood_pressure"),
    ({"blood_pressures": [(at(105), 135, 85), (at(115), 130, 84)]}, True, None),  # 10 min apart
    ({"blood_pressures": [(at(100), 135, 85), (at(115), 160, 84)]}, False, "blood_pressure"),
    ({"blood_pressures": [(at(100), 165, 85), (at(115), 159, 84)]}, False, "blood_pressure"),
    ({"blood_pressures": [(at(100), 135, 85), (at(115), 130, 100)]}, False, "blood_pressure"),
    ({"blood_pressures": [(at(100), 130, 85), (at(115), 131, 84)]}, False, "blood_pressure"),
    ({"blood_pressures": [(at(100), 130, 84), (at(115), 130, 85)]}, False, "blood_pressure"),
    ({"blood_pressures": [(at(100), 130, 84), (at(115), 130, 84)]}, True, None),  # level
    ({"blood_pressures": [(at(115), 130, 84)]}, False, "blood_pressure"),
    ({"heart_rate": 110}, True, None),
    ({"heart_rate": 111}, False, "heart_rate"),
    ({"heart_rate": 50}, True, None),
    ({"heart_rate": 49}, False, "heart_rate"),
    ({"heart_rate": None}, False, "heart_rate"),
    ({"spo2": 94}, True, None),
    ({"spo2": 93}, False, "spo2"),
    ({"showing_alerts": [alert(60, AlertState.ACTIVE)]}, False, "alarms"),
    ({"showing_alerts": [alert(60, AlertState.ACKNOWLEDGED)]}, False, "alarms"),
]


@pytest.mark.parametrize(("change", "ready", "unmet"), DISCHARGE)
def test_discharge_readiness(profile, change, ready, unmet):
    args = {**READY, **change}
    result = discharge_readiness(**args, profile=profile)
    assert result.ready is ready
    assert [c.name for c in result.criteria if not c.met] == ([unmet] if unmet else [])
    assert result.sign_off_pending
    assert "full night's sleep" in result.reminder


# ---- alarms shown from stored alert events ------------------------------------------------------


def test_showing_alerts_keeps_the_latest_event_of_each_alarm_not_cleared():
    stored = [
        alert(1, AlertState.ACTIVE),
        alert(2, AlertState.ACKNOWLEDGED),
        alert(3, AlertState.ACTIVE, Metric.DATA),
        alert(4, AlertState.CLEARED, Metric.DATA),
        alert(5, AlertState.ACTIVE, Metric.HEART_RATE),
    ]
    assert [(a.metric, a.state) for a in showing_alerts(stored)] == [
        (Metric.SYSTOLIC, AlertState.ACKNOWLEDGED), (Metric.HEART_RATE, AlertState.ACTIVE)]


def present(metric: Metric, priority: Priority, minutes: float,
            state: AlertState = AlertState.ACTIVE) -> AlertEvent:
    return AlertEvent(at(minutes), S, metric, priority, state, f"{metric} {priority}")


@pytest.mark.parametrize(
    ("stored", "first"),
    [
        pytest.param([present(Metric.SYSTOLIC, Priority.MEDIUM, 5),
                      present(Metric.DIASTOLIC, Priority.HIGH, 1)],
                     Metric.DIASTOLIC, id="priority first, however old"),
        pytest.param([present(Metric.DATA, Priority.HIGH, 5),
                      present(Metric.OBSERVATION, Priority.HIGH, 1)],
                     Metric.OBSERVATION, id="clinical over technical at the same priority"),
        pytest.param([present(Metric.SPO2, Priority.HIGH, 5, AlertState.ACKNOWLEDGED),
                      present(Metric.SYSTOLIC, Priority.HIGH, 1)],
                     Metric.SYSTOLIC, id="unacknowledged over acknowledged at the same priority"),
        pytest.param([present(Metric.SPO2, Priority.HIGH, 5, AlertState.ACKNOWLEDGED),
                      present(Metric.SYSTOLIC, Priority.MEDIUM, 6)],
                     Metric.SPO2, id="an acknowledged high outranks an unacknowledged medium"),
        pytest.param([present(Metric.SYSTOLIC, Priority.HIGH, 1),
                      present(Metric.HEART_RATE, Priority.HIGH, 2)],
                     Metric.HEART_RATE, id="then the newest"),
        pytest.param([present(Metric.SPO2, Priority.HIGH, 1),
                      present(Metric.SPO2, Priority.HIGH, 2, AlertState.ACKNOWLEDGED)],
                     Metric.SPO2, id="acknowledged and its condition persists: still present"),
    ],
)
def test_present_alarms_most_urgent_first(stored, first):
    alarms = present_alarms(stored)
    assert alarms[0].metric is first
    assert [alarm_urgency(a) for a in alarms] == sorted(alarm_urgency(a) for a in alarms)


def test_a_latched_technical_alarms_ended_and_back_events_raise_nothing_new():
    def data(minutes: float, priority: Priority, ended: float | None = None) -> AlertEvent:
        return AlertEvent(at(minutes), "s1", Metric.DATA, priority, AlertState.ACTIVE, "No HR",
                          rule="data.stream_silent.hr",
                          ended=None if ended is None else at(ended))

    stored = [data(0, Priority.MEDIUM), data(2, Priority.MEDIUM, ended=2),
              data(3, Priority.MEDIUM), data(5, Priority.HIGH)]  # ended, back, escalated
    assert raising_events(stored) == (stored[0], stored[3])


def test_acknowledged_then_cleared_at_the_same_instant_is_cleared():
    stored = [alert(2, AlertState.CLEARED), alert(2, AlertState.ACKNOWLEDGED)]
    assert showing_alerts(stored) == ()


# ---- session status from stored history ---------------------------------------------------------


def pre_dose_history() -> tuple[list[SessionEvent], list[Reading]]:
    events = [ev(SessionEventType.START, 0)]
    readings = [bp(1, 128, 82), hr(1, 72), spo2(1, 98), bp(5, 132, 84)]
    return events, readings


def test_status_before_the_dose_cues_the_pre_dose_check(profile):
    events, readings = pre_dose_history()
    status = session_status(events, readings, [], profile, at(6))
    assert status.phase is Phase.PRE_DOSE
    assert status.presession.verdict is Verdict.GO
    assert status.presession.values[Metric.SYSTOLIC] == 130
    [check] = [c for c in status.cues if c.kind is CueKind.PRE_DOSE_CHECK]
    # The vitals say go; the cue says the protocol verdict: no checklist recorded yet.
    assert not check.done and "checklist not recorded yet" in check.message
    assert status.minutes_since_dose is None


@pytest.mark.parametrize(
    ("checklist", "verdict", "says"),
    [
        (None, Verdict.PENDING, "checklist not recorded yet"),
        (([i.key for i in GUIDELINES], []), Verdict.GO, "Pre-dose check: go"),
        (([i.key for i in GUIDELINES], ["pregnancy"]), Verdict.NO_GO,
         "contraindication: Pregnancy"),
    ],
    ids=["vitals go, no checklist: pending", "vitals go, clean checklist: go",
         "vitals go, a contraindication: no-go"],
)
def test_the_pre_dose_cue_says_the_one_protocol_verdict(profile, checklist, verdict, says):
    events, readings = pre_dose_history()
    if checklist is not None:
        events.append(SessionEvent("s1", SessionEventType.CHECKLIST, at(2),
                                   note=checklist_note(*checklist)))
    status = session_status(events, readings, [], profile, at(6))
    [check] = [c for c in status.cues if c.kind is CueKind.PRE_DOSE_CHECK]
    assert status.verdict.verdict is verdict
    assert says in check.message and check.done is (verdict is not Verdict.PENDING)


def test_status_without_readings_asks_for_the_pre_dose_check(profile):
    status = session_status([ev(SessionEventType.START, 0)], [], [], profile, at(1))
    [check] = [c for c in status.cues if c.kind is CueKind.PRE_DOSE_CHECK]
    assert not check.done and status.presession.verdict is Verdict.PENDING


def test_status_after_dose_has_baseline_minutes_and_next_bp_due(profile):
    events, readings = pre_dose_history()
    events.append(ev(SessionEventType.DOSE, 6))
    readings.append(bp(16, 140, 90))
    status = session_status(events, readings, [], profile, at(20))
    assert status.phase is Phase.DOSED
    assert status.baseline[Metric.SYSTOLIC] == 130
    assert status.minutes_since_dose == 14
    assert status.next_bp_due == at(26)  # every 10 min in the first hour


def test_next_bp_due_every_15_minutes_after_the_first_hour(profile):
    events, readings = pre_dose_history()
    events.append(ev(SessionEventType.DOSE, 6))
    readings += [bp(46, 140, 90), bp(70, 130, 85)]
    status = session_status(events, readings, [], profile, at(75))
    assert status.next_bp_due == at(85)


def test_next_bp_due_brings_forward_the_40_minute_reassessment(profile):
    events, readings = pre_dose_history()
    events.append(ev(SessionEventType.DOSE, 6))
    readings.append(bp(38, 140, 90))  # 32 min after dose: outside the 35-45 min window
    status = session_status(events, readings, [], profile, at(40))
    [reassess] = [c for c in status.cues if c.kind is CueKind.REASSESSMENT]
    assert (reassess.due, reassess.done) == (at(46), False)
    assert status.next_bp_due == at(46)


def test_reassessment_done_by_a_reading_near_40_minutes(profile):
    events, readings = pre_dose_history()
    events.append(ev(SessionEventType.DOSE, 6))
    readings.append(bp(43, 140, 90))
    status = session_status(events, readings, [], profile, at(50))
    [reassess] = [c for c in status.cues if c.kind is CueKind.REASSESSMENT]
    assert reassess.done and not reassess.overdue


def test_reassessment_overdue_when_missed(profile):
    events, readings = pre_dose_history()
    events.append(ev(SessionEventType.DOSE, 6))
    status = session_status(events, readings, [], profile, at(52))
    [reassess] = [c for c in status.cues if c.kind is CueKind.REASSESSMENT]
    assert reassess.overdue


def test_status_ready_for_discharge_after_a_calm_two_hours(profile):
    events, readings = pre_dose_history()
    events.append(ev(SessionEventType.DOSE, 6))
    readings += [bp(110, 130, 84), bp(125, 128, 82), hr(125, 70), spo2(125, 97)]
    stored = [alert(30, AlertState.ACTIVE), alert(31, AlertState.ACKNOWLEDGED),
              alert(40, AlertState.CLEARED)]
    status = session_status(events, readings, stored, profile, at(126))
    assert status.discharge.ready
    assert any(c.kind is CueKind.DISCHARGE for c in status.cues)


def test_status_not_ready_while_an_alarm_shows(profile):
    events, readings = pre_dose_history()
    events.append(ev(SessionEventType.DOSE, 6))
    readings += [bp(110, 130, 84), bp(125, 128, 82), hr(125, 70), spo2(125, 97)]
    status = session_status(events, readings, [alert(30, AlertState.ACTIVE)], profile, at(126))
    assert not status.discharge.ready
    assert [a.metric for a in status.showing_alerts] == [Metric.SYSTOLIC]


def test_status_of_an_ended_session_has_no_cues(profile):
    events, readings = pre_dose_history()
    events += [ev(SessionEventType.DOSE, 6), ev(SessionEventType.END, 130)]
    status = session_status(events, readings, [], profile, at(131))
    assert status.phase is Phase.ENDED and status.cues == ()


def test_reading_without_a_start_event_starts_the_session(profile):
    status = session_status([], [bp(3, 120, 80)], [], profile, at(4))
    assert (status.phase, status.started, status.session) == (Phase.PRE_DOSE, at(3), S)


def test_status_names_the_profile_in_force(profile):
    status = session_status([], [bp(3, 120, 80)], [], profile, at(4))
    assert (status.profile_name, status.profile_source) == ("default", "default.toml")
