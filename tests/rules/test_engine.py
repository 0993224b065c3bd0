"""`AlertEngine`: session clocks, implicit starts, the active list and restore after a restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile_loader import load_profile
from vitals.readings import DeviceProblem, Reading, SessionEvent, SessionEventType
from vitals.vital_signs import Kind

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
WALL = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # a wall clock far from the session's clock


@pytest.fixture(scope="module")
def profile():
    return load_profile()


def at(seconds: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, minutes=minutes)


def hr(bpm: float, when: datetime, session: str = "s1") -> Reading:
    return Reading(session, Kind.HR, when, {"bpm": bpm})


def bp(systolic: float, diastolic: float, when: datetime, session: str = "s1", **kw) -> Reading:
    return Reading(session, Kind.BP, when, {"systolic": systolic, "diastolic": diastolic}, **kw)


def spo2(value: float, when: datetime, session: str = "s1") -> Reading:
    return Reading(session, Kind.SPO2, when, {"spo2": value})


def ev(kind: SessionEventType, when: datetime, session: str = "s1") -> SessionEvent:
    return SessionEvent(session, kind, when)


# ---- the session clock on ticks -----------------------------------------------------------------


@pytest.mark.parametrize(("wall_seconds", "stale"), [(30, False), (31, True)])
def test_tick_maps_the_wall_clock_onto_the_session_clock(profile, wall_seconds, stale):
    engine = AlertEngine(profile)
    engine.on_reading(hr(80, at(0)), received_at=WALL)
    events = engine.on_tick(WALL + timedelta(seconds=wall_seconds))
    assert bool(events) is stale


def test_compressed_simulation_is_not_stale_between_its_readings(profile):
    engine = AlertEngine(profile)
    # 60x: one reading per simulated second arrives every 1/60 s of wall time
    for i in range(120):
        engine.on_reading(hr(80, at(i)), received_at=WALL + timedelta(seconds=i / 60))
    assert engine.on_tick(WALL + timedelta(seconds=2.5)) == []


def test_each_session_has_its_own_clock(profile):
    engine = AlertEngine(profile)
    engine.on_reading(hr(80, at(0), "fast"), received_at=WALL - timedelta(seconds=40))
    engine.on_reading(hr(80, at(0), "slow"), received_at=WALL)
    events = engine.on_tick(WALL + timedelta(seconds=5))
    assert [e.session for e in events] == ["fast"]


# ---- sessions -----------------------------------------------------------------------------------


def test_reading_for_an_unknown_session_starts_it(profile):
    engine = AlertEngine(profile)
    engine.on_reading(bp(120, 80, at(minutes=2)), at(minutes=2))
    state = engine.state("s1")
    assert state is not None and state.started == at(minutes=2)


def test_start_after_end_begins_a_new_session(profile):
    engine = AlertEngine(profile)
    engine.on_reading(hr(80, at(0)), at(0))
    engine.on_event(ev(SessionEventType.END, at(10)))
    engine.on_event(ev(SessionEventType.START, at(minutes=60)))
    [event] = engine.on_reading(hr(135, at(minutes=61)), at(minutes=61))
    assert event.priority is Priority.HIGH


def test_active_lists_the_showing_alarm_per_session_and_metric(profile):
    engine = AlertEngine(profile, stale_seconds=86_400)
    engine.on_reading(hr(135, at(0), "a"), at(0))
    engine.on_reading(bp(185, 90, at(0), "b"), at(0))
    engine.on_reading(hr(125, at(1), "b"), at(1))
    assert [(e.session, e.metric) for e in engine.active()] == [
        ("a", Metric.HEART_RATE), ("b", Metric.HEART_RATE), ("b", Metric.SYSTOLIC)]
    assert [e.metric for e in engine.active("a")] == [Metric.HEART_RATE]
    assert engine.active("unknown") == []


def test_stale_seconds_must_be_positive(profile):
    with pytest.raises(ValueError, match="stale_seconds"):
        AlertEngine(profile, stale_seconds=0)


# ---- restore ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing that happens to the engine; `kind` is reading, event, tick or ack."""

    kind: str
    item: object = None
    time: datetime | None = None
    metric: Metric | None = None


