"""The default profile's limit and technical rules, row by row, with an explicit clock.

Each boundary case feeds readings through the engine on a fresh session and checks the priority
of the alarm it raises (None: no alarm). Reading times are the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile import Comparison, LimitRule, Profile
from vitals.profile_loader import load_profile
from vitals.readings import DeviceProblem, Reading, SessionEvent, SessionEventType
from vitals.vital_signs import Kind

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
S = "s1"
QUIET = 86_400.0  # stale_seconds that keeps technical alarms out of tests about other rules


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile()


def at(seconds: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, minutes=minutes)


def bp(systolic: float, diastolic: float, when: datetime = T0, **extra: object) -> Reading:
    return Reading(S, Kind.BP, when, {"systolic": systolic, "diastolic": diastolic}, **extra)


def hr(bpm: float, when: datetime = T0) -> Reading:
    return Reading(S, Kind.HR, when, {"bpm": bpm})


def spo2(value: float, when: datetime = T0) -> Reading:
    return Reading(S, Kind.SPO2, when, {"spo2": value})


def event(kind: SessionEventType, when: datetime) -> SessionEvent:
    return SessionEvent(S, kind, when)


def feed(engine: AlertEngine, *readings: Reading) -> list[AlertEvent]:
    out: list[AlertEvent] = []
    for reading in readings:
        out += engine.on_reading(reading, reading.time)
    return out


def only(events: list[AlertEvent], metric: Metric) -> list[AlertEvent]:
    return [e for e in events if e.metric is metric]


def raised(events: list[AlertEvent], metric: Metric) -> Priority | None:
    """The priority the metric's alarm was last raised at, if any."""
    active = [e for e in only(events, metric) if e.state is AlertState.ACTIVE]
    return active[-1].priority if active else None


# ---- absolute limits: one value on each side of every limit --------------------------------------

SYSTOLIC = [
    (180, Priority.HIGH), (179, Priority.MEDIUM), (160, Priority.MEDIUM), (159, Priority.LOW),
    (150, Priority.LOW), (149, None),
]
DIASTOLIC = [
    (110, Priority.HIGH), (109, Priority.MEDIUM), (100, Priority.MEDIUM), (99, Priority.LOW),
    (95, Priority.LOW), (94, None),
]
HEART_RATE = [
    (131, Priority.HIGH), (130, Priority.MEDIUM), (121, Priority.MEDIUM), (120, Priority.LOW),
    (101, Priority.LOW), (100, None), (50, None), (49, Priority.MEDIUM), (45, Priority.MEDIUM),
    (44, Priority.HIGH),
]
SPO2 = [
    (89, Priority.HIGH), (90, Priority.MEDIUM), (91, Priority.MEDIUM),
    (92, Priority.LOW), (93, Priority.LOW), (94, Priority.LOW), (95, None),
]


@pytest.mark.parametrize(("value", "priority"), SYSTOLIC)
def test_systolic_limit_raises_its_priority_inclusive_as_written(profile, value, priority):
    events = feed(AlertEngine(profile), bp(value, 70))
    assert raised(events, Metric.SYSTOLIC) is priority


@pytest.mark.parametrize(("value", "priority"), DIASTOLIC)
def test_diastolic_limit_raises_its_priority_inclusive_as_written(profile, value, priority):
    events = feed(AlertEngine(profile), bp(140, value))
    assert raised(events, Metric.DIASTOLIC) is priority


@pytest.mark.parametrize(("value", "priority"), HEART_RATE)
def test_heart_rate_limit_raises_its_priority_exclusive_as_written(profile, value, priority):
    events = feed(AlertEngine(profile), hr(value))
    assert raised(events, Metric.HEART_RATE) is priority


@pytest.mark.parametrize(("value", "priority"), SPO2)
def test_spo2_limit_held_15_seconds_raises_its_priority(profile, value, priority):
    events = feed(AlertEngine(profile), spo2(value, at(0)), spo2(value, at(15)))
    assert raised(events, Metric.SPO2) is priority


