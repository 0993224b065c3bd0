"""Pure builders for what the monitor records: the observation log and presence check-ins.

Frames and times in, states and Dash components out; no store, no request, no clock. The
check-in countdown is `checkin_status` (a table-tested function): fresh, then due (yellow, the
last minutes before the next check-in), then overdue (red). The missed check-in *alarm* is the
ingest's (a technical alarm, metric `data`); this is the prompt that should make it rare.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Final

import pandas as pd
from dash import dcc, html

from dashboard import ids
from vitals.readings import OBSERVATION_LABELS, ObservationKind, Severity
from vitals.timefmt import local_time

# "Undo" is offered this long after a tap; later, a note says it (the audit trail).
UNDO_MINUTES: Final = 2.0
DEFAULT_CHECKIN_MINUTES: Final = 15.0  # Mindbloom's peer treatment monitor checks every 15 min
DUE_WARNING_S: Final = 120.0  # yellow this long before the next check-in is due

# What the monitor can choose (a "none" observation is for other tools: "looked, not present").
SEVERITIES: Final = (Severity.MILD, Severity.MODERATE, Severity.SEVERE)
# Severity as alarm colours: the log and the chart markers read the same way as the alarms.
SEVERITY_PRIORITY: Final[Mapping[str, str]] = {
    "none": "none", "mild": "low", "moderate": "medium", "severe": "high",
}


def label(observation: str) -> str:
    """The human label of an observation kind ("blurred_vision" -> "Blurred vision")."""
    return str(OBSERVATION_LABELS.get(observation, observation.replace("_", " ").capitalize()))


# --- presence check-ins ------------------------------------------------------------------------


class CheckinState(StrEnum):
    WAITING = "waiting"  # no check-in yet, and the profile does not expect one from the start
    FRESH = "fresh"
    DUE = "due"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class Checkin:
    """Where a session stands with its check-ins at one moment."""

    state: CheckinState
    last: datetime | None  # the latest check-in (None: none yet)
    since_s: float | None  # seconds since it
    next_in_s: float | None  # seconds until the next is due; negative: overdue by that much
    alarm_in_s: float | None = None  # when overdue: seconds until the missed check-in alarm


@dataclass(frozen=True, slots=True)
class CheckinPolicy:
    """The profile's `[checkin]` as the dashboard needs it."""

    interval_minutes: float = DEFAULT_CHECKIN_MINUTES
    grace_minutes: float = 0.0
    required_from_start: bool = False  # else the countdown starts with the first check-in


def checkin_policy(profile: Any) -> CheckinPolicy:
    """The profile's check-in settings (`profile.checkin`), else every 15 minutes."""
    checkin = getattr(profile, "checkin", None)
    try:
        interval = float(getattr(checkin, "interval_minutes", None) or DEFAULT_CHECKIN_MINUTES)
        grace = float(getattr(checkin, "grace_minutes", None) or 0.0)
    except (TypeError, ValueError):
        return CheckinPolicy()
    return CheckinPolicy(interval if interval > 0 else DEFAULT_CHECKIN_MINUTES, max(0.0, grace),
                         bool(getattr(checkin, "required_from_start", False)))


def checkin_status(last: datetime | None, reference: datetime | None, now: datetime,
                   policy: CheckinPolicy = CheckinPolicy(),
                   warn_s: float = DUE_WARNING_S) -> Checkin:
    """The countdown from the last check-in to the next: fresh, due within `warn_s` of the
    deadline (yellow), overdue past it (red; the ingest's alarm follows after the grace).
    Before the first check-in the countdown runs from `reference` (the session's start) when the
    policy requires check-ins from the start, else the session is waiting for its first."""
    since = None if last is None else max(0.0, (now - last).total_seconds())
    anchor = last if last is not None else reference if policy.required_from_start else None
    if anchor is None:
        return Checkin(CheckinState.WAITING, None, None, None)
    interval_s = policy.interval_minutes * 60
    remaining = interval_s - (now - anchor).total_seconds()
    if remaining <= 0:
        return Checkin(CheckinState.OVERDUE, last, since, remaining,
                       max(0.0, remaining + policy.grace_minutes * 60))
    state = CheckinState.DUE if remaining <= min(warn_s, interval_s / 2) else CheckinState.FRESH
    return Checkin(state, last, since, remaining)


