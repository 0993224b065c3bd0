"""The session's clinical summary: what a clinician reads, prints (1-3 pages) and signs.

Pure: stored history and the profile in, a `ClinicalSummary` and its HTML out (the Jinja2
template `templates/report.html`, autoescaped). What it says comes from the same functions the
live screen uses (`vitals.sessions.session_status` for the verdict and the discharge criteria,
`vitals.episodes` for how each alarm ended), so the report cannot disagree with the screen.
The full readings are not printed: the report summarises them and links the CSV exports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from statistics import median

from dashboard.observations import retracted_text
from dashboard.reports import (
    DISCLAIMER,
    RemsSummary,
    delivery_text,
    number_text,
    rems_rows,
    rems_summary,
)
from dashboard.templates import render
from vitals.alerts import AlertEvent, Metric
from vitals.checklist import ChecklistAnswers, checklist_answers
from vitals.episodes import AlarmEpisode, Outcome, alarm_episodes
from vitals.profile import Profile
from vitals.readings import OBSERVATION_LABELS, Observation, Reading, SessionEvent, SessionEventType
from vitals.sessions import (
    DischargeReadiness,
    SessionStatus,
    Verdict,
    session_clock,
    session_status,
)
from vitals.storage.base import NotificationRecord
from vitals.timefmt import local_time
from vitals.vital_signs import FIELDS, KIND_OF_METRIC, MEASURES, SIGNS

VERDICT_TEXT = {Verdict.GO: "GO", Verdict.CAUTION: "CAUTION", Verdict.NO_GO: "NO-GO",
                Verdict.PENDING: "NOT ESTABLISHED (not every vital measured before the dose)"}
OUTCOME_TEXT = {
    Outcome.ANSWERED: "acknowledged",
    Outcome.CLEARED_UNACKNOWLEDGED: "condition ended before anyone acknowledged it",
    Outcome.OPEN_AT_END: "NOT ACKNOWLEDGED: still present when the session ended",
    Outcome.PRESENT: "present now",
}
# An alarm's metric as the report's tables name its field ("Systolic BP").
METRIC_TEXT = {**{metric: SIGNS[kind].field(MEASURES[metric].field).label
                  for metric, kind in KIND_OF_METRIC.items()},
               Metric.DATA: "Technical", Metric.OBSERVATION: "Observation"}


@dataclass(frozen=True, slots=True)
class Measure:
    """One measured quantity over the session: how often, its range and where it peaked."""

    label: str
    unit: str
    count: int
    lowest: float
    lowest_at: datetime
    median: float
    highest: float
    highest_at: datetime


@dataclass(frozen=True, slots=True)
class Discharge:
    readiness: DischargeReadiness  # at the sign-off if there was one, else at the end (or now)
    judged_at: datetime
    signoff: SessionEvent | None

    @property
    def override(self) -> bool:
        """Signed off with criteria unmet: never shown as a plain sign-off."""
        return self.signoff is not None and not self.readiness.ready


@dataclass(frozen=True, slots=True)
class ClinicalSummary:
    session: str
    generated: datetime
    zone: tzinfo  # the clinic's clock, on which the report shows every time
    profile: str
    status: SessionStatus
    rems: RemsSummary
    checklist: ChecklistAnswers | None
    checklist_event: SessionEvent | None
    override: SessionEvent | None
    episodes: tuple[AlarmEpisode, ...]
    measures: tuple[Measure, ...]
    readings: int
    discharge: Discharge
    observations: tuple[Observation, ...]
    notifications: tuple[NotificationRecord, ...]
    events: tuple[SessionEvent, ...]  # the protocol and audit trail, check-ins apart
    checkins: tuple[SessionEvent, ...]

    @property
    def unanswered(self) -> tuple[AlarmEpisode, ...]:
        """Alarms nobody acknowledged while they were present (the reader's first question)."""
        return tuple(e for e in self.episodes if e.acknowledged is None
                     and e.outcome in (Outcome.OPEN_AT_END, Outcome.PRESENT))


def measures(readings: Sequence[Reading]) -> tuple[Measure, ...]:
    """Count, lowest, median and highest of every measured field present, in `FIELDS` order."""
    found = []
    for kind, specs in FIELDS.items():
        for spec in specs:
            series = sorted((r.time, r.values[spec.name]) for r in readings
                            if r.kind is kind and spec.name in r.values)
            if not series:
                continue
            low = min(series, key=lambda s: s[1])
            high = max(series, key=lambda s: s[1])
            middle = round(median(v for _, v in series), 1)
            found.append(Measure(spec.label or spec.name, spec.unit,
                                 len(series), low[1], low[0], middle, high[1], high[0]))
    return tuple(found)


def _latest(events: Sequence[SessionEvent], kind: SessionEventType) -> SessionEvent | None:
    return max((e for e in events if e.event is kind), key=lambda e: e.time, default=None)


def _status_at(moment: datetime, events: Sequence[SessionEvent], readings: Sequence[Reading],
               alerts: Sequence[AlertEvent], profile: Profile) -> SessionStatus:
    # Before `moment` only: alarms the session's end cleared were still present just before it.
    return session_status([e for e in events if e.time <= moment],
                          [r for r in readings if r.time <= moment],
                          [a for a in alerts if a.time < moment], profile, moment)


def clinical_summary(session: str, events: Sequence[SessionEvent], readings: Sequence[Reading],
                     alerts: Sequence[AlertEvent], observations: Sequence[Observation],
                     notifications: Sequence[NotificationRecord], profile: Profile,
                     generated: datetime, zone: tzinfo = UTC) -> ClinicalSummary:
    rems = rems_summary(session, events, readings, alerts,
                        profile.cadence.reassessment_minutes, observations)
    newest = max((x.time for x in (*readings, *events)), default=None)
    status = session_status(events, readings, alerts, profile, session_clock(generated, newest))
    signoff = _latest(events, SessionEventType.SIGNOFF)
    end = status.ended or session_clock(generated, newest)
    judged_at = min(signoff.time, end) if signoff is not None else end
    discharge = Discharge(_status_at(judged_at, events, readings, alerts, profile).discharge,
                          judged_at, signoff)
    checklist_event = _latest(events, SessionEventType.CHECKLIST)
    ordered = tuple(sorted(events, key=lambda e: e.time))
    return ClinicalSummary(
        session=session, generated=generated, zone=zone, profile=profile.name, status=status,
        rems=rems,
        checklist=checklist_answers(checklist_event.note) if checklist_event else None,
        checklist_event=checklist_event,
        override=_latest(events, SessionEventType.OVERRIDE),
        episodes=alarm_episodes(alerts, status.ended),
        measures=measures(readings), readings=len(readings), discharge=discharge,
        observations=tuple(sorted(observations, key=lambda o: o.time)),
        notifications=tuple(sorted(notifications, key=lambda n: n.time)),
        events=tuple(e for e in ordered if e.event is not SessionEventType.CHECKIN),
        checkins=tuple(e for e in ordered if e.event is SessionEventType.CHECKIN),
    )


def html_report(summary: ClinicalSummary, chart_html: str = "",
                exports: Sequence[tuple[str, str]] = ()) -> str:
    """The summary as a self-contained HTML page (inline CSS; the chart, if given, inlines its
    script); `exports`: (label, link) of the CSV files that hold everything in full."""
    return render(
        "report.html", s=summary, chart_html=chart_html, exports=exports,
        disclaimer=DISCLAIMER, verdict_text=VERDICT_TEXT, outcome_text=OUTCOME_TEXT,
        metric_text=METRIC_TEXT, rems_rows=rems_rows(summary.rems, summary.zone),
        number=number_text, local=lambda t, fmt: local_time(t, summary.zone, fmt),
        zone_name=str(summary.zone),
        delivery=delivery_text, observation_label=OBSERVATION_LABELS,
        retracted=lambda by, at: retracted_text(by, at, summary.zone),
        minutes_from_dose=lambda t: _minutes_from(summary.status.dosed, t),
    )


def _minutes_from(dosed: datetime | None, moment: datetime) -> str:
    return "" if dosed is None else f"dose {(moment - dosed).total_seconds() / 60:+.0f} min"