@pytest.mark.parametrize("source", ["bp", "spo2"])
def test_heart_rate_rules_also_judge_the_pulse_of_cuffs_and_oximeters(profile, source):
    values = {
        "bp": {"systolic": 120, "diastolic": 80, "pulse": 131},
        "spo2": {"spo2": 97, "pulse": 131},
    }
    reading = Reading(S, Kind(source), T0, values[source])
    events = feed(AlertEngine(profile), reading)
    assert raised(events, Metric.HEART_RATE) is Priority.HIGH


def test_alert_event_states_rule_value_limit_and_a_sentence(profile):
    [event] = feed(AlertEngine(profile), bp(186, 90))
    assert (event.rule, event.value, event.limit) == ("systolic.crisis", 186, 180)
    assert event.message == (
        "Systolic 186 mmHg: at or above 180 (hypertensive crisis range). "
        "Re-measure now; call the clinician."
    )


# ---- SpO2 sustained duration --------------------------------------------------------------------


def test_spo2_below_90_for_14_seconds_raises_only_the_immediate_low_band(profile):
    events = feed(AlertEngine(profile), spo2(88, at(0)), spo2(88, at(7)), spo2(88, at(14)))
    assert [(e.priority, e.time) for e in events] == [(Priority.LOW, at(0))]


def test_spo2_below_90_for_15_seconds_raises_high(profile):
    engine = AlertEngine(profile)
    feed(engine, spo2(88, at(0)), spo2(88, at(7)))
    [event] = feed(engine, spo2(88, at(15)))
    assert (event.priority, event.rule) == (Priority.HIGH, "spo2.hypoxaemia")


def test_spo2_below_92_for_15_seconds_raises_medium(profile):
    engine = AlertEngine(profile)
    feed(engine, spo2(91, at(0)), spo2(91, at(14)))
    [event] = feed(engine, spo2(91, at(15)))
    assert (event.priority, event.rule) == (Priority.MEDIUM, "spo2.low")


def test_spo2_dip_interrupted_by_a_normal_reading_restarts_the_duration(profile):
    readings = [spo2(88, at(0)), spo2(97, at(7)), spo2(88, at(8)), spo2(88, at(22))]
    assert raised(feed(AlertEngine(profile), *readings), Metric.SPO2) is Priority.LOW
    longer = feed(AlertEngine(profile), *readings, spo2(88, at(23)))
    assert raised(longer, Metric.SPO2) is Priority.HIGH


def test_spo2_low_band_at_94_needs_no_duration(profile):
    assert raised(feed(AlertEngine(profile), spo2(94)), Metric.SPO2) is Priority.LOW


# ---- baseline and rise rules --------------------------------------------------------------------


def dosed_engine(profile: Profile, systolic: float, diastolic: float) -> AlertEngine:
    """A session with a baseline of `systolic`/`diastolic` (two pre-dose readings) and a dose."""
    engine = AlertEngine(profile)
    engine.on_event(event(SessionEventType.START, at(minutes=0)))
    feed(engine, bp(systolic - 2, diastolic - 2, at(minutes=1)),
         bp(systolic + 2, diastolic + 2, at(minutes=5)))
    engine.on_event(event(SessionEventType.DOSE, at(minutes=6)))
    return engine


