"""The alarm rules: pure functions of a reading (or a moment), a session's state and the profile.

Nothing here does I/O or reads a clock; every function takes the time it should judge by.
`vitals.engine.AlertEngine` owns one `SessionState` per session and calls these.

Alarm model (IEC 60601-1-8 as monitors implement it):

- One alarm per (session, metric). Every limit rule of the metric is evaluated in isolation (an
  exception in one rule is logged and counted, the others still run). The alarm shows the worst
  priority among the rules in effect; a rule of higher priority than the one that raised the
  alarm showing raises a new `active` event at that priority (acknowledged or not). A drop to a
  lower priority does not emit anything: the alarm keeps its priority until its whole condition
  has ended.
- A limit rule comes into effect on a reading that breaches it (for SpO2 rules with a sustained
  duration: when the breach has lasted that long by reading times, every reading in between
  breaching) and leaves effect after `hysteresis.consecutive` consecutive readings inside the
  limit by the metric's margin.
- A metric fed by several sources (heart rate: `hr.bpm`, `spo2.pulse`, `bp.pulse`) ranks them
  in the profile's order: a value is judged (and sampled for the baseline) only while every
  higher-ranked source is stale, by the first limit of its stream's silence alarm
  (`source_fresh`). Messages name the value's device with `{source}`.
- High and medium alarms latch. When their condition ends and nobody has acknowledged them, no
  event is emitted: the alarm keeps showing as `active` (`Alarm.condition_present` is False).
  Acknowledging it then emits `acknowledged` followed at once by `cleared`. When an acknowledged
  alarm's condition ends, `cleared` is emitted. Low alarms emit `cleared` by themselves when their
  condition ends.
- `acknowledged` carries `by`/`note`. An acknowledged alarm whose condition persists stays
  acknowledged; only a rule of higher priority raises it again.
- An unacknowledged medium alarm (its condition persisting or not: nobody has seen it) becomes
  high `escalation.after_minutes` after it was raised: an `active` event at `high`, timed exactly
  at the moment it became due, so a fast simulation and real time produce the same events.
- Technical alarms have the `data` metric and one alarm per cause, told apart by their rule
  (`AlarmKey`): BP gap beyond the cadence (`data.bp_gap`, low, then medium), a stream silent too
  long (`data.stream_silent.<kind>`, medium), a device-reported problem
  (`data.device_problem.<kind>`, low, until the next reading of that kind without one), a missed
  check-in, failing rules. Each raises, escalates, is acknowledged and clears on its own. A
  latched technical alarm whose cause ended emits an `active` event with `ended` set (so a tile
  can say "ended at hh:mm — acknowledge to clear"), and one without it if the cause comes back.
  Staleness is only judged for a stream that has delivered at least one reading; BP silence is
  counted from the dose when the last BP came before it. `stale_seconds` (VITALS_STALE_SECONDS)
  replaces every stream's limits with one medium limit. `value`/`limit` of a BP gap are minutes,
  of a silent stream seconds. A gap is also judged when the stream resumes (`check_resume`),
  so a compressed simulation that no tick caught between two readings still raises it.
- Presence check-ins are a `data` cause too (medium): once a session had its first check-in
  (or from its start when `checkin.required_from_start`), a silence longer than interval + grace
  by the session's clock raises it; the next check-in removes the cause (so its alarm clears,
  or stays latched until acknowledged, like any medium technical alarm).
- Observation rules (`metric` observation) judge each observation the monitor records against
  the profile's `observation_rules`; the worst matching rule raises. An observation is a moment,
  not a state: its condition ends as soon as it is raised, so a high or medium observation
  alarm latches until acknowledged (acknowledging emits `acknowledged` then `cleared`), and a
  medium one escalates like any other. While it shows, only a worse rule raises it again.
- After a session's `end` event every showing alarm is cleared and nothing alarms any more;
  a `start` for the same id afterwards begins a new session.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from vitals.alerts import AlarmKey, AlertEvent, AlertState, Metric, Priority
from vitals.profile import LimitRule, ObservationRule, Profile, source_label
from vitals.readings import Kind, Observation, Reading
from vitals.sessions import baseline_of
from vitals.vital_signs import SIGNS

log = logging.getLogger(__name__)

# Technical alarms' rules: one alarm per rule (per kind where a kind is named).
DATA_RULE_BP_GAP = "data.bp_gap"
DATA_RULE_STREAM = "data.stream_silent"  # + ".<kind>"
DATA_RULE_PROBLEM = "data.device_problem"  # + ".<kind>"
DATA_RULE_ENDED = "session.end"
DATA_RULE_AFTER_END = "data.after_end"
DATA_RULE_CHECKIN = "data.checkin_missed"
DATA_RULE_NOTIFY = "data.notify_failed"  # + ".<person>.<channel>": one alarm each
OBSERVATION_RULE_PREFIX = "observation."
# Observations kept per session for "while" rules; a bound so a long session cannot grow.
MAX_OBSERVATIONS = 2_000
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


# ---- limit rules --------------------------------------------------------------------------------


def evaluate(
    reading: Reading, state: SessionState, profile: Profile, stale_seconds: float | None = None
) -> list[AlertEvent]:
    """The alert events one reading causes (limit rules and device problems), by reading time.

    A value from a metric's lower-ranked source (`MetricSpec.sources` order) is judged only
    while every higher-ranked source is stale by its stream's limit (`stale_seconds` as for the
    technical alarms): a cuff's pulse neither raises, clears nor masks the HR stream's alarm.
    Escalation and gaps are judged separately (`escalate`, `check_resume`), so callers control
    the order; `vitals.engine.AlertEngine.on_reading` runs them all.
    """
    if state.ended is not None:
        return []
    events = _device_problems(reading, state, profile)
    values = reading.values
    time = reading.time
    last_source = state.last_source
    for metric, name, source, above in profile.sources_of(reading.kind):
        if name not in values:
            continue
        outranked = bool(above) and any(
            source_fresh(higher, state, profile, time, stale_seconds) for higher in above)
        last = last_source.get(source)
        if last is None or time > last:
            last_source[source] = time
        if outranked:
            continue  # not sampled either: the baseline is of the values judged
        value = values[name]
        state.record_sample(metric, time, value)
        events += _evaluate_metric(metric, value, time, state, profile, source)
    return events


def source_fresh(
    source: str, state: SessionState, profile: Profile, now: datetime,
    stale_seconds: float | None,
) -> bool:
    """Whether `source` delivered within its stream's staleness limit (the first limit its
    silence alarm has) by `now`. A source that never delivered is stale."""
    last = state.last_source.get(source)
    if last is None:
        return False
    kind = Kind(source.partition(".")[0])
    limit = min(seconds for _, seconds in stream_limits(kind, state, profile, stale_seconds, last))
    return (now - last).total_seconds() <= limit


def _evaluate_metric(
    metric: Metric, value: float, time: datetime, state: SessionState, profile: Profile,
    source: str,
) -> list[AlertEvent]:
    baseline = state.baseline(metric)
    spec = profile.metrics[metric]
    margin = spec.margin
    consecutive = profile.hysteresis.consecutive
    tracks = state.tracks
    in_effect: list[tuple[LimitRule, RuleTrack]] = []
    for rule in profile.rules_for(metric):
        track = tracks.get(rule.id)
        if track is None:
            track = tracks[rule.id] = RuleTrack()
        try:
            step_rule(rule, track, value, time, baseline, margin, consecutive, source)
        except Exception:
            # Isolation: one broken rule must not silence the others.
            state.rule_errors += 1
            log.exception("rule %s failed on %s=%s for session %s", rule.id, metric, value,
                          state.session)
            continue
        if track.in_effect:
            in_effect.append((rule, track))
    worst = _worst_cause(in_effect, baseline, profile) if in_effect else None
    key = _METRIC_KEYS[metric]
    if worst is None and key not in state.alarms:
        return []  # nothing in effect, nothing showing: what `reconcile` would conclude
    # Which device said it, where a metric has several (issue 17: "HR 70 (oximeter)").
    said = f" ({source_label(source)})" if len(spec.sources) > 1 else ""
    return reconcile(
        state, key, worst, time,
        lambda: f"{spec.label} {_fmt(value)} {spec.unit}{said}: back inside the limits.", value,
    )


def step_rule(
    rule: LimitRule,
    track: RuleTrack,
    value: float,
    time: datetime,
    baseline: float | None,
    margin: float,
    consecutive: int,
    source: str = "",
) -> None:
    """Advance one rule's track by one reading: breach (sustained), or hysteresis to clear."""
    limit = rule.limit(baseline)
    if limit is None:  # a baseline rule before there is a baseline
        track.breach_since = None
        return
    if rule.comparison.holds(value, limit):
        if track.breach_since is None or time < track.breach_since:
            track.breach_since = time
        track.inside_count = 0
        held = (time - track.breach_since).total_seconds()
        if held >= rule.sustained_seconds:
            track.in_effect = True
            track.value, track.limit, track.source = value, limit, source
        return
    track.breach_since = None
    if not track.in_effect:
        return
    if rule.comparison.inside_by(value, limit, margin):
        track.inside_count += 1
        if track.inside_count >= consecutive:
            track.in_effect = False
            track.inside_count = 0
    else:
        track.inside_count = 0


