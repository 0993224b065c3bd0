"""Observation rules and presence check-ins (issue 8), judged by the engine with explicit clocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile import CLINIC_CHOICE
from vitals.profile_loader import ProfileError, load_profile
from vitals.readings import (
    Observation,
    ObservationKind,
    ObservationRetraction,
    Reading,
    SessionEvent,
    SessionEventType,
    Severity,
)
from vitals.vital_signs import Kind

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
K = ObservationKind
S = Severity


@pytest.fixture(scope="module")
def profile():
    return load_profile()


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def seen(kind: ObservationKind, severity: Severity, minutes: float = 0, by: str = "nurse-a",
         session: str = "s1") -> Observation:
    return Observation(session, at(minutes), kind, severity, by=by)


def ev(kind: SessionEventType, minutes: float, seconds: float = 0, session: str = "s1",
       by: str | None = "nurse-a") -> SessionEvent:
    return SessionEvent(session, kind, at(minutes, seconds), by=by)


def active(events: list[AlertEvent]) -> set[tuple[Priority, str]]:
    return {(e.priority, e.rule) for e in events if e.state is AlertState.ACTIVE}


def started(profile, **kwargs) -> AlertEngine:
    engine = AlertEngine(profile, **kwargs)
    engine.on_event(ev(SessionEventType.START, 0))
    return engine


# ---- observation rules --------------------------------------------------------------------------

HIGH, MEDIUM = Priority.HIGH, Priority.MEDIUM
RULES = [
    # (observations as (kind, severity, minute), the active alarms they raise)
    ([(K.RESPIRATORY_DEPRESSION, S.MILD, 0)], {(HIGH, "observation.respiratory_depression")}),
    ([(K.RESPIRATORY_DEPRESSION, S.SEVERE, 0)], {(HIGH, "observation.respiratory_depression")}),
    ([(K.RESPIRATORY_DEPRESSION, S.NONE, 0)], set()),
    ([(K.CONFUSION, S.MODERATE, 0)], set()),
    ([(K.CONFUSION, S.SEVERE, 0)], {(HIGH, "observation.confusion.severe")}),
    ([(K.NAUSEA, S.MILD, 0)], set()),
    ([(K.NAUSEA, S.MODERATE, 0)], set()),
    ([(K.NAUSEA, S.SEVERE, 0)], {(MEDIUM, "observation.any.severe")}),
    ([(K.SYNESTHESIA, S.SEVERE, 0)], {(MEDIUM, "observation.any.severe")}),
    ([(K.DISSOCIATION, S.MODERATE, 0)], set()),
    ([(K.VOMITING, S.MILD, 0)], set()),
    ([(K.SEDATION, S.MODERATE, 0), (K.VOMITING, S.MILD, 20)],
     {(HIGH, "observation.vomiting.sedated")}),
    ([(K.SEDATION, S.MODERATE, 0), (K.VOMITING, S.MILD, 30)],
     {(HIGH, "observation.vomiting.sedated")}),
    ([(K.SEDATION, S.MODERATE, 0), (K.VOMITING, S.MILD, 31)], set()),
    ([(K.SEDATION, S.MILD, 0), (K.VOMITING, S.MODERATE, 10)], set()),
    # Sedation recorded after the vomiting it accompanies still raises.
    ([(K.VOMITING, S.MILD, 0), (K.SEDATION, S.MODERATE, 10)],
     {(HIGH, "observation.vomiting.sedated")}),
    ([(K.VOMITING, S.MILD, 0), (K.SEDATION, S.SEVERE, 40)], {(MEDIUM, "observation.any.severe")}),
]


@pytest.mark.parametrize(("observations", "raised"), RULES)
def test_observation_rules_raise_exactly_their_alarms(profile, observations, raised):
    engine = started(profile)
    events: list[AlertEvent] = []
    for kind, severity, minute in observations:
        events += engine.on_observation(seen(kind, severity, minute))
    assert active(events) == raised
    assert all(e.metric is Metric.OBSERVATION for e in events)


def test_the_respiratory_depression_message_tells_the_monitor_what_to_do(profile):
    (event,) = started(profile).on_observation(seen(K.RESPIRATORY_DEPRESSION, S.MODERATE, 5))
    assert event.message == ("Respiratory depression observed by nurse-a: check breathing and "
                             "SpO2 now; call the clinician.")
    assert event.time == at(5)


def test_an_observation_alarm_latches_until_acknowledged_then_clears(profile):
    engine = started(profile)
    engine.on_observation(seen(K.RESPIRATORY_DEPRESSION, S.MILD, 1))
    assert engine.on_observation(seen(K.RESPIRATORY_DEPRESSION, S.MILD, 2)) == []
    assert engine.on_tick(at(60)) == []  # never clears by itself, never escalates (high)
    assert [e.metric for e in engine.active("s1")] == [Metric.OBSERVATION]

    events = engine.acknowledge("s1", Metric.OBSERVATION, "nurse-b", "breathing ok", at(61))

    assert [e.state for e in events] == [AlertState.ACKNOWLEDGED, AlertState.CLEARED]
    assert events[0].by == "nurse-b"
    assert engine.active("s1") == []
    assert active(engine.on_observation(seen(K.RESPIRATORY_DEPRESSION, S.MILD, 70))) == {
        (HIGH, "observation.respiratory_depression")}


def test_an_unacknowledged_medium_observation_alarm_escalates_after_5_minutes(profile):
    engine = started(profile)
    engine.on_observation(seen(K.ANXIETY, S.SEVERE, 10))
    assert engine.on_tick(at(14, 59)) == []

    (event,) = engine.on_tick(at(15, 1))

    assert (event.priority, event.state, event.time) == (HIGH, AlertState.ACTIVE, at(15))
    assert event.message.startswith("Unacknowledged for 5 min")


def test_a_worse_observation_raises_a_showing_medium_alarm_to_high(profile):
    engine = started(profile)
    engine.on_observation(seen(K.NAUSEA, S.SEVERE, 1))
    events = engine.on_observation(seen(K.CONFUSION, S.SEVERE, 2))
    assert active(events) == {(HIGH, "observation.confusion.severe")}


def test_observations_after_the_session_ended_raise_nothing(profile):
    engine = started(profile)
    engine.on_observation(seen(K.NAUSEA, S.SEVERE, 1))
    cleared = engine.on_event(ev(SessionEventType.END, 2))
    assert [(e.metric, e.state) for e in cleared] == [(Metric.OBSERVATION, AlertState.CLEARED)]
    assert engine.on_observation(seen(K.RESPIRATORY_DEPRESSION, S.SEVERE, 3)) == []


def test_restore_keeps_a_latched_observation_alarm_and_the_history_for_while_rules(profile):
    first = started(profile)
    stored = first.on_observation(seen(K.RESPIRATORY_DEPRESSION, S.MILD, 1))
    history = [seen(K.SEDATION, S.MODERATE, 0), seen(K.RESPIRATORY_DEPRESSION, S.MILD, 1)]

    engine = AlertEngine(profile)
    engine.restore("s1", [ev(SessionEventType.START, 0)], [], stored, history)

    assert [e.metric for e in engine.active("s1")] == [Metric.OBSERVATION]
    acked = engine.acknowledge("s1", Metric.OBSERVATION, "nurse-b", None, at(2))
    assert [e.state for e in acked] == [AlertState.ACKNOWLEDGED, AlertState.CLEARED]
    assert active(engine.on_observation(seen(K.VOMITING, S.MILD, 10))) == {
        (HIGH, "observation.vomiting.sedated")}


def test_restore_of_an_escalated_medium_observation_alarm_still_lets_a_high_rule_raise(profile):
    first = started(profile)
    stored = first.on_observation(seen(K.NAUSEA, S.SEVERE, 0))
    stored += first.on_tick(at(6))
    engine = AlertEngine(profile)
    engine.restore("s1", [ev(SessionEventType.START, 0)], [], stored,
                   [seen(K.NAUSEA, S.SEVERE, 0)])
    assert active(engine.on_observation(seen(K.RESPIRATORY_DEPRESSION, S.MILD, 7))) == {
        (HIGH, "observation.respiratory_depression")}


# ---- the rules as profile data ------------------------------------------------------------------


def test_every_default_observation_rule_names_a_source_and_clinic_choices_say_why(profile):
    assert profile.observation_rules
    for rule in profile.observation_rules.values():
        assert rule.source in profile.sources
        if rule.source == CLINIC_CHOICE:
            assert rule.note.strip()


@pytest.mark.parametrize(("override", "complaint"), [
    ({"observation_rules": {"x": {"observations": ["nausea"], "priority": "high",
                                  "message": "m", "source": "clinic_choice"}}},
     "needs a note"),
    ({"observation_rules": {"x": {"observations": ["nausea"], "priority": "high",
                                  "message": "m", "source": "nowhere"}}},
     "not a key of [sources]"),
    ({"observation_rules": {"x": {"observations": ["hiccups"], "priority": "high",
                                  "message": "m", "source": "project"}}},
     "observation_rules.x.observations"),
    ({"observation_rules": {"x": {"min_severity": "none", "priority": "high",
                                  "message": "m", "source": "project"}}},
     "use mild or above"),
    ({"observation_rules": {"x": {"priority": "high", "message": "{pulse}",
                                  "source": "project"}}},
     "message template"),
    ({"checkin": {"interval_minutes": 0}}, "checkin.interval_minutes"),
])
def test_a_bad_observation_rule_or_checkin_setting_fails_at_load(override, complaint):
    with pytest.raises(ProfileError, match=None) as err:
        load_profile(overrides=override)
    assert complaint in str(err.value)


def test_a_clinic_can_add_an_observation_rule_in_the_profile():
    profile = load_profile(overrides={"observation_rules": {"anxiety.moderate": {
        "observations": ["anxiety"], "min_severity": "moderate", "priority": "low",
        "message": "{label} ({severity}) noted by {by}.", "source": "clinic_choice",
        "note": "our clinic wants to see it"}}})
    engine = started(profile)
    (event,) = engine.on_observation(seen(K.ANXIETY, S.MODERATE, 3))
    assert (event.priority, event.message) == (Priority.LOW, "Anxiety (moderate) noted by nurse-a.")


# ---- presence check-ins -------------------------------------------------------------------------

CHECKIN_TABLE = [
    # (check-ins at minutes, tick at (minutes, seconds), alarm expected)
    ([0], (16, 0), False),
    ([0], (17, 0), False),
    ([0], (17, 1), True),
    ([0, 10], (26, 0), False),  # a check-in resets the clock
    ([0, 10], (27, 0), False),
    ([0, 10], (27, 1), True),
    ([], (120, 0), False),  # never opted in: a device-only session is not watched
]


@pytest.mark.parametrize(("checkins", "tick", "alarm"), CHECKIN_TABLE)
def test_a_missed_checkin_alarms_after_interval_plus_grace(profile, checkins, tick, alarm):
    engine = started(profile)
    for minute in checkins:
        assert engine.on_event(ev(SessionEventType.CHECKIN, minute)) == []
    events = engine.on_tick(at(*tick))
    assert bool(events) is alarm
    if alarm:
        (event,) = events
        assert (event.metric, event.priority, event.state, event.rule) == (
            Metric.DATA, Priority.MEDIUM, AlertState.ACTIVE, "data.checkin_missed")
        assert event.message == ("No presence check-in for 17 min (expected every 15): confirm "
                                 "a monitor is with the patient.")


@pytest.mark.parametrize(("tick", "alarm"), [((17, 0), False), ((17, 1), True)])
def test_required_from_start_watches_check_ins_from_the_start(tick, alarm):
    profile = load_profile(overrides={"checkin": {"required_from_start": True}})
    engine = started(profile)
    assert bool(engine.on_tick(at(*tick))) is alarm


def test_readings_judge_a_missed_checkin_by_their_own_times(profile):
    # A simulation at any speed: readings carry the session's clock; the wall clock is elsewhere.
    engine = started(profile, stale_seconds=3600)
    engine.on_event(ev(SessionEventType.CHECKIN, 0))
    wall = datetime(2030, 1, 1, tzinfo=UTC)
    raised = []
    for second in range(0, 18 * 60 + 1, 30):
        reading = Reading("s1", Kind.HR, at(seconds=second), {"bpm": 72})
        received = wall + timedelta(seconds=second / 60)
        raised += [(second, e.rule) for e in engine.on_reading(reading, received_at=received)]
    assert raised == [(17 * 60 + 30, "data.checkin_missed")]


def test_a_checkin_resolves_an_acknowledged_missed_checkin_alarm(profile):
    engine = started(profile)
    engine.on_event(ev(SessionEventType.CHECKIN, 0))
    engine.on_tick(at(18))
    acked = engine.acknowledge("s1", Metric.DATA, "nurse-b", None, at(19))
    assert [e.state for e in acked] == [AlertState.ACKNOWLEDGED]

    (cleared,) = engine.on_event(ev(SessionEventType.CHECKIN, 20))

    assert (cleared.state, cleared.message) == (AlertState.CLEARED, "A monitor checked in.")
    assert engine.active("s1") == []
    assert engine.on_tick(at(36)) == []  # the clock restarted at 20


def test_an_unacknowledged_missed_checkin_alarm_stays_latched_after_the_checkin(profile):
    engine = started(profile)
    engine.on_event(ev(SessionEventType.CHECKIN, 0))
    engine.on_tick(at(18))
    [ended] = engine.on_event(ev(SessionEventType.CHECKIN, 19))  # says when it ended
    assert (ended.state, ended.ended) == (AlertState.ACTIVE, at(19))
    assert [e.rule for e in engine.active("s1")] == ["data.checkin_missed"]
    acked = engine.acknowledge("s1", Metric.DATA, "nurse-b", None, at(20))
    assert [e.state for e in acked] == [AlertState.ACKNOWLEDGED, AlertState.CLEARED]


def test_a_late_checkin_that_no_tick_caught_still_raises_the_gap_dated_when_it_was_due(profile):
    # Dated and valued as of the limit (17 min), not when it was noticed: the same event in
    # every ingest replica, whether a tick caught it or only the late check-in did.
    engine = started(profile)
    engine.on_event(ev(SessionEventType.CHECKIN, 0))
    events = engine.on_event(ev(SessionEventType.CHECKIN, 25))
    # Unacknowledged for 5 min by 22, so escalated then; latched when the check-in ends it.
    assert [(e.rule, e.priority, e.value, e.time, e.ended) for e in events] == [
        ("data.checkin_missed", Priority.MEDIUM, 17.0, at(17), None),
        ("data.checkin_missed", Priority.HIGH, 17.0, at(22), None),
        ("data.checkin_missed", Priority.HIGH, 17.0, at(25), at(25))]


def test_an_unacknowledged_missed_checkin_escalates_like_any_medium_alarm(profile):
    engine = started(profile)
    engine.on_event(ev(SessionEventType.CHECKIN, 0))
    engine.on_tick(at(17, 1))
    (event,) = engine.on_tick(at(22, 2))
    assert (event.priority, event.metric) == (Priority.HIGH, Metric.DATA)


def test_an_ended_session_never_alarms_for_a_missed_checkin(profile):
    engine = started(profile)
    engine.on_event(ev(SessionEventType.CHECKIN, 0))
    engine.on_event(ev(SessionEventType.END, 5))
    assert engine.on_tick(at(60)) == []
    assert engine.on_event(ev(SessionEventType.CHECKIN, 61)) == []


def test_restore_remembers_the_last_checkin(profile):
    engine = AlertEngine(profile)
    engine.restore("s1", [ev(SessionEventType.START, 0), ev(SessionEventType.CHECKIN, 10)], [],
                   [])
    assert engine.on_tick(at(27)) == []
    assert [e.rule for e in engine.on_tick(at(27, 1))] == ["data.checkin_missed"]


# ---- observations entered in error (issue 19) ---------------------------------------------------

def retraction(kind: ObservationKind, minutes: float, retracted_at: float) -> ObservationRetraction:
    return ObservationRetraction("s1", at(retracted_at), kind, at(minutes), "nurse-a")


@pytest.mark.parametrize("retraction_first", [False, True])
def test_a_retracted_observation_no_longer_counts_for_a_later_rule(profile, retraction_first):
    engine = started(profile)
    if retraction_first:  # a replica may see them in either order: the same judgement
        engine.on_retraction(retraction(K.SEDATION, 1, 2))
    engine.on_observation(seen(K.SEDATION, S.MODERATE, 1))
    if not retraction_first:
        engine.on_retraction(retraction(K.SEDATION, 1, 2))
    assert active(engine.on_observation(seen(K.VOMITING, S.MILD, 5))) == set()


def test_the_same_pair_without_the_retraction_still_raises(profile):
    engine = started(profile)
    engine.on_observation(seen(K.SEDATION, S.MODERATE, 1))
    engine.on_retraction(retraction(K.SEDATION, 0, 2))  # another moment: not this observation
    assert active(engine.on_observation(seen(K.VOMITING, S.MILD, 5))) == {
        (HIGH, "observation.vomiting.sedated")}


def test_an_alarm_already_raised_stays_until_acknowledged_after_its_retraction(profile):
    engine = started(profile)
    raised = engine.on_observation(seen(K.RESPIRATORY_DEPRESSION, S.MILD, 1))
    assert {p for p, _ in active(raised)} == {HIGH}
    assert engine.on_retraction(retraction(K.RESPIRATORY_DEPRESSION, 1, 2)) == []
    assert engine.on_tick(at(10)) == []
    assert [e.metric for e in engine.active("s1")] == [Metric.OBSERVATION]
    acked = engine.acknowledge("s1", Metric.OBSERVATION, "nurse-b", "entered in error", at(11))
    assert [e.state for e in acked] == [AlertState.ACKNOWLEDGED, AlertState.CLEARED]


def test_a_restored_session_keeps_its_retractions(profile):
    engine = AlertEngine(profile)
    stored = replace(seen(K.SEDATION, S.MODERATE, 1), retracted_by="nurse-a", retracted_at=at(2))
    engine.restore("s1", [ev(SessionEventType.START, 0)], [], [], [stored])
    assert active(engine.on_observation(seen(K.VOMITING, S.MILD, 5))) == set()
