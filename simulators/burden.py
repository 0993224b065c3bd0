"""The alarm burden of a profile: a drawn population replayed through the pure alarm engine.

Each patient of `draw_population(n, seed)` plays the session the simulator would publish for it
(`timeline.session_messages`, seeded by `timeline.session_seed`, so `vitals simulate --population
N --seed S` sends exactly these sessions), fed to a fresh `AlertEngine` as the project's own
`Reading`s and `SessionEvent`s, on the session's own clock: a tick every 5 s of session time
(the stream cadence; the worker ticks every second of wall time), so a silent stream alarms while
it is silent and the durations below are good to 5 s.

A monitor is present (the guidance: never without one): a simulated monitor acknowledges each
medium or high alarm `ack_after` after it is raised (default 1 min, inside the 5 min escalation
delay). Without acknowledgements every medium alarm would escalate to high and every latched
alarm would show until the session ends, which measures nobody's clinic.

Per session the replay keeps each alarm raised (rule, priority, when, how long it showed) and,
for a patient whose true, noise-free blood pressure reaches the crisis range (>= 180 systolic or
>= 110 diastolic, fixed so that profiles are compared on the same patients), when it did and when
a high blood-pressure alarm first showed from then on. `summarise` turns the sessions into the
report's figures. Everything here is pure; `replay_population` may spread the patients over
worker processes (`jobs`), which changes nothing in the result.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np

from simulators.physiology import Signal
from simulators.population import (
    SESSION_MINUTES,
    PopulationPatient,
    draw_population,
    true_trace,
)
from simulators.timeline import SimMessage, session_messages, session_seed
from vitals.alerts import AlarmKey, AlertEvent, AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile import Profile
from vitals.readings import (
    DeviceProblem,
    Observation,
    ObservationKind,
    Reading,
    SessionEvent,
    SessionEventType,
    Severity,
)
from vitals.vital_signs import FIELDS, Kind

CRISIS_SYSTOLIC: Final = 180.0  # the guidance's hypertensive crisis range (ACC/AHA 2017) ...
CRISIS_DIASTOLIC: Final = 110.0  # ... and the subcutaneous esketamine study's > 110
CRISIS_GRID_MINUTES: Final = 0.25  # how finely the true signal is searched for the crossing
DEFAULT_ACK_AFTER: Final = timedelta(minutes=1)
TICK: Final = timedelta(seconds=5)
MONITOR: Final = "burden-monitor"
REPLAY_START: Final = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)  # any fixed instant: no wall clock
DOSE_AFTER: Final = timedelta(minutes=10)  # `session_messages`' default
BP_METRICS: Final = (Metric.SYSTOLIC, Metric.DIASTOLIC)
_LATCHING: Final = (Priority.MEDIUM, Priority.HIGH)  # the alarms a monitor acknowledges
_FIELD_NAMES: Final = {kind: tuple(spec.name for spec in specs) for kind, specs in FIELDS.items()}
_KINDS: Final = {kind.value: kind for kind in Kind}


@dataclass(frozen=True, slots=True)
class RaisedAlarm:
    """One alarm as it showed: raised at `raised_minutes` after the dose, for `minutes`."""

    rule: str
    metric: Metric
    priority: Priority
    raised_minutes: float
    minutes: float


@dataclass(frozen=True, slots=True)
class SessionBurden:
    """What one replayed session raised, and its true crisis (minutes after the dose)."""

    number: int
    alarms: tuple[RaisedAlarm, ...]
    true_crisis_minutes: float | None = None
    first_high_bp_minutes: float | None = None  # at or after the crisis; None: no high alarm

    @property
    def crisis_delay_minutes(self) -> float | None:
        if self.true_crisis_minutes is None or self.first_high_bp_minutes is None:
            return None
        return self.first_high_bp_minutes - self.true_crisis_minutes


def replay(patient: PopulationPatient, profile: Profile, seed: int,
           ack_after: timedelta | None = DEFAULT_ACK_AFTER) -> SessionBurden:
    """One patient's session through a fresh engine; `ack_after` None: nobody acknowledges."""
    session = f"pop-{patient.number:04d}"
    messages = session_messages(patient.scenario, session, REPLAY_START,
                                session_seed(seed, patient.number - 1))
    dose = REPLAY_START + DOSE_AFTER
    engine = AlertEngine(profile)
    log = _AlarmLog(dose)
    acks: list[tuple[datetime, int, AlarmKey]] = []  # (due, tie-breaker, alarm)

    def record(events: Iterable[AlertEvent]) -> None:
        for event in events:
            log.add(event)
            if (ack_after is not None and event.state is AlertState.ACTIVE
                    and event.priority in _LATCHING):
                heapq.heappush(acks, (event.time + ack_after, len(log.raised), event.key))

    next_tick = REPLAY_START
    for message in messages:
        # The clock between messages: due acknowledgements and ticks, in time order; both run
        # before the messages of their own instant.
        while True:
            ack_due = acks[0][0] if acks else None
            if ack_due is not None and ack_due < message.time and ack_due <= next_tick:
                _, _, key = heapq.heappop(acks)
                record(_acknowledge_due(engine, session, key, ack_due, ack_after))
            elif next_tick < message.time:
                record(engine.on_tick(next_tick))
                next_tick += TICK
            else:
                break
        record(_feed(engine, message))
    log.close(messages[-1].time)

    onset = true_crisis_onset(patient)
    first_high = log.first_showing(BP_METRICS, Priority.HIGH, onset) if onset is not None \
        else None
    return SessionBurden(patient.number, tuple(log.raised), onset, first_high)