@pytest.mark.parametrize(
    ("metric", "systolic", "diastolic", "priority", "rule"),
    [
        (Metric.SYSTOLIC, 140, 62, Priority.MEDIUM, "systolic.rise"),  # baseline 100 + 40
        (Metric.SYSTOLIC, 139, 62, Priority.LOW, "systolic.above_baseline"),
        (Metric.SYSTOLIC, 120, 62, Priority.LOW, "systolic.above_baseline"),  # baseline + 20
        (Metric.SYSTOLIC, 119, 62, None, None),
        (Metric.DIASTOLIC, 110, 85, Priority.MEDIUM, "diastolic.rise"),  # baseline 60 + 25
        (Metric.DIASTOLIC, 110, 84, Priority.LOW, "diastolic.above_baseline"),
        (Metric.DIASTOLIC, 110, 75, Priority.LOW, "diastolic.above_baseline"),  # baseline + 15
        (Metric.DIASTOLIC, 110, 74, None, None),
    ],
)
def test_a_rise_over_a_baseline_of_100_60(profile, metric, systolic, diastolic, priority, rule):
    engine = dosed_engine(profile, 100, 60)
    events = only(feed(engine, bp(systolic, diastolic, at(minutes=16))), metric)
    assert [(e.priority, e.rule) for e in events] == ([(priority, rule)] if priority else [])


def test_rise_message_names_the_baseline(profile):
    engine = dosed_engine(profile, 100, 60)
    [event] = only(feed(engine, bp(141, 62, at(minutes=16))), Metric.SYSTOLIC)
    assert "baseline of 100" in event.message and event.limit == 140


def test_baseline_is_mean_of_readings_between_start_and_dose(profile):
    engine = AlertEngine(profile)
    engine.on_event(event(SessionEventType.START, at(minutes=0)))
    feed(engine, bp(110, 70, at(minutes=1)), bp(120, 80, at(minutes=2)),
         bp(130, 90, at(minutes=3)))
    engine.on_event(event(SessionEventType.DOSE, at(minutes=4)))
    feed(engine, bp(150, 95, at(minutes=14)))
    state = engine.state(S)
    assert state.baseline(Metric.SYSTOLIC) == 120
    assert state.baseline(Metric.DIASTOLIC) == 80


def test_baseline_without_a_dose_is_the_first_two_readings(profile):
    engine = AlertEngine(profile)
    feed(engine, bp(110, 70, at(minutes=1)), bp(120, 80, at(minutes=2)),
         bp(160, 99, at(minutes=3)))
    assert engine.state(S).baseline(Metric.SYSTOLIC) == 115


def test_no_baseline_rules_before_two_readings_when_undosed(profile):
    engine = AlertEngine(profile)
    feed(engine, bp(100, 60, at(minutes=1)))
    assert engine.state(S).baseline(Metric.SYSTOLIC) is None


def test_dose_without_pre_dose_readings_falls_back_to_the_first_two(profile):
    engine = AlertEngine(profile)
    engine.on_event(event(SessionEventType.DOSE, at(minutes=0)))
    feed(engine, bp(100, 60, at(minutes=1)), bp(110, 70, at(minutes=11)))
    assert engine.state(S).baseline(Metric.SYSTOLIC) == 105


# ---- one alarm per metric: worst wins, replacement ----------------------------------------------


def test_several_rules_firing_give_one_alarm_at_the_worst_priority(profile):
    engine = dosed_engine(profile, 100, 60)
    events = only(feed(engine, bp(190, 70, at(minutes=16))), Metric.SYSTOLIC)
    assert [(e.priority, e.rule) for e in events] == [(Priority.HIGH, "systolic.crisis")]


def test_higher_priority_replaces_a_lower_alarm_with_a_new_active_event(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(105, at(0)))
    events = feed(engine, hr(125, at(1)))
    assert [(e.priority, e.state) for e in events] == [(Priority.MEDIUM, AlertState.ACTIVE)]
    assert [e.priority for e in engine.active(S)] == [Priority.MEDIUM]


def test_lower_priority_reading_keeps_the_higher_alarm_without_an_event(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(135, at(0)))
    assert feed(engine, hr(125, at(1))) == []
    assert [e.priority for e in engine.active(S)] == [Priority.HIGH]


def test_metrics_alarm_independently(profile):
    engine = AlertEngine(profile)
    events = feed(engine, bp(185, 112, at(0)))
    assert {(e.metric, e.priority) for e in events} == {
        (Metric.SYSTOLIC, Priority.HIGH), (Metric.DIASTOLIC, Priority.HIGH),
    }