def _worst_cause(
    in_effect: Iterable[tuple[LimitRule, RuleTrack]], baseline: float | None, profile: Profile
) -> Cause | None:
    worst: tuple[LimitRule, RuleTrack] | None = None
    for rule, track in in_effect:  # profile order breaks ties: the first row listed wins
        if worst is None or rule.priority.rank > worst[0].priority.rank:
            worst = (rule, track)
    if worst is None:
        return None
    rule, track = worst
    spec = profile.metrics[rule.metric]
    value, limit = track.value, track.limit
    source = source_label(track.source) if track.source else ""
    return Cause(
        rule.id,
        rule.priority,
        lambda: _render(
            rule.message,
            label=spec.label,
            value=_fmt(value),
            unit=spec.unit,
            limit=_fmt(limit),
            baseline=_fmt(baseline),
            offset=_fmt(rule.baseline_offset),
            seconds=_fmt(rule.sustained_seconds),
            kind=rule.metric.value,
            source=source,
        ),
        value,
        limit,
    )


# ---- the alarm latch ----------------------------------------------------------------------------


def reconcile(
    state: SessionState,
    key: AlarmKey,
    worst: Cause | None,
    time: datetime,
    cleared_message: str | Callable[[], str],
    value: float | None = None,
) -> list[AlertEvent]:
    """Bring one alarm in line with its worst current cause; the events that takes."""
    alarm = state.alarms.get(key)
    technical = key.metric is Metric.DATA
    if worst is not None:
        # Compared with the raising cause, not the escalated priority: a crisis reading after a
        # medium alarm escalated to high still raises, with the crisis message.
        if alarm is None or worst.priority.rank > alarm.cause_rank:
            # Dated when it fell due (time-driven causes), and never before the alarm's last
            # event (a reading stamped before an escalation a tick made).
            time = state.dated(key, worst.due or time)
            event = AlertEvent(
                time=time,
                session=state.session,
                metric=key.metric,
                priority=worst.priority,
                state=AlertState.ACTIVE,
                message=worst.message,
                rule=worst.rule,
                value=worst.value,
                limit=worst.limit,
            )
            state.alarms[key] = Alarm(event, time, worst.priority.rank)
            return state.emitted([event])
        alarm.condition_present = True
        if technical and alarm.event.ended is not None:  # latched, and its cause is back
            alarm.event = replace(alarm.event, time=state.dated(key, time), ended=None)
            return state.emitted([alarm.event])
        return []
    if alarm is None:
        return []
    alarm.condition_present = False
    if alarm.priority is Priority.LOW or alarm.acknowledged:
        del state.alarms[key]
        message = cleared_message if isinstance(cleared_message, str) else cleared_message()
        return state.emitted([_cleared(alarm, time, message, value)])
    if technical and alarm.event.ended is None:
        # Latched: it shows until acknowledged, saying since when its cause is gone.
        alarm.event = replace(alarm.event, time=state.dated(key, time), ended=time)
        return state.emitted([alarm.event])
    return []  # latched: keeps showing until acknowledged