STORY = [
    Step("event", ev(SessionEventType.START, at(0))),
    Step("reading", bp(118, 76, at(minutes=1))),
    Step("reading", hr(72, at(minutes=1))),
    Step("reading", bp(122, 78, at(minutes=4))),
    Step("event", ev(SessionEventType.DOSE, at(minutes=5))),
    Step("reading", hr(104, at(minutes=5, seconds=20))),  # low
    Step("reading", bp(145, 95, at(minutes=15))),  # above baseline (low) and diastolic elevated
    Step("reading", bp(162, 102, at(minutes=25))),  # rise: medium, both
    Step("reading", hr(96, at(minutes=25, seconds=5))),  # HR gap of 20 min: data medium
    Step("tick", time=at(minutes=29)),
    Step("ack", time=at(minutes=29, seconds=10), metric=Metric.SYSTOLIC),
    Step("tick", time=at(minutes=31)),  # diastolic medium escalates to high at 30 min
    Step("reading", spo2(91, at(minutes=31))),
    Step("reading", spo2(91, at(minutes=31, seconds=10))),
    Step("reading", spo2(91, at(minutes=31, seconds=15))),  # medium after 15 s
    Step("reading", hr(95, at(minutes=31, seconds=16))),  # HR low: 2nd inside reading
    Step("reading", bp(150, 112, at(minutes=33))),  # diastolic crisis after its escalation
    Step("reading", bp(150, 90, at(minutes=35), problems=(DeviceProblem.BODY_MOVEMENT,))),
    Step("ack", time=at(minutes=36), metric=Metric.DATA),
    Step("reading", bp(135, 85, at(minutes=45))),
    Step("reading", bp(134, 84, at(minutes=55))),
    Step("reading", spo2(97, at(minutes=55))),
    Step("reading", spo2(97, at(minutes=55, seconds=1))),
    Step("tick", time=at(minutes=56)),
    Step("ack", time=at(minutes=57), metric=Metric.DIASTOLIC),
    Step("reading", bp(182, 86, at(minutes=60))),
    Step("reading", hr(131, at(minutes=60, seconds=1))),
    Step("tick", time=at(minutes=70)),
    Step("event", ev(SessionEventType.END, at(minutes=80))),
    Step("reading", bp(200, 120, at(minutes=81))),  # after the end: a technical alarm
    Step("reading", bp(201, 121, at(minutes=82))),  # raised once
    Step("ack", time=at(minutes=83), metric=Metric.DATA),  # clears it
    Step("reading", hr(80, at(minutes=84))),  # acknowledged once: not raised again
]


@dataclass
class History:
    events: list[SessionEvent]
    readings: list[Reading]
    alerts: list[AlertEvent]


def play(engine: AlertEngine, steps: list[Step], history: History) -> list[AlertEvent]:
    out: list[AlertEvent] = []
    for step in steps:
        if step.kind == "reading":
            assert isinstance(step.item, Reading)
            history.readings.append(step.item)
            out += engine.on_reading(step.item, step.item.time)
        elif step.kind == "event":
            assert isinstance(step.item, SessionEvent)
            history.events.append(step.item)
            out += engine.on_event(step.item)
        elif step.kind == "tick":
            out += engine.on_tick(step.time)
        else:
            out += engine.acknowledge("s1", step.metric, "nurse", None, step.time)
    history.alerts += out
    return out


def test_story_raises_what_the_rules_say(profile):
    engine = AlertEngine(profile)
    events = play(engine, STORY, History([], [], []))
    raised = [(e.metric.value, e.priority.value, e.state.value) for e in events]
    assert ("systolic", "medium", "active") in raised
    assert raised.count(("diastolic", "high", "active")) == 2  # escalated, then crisis
    assert ("spo2", "medium", "active") in raised
    assert ("data", "medium", "active") in raised
    assert ("systolic", "high", "active") in raised
    ended = next(i for i, e in enumerate(events) if e.message == "Session ended.")
    assert all(e.state is AlertState.CLEARED for e in events[ended:-3])  # the end cleared all
    assert [(e.rule, e.state) for e in events[-3:]] == [
        ("data.after_end", AlertState.ACTIVE), ("data.after_end", AlertState.ACKNOWLEDGED),
        ("data.after_end", AlertState.CLEARED)]
    assert engine.active() == []