# ---- hysteresis and latching --------------------------------------------------------------------


def test_low_alarm_clears_itself_after_two_readings_inside_by_the_margin(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(105, at(0)))
    # 96 is inside the limit of 100 but not by 5; it resets the count.
    assert feed(engine, hr(96, at(1)), hr(95, at(2)), hr(96, at(3)), hr(95, at(4))) == []
    [cleared] = feed(engine, hr(95, at(5)))
    assert (cleared.state, cleared.priority, cleared.time) == (
        AlertState.CLEARED, Priority.LOW, at(5))
    assert engine.active(S) == []


@pytest.mark.parametrize(
    ("make", "alarm", "inside"),
    [
        (lambda v, t: bp(v, 70, t), 150, 145),  # systolic, 5 mmHg (limit >= 150)
        (lambda v, t: bp(140, v, t), 95, 90),  # diastolic, 5 mmHg (limit >= 95)
        (hr, 101, 95),  # heart rate, 5 bpm (limit > 100)
        (hr, 49, 55),  # heart rate, 5 bpm (limit < 50)
    ],
)
def test_condition_ends_only_by_the_margin(profile, make, alarm, inside):
    engine = AlertEngine(profile, stale_seconds=QUIET)
    feed(engine, make(alarm, at(0)))
    engine.acknowledge(S, engine.active(S)[0].metric, "nurse", None, at(1))
    assert feed(engine, make(inside + (1 if inside < alarm else -1), at(2)),
                make(inside + (1 if inside < alarm else -1), at(3))) == []
    events = feed(engine, make(inside, at(4)), make(inside, at(5)))
    assert [e.state for e in events if e.metric is engine_metric(make)] == [AlertState.CLEARED]


def engine_metric(make) -> Metric:
    reading = make(120, T0)
    if reading.kind is Kind.HR:
        return Metric.HEART_RATE
    return Metric.SYSTOLIC if reading["systolic"] == 120 else Metric.DIASTOLIC


def test_spo2_condition_ends_one_percent_inside(profile):
    engine = AlertEngine(profile)
    feed(engine, spo2(91, at(0)), spo2(91, at(15)))
    engine.acknowledge(S, Metric.SPO2, "nurse", None, at(16))
    # the low band (<= 94) keeps the condition present until 95 twice
    assert feed(engine, spo2(93, at(17)), spo2(93, at(18)), spo2(95, at(19))) == []
    [cleared] = feed(engine, spo2(95, at(20)))
    assert cleared.state is AlertState.CLEARED


def test_high_alarm_latches_after_its_condition_ends(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(135, at(0)))
    assert feed(engine, hr(80, at(1)), hr(80, at(2)), hr(80, at(3))) == []
    [showing] = engine.active(S)
    assert (showing.priority, showing.state) == (Priority.HIGH, AlertState.ACTIVE)


def test_acknowledging_a_latched_alarm_whose_condition_ended_clears_it(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(125, at(0)), hr(80, at(1)), hr(80, at(2)))
    events = engine.acknowledge(S, Metric.HEART_RATE, "nurse", "checked", at(3))
    assert [(e.state, e.by, e.note) for e in events] == [
        (AlertState.ACKNOWLEDGED, "nurse", "checked"), (AlertState.CLEARED, None, None),
    ]
    assert engine.active(S) == []


def test_acknowledged_alarm_whose_condition_persists_stays_acknowledged(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(125, at(0)))
    [ack] = engine.acknowledge(S, Metric.HEART_RATE, "nurse", None, at(1))
    assert (ack.state, ack.priority, ack.time) == (AlertState.ACKNOWLEDGED, Priority.MEDIUM, at(1))
    assert feed(engine, hr(126, at(2)), hr(125, at(3))) == []
    assert [e.state for e in engine.active(S)] == [AlertState.ACKNOWLEDGED]