def acknowledge(
    state: SessionState, metric: Metric, by: str, note: str | None, now: datetime,
    rule: str | None = None,
) -> list[AlertEvent]:
    """Acknowledge the metric's alarm; a latched alarm whose condition ended clears with it.

    For `data`, `rule` names one technical alarm; without it every technical alarm showing is
    acknowledged (an older dashboard's ack, which named only the metric)."""
    if metric is not Metric.DATA:
        keys = [AlarmKey(metric)]
    elif rule:
        keys = [AlarmKey(metric, rule)]
    else:
        keys = [key for key, _ in _in_metric_order(state.alarms) if key.metric is metric]
    events: list[AlertEvent] = []
    for key in keys:
        events += _acknowledge(state, key, by, note, now)
    return events


def _acknowledge(
    state: SessionState, key: AlarmKey, by: str, note: str | None, now: datetime
) -> list[AlertEvent]:
    alarm = state.alarms.get(key)
    if alarm is None or alarm.acknowledged:
        return []
    now = _not_before(alarm, now)
    event = replace(alarm.event, time=now, state=AlertState.ACKNOWLEDGED, by=by, note=note)
    alarm.event = event
    alarm.acknowledged = True
    if alarm.condition_present:
        return state.emitted([event])
    del state.alarms[key]
    return state.emitted(
        [event, _cleared(alarm, now, "Acknowledged after its condition ended.", None)])


