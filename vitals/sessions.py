"""The session protocol, pure: start/dose/end, baseline, cues, pre-session verdict, discharge.

`session_status(events, readings, alerts, profile, now)` computes everything the dashboard shows
about a session from stored history alone, so it needs nothing from the ingest's memory.

- Baseline (per metric): mean of the readings taken at or after the start and before the dose
  (at least one); when there is no dose event, or no reading before it, the first two readings.
- Pre-session verdict: from the values before the dose (all readings so far while undosed):
  no-go if any no-go band holds, else caution if any caution band holds, else go once systolic,
  diastolic, heart rate and SpO2 are all known (pending until then).
- Discharge readiness, per the guidance: >= 120 min since dose; the last two BP readings at least
  10 min apart both below 160/100 and not rising; heart rate 50-110; SpO2 >= 94; no alarm showing
  (active or acknowledged but not cleared). Meeting all of them makes the session ready for the
  clinician's sign-off, which stays pending: this software never signs off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import fmean

from vitals.alerts import AlarmKey, AlertEvent, AlertState, Metric
from vitals.checklist import checklist_findings
from vitals.profile import Profile
from vitals.readings import Reading, SessionEvent, SessionEventType
from vitals.vital_signs import LIMIT_METRICS, REQUIRED_METRICS, Kind

Sample = tuple[datetime, float]


class Phase(StrEnum):
    NOT_STARTED = "not_started"
    PRE_DOSE = "pre_dose"
    DOSED = "dosed"
    ENDED = "ended"


class Verdict(StrEnum):
    PENDING = "pending"  # not every metric measured yet
    GO = "go"
    CAUTION = "caution"  # must be acknowledged before dosing
    NO_GO = "no_go"  # overriding needs a written reason


class CueKind(StrEnum):
    PRE_DOSE_CHECK = "pre_dose_check"
    REASSESSMENT = "reassessment"
    BP_DUE = "bp_due"
    DISCHARGE = "discharge"


@dataclass(frozen=True, slots=True)
class PresessionVerdict:
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    values: Mapping[Metric, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Cue:
    kind: CueKind
    message: str
    due: datetime | None = None
    done: bool = False
    overdue: bool = False


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    met: bool
    detail: str


@dataclass(frozen=True, slots=True)
class DischargeReadiness:
    ready: bool  # every criterion met: ready for the clinician's sign-off
    criteria: tuple[Criterion, ...]
    reminder: str
    sign_off_pending: bool = True


@dataclass(frozen=True, slots=True)
class SessionStatus:
    session: str
    label: str | None  # the display label of its latest start (`session_label`)
    profile_name: str
    profile_source: str
    phase: Phase
    started: datetime | None
    dosed: datetime | None
    ended: datetime | None
    minutes_since_dose: float | None
    baseline: Mapping[Metric, float]
    presession: PresessionVerdict  # the vitals' verdict alone
    # The latest recorded checklist's findings (None: no checklist recorded yet), and the one
    # protocol verdict of vitals and checklist (`protocol_verdict`) that every view shows.
    checklist: tuple[str, ...] | None
    verdict: PresessionVerdict
    next_bp_due: datetime | None
    cues: tuple[Cue, ...]
    discharge: DischargeReadiness
    showing_alerts: tuple[AlertEvent, ...]  # `present_alarms`: most urgent first


def baseline_of(
    pre_dose: Sequence[Sample], first_two: Sequence[Sample], *, dosed: bool
) -> float | None:
    """The baseline: mean of the pre-dose samples once dosed, else of the first two samples."""
    if dosed and pre_dose:
        return fmean(v for _, v in pre_dose)
    if len(first_two) >= 2:
        return fmean(v for _, v in sorted(first_two)[:2])
    return None


def session_clock(now: datetime, newest: datetime | None) -> datetime:
    """The session's "now": the wall clock, never behind the session's own newest data. A
    time-compressed simulation (the demo) runs ahead of the wall clock, and its minutes since
    dose are its own; every view of a session (tile, session page, report) reads this one."""
    return now if newest is None or newest <= now else newest


def session_label(events: Iterable[SessionEvent]) -> str | None:
    """The session's display label (room, chair, initials): the latest one a start carried
    since the session last began. A start after an end begins afresh (as `_protocol` does):
    without a label it has none, so an old label never names the next patient."""
    label: str | None = None
    ended = False
    for event in sorted(events, key=lambda e: e.time):
        if event.event is SessionEventType.START:
            label = event.label if ended else event.label or label
            ended = False
        elif event.event is SessionEventType.END:
            ended = True
    return label


def display_name(session: str, label: str | None) -> str:
    """How plain text (a notification's title) names a session: its label, with the id."""
    return f"{label} (session {session})" if label else f"session {session}"


def has_ended(ended: datetime | None, started: datetime | None) -> bool:
    """An `end` event closes the session, unless a later `start` reopened it."""
    return ended is not None and (started is None or started <= ended)


def liveness(last_time: datetime | None, ended: bool, now: datetime, window: timedelta) -> str:
    """`ended`, `active` (a reading or event within the window), `idle`, or `unknown`."""
    if ended:
        return "ended"
    if last_time is None:
        return "unknown"
    return "active" if last_time >= now - window else "idle"


def minutes_since(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else (now - moment).total_seconds() / 60


def presession_verdict(values: Mapping[Metric, float], profile: Profile) -> PresessionVerdict:
    """Go / caution / no-go from the pre-dose values and the profile's bands."""
    no_go: list[str] = []
    caution: list[str] = []
    for metric, bands in profile.presession.items():
        if metric not in values:
            continue
        value = values[metric]
        label = profile.metrics[metric].label if metric in profile.metrics else metric.value
        hit = [str(c) for c in bands.no_go if c.holds(value)]
        if hit:
            no_go.append(f"{label} {value:.0f}: {' / '.join(hit)} (no-go)")
            continue
        hit = [str(c) for c in bands.caution if c.holds(value)]
        if hit:
            caution.append(f"{label} {value:.0f}: {' / '.join(hit)} (caution)")
    if no_go:
        return PresessionVerdict(Verdict.NO_GO, tuple(no_go + caution), dict(values))
    if caution:
        return PresessionVerdict(Verdict.CAUTION, tuple(caution), dict(values))
    missing = [profile.metrics[m].label for m in REQUIRED_METRICS if m not in values]
    if missing:
        return PresessionVerdict(
            Verdict.PENDING, tuple(f"no {label} reading yet" for label in missing), dict(values)
        )
    return PresessionVerdict(Verdict.GO, (), dict(values))


def protocol_verdict(presession: PresessionVerdict,
                     checklist: Sequence[str] | None) -> PresessionVerdict:
    """The one pre-session verdict: the vitals' (`presession_verdict`) with the recorded
    checklist's findings (None: no checklist recorded). A finding is no-go; go needs the
    checklist recorded (pending until then), so "go" never stands beside "not recorded"."""
    if checklist is None:
        if presession.verdict is Verdict.GO:
            return PresessionVerdict(Verdict.PENDING, ("checklist not recorded yet",),
                                     presession.values)
        return presession
    if checklist:
        return PresessionVerdict(Verdict.NO_GO, (*presession.reasons, *checklist),
                                 presession.values)
    return presession


def discharge_readiness(
    dosed: datetime | None,
    blood_pressures: Sequence[tuple[datetime, float, float]],
    heart_rate: float | None,
    spo2: float | None,
    showing_alerts: Sequence[AlertEvent],
    profile: Profile,
    now: datetime,
) -> DischargeReadiness:
    """The guidance's discharge criteria, each with whether it is met and why."""
    rules = profile.discharge
    criteria: list[Criterion] = []

    since = minutes_since(dosed, now)
    criteria.append(Criterion(
        "time_since_dose",
        since is not None and since >= rules.min_minutes_since_dose,
        "no dose recorded" if since is None
        else f"{since:.0f} min since dose (at least {rules.min_minutes_since_dose:g})",
    ))
    criteria.append(_bp_criterion(blood_pressures, profile))
    if heart_rate is None:
        criteria.append(Criterion("heart_rate", False, "no heart rate reading"))
    else:
        criteria.append(Criterion(
            "heart_rate",
            rules.heart_rate_min <= heart_rate <= rules.heart_rate_max,
            f"heart rate {heart_rate:.0f} (needs {rules.heart_rate_min:g}-"
            f"{rules.heart_rate_max:g})",
        ))
    if spo2 is None:
        criteria.append(Criterion("spo2", False, "no SpO2 reading"))
    else:
        criteria.append(Criterion(
            "spo2", spo2 >= rules.spo2_min, f"SpO2 {spo2:.0f} % (needs {rules.spo2_min:g} or more)"
        ))
    criteria.append(Criterion(
        "alarms",
        not showing_alerts,
        "no alarm showing" if not showing_alerts
        else f"{len(showing_alerts)} alarm(s) active or not yet cleared: "
        + ", ".join(f"{a.metric.value} {a.priority.value} {a.state.value}" for a in showing_alerts),
    ))
    return DischargeReadiness(all(c.met for c in criteria), tuple(criteria), rules.reminder)


def _bp_criterion(
    blood_pressures: Sequence[tuple[datetime, float, float]], profile: Profile
) -> Criterion:
    rules = profile.discharge
    ordered = sorted(blood_pressures)
    if not ordered:
        return Criterion("blood_pressure", False, "no blood pressure reading")
    last = ordered[-1]
    apart = timedelta(minutes=rules.bp_min_apart_minutes)
    earlier = [bp for bp in ordered[:-1] if bp[0] <= last[0] - apart]
    if not earlier:
        return Criterion(
            "blood_pressure", False,
            f"needs two readings at least {rules.bp_min_apart_minutes:g} min apart",
        )
    previous = earlier[-1]
    below = all(
        s < rules.systolic_below and d < rules.diastolic_below for _, s, d in (previous, last)
    )
    rising = (last[1] > previous[1] + rules.rise_tolerance
              or last[2] > previous[2] + rules.rise_tolerance)
    detail = (f"{previous[1]:.0f}/{previous[2]:.0f} then {last[1]:.0f}/{last[2]:.0f} "
              f"(needs below {rules.systolic_below:g}/{rules.diastolic_below:g}, not rising)")
    return Criterion("blood_pressure", below and not rising, detail)


def next_bp_due(
    last_bp: datetime | None,
    started: datetime | None,
    dosed: datetime | None,
    reassessment_done: bool,
    profile: Profile,
) -> datetime | None:
    """When the next BP reading is due by the cadence (and the 40-minute reassessment)."""
    cadence = profile.cadence
    if last_bp is None:
        return started
    due = last_bp + timedelta(minutes=cadence.minutes_at(minutes_since(dosed, last_bp)))
    if dosed is not None and not reassessment_done:
        reassessment = dosed + timedelta(minutes=cadence.reassessment_minutes)
        if reassessment >= last_bp:
            due = min(due, reassessment)
    return due


def showing_alerts(alerts: Iterable[AlertEvent]) -> tuple[AlertEvent, ...]:
    """The latest event of every alarm not cleared (one per clinical metric, one per technical
    cause: `AlertEvent.key`), from stored alert events."""
    latest: dict[AlarmKey, AlertEvent] = {}
    for alert in sorted(alerts, key=alert_order):
        latest[alert.key] = alert
    return tuple(a for a in latest.values() if a.state is not AlertState.CLEARED)


def present_alarms(alerts: Iterable[AlertEvent]) -> tuple[AlertEvent, ...]:
    """The alarms present, most urgent first (`alarm_urgency`): the latest event of every alarm
    not cleared, acknowledged ones included (silenced, still present while their condition
    persists). The tile's headline is the first; the alarms panel lists them in this order."""
    return tuple(sorted(showing_alerts(alerts), key=alarm_urgency))


def alarm_urgency(alert: AlertEvent) -> tuple[int, bool, bool, float]:
    """Sort key, most urgent first: priority, then clinical over technical (`data`), then
    unacknowledged over acknowledged (one that still needs someone), then the newest."""
    return (-alert.priority.rank, alert.metric is Metric.DATA,
            alert.state is AlertState.ACKNOWLEDGED, -alert.time.timestamp())


def raising_events(alerts: Iterable[AlertEvent]) -> tuple[AlertEvent, ...]:
    """The `active` events that raise an alarm (or raise it to a new priority), in time order.
    A latched technical alarm's events saying its cause ended (`ended`) or came back repeat
    its priority without raising it again: they count neither as an alarm raised nor for the
    escalation clock."""
    raising: list[AlertEvent] = []
    last: dict[AlarmKey, AlertEvent] = {}
    for alert in sorted(alerts, key=alert_order):
        before = last.get(alert.key)
        last[alert.key] = alert
        if alert.state is AlertState.ACTIVE and not alert.restates(before):
            raising.append(alert)
    return tuple(raising)


def alert_order(alert: AlertEvent) -> tuple[datetime, int]:
    # Events at the same instant happen in this order (acknowledged then cleared, for example).
    rank = {AlertState.ACTIVE: 0, AlertState.ACKNOWLEDGED: 1, AlertState.CLEARED: 2}
    return alert.time, rank[alert.state]


def session_status(
    events: Sequence[SessionEvent],
    readings: Sequence[Reading],
    alerts: Sequence[AlertEvent],
    profile: Profile,
    now: datetime,
) -> SessionStatus:
    """Everything the dashboard shows about one session, from its stored history."""
    readings = sorted(readings, key=lambda r: r.time)
    session = (events[0].session if events else readings[0].session if readings
               else alerts[0].session if alerts else "")
    started, dosed, ended = _protocol(events)
    if readings and (started is None or readings[0].time < started) and (
        ended is None or readings[0].time <= ended
    ):
        started = readings[0].time  # a reading starts a session implicitly

    samples: dict[Metric, list[Sample]] = {m: [] for m in LIMIT_METRICS}
    blood_pressures: list[tuple[datetime, float, float]] = []
    carried = {kind: profile.fields_of(kind) for kind in Kind}  # as the alert rules read them
    for reading in readings:
        values = reading.values
        for metric, names in carried[reading.kind]:
            for name in names:
                if name in values:
                    samples[metric].append((reading.time, values[name]))
        if reading.kind is Kind.BP:
            blood_pressures.append((reading.time, reading["systolic"], reading["diastolic"]))

    baseline: dict[Metric, float] = {}
    pre_values: dict[Metric, float] = {}
    for metric, series in samples.items():
        pre = [s for s in series
               if (started is None or s[0] >= started) and (dosed is None or s[0] < dosed)]
        base = baseline_of(pre, series[:2], dosed=dosed is not None)
        if base is not None:
            baseline[metric] = base
        pre_value: float | None = (
            fmean(v for _, v in pre) if pre else baseline_of([], series[:2], dosed=False)
        )
        if pre_value is not None:
            pre_values[metric] = pre_value
    presession = presession_verdict(pre_values, profile)
    checklists = [e for e in events if e.event is SessionEventType.CHECKLIST]
    checklist = (checklist_findings(max(checklists, key=lambda e: e.time).note)
                 if checklists else None)
    verdict = protocol_verdict(presession, checklist)

    showing = present_alarms(alerts)
    last = {m: series[-1][1] for m, series in samples.items() if series}
    discharge = discharge_readiness(
        dosed, blood_pressures, last.get(Metric.HEART_RATE), last.get(Metric.SPO2), showing,
        profile, now,
    )

    if ended is not None:
        phase = Phase.ENDED
    elif dosed is not None:
        phase = Phase.DOSED
    elif started is not None:
        phase = Phase.PRE_DOSE
    else:
        phase = Phase.NOT_STARTED

    cues: list[Cue] = []
    due: datetime | None = None
    if phase is not Phase.ENDED:
        cues, due = _cues(phase, started, dosed, blood_pressures, verdict, discharge,
                          profile, now)
    return SessionStatus(
        session=session,
        label=session_label(events),
        profile_name=profile.name,
        profile_source=profile.source_path,
        phase=phase,
        started=started,
        dosed=dosed,
        ended=ended,
        minutes_since_dose=minutes_since(dosed, now),
        baseline=baseline,
        presession=presession,
        checklist=checklist,
        verdict=verdict,
        next_bp_due=due,
        cues=tuple(cues),
        discharge=discharge,
        showing_alerts=showing,
    )


def _protocol(events: Sequence[SessionEvent]) -> tuple[datetime | None, ...]:
    started = dosed = ended = None
    for event in sorted(events, key=lambda e: e.time):
        if event.event is SessionEventType.START:
            if ended is not None:  # the same id started again: a new session
                started, dosed, ended = event.time, None, None
            elif started is None:
                started = event.time
        elif event.event is SessionEventType.DOSE and dosed is None:
            dosed = event.time
        elif event.event is SessionEventType.END and ended is None:
            ended = event.time
    return started, dosed, ended


def _cues(
    phase: Phase,
    started: datetime | None,
    dosed: datetime | None,
    blood_pressures: Sequence[tuple[datetime, float, float]],
    verdict: PresessionVerdict,
    discharge: DischargeReadiness,
    profile: Profile,
    now: datetime,
) -> tuple[list[Cue], datetime | None]:
    cadence = profile.cadence
    cues: list[Cue] = []
    if phase in (Phase.NOT_STARTED, Phase.PRE_DOSE):
        # The protocol verdict (vitals and checklist), the same the verdict box shows.
        done = verdict.verdict is not Verdict.PENDING
        if done:
            message = f"Pre-dose check: {verdict.verdict.value.replace('_', '-')}" + (
                f" ({'; '.join(verdict.reasons)})" if verdict.reasons else "")
        else:
            message = ("Pre-dose check: pending — " + "; ".join(verdict.reasons) + "."
                       if verdict.reasons else "Pre-dose check: measure blood pressure, heart "
                       "rate and SpO2 before dosing.")
        cues.append(Cue(CueKind.PRE_DOSE_CHECK, message, done=done))
    reassessment_done = False
    if dosed is not None:
        at = dosed + timedelta(minutes=cadence.reassessment_minutes)
        window = timedelta(minutes=cadence.reassessment_window_minutes)
        reassessment_done = any(at - window <= t <= at + window for t, _, _ in blood_pressures)
        cues.append(Cue(
            CueKind.REASSESSMENT,
            f"Reassess blood pressure about {cadence.reassessment_minutes:g} min after the dose "
            f"(peak rise).",
            due=at,
            done=reassessment_done,
            overdue=not reassessment_done and now > at + window,
        ))
    last_bp = blood_pressures[-1][0] if blood_pressures else None
    due = next_bp_due(last_bp, started, dosed, reassessment_done, profile)
    if due is not None:
        cues.append(Cue(
            CueKind.BP_DUE,
            f"Next blood pressure reading due (every "
            f"{cadence.minutes_at(minutes_since(dosed, last_bp or now)):g} min).",
            due=due,
            overdue=now > due,
        ))
    if discharge.ready:
        cues.append(Cue(
            CueKind.DISCHARGE,
            f"Discharge criteria met: clinician sign-off pending. {discharge.reminder}",
        ))
    return cues, due