def test_acknowledged_alarm_raises_again_when_its_priority_rises(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(125, at(0)))
    engine.acknowledge(S, Metric.HEART_RATE, "nurse", None, at(1))
    [event] = feed(engine, hr(135, at(2)))
    assert (event.priority, event.state) == (Priority.HIGH, AlertState.ACTIVE)


def test_acknowledged_alarm_clears_when_its_condition_ends(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(125, at(0)))
    engine.acknowledge(S, Metric.HEART_RATE, "nurse", None, at(1))
    events = feed(engine, hr(80, at(2)), hr(80, at(3)))
    assert [e.state for e in events] == [AlertState.CLEARED]


def test_acknowledging_nothing_emits_nothing(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(80, at(0)))
    assert engine.acknowledge(S, Metric.HEART_RATE, "nurse", None, at(1)) == []
    assert engine.acknowledge("unknown", Metric.HEART_RATE, "nurse", None, at(1)) == []


# ---- escalation ---------------------------------------------------------------------------------


def test_unacknowledged_medium_does_not_escalate_before_5_minutes(profile):
    engine = AlertEngine(profile, stale_seconds=QUIET)
    feed(engine, hr(125, at(0)))
    assert engine.on_tick(at(minutes=5) - timedelta(seconds=1)) == []


def test_unacknowledged_medium_escalates_to_high_at_5_minutes(profile):
    engine = AlertEngine(profile, stale_seconds=QUIET)
    feed(engine, hr(125, at(0)))
    events = engine.on_tick(at(minutes=5))
    assert [(e.metric, e.priority, e.state, e.time) for e in events] == [
        (Metric.HEART_RATE, Priority.HIGH, AlertState.ACTIVE, at(minutes=5))
    ]
    assert "now high priority" in events[0].message
    assert engine.on_tick(at(minutes=20)) == []


def test_escalation_seen_by_a_reading_is_timed_when_it_became_due(profile):
    engine = AlertEngine(profile, stale_seconds=QUIET)
    feed(engine, hr(125, at(0)))
    events = feed(engine, hr(125, at(minutes=7)))
    assert [(e.priority, e.time) for e in events] == [(Priority.HIGH, at(minutes=5))]


def test_escalated_alarm_raises_again_when_a_high_rule_fires(profile):
    engine = AlertEngine(profile, stale_seconds=QUIET)
    feed(engine, hr(125, at(0)))
    engine.on_tick(at(minutes=5))
    [event] = feed(engine, hr(135, at(minutes=6)))
    assert (event.priority, event.rule) == (Priority.HIGH, "heart_rate.tachycardia_severe")


def test_escalated_alarm_keeps_quiet_while_its_own_condition_persists(profile):
    engine = AlertEngine(profile, stale_seconds=QUIET)
    feed(engine, hr(125, at(0)))
    engine.on_tick(at(minutes=5))
    assert feed(engine, hr(126, at(minutes=6))) == []


def test_acknowledged_medium_never_escalates(profile):
    engine = AlertEngine(profile, stale_seconds=QUIET)
    feed(engine, hr(125, at(0)))
    engine.acknowledge(S, Metric.HEART_RATE, "nurse", None, at(10))
    assert engine.on_tick(at(minutes=30)) == []


def test_low_alarm_never_escalates(profile):
    engine = AlertEngine(profile, stale_seconds=QUIET)
    feed(engine, hr(105, at(0)))
    assert engine.on_tick(at(minutes=30)) == []


# ---- technical alarms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("silence", "priority"),
    [
        (timedelta(minutes=15), None),  # pre-dose cadence 10 min: low beyond 1.5 x
        (timedelta(minutes=15, seconds=1), Priority.LOW),
        (timedelta(minutes=20), Priority.LOW),  # medium beyond 2 x
        (timedelta(minutes=20, seconds=1), Priority.MEDIUM),
    ],
)
def test_bp_gap_beyond_cadence(profile, silence, priority):
    engine = AlertEngine(profile)
    feed(engine, bp(120, 80, at(0)))
    assert raised(engine.on_tick(T0 + silence), Metric.DATA) is priority