def clock(seconds: float) -> str:
    """A countdown as m:ss (never negative)."""
    whole = int(max(0.0, seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def checkin_text(status: Checkin, by: str | None = None) -> str:
    """"Last check-in 3 min ago (nurse) · next in 11:40", or what is due or overdue."""
    if status.since_s is None:
        last = "No check-in yet"
    else:
        minutes = int(status.since_s // 60)
        ago = "just now" if status.since_s < 60 else f"{minutes} min ago"
        last = f"Last check-in {ago}" + (f" ({by})" if by else "")
    if status.state is CheckinState.WAITING or status.next_in_s is None:
        return f"{last} · check in to start the presence timer"
    if status.state is CheckinState.OVERDUE:
        alarm = ("" if status.alarm_in_s is None
                 else " · alarm now" if status.alarm_in_s <= 0
                 else f" · alarm in {clock(status.alarm_in_s)}")
        return f"⚠ {last} · check-in OVERDUE by {clock(-status.next_in_s)}{alarm}"
    if status.state is CheckinState.DUE:
        return f"◆ {last} · check in now (due in {clock(status.next_in_s)})"
    return f"✓ {last} · next in {clock(status.next_in_s)}"


def checkin_badge(status: Checkin | None, by: str | None = None,
                  component_id: str | None = None) -> html.Div:
    """The check-in line in its state's colour (None: the session is not active)."""
    if status is None:
        return _badge("No check-ins due (session not active)", "checkin checkin--inactive",
                      None, component_id)
    return _badge(checkin_text(status, by), f"checkin checkin--{status.state.value}",
                  "alert" if status.state is CheckinState.OVERDUE else "status", component_id)


@functools.lru_cache(maxsize=512)
def _badge(text: str, class_name: str, role: str | None, component_id: str | None) -> html.Div:
    # One object per distinct badge, never changed once built: an overview tile's badge is
    # rebuilt only when its words change.
    extra: dict[str, Any] = {} if component_id is None else {"id": component_id}
    if role is not None:
        extra["role"] = role
    return html.Div(text, className=class_name, **extra)


def latest_checkin(events: pd.DataFrame) -> tuple[datetime | None, str | None]:
    """The time and author of the session's latest check-in (an events frame)."""
    found = events[events["event"] == "checkin"]
    if found.empty:
        return None, None
    row = found.sort_values("time", kind="stable").iloc[-1]
    by = row["by"] if isinstance(row["by"], str) else None
    return row["time"].to_pydatetime(), by


# --- the observation log -----------------------------------------------------------------------


def observation_controls() -> html.Div:
    """Choose a severity, then tap what is seen: one button per observation (static, so a
    refresh never resets the choice or the note being typed)."""
    return html.Div(className="observations", children=[
        html.Div(className="observation-options", children=[
            html.Span("Severity", className="observation-caption"),
            dcc.RadioItems(
                id=ids.OBSERVATION_SEVERITY, value=Severity.MILD.value, inline=True,
                options=[{"label": s.value, "value": s.value} for s in SEVERITIES],
                className="severity-choice", labelClassName="severity-option",
            ),
            dcc.Input(id=ids.OBSERVATION_NOTE, placeholder="note (optional)", maxLength=400,
                      className="note-input observation-note"),
        ]),
        html.Div(className="observation-buttons", children=[
            html.Button(label(kind.value), id=ids.observation_button(kind.value),
                        className="observation-button", n_clicks=0)
            for kind in ObservationKind
        ]),
        html.Div(id=ids.OBSERVATION_FEEDBACK, className="feedback", role="status"),
    ])


def undo_open(observed_at: datetime, now: datetime) -> bool:
    """Whether "Undo" may still retract an observation tapped at `observed_at`."""
    return now - observed_at <= timedelta(minutes=UNDO_MINUTES)


def retracted_text(by: Any, at: Any, zone: tzinfo = UTC) -> str:
    """"entered in error by nurse-a at 17:06": how the log and the report mark a retraction."""
    return f"entered in error by {_text(by) or 'someone'} at {local_time(at, zone, '%H:%M')}"


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def observations_table(observations: pd.DataFrame,
                       origin: pd.Timestamp | None = None,
                       zone: tzinfo = UTC) -> html.Div | html.Table:
    """The observation log, newest first: when (on the clinic's clock), what, severity, who,
    note."""
    if observations.empty:
        return html.Div("No observations recorded yet.", className="muted")
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "Time", "Session min", "Observation", "Severity", "By", "Note")]))
    rows = []
    for o in observations.to_dict("records"):
        at = "" if origin is None else f"{(o['time'] - origin).total_seconds() / 60:+.0f}"
        severity = str(o["severity"])
        retracted = not pd.isna(o["retracted_at"])
        what: Any = _text(o["label"])
        shown_severity: Any = severity
        note: Any = _text(o["note"])
        row_class = f"observation-row observation-row--{severity}"
        if retracted:  # kept in the record, struck through (clinical audit: never deleted)
            what, shown_severity = html.S(what), html.S(severity)
            note = [html.Strong(retracted_text(o["retracted_by"], o["retracted_at"], zone)),
                    *([" · ", note] if note else [])]
            row_class = "observation-row observation-row--retracted"
        rows.append(html.Tr(className=row_class, children=[
            html.Td(local_time(o["time"], zone)),
            html.Td(at),
            html.Td(what),
            html.Td(shown_severity,
                    className=f"prio prio--{SEVERITY_PRIORITY.get(severity, 'none')}"
                    if not retracted else "prio prio--none"),
            html.Td(_text(o["by"])),
            html.Td(note),
        ]))
    return html.Table(className="table observation-log", children=[head, html.Tbody(rows[::-1])])
