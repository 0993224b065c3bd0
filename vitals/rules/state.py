"""What the rules remember and what they produce: the rule ids of technical alarms, a cause
that wants an alarm, one limit rule's track, the alarm showing, and a session's whole state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vitals.alerts import AlarmKey, AlertEvent, Metric, Priority
from vitals.readings import Observation, ObservationKind
from vitals.sessions import baseline_of
from vitals.vital_signs import Kind

# Technical alarms' rules: one alarm per rule (per kind where a kind is named).
DATA_RULE_BP_GAP = "data.bp_gap"
DATA_RULE_STREAM = "data.stream_silent"  # + ".<kind>"
DATA_RULE_PROBLEM = "data.device_problem"  # + ".<kind>"
DATA_RULE_ENDED = "session.end"
DATA_RULE_AFTER_END = "data.after_end"
DATA_RULE_CHECKIN = "data.checkin_missed"
DATA_RULE_NOTIFY = "data.notify_failed"  # + ".<person>.<channel>": one alarm each
OBSERVATION_RULE_PREFIX = "observation."
# Pre-dose samples kept per metric for the baseline; a bound so a session never dosed cannot grow.
MAX_BASELINE_SAMPLES = 20_000
_AFTER = timedelta(microseconds=1)  # the storage's resolution: a distinct, later instant


@dataclass(slots=True)
class RuleTrack:
    """Where one limit rule stands: in effect or not, and its sustained/hysteresis counters."""

    in_effect: bool = False
    breach_since: datetime | None = None
    inside_count: int = 0
    value: float | None = None
    limit: float | None = None
    source: str = ""  # "kind.field" the value in effect came from


@dataclass(frozen=True, slots=True)
class Cause:
    """A condition that wants an alarm: the rule, its priority and what to say."""

    rule: str
    priority: Priority
    text: str | Callable[[], str]  # a callable renders only when an event needs it
    value: float | None = None
    limit: float | None = None
    # When a time-driven condition became due (a silence reaching its limit): its alarm is dated
    # then, not when a tick noticed it, so every replica of the ingest dates it alike.
    due: datetime | None = None

    @property
    def message(self) -> str:
        return self.text if isinstance(self.text, str) else self.text()


@dataclass(slots=True)
class Alarm:
    """The alarm showing for one (session, metric): its last event and its latch."""

    event: AlertEvent  # the last event emitted for it (active or acknowledged)
    raised_at: datetime  # when it became active at its current priority (the escalation clock)
    cause_rank: int  # rank of the cause that raised it (below `priority` once escalated)
    acknowledged: bool = False
    condition_present: bool = True

    @property
    def priority(self) -> Priority:
        return self.event.priority


@dataclass(slots=True)
class SessionState:
    """Everything the rules remember about one session."""

    session: str
    label: str | None = None  # the display label of its latest start, for the alarms it sends
    started: datetime | None = None
    dosed: datetime | None = None
    ended: datetime | None = None
    tracks: dict[str, RuleTrack] = field(default_factory=dict)
    first_two: dict[Metric, list[tuple[datetime, float]]] = field(default_factory=dict)
    pre_dose: dict[Metric, list[tuple[datetime, float]]] = field(default_factory=dict)
    baseline_cache: dict[Metric, float | None] = field(default_factory=dict)
    last_reading: dict[Kind, datetime] = field(default_factory=dict)
    # The latest reading time of each "kind.field" source: whether a lower-ranked one is judged.
    last_source: dict[str, datetime] = field(default_factory=dict)
    data_causes: dict[str, Cause] = field(default_factory=dict)  # by rule: one alarm each
    alarms: dict[AlarmKey, Alarm] = field(default_factory=dict)
    rule_errors: int = 0
    last_checkin: datetime | None = None
    observations: list[Observation] = field(default_factory=list)
    # (kind, time) of observations marked entered in error: no rule counts them any more,
    # whichever of the observation and its retraction arrived first.
    retracted: set[tuple[ObservationKind, datetime]] = field(default_factory=set)
    alarmed_after_end: bool = False  # "readings after the session ended" raised (once)
    # The time of each alarm's latest event: an alarm dated back to when it became due is
    # never dated before an event already emitted for it (stored order = emitted order).
    last_event: dict[AlarmKey, datetime] = field(default_factory=dict)

    def emitted(self, events: list[AlertEvent]) -> list[AlertEvent]:
        for event in events:
            latest = self.last_event.get(event.key)
            if latest is None or event.time > latest:
                self.last_event[event.key] = event.time
        return events

    def dated(self, key: AlarmKey, due: datetime) -> datetime:
        """`due`, or just after the alarm's latest event if that is not before it."""
        latest = self.last_event.get(key)
        return due if latest is None or due > latest else latest + _AFTER

    def baseline(self, metric: Metric) -> float | None:
        if metric not in self.baseline_cache:
            samples = self.pre_dose.get(metric, []) if self.dosed is not None else []
            self.baseline_cache[metric] = baseline_of(
                samples, self.first_two.get(metric, []), dosed=self.dosed is not None
            )
        return self.baseline_cache[metric]

    def record_sample(self, metric: Metric, time: datetime, value: float) -> None:
        first = self.first_two.setdefault(metric, [])
        changed = False
        if len(first) < 2:
            first.append((time, value))
            first.sort()
            changed = True
        before_dose = self.dosed is None or time < self.dosed
        after_start = self.started is None or time >= self.started
        samples = self.pre_dose.setdefault(metric, [])
        if before_dose and after_start and len(samples) < MAX_BASELINE_SAMPLES:
            samples.append((time, value))
            # Before the dose the baseline is the first two readings; these count once dosed.
            changed = changed or self.dosed is not None
        if changed:
            self.baseline_cache.pop(metric, None)

    def set_dose(self, time: datetime) -> None:
        if self.dosed is not None and self.dosed <= time:
            return  # the first dose sets the baseline and the cadence clock
        self.dosed = time
        for metric, samples in self.pre_dose.items():
            self.pre_dose[metric] = [s for s in samples if s[0] < time]
        self.baseline_cache.clear()

    def set_start(self, time: datetime) -> None:
        if self.started is None or time < self.started:
            self.started = time
            self.baseline_cache.clear()