@pytest.mark.parametrize("split", range(1, len(STORY)))
def test_restore_gives_the_same_alarms_and_future_as_before_the_restart(profile, split):
    before = AlertEngine(profile)
    history = History([], [], [])
    play(before, STORY[:split], history)

    after = AlertEngine(profile)
    after.restore("s1", history.events, history.readings, history.alerts)

    assert after.active() == before.active()
    for metric in (Metric.SYSTOLIC, Metric.DIASTOLIC, Metric.HEART_RATE, Metric.SPO2):
        assert after.state("s1").baseline(metric) == before.state("s1").baseline(metric)
    rest_before = play(before, STORY[split:], History([], [], []))
    rest_after = play(after, STORY[split:], History([], [], []))
    assert rest_after == rest_before


def test_restore_keeps_an_acknowledgement_while_the_condition_persists(profile):
    engine = AlertEngine(profile, stale_seconds=86_400)
    alerts = engine.on_reading(hr(125, at(0)), at(0))
    alerts += engine.acknowledge("s1", Metric.HEART_RATE, "nurse", "known", at(5))

    restored = AlertEngine(profile, stale_seconds=86_400)
    restored.restore("s1", [], [hr(125, at(0))], alerts)
    [showing] = restored.active("s1")
    assert (showing.state, showing.by, showing.note) == (AlertState.ACKNOWLEDGED, "nurse", "known")
    assert restored.on_reading(hr(126, at(10)), at(10)) == []


def test_restore_keeps_a_latched_alarm_whose_condition_ended(profile):
    engine = AlertEngine(profile, stale_seconds=86_400)
    readings = [hr(135, at(0)), hr(80, at(1)), hr(80, at(2))]
    alerts = [a for r in readings for a in engine.on_reading(r, r.time)]

    restored = AlertEngine(profile, stale_seconds=86_400)
    restored.restore("s1", [], readings, alerts)
    events = restored.acknowledge("s1", Metric.HEART_RATE, "nurse", None, at(3))
    assert [e.state for e in events] == [AlertState.ACKNOWLEDGED, AlertState.CLEARED]


def test_restore_of_an_ended_session_judges_no_limits_and_keeps_its_after_end_alarm(profile):
    restored = AlertEngine(profile)
    restored.restore("s1", [ev(SessionEventType.END, at(10))], [hr(80, at(0))], [])
    [after_end] = restored.on_reading(hr(150, at(20)), at(20))
    assert (after_end.rule, after_end.priority) == ("data.after_end", Priority.MEDIUM)
    assert restored.on_tick(at(minutes=30)) == []

    again = AlertEngine(profile)
    again.restore("s1", [ev(SessionEventType.END, at(10))], [hr(80, at(0))], [after_end])
    assert again.active("s1") == [after_end]
    assert again.on_reading(hr(150, at(25)), at(25)) == []  # raised once per ended session
    assert [e.state for e in again.acknowledge("s1", Metric.DATA, "nurse", None, at(26))] == [
        AlertState.ACKNOWLEDGED, AlertState.CLEARED]


def test_restore_replaces_what_the_engine_held_for_the_session(profile):
    engine = AlertEngine(profile)
    engine.on_reading(hr(135, at(0)), at(0))
    engine.restore("s1", [], [], [])
    assert engine.active() == []


@pytest.mark.parametrize("event", ["note", "checklist", "override", "signoff"])
def test_audit_events_never_end_a_session_or_change_its_alarms(event):
    engine = AlertEngine(load_profile())
    start = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    engine.on_event(SessionEvent("s1", SessionEventType.START, start))
    assert engine.on_event(SessionEvent("s1", SessionEventType(event), start, note="x")) == []
    high = Reading("s1", Kind.HR, start, {"bpm": 140.0})
    assert [a.priority.value for a in engine.on_reading(high, start)] == ["high"]