def escalate(state: SessionState, profile: Profile, now: datetime) -> list[AlertEvent]:
    """Unacknowledged medium alarms older than the escalation delay become high."""
    if state.ended is not None or not state.alarms:
        return []
    after = timedelta(minutes=profile.escalation.after_minutes)
    events: list[AlertEvent] = []
    for key, alarm in _in_metric_order(state.alarms):
        if alarm.priority is not Priority.MEDIUM or alarm.acknowledged:
            continue
        due = alarm.raised_at + after
        if now < due:
            continue
        due = state.dated(key, due)  # after the alarm's own events, as stored and restored
        minutes = _fmt(profile.escalation.after_minutes)
        event = replace(
            alarm.event,
            time=due,
            priority=Priority.HIGH,
            message=f"Unacknowledged for {minutes} min, now high priority. {alarm.event.message}",
        )
        state.alarms[key] = Alarm(
            event, due, alarm.cause_rank, condition_present=alarm.condition_present
        )
        events.append(event)
    return state.emitted(events)


def end_session(state: SessionState, time: datetime) -> list[AlertEvent]:
    """The session ended: clear every alarm showing; nothing alarms afterwards."""
    state.ended = time
    events = [
        _cleared(alarm, time, "Session ended.", None, rule=alarm.event.rule)
        for _, alarm in _in_metric_order(state.alarms)
    ]
    state.alarms.clear()
    state.data_causes.clear()
    return state.emitted(events)


def reading_after_end(reading: Reading, state: SessionState) -> list[AlertEvent]:
    """A reading of an ended session, stamped after its end: its devices still send, so the
    patient may still be attached. A medium technical alarm, raised once per ended session and
    latched until acknowledged (acknowledging clears it); the reading is never judged against
    the limits. A reading stamped before the end (a cuff that finished measuring late) is not."""
    if state.ended is None or reading.time <= state.ended or state.alarmed_after_end:
        return []
    values = "/".join(_fmt(v) for v in reading.values.values())
    event = AlertEvent(
        time=reading.time,
        session=state.session,
        metric=Metric.DATA,
        priority=Priority.MEDIUM,
        state=AlertState.ACTIVE,
        message=(f"Readings after the session ended ({_KIND_WORDS[reading.kind]} {values} at "
                 f"{reading.time:%H:%M:%S}): its devices still send. If the patient is still "
                 "monitored, start the session again; if not, stop the devices."),
        rule=DATA_RULE_AFTER_END,
    )
    state.alarms[event.key] = Alarm(event, reading.time, Priority.MEDIUM.rank,
                                    condition_present=False)
    state.alarmed_after_end = True
    return state.emitted([event])


def _in_metric_order(alarms: dict[AlarmKey, Alarm]) -> list[tuple[AlarmKey, Alarm]]:
    # A fixed order (metric, then a technical alarm's rule), so every replica and a restored
    # engine emit the same events in the same order.
    return sorted(alarms.items(), key=lambda item: (_METRIC_ORDER[item[0].metric], item[0].rule))


_METRIC_ORDER = {metric: i for i, metric in enumerate(Metric)}


def _not_before(alarm: Alarm, time: datetime) -> datetime:
    """An alarm's events never go back in time: stored and shown in time order, its latest
    event is its state. A reading stamped before an escalation a tick made (a cuff stamps when
    it began measuring), or an acknowledgement by a wall clock behind a compressed session's,
    is stamped at the alarm's last event."""
    return max(time, alarm.event.time)


def _cleared(
    alarm: Alarm, time: datetime, message: str, value: float | None, rule: str | None = None
) -> AlertEvent:
    return replace(
        alarm.event,
        time=_not_before(alarm, time),
        state=AlertState.CLEARED,
        message=message,
        value=value if value is not None else alarm.event.value,
        rule=rule or alarm.event.rule,
        by=None,
        note=None,
        ended=None,
    )