def true_crisis_onset(patient: PopulationPatient) -> float | None:
    """Minutes after the dose when the true blood pressure first reaches the crisis range."""
    grid = np.arange(0.0, SESSION_MINUTES + CRISIS_GRID_MINUTES / 2, CRISIS_GRID_MINUTES)
    physiology = patient.physiology
    crossed = ((true_trace(physiology, Signal.SYSTOLIC, grid) >= CRISIS_SYSTOLIC)
               | (true_trace(physiology, Signal.DIASTOLIC, grid) >= CRISIS_DIASTOLIC))
    hits = np.nonzero(crossed)[0]
    return float(grid[hits[0]]) if hits.size else None


def replay_population(n: int, seed: int, profile: Profile, *,
                      ack_after: timedelta | None = DEFAULT_ACK_AFTER,
                      jobs: int = 1) -> list[SessionBurden]:
    """Every patient of `draw_population(n, seed)`, replayed; in patient order."""
    patients = draw_population(n, seed)
    if jobs <= 1 or n < 2 * jobs:
        return _replay_chunk(patients, profile, seed, ack_after)
    chunks = [patients[i::jobs] for i in range(jobs)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(_replay_chunk, chunks, [profile] * jobs, [seed] * jobs,
                           [ack_after] * jobs)
        sessions = [burden for chunk in results for burden in chunk]
    return sorted(sessions, key=lambda burden: burden.number)


def _replay_chunk(patients: Sequence[PopulationPatient], profile: Profile, seed: int,
                  ack_after: timedelta | None) -> list[SessionBurden]:
    return [replay(patient, profile, seed, ack_after) for patient in patients]


def _acknowledge_due(engine: AlertEngine, session: str, key: AlarmKey, due: datetime,
                     ack_after: timedelta | None) -> list[AlertEvent]:
    """The monitor acknowledges the alarm if it has shown unacknowledged for `ack_after` (one
    raised later, at a higher priority, waits for its own turn)."""
    state = engine.state(session)
    alarm = state.alarms.get(key) if state is not None else None
    if alarm is None or alarm.acknowledged or ack_after is None:
        return []
    if alarm.raised_at > due - ack_after:
        return []
    return engine.acknowledge(session, key.metric, MONITOR, None, due, key.rule or None)


def _feed(engine: AlertEngine, message: SimMessage) -> list[AlertEvent]:
    """One simulated message as the project's own type, into the engine (no JSON round trip:
    the timeline's payloads are the contract's, checked by its tests against the parser)."""
    payload = message.payload
    if message.leaf == "session":
        return engine.on_event(SessionEvent(
            message.session, SessionEventType(payload["event"]), message.time,
            note=payload.get("note"), by=payload.get("by")))
    if message.leaf == "observation":
        return engine.on_observation(Observation(
            message.session, message.time, ObservationKind(payload["observation"]),
            Severity(payload["severity"]), note=payload.get("note"), by=payload.get("by")))
    kind = _KINDS[message.leaf]
    reading = Reading(
        message.session, kind, message.time,
        {name: float(payload[name]) for name in _FIELD_NAMES[kind] if name in payload},
        device=payload.get("device"),
        problems=tuple(DeviceProblem(p) for p in payload.get("problems", ())),
    )
    return engine.on_reading(reading, message.time)


class _AlarmLog:
    """Turns alert events into alarms with durations: an alarm shows from its active event
    until its next active event (a new priority or cause) or its cleared event. A latched
    technical alarm's "ended" and "back" events (same priority) raise nothing new."""

    def __init__(self, dose: datetime) -> None:
        self.dose = dose
        self.raised: list[RaisedAlarm] = []
        self._open: dict[AlarmKey, tuple[AlertEvent, int]] = {}
        self._shown: list[tuple[Metric, Priority, datetime, datetime]] = []

    def add(self, event: AlertEvent) -> None:
        key = event.key
        if event.state is AlertState.ACTIVE:
            opened = self._open.get(key)
            if event.restates(opened[0] if opened else None):
                return
            self._end(key, event.time)
            self._open[key] = (event, len(self.raised))
            self.raised.append(RaisedAlarm(event.rule, event.metric, event.priority,
                                           self._minutes(event.time), 0.0))
        elif event.state is AlertState.CLEARED:
            self._end(key, event.time)

    def close(self, at: datetime) -> None:
        for key in list(self._open):
            self._end(key, at)

    def first_showing(self, metrics: Sequence[Metric], priority: Priority,
                      since_minutes: float) -> float | None:
        """The first moment at or after `since_minutes` when an alarm of `priority` on one of
        `metrics` shows (`since_minutes` itself when one already shows)."""
        since = self.dose + timedelta(minutes=since_minutes)
        starts = [max(begin, since) for metric, shown, begin, end in self._shown
                  if metric in metrics and shown is priority and end > since]
        return self._minutes(min(starts)) if starts else None

    def _end(self, key: AlarmKey, at: datetime) -> None:
        opened = self._open.pop(key, None)
        if opened is None:
            return
        event, index = opened
        alarm = self.raised[index]
        minutes = (at - event.time) / timedelta(minutes=1)
        self.raised[index] = RaisedAlarm(alarm.rule, alarm.metric, alarm.priority,
                                         alarm.raised_minutes, minutes)
        self._shown.append((key.metric, event.priority, event.time, at))

    def _minutes(self, at: datetime) -> float:
        return (at - self.dose) / timedelta(minutes=1)


# ---- the report's figures -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleBurden:
    """One rule at one priority, over the population."""

    rule: str
    metric: Metric
    priority: Priority
    alarms_per_session: float
    share_of_sessions: float  # with at least one such alarm
    minutes_per_session: float  # time in alarm, averaged over every session


@dataclass(frozen=True, slots=True)
class BurdenSummary:
    profile: str
    patients: int
    seed: int
    ack_after_minutes: float | None
    rows: tuple[RuleBurden, ...]  # highest priority first, then most alarms per session
    alarms_per_session: float
    share_with_any_alarm: float
    share_with_high_alarm: float
    minutes_in_alarm_per_session: float  # any alarm showing, per session
    crisis_patients: int  # true BP reached >= 180/110
    crisis_without_high_alarm: int  # of those, no high BP alarm showed afterwards
    crisis_delays_minutes: tuple[float, ...]  # true crossing -> first high BP alarm showing
    high_alarms_per_session: tuple[int, ...]  # one count per session, for the histogram

    @property
    def median_crisis_delay(self) -> float | None:
        delays = self.crisis_delays_minutes
        return float(np.median(delays)) if delays else None

    @property
    def max_crisis_delay(self) -> float | None:
        return max(self.crisis_delays_minutes) if self.crisis_delays_minutes else None


def summarise(sessions: Sequence[SessionBurden], *, profile: str, seed: int,
              ack_after: timedelta | None) -> BurdenSummary:
    """The report's figures from replayed sessions (pure)."""
    n = len(sessions)
    if n == 0:
        raise ValueError("no sessions to summarise")
    counts: Counter[tuple[str, Metric, Priority]] = Counter()
    minutes: defaultdict[tuple[str, Metric, Priority], float] = defaultdict(float)
    sessions_with: Counter[tuple[str, Metric, Priority]] = Counter()
    for burden in sessions:
        seen = set()
        for alarm in burden.alarms:
            key = (alarm.rule, alarm.metric, alarm.priority)
            counts[key] += 1
            minutes[key] += alarm.minutes
            seen.add(key)
        sessions_with.update(seen)
    rows = sorted(
        (RuleBurden(rule, metric, priority, counts[key] / n, sessions_with[key] / n,
                    minutes[key] / n)
         for key in counts for rule, metric, priority in [key]),
        key=lambda row: (-row.priority.rank, -row.alarms_per_session, row.rule),
    )
    crisis = [b for b in sessions if b.true_crisis_minutes is not None]
    delays = tuple(d for b in crisis if (d := b.crisis_delay_minutes) is not None)
    return BurdenSummary(
        profile=profile,
        patients=n,
        seed=seed,
        ack_after_minutes=None if ack_after is None else ack_after / timedelta(minutes=1),
        rows=tuple(rows),
        alarms_per_session=sum(counts.values()) / n,
        share_with_any_alarm=sum(bool(b.alarms) for b in sessions) / n,
        share_with_high_alarm=sum(
            any(a.priority is Priority.HIGH for a in b.alarms) for b in sessions) / n,
        minutes_in_alarm_per_session=sum(_minutes_any_alarm(b) for b in sessions) / n,
        crisis_patients=len(crisis),
        crisis_without_high_alarm=len(crisis) - len(delays),
        crisis_delays_minutes=delays,
        high_alarms_per_session=tuple(
            sum(a.priority is Priority.HIGH for a in b.alarms) for b in sessions),
    )


def _minutes_any_alarm(burden: SessionBurden) -> float:
    """Minutes during which at least one alarm showed (overlapping alarms counted once)."""
    spans = sorted((a.raised_minutes, a.raised_minutes + a.minutes) for a in burden.alarms)
    total, reach = 0.0, None
    for begin, end in spans:
        if reach is None or begin > reach:
            total += end - begin
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total