@pytest.mark.parametrize(
    ("last_bp_minutes", "silence_minutes", "priority"),
    [
        (50, 15.1, Priority.LOW),  # last BP 50 min after dose: cadence 10
        (61, 22.5, None),  # after 60 min: cadence 15, low beyond 22.5
        (61, 22.6, Priority.LOW),
        (61, 30.1, Priority.MEDIUM),
    ],
)
def test_bp_cadence_follows_minutes_since_dose(profile, last_bp_minutes, silence_minutes, priority):
    engine = AlertEngine(profile)
    engine.on_event(event(SessionEventType.DOSE, at(0)))
    feed(engine, bp(120, 80, at(minutes=last_bp_minutes)))
    events = engine.on_tick(at(minutes=last_bp_minutes + silence_minutes))
    assert raised(events, Metric.DATA) is priority


def test_bp_silence_is_counted_from_the_dose_when_the_last_bp_was_before_it(profile):
    engine = AlertEngine(profile)
    feed(engine, bp(120, 80, at(minutes=0)))
    engine.on_event(event(SessionEventType.DOSE, at(minutes=30)))
    assert engine.on_tick(at(minutes=45)) == []  # 15 min after the dose: not beyond 1.5 x 10
    assert feed(engine, bp(121, 80, at(minutes=40))) == []
    [gap] = engine.on_tick(at(minutes=55, seconds=1))
    assert (gap.priority, gap.rule) == (Priority.LOW, "data.bp_gap")


@pytest.mark.parametrize("make", [hr, lambda v, t: spo2(97, t)])
@pytest.mark.parametrize(("silence", "priority"), [(30, None), (31, Priority.MEDIUM)])
def test_hr_and_spo2_stream_silent_beyond_30_seconds(profile, make, silence, priority):
    engine = AlertEngine(profile)
    feed(engine, make(80, at(0)))
    assert raised(engine.on_tick(at(silence)), Metric.DATA) is priority


def test_stale_seconds_override_applies_to_every_stream(profile):
    engine = AlertEngine(profile, stale_seconds=10)
    feed(engine, bp(120, 80, at(0)))
    [event] = engine.on_tick(at(11))
    assert (event.metric, event.priority, event.limit) == (Metric.DATA, Priority.MEDIUM, 10)


def test_stream_that_never_delivered_is_not_stale(profile):
    engine = AlertEngine(profile)
    engine.on_event(event(SessionEventType.START, at(0)))
    assert engine.on_tick(at(minutes=60)) == []


def test_gap_seen_when_the_stream_resumes_without_a_tick(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(80, at(0)))
    event, ended = feed(engine, hr(80, at(45)))
    assert (event.metric, event.priority, event.state, event.rule) == (
        Metric.DATA, Priority.MEDIUM, AlertState.ACTIVE, "data.stream_silent.hr")
    # medium latches: still showing although readings flow again, saying since when
    assert (ended.state, ended.ended, engine.active(S)) == (AlertState.ACTIVE, at(45), [ended])


def test_resumed_stream_clears_an_acknowledged_stale_alarm(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(80, at(0)))
    engine.on_tick(at(40))
    engine.acknowledge(S, Metric.DATA, "nurse", "probe refitted", at(41))
    [event] = feed(engine, hr(80, at(42)))
    assert (event.metric, event.state) == (Metric.DATA, AlertState.CLEARED)


def test_low_bp_gap_clears_itself_when_a_reading_arrives(profile):
    engine = AlertEngine(profile)
    feed(engine, bp(120, 80, at(0)))
    engine.on_tick(at(minutes=16))
    [event] = feed(engine, bp(120, 80, at(minutes=17)))
    assert (event.metric, event.priority, event.state) == (
        Metric.DATA, Priority.LOW, AlertState.CLEARED)