# ---- technical alarms ---------------------------------------------------------------------------


def stream_limits(
    kind: Kind, state: SessionState, profile: Profile, stale_seconds: float | None, last: datetime
) -> tuple[tuple[Priority, float], ...]:
    """(priority, seconds) limits on the silence of a stream, worst last."""
    if stale_seconds is not None:
        return ((Priority.MEDIUM, stale_seconds),)
    technical = profile.technical
    if kind is Kind.BP:
        cadence_s = bp_cadence_minutes(state, profile, last) * 60
        return (
            (Priority.LOW, technical.bp_gap_low_factor * cadence_s),
            (Priority.MEDIUM, technical.bp_gap_medium_factor * cadence_s),
        )
    return ((Priority.MEDIUM, technical.stream_seconds),)


def bp_cadence_minutes(state: SessionState, profile: Profile, at: datetime) -> float:
    since = None if state.dosed is None else (at - state.dosed).total_seconds() / 60
    return profile.cadence.minutes_at(since)


def stale_cause(
    kind: Kind,
    gap_seconds: float,
    state: SessionState,
    profile: Profile,
    stale_seconds: float | None,
    last: datetime,
) -> Cause | None:
    """The technical cause a silence of `gap_seconds` since `last` amounts to, if any."""
    hit: tuple[Priority, float] | None = None
    for priority, limit in stream_limits(kind, state, profile, stale_seconds, last):
        if gap_seconds > limit:
            hit = (priority, limit)
    if hit is None:
        return None
    priority, limit = hit
    technical = profile.technical
    # Said as of the moment the silence reached its limit, whenever it is noticed: the same
    # event in every replica of the ingest.
    due = last + timedelta(seconds=limit)
    if kind is Kind.BP and stale_seconds is None:
        cadence = bp_cadence_minutes(state, profile, last)
        message = _render(
            technical.bp_gap_message, value=_fmt(limit / 60), cadence=_fmt(cadence),
            limit=_fmt(limit / 60),
        )
        return Cause(DATA_RULE_BP_GAP, priority, message, round(limit / 60, 1),
                     round(limit / 60, 1), due=due)
    message = _render(
        technical.stream_message, kind=_KIND_WORDS[kind], value=_fmt(round(limit)),
        limit=_fmt(limit),
    )
    return Cause(stale_rule(kind, stale_seconds), priority, message, round(limit, 1), limit,
                 due=due)


def stale_rule(kind: Kind, stale_seconds: float | None) -> str:
    """The rule (and so the alarm) of a stream's silence: BP by its cadence, else per kind."""
    if kind is Kind.BP and stale_seconds is None:
        return DATA_RULE_BP_GAP
    return _STREAM_RULES[kind]


# A clinical metric's one alarm, looked up for every value judged (built once, not each time).
_METRIC_KEYS: dict[Metric, AlarmKey] = {metric: AlarmKey(metric) for metric in Metric}
_STREAM_RULES: dict[Kind, str] = {kind: f"{DATA_RULE_STREAM}.{kind.value}" for kind in Kind}
_PROBLEM_RULES: dict[Kind, str] = {kind: f"{DATA_RULE_PROBLEM}.{kind.value}" for kind in Kind}


def silent_since(kind: Kind, last: datetime, state: SessionState, now: datetime) -> datetime:
    """Where a stream's silence is counted from: its last reading, or for BP the dose if later.

    The BP cadence is defined from the dose, so a pre-dose check long before dosing does not
    make the first post-dose reading late.
    """
    if kind is Kind.BP and state.dosed is not None and last < state.dosed <= now:
        return state.dosed
    return last


def check_stale(
    state: SessionState, profile: Profile, now: datetime, stale_seconds: float | None
) -> list[AlertEvent]:
    """Streams silent for too long at `now` (the session's clock) raise their alarms."""
    if state.ended is not None:
        return []
    events: list[AlertEvent] = []
    for kind, last in sorted(state.last_reading.items()):  # a fixed order, as for escalation
        since = silent_since(kind, last, state, now)
        cause = stale_cause(
            kind, (now - since).total_seconds(), state, profile, stale_seconds, since
        )
        if cause is None:
            continue
        current = state.data_causes.get(cause.rule)
        if current is None or cause.priority.rank > current.priority.rank:
            state.data_causes[cause.rule] = cause
        events += reconcile_data(state, cause.rule, now)
    return events