def test_a_session_with_only_events_so_far_is_ticked_on_its_own_clock():
    """A simulated session from yesterday that has only started and checked in: a tick at the
    wall clock must not find its check-in a day overdue."""
    engine = AlertEngine(load_profile())
    simulated = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    wall = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    engine.on_event(SessionEvent("s1", SessionEventType.START, simulated), wall)
    engine.on_event(SessionEvent("s1", SessionEventType.CHECKIN, simulated, by="m"), wall)
    assert engine.on_tick(wall + timedelta(seconds=1)) == []
    overdue = engine.on_tick(wall + timedelta(minutes=18))
    assert [(a.rule, a.priority.value) for a in overdue] == [("data.checkin_missed", "medium")]


# ---- isolation: one session's failure never silences another's timed alarms --------------------


def broken_engine(profile) -> AlertEngine:
    """Two sessions with HR streams; `broken`'s state is corrupted so its timed rules raise."""
    engine = AlertEngine(profile)
    for session in ("broken", "fine"):
        engine.on_reading(hr(80, at(0), session), received_at=at(0))
    engine.state("broken").last_reading[Kind.HR] = "not a time"  # type: ignore[assignment]
    return engine


def test_a_session_whose_timed_rules_raise_gets_a_high_alarm_and_the_others_are_judged(profile):
    engine = broken_engine(profile)
    events = engine.on_tick(at(31))
    by_session = {e.session: (e.metric, e.priority, e.state) for e in events}
    assert by_session == {
        "broken": (Metric.DATA, Priority.HIGH, AlertState.ACTIVE),  # its checks failed
        "fine": (Metric.DATA, Priority.MEDIUM, AlertState.ACTIVE),  # its HR is 31 s silent
    }
    [failed] = [e for e in events if e.session == "broken"]
    assert failed.rule == "ingest.tick_failed" and "watch the patient" in failed.message


def test_a_lasting_failure_alarms_once_and_is_acknowledged_like_any_alarm(profile):
    engine = broken_engine(profile)
    engine.on_tick(at(31))
    assert [e.session for e in engine.on_tick(at(32))] == []
    acked = engine.acknowledge("broken", Metric.DATA, "nurse-a", None, at(40))
    assert [(e.state, e.by) for e in acked] == [(AlertState.ACKNOWLEDGED, "nurse-a")]


# ---- an alarm's events never go back in time ----------------------------------------------------


def test_a_crisis_reading_stamped_before_an_escalation_still_heads_the_alarm(profile):
    # A cuff stamps a reading when its measurement began and sends it when it ends: the crisis
    # reading may arrive after a tick escalated the medium alarm at a later session time.
    from vitals.sessions import present_alarms

    engine = AlertEngine(profile)
    events = engine.on_reading(bp(179, 85, at(0)), received_at=WALL)
    events += engine.on_tick(WALL + timedelta(minutes=5, seconds=1))  # escalated at +5 min
    events += engine.on_reading(bp(193, 99, at(minutes=4, seconds=50)),
                                received_at=WALL + timedelta(minutes=5, seconds=2))

    systolic = [e for e in events if e.metric is Metric.SYSTOLIC]
    assert [e.rule for e in systolic] == ["systolic.urgency", "systolic.urgency",
                                          "systolic.crisis"]
    assert [e.time for e in systolic] == sorted(e.time for e in systolic)
    [headline, *_] = present_alarms(events)
    assert (headline.rule, headline.value) == ("systolic.crisis", 193)


def test_the_engine_keeps_the_label_its_starts_carry_as_the_stored_history_reads_it() -> None:
    from vitals.sessions import session_label

    def start(minutes: float, label: str | None = None) -> SessionEvent:
        return SessionEvent("s1", SessionEventType.START, T0 + timedelta(minutes=minutes),
                            label=label)

    histories = [
        [start(0, "Chair 3 · AB")],
        [start(0, "Chair 3 · AB"), start(1)],  # Start pressed again: the label stays
        [start(0, "Chair 3 · AB"),
         SessionEvent("s1", SessionEventType.END, T0 + timedelta(minutes=60)),
         start(90)],  # the next session on this id: no old label
    ]
    for history in histories:
        engine = AlertEngine(load_profile())
        for event in history:
            engine.on_event(event)
        state = engine.state("s1")
        assert state is not None and state.label == session_label(history)
    assert [session_label(h) for h in histories] == ["Chair 3 · AB", "Chair 3 · AB", None]