def test_device_problem_raises_low_data_alarm_prompting_a_repeat(profile):
    engine = AlertEngine(profile)
    events = feed(engine, bp(120, 80, at(0), problems=(DeviceProblem.CUFF_LOOSE,)))
    [event] = only(events, Metric.DATA)
    assert (event.priority, event.rule) == (Priority.LOW, "data.device_problem.bp")
    assert "cuff loose" in event.message and "Repeat the measurement" in event.message


def test_device_problem_clears_with_the_next_good_reading(profile):
    engine = AlertEngine(profile)
    feed(engine, bp(120, 80, at(0), problems=(DeviceProblem.BODY_MOVEMENT,)))
    [event] = feed(engine, bp(121, 80, at(60)))
    assert (event.metric, event.state) == (Metric.DATA, AlertState.CLEARED)


def test_reading_with_a_device_problem_is_still_judged_against_the_limits(profile):
    engine = AlertEngine(profile)
    events = feed(engine, bp(185, 80, at(0), problems=(DeviceProblem.IRREGULAR_PULSE,)))
    assert raised(events, Metric.SYSTOLIC) is Priority.HIGH


# ---- end of session -----------------------------------------------------------------------------


def test_end_clears_showing_alarms(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(135, at(0)))
    events = engine.on_event(event(SessionEventType.END, at(10)))
    assert [(e.metric, e.state, e.time) for e in events] == [
        (Metric.HEART_RATE, AlertState.CLEARED, at(10))]


@pytest.mark.parametrize(
    ("readings", "raised"),
    [
        pytest.param([], [], id="nothing after the end: no alarm"),
        pytest.param([bp(182, 90, at(9))], [], id="stamped before the end (a late cuff): none"),
        pytest.param([hr(150, at(20))], ["Readings after the session ended (heart rate 150 "],
                     id="after the end: one technical alarm, never a limit alarm"),
        pytest.param([spo2(86, at(20)), bp(200, 120, at(21))],
                     ["Readings after the session ended (SpO2 86 "], id="raised once"),
    ],
)
def test_readings_after_the_end_raise_one_technical_alarm(profile, readings, raised):
    engine = AlertEngine(profile)
    feed(engine, hr(80, at(0)), bp(120, 80, at(0)))
    engine.on_event(event(SessionEventType.END, at(10)))

    events = feed(engine, *readings)

    assert [e.message[:len(m)] for e, m in zip(events, raised, strict=False)] == raised
    assert len(events) == len(raised)
    assert all((e.metric, e.priority, e.rule) == (Metric.DATA, Priority.MEDIUM, "data.after_end")
               for e in events)
    assert engine.on_tick(at(minutes=60)) == []  # no staleness, escalation or check-in after end
    assert [e.rule for e in engine.active(S)] == ["data.after_end"] * len(raised)


# ---- isolation ----------------------------------------------------------------------------------


def test_a_failing_rule_does_not_silence_the_others(profile):
    broken = LimitRule.model_construct(
        **{**profile.rules["heart_rate.elevated"].model_dump(), "id": "heart_rate.broken",
           "comparison": "bogus"}
    )
    rules = {"heart_rate.broken": broken, **profile.rules}
    engine = AlertEngine(profile.model_copy(update={"rules": rules}))
    events = feed(engine, hr(135, at(0)))
    assert raised(events, Metric.HEART_RATE) is Priority.HIGH
    assert engine.rule_errors == 1


def test_disabled_rule_never_fires(profile):
    custom = load_profile(overrides={"rules": {"heart_rate.elevated": {"enabled": False}}})
    assert feed(AlertEngine(custom), hr(110, at(0))) == []


def test_comparison_words_match_the_operator():
    assert [c.words for c in Comparison] == ["at or above", "above", "at or below", "below"]