def check_resume(
    reading: Reading, state: SessionState, profile: Profile, stale_seconds: float | None
) -> list[AlertEvent]:
    """A reading after a silence: raise the gap alarm a tick may have missed, then end it."""
    if state.ended is not None:
        return []
    events: list[AlertEvent] = []
    key = stale_rule(reading.kind, stale_seconds)
    last = state.last_reading.get(reading.kind)
    if last is not None and reading.time > last:
        since = silent_since(reading.kind, last, state, reading.time)
        cause = stale_cause(
            reading.kind, (reading.time - since).total_seconds(), state, profile, stale_seconds,
            since,
        )
        current = state.data_causes.get(key)
        if cause is not None and (current is None or cause.priority.rank > current.priority.rank):
            state.data_causes[key] = cause
            events += reconcile_data(state, key, reading.time)
            # Dated back to when it fell due, it may be due to escalate before it ends.
            events += escalate(state, profile, reading.time)
    if last is None or reading.time > last:
        state.last_reading[reading.kind] = reading.time
    if state.data_causes.pop(key, None) is not None:
        events += reconcile_data(state, key, reading.time)
    return events


def _device_problems(reading: Reading, state: SessionState, profile: Profile) -> list[AlertEvent]:
    key = _PROBLEM_RULES[reading.kind]
    if reading.problems:
        words = ", ".join(p.value.replace("_", " ") for p in reading.problems)
        message = _render(
            profile.technical.device_problem_message, kind=_KIND_WORDS[reading.kind],
            problems=words,
        )
        state.data_causes[key] = Cause(key, Priority.LOW, message)
    elif key in state.data_causes:
        del state.data_causes[key]
    else:
        return []
    return reconcile_data(state, key, reading.time)


def reconcile_data(
    state: SessionState, rule: str, time: datetime,
    cleared_message: str = "Readings are arriving normally again.",
) -> list[AlertEvent]:
    """Bring the technical alarm of `rule` in line with its cause (`state.data_causes`)."""
    return reconcile(state, AlarmKey(Metric.DATA, rule), state.data_causes.get(rule), time,
                     cleared_message)


# ---- presence check-ins -------------------------------------------------------------------------


def checkin_since(state: SessionState, profile: Profile) -> datetime | None:
    """Where the check-in silence is counted from; None while the session is not watched."""
    if state.last_checkin is not None:
        return state.last_checkin
    if profile.checkin.required_from_start:
        return state.started
    return None


def check_checkin(state: SessionState, profile: Profile, now: datetime) -> list[AlertEvent]:
    """A missed presence check-in at `now` (the session's clock) raises its technical alarm."""
    if state.ended is not None or DATA_RULE_CHECKIN in state.data_causes:
        return []
    since = checkin_since(state, profile)
    if since is None:
        return []
    gap = (now - since).total_seconds()
    limit = profile.checkin.limit_minutes * 60
    if gap <= limit:
        return []
    # As of the moment it became due, whenever noticed (the same event in every replica).
    message = profile.checkin.message.format(
        value=int(limit // 60), interval=_fmt(profile.checkin.interval_minutes),
        limit=_fmt(profile.checkin.limit_minutes),
    )
    state.data_causes[DATA_RULE_CHECKIN] = Cause(
        DATA_RULE_CHECKIN, Priority.MEDIUM, message, round(limit / 60, 1),
        profile.checkin.limit_minutes, due=since + timedelta(seconds=limit),
    )
    return reconcile_data(state, DATA_RULE_CHECKIN, now)


def record_checkin(state: SessionState, profile: Profile, time: datetime) -> list[AlertEvent]:
    """A check-in: the session is watched from now on, and a missed check-in is resolved."""
    if state.ended is not None:
        return []
    events: list[AlertEvent] = []
    since = checkin_since(state, profile)
    if since is not None and time > since:
        # Judge the silence up to this check-in first, so a gap no tick caught is still raised
        # (dated back to when it fell due, it may be due to escalate before it ends).
        events += check_checkin(state, profile, time)
        events += escalate(state, profile, time)
    if state.last_checkin is None or time > state.last_checkin:
        state.last_checkin = time
    if state.data_causes.pop(DATA_RULE_CHECKIN, None) is not None:
        events += reconcile_data(state, DATA_RULE_CHECKIN, time, "A monitor checked in.")
    return events


# ---- notifications the notifier could not deliver -----------------------------------------------


def delivery_outcome(state: SessionState, person: str, channel: str, delivered: bool,
                     error: str | None, time: datetime) -> list[AlertEvent]:
    """A failed notification is a medium `data` alarm of its own (one per person and channel)
    until a later delivery to that person on that channel succeeds (then the alarm clears, or
    stays latched until acknowledged)."""
    if state.ended is not None:
        return []
    rule, cause = notify_cause(person, channel, error)
    if not delivered:
        if rule in state.data_causes:
            return []
        state.data_causes[rule] = cause
        return reconcile_data(state, rule, time)
    if state.data_causes.pop(rule, None) is None:
        return []
    return reconcile_data(state, rule, time, f"{person} notified by {channel} again.")


def notify_cause(person: str, channel: str, error: str | None) -> tuple[str, Cause]:
    """The rule (the `data_causes` key, the alarm's identity) and the cause of a failed
    delivery to `person` by `channel`."""
    rule = f"{DATA_RULE_NOTIFY}.{_slug(person)}.{_slug(channel)}"
    return rule, Cause(
        rule, Priority.MEDIUM,
        f"Could not notify {person} by {channel}: {error or 'delivery failed'}. Call them if "
        "they are needed, and check the roster and the notifier's log.")


def _slug(text: str) -> str:
    # A rule names the alarm in ids and CSS selectors on the dashboard: letters, digits, - and _.
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "-"


# ---- observations -------------------------------------------------------------------------------


def evaluate_observation(
    observation: Observation, state: SessionState, profile: Profile
) -> list[AlertEvent]:
    """The alert events one recorded observation causes (metric `observation`)."""
    if state.ended is not None:
        return []
    history = state.observations
    history.append(observation)
    if len(history) > MAX_OBSERVATIONS:
        del history[: len(history) - MAX_OBSERVATIONS]
    worst: Cause | None = None
    for rule in profile.observation_rules.values():
        if not rule.enabled:
            continue
        try:
            cause = _observation_cause(rule, observation, history)
        except Exception:
            state.rule_errors += 1  # isolation, as for limit rules
            log.exception("observation rule %s failed for session %s", rule.id, state.session)
            continue
        if cause is not None and (worst is None or cause.priority.rank > worst.priority.rank):
            worst = cause
    if worst is None:
        return []
    events = reconcile(state, AlarmKey(Metric.OBSERVATION), worst, observation.time, "")
    alarm = state.alarms.get(AlarmKey(Metric.OBSERVATION))
    if alarm is not None:
        alarm.condition_present = False  # a moment, not a state: latched until acknowledged
    return events


def _observation_cause(
    rule: ObservationRule, observation: Observation, history: list[Observation]
) -> Cause | None:
    kind, severity = observation.observation, observation.severity
    if rule.while_ is None:
        if not rule.matches(kind, severity):
            return None
        return _cause(rule, observation, None)
    window = timedelta(minutes=rule.while_.within_minutes)
    near = [o for o in history if o is not observation and abs(o.time - observation.time) <= window]
    if rule.matches(kind, severity):
        partner = next((o for o in reversed(near)
                        if rule.while_.matches(o.observation, o.severity)), None)
        if partner is not None:
            return _cause(rule, observation, partner)
    if rule.while_.matches(kind, severity):
        # The condition recorded after the observation it qualifies: the pair still raises.
        primary = next((o for o in reversed(near) if rule.matches(o.observation, o.severity)),
                       None)
        if primary is not None:
            return _cause(rule, primary, observation)
    return None


def _cause(rule: ObservationRule, observation: Observation, partner: Observation | None) -> Cause:
    return Cause(
        OBSERVATION_RULE_PREFIX + rule.id,
        rule.priority,
        lambda: rule.render(
            observation.observation, observation.severity, observation.by, observation.note,
            observation.time.strftime("%H:%M"),
            None if partner is None else (partner.observation, partner.severity),
        ),
    )


def _render(template: str, **fields: str) -> str:
    return template.format(**{**_BLANKS, **fields})


def _fmt(number: float | None) -> str:
    if number is None:
        return "-"
    return f"{round(number, 1):g}"


_KIND_WORDS = {kind: sign.words for kind, sign in SIGNS.items()}
_BLANKS = {
    "label": "", "value": "", "unit": "", "limit": "", "baseline": "", "offset": "",
    "seconds": "", "cadence": "", "kind": "", "problems": "", "source": "",
}
