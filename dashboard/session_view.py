"""The session view's live parts but the chart (`session_chart`): the stored history read once
per refresh (`History`), and from it the header and alert table, the protocol panels and audit
trail, the observation log and check-in countdown, and the notification log."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import dash
import pandas as pd
from dash import html

from dashboard import app_context, components, frames, queries, tables
from dashboard import observations as obs
from vitals.alerts import AlertEvent
from vitals.readings import Observation, Reading, SessionEvent, SessionEventType
from vitals.sessions import (
    SessionStatus,
    has_ended,
    present_alarms,
    session_clock,
    session_label,
    session_status,
)
from vitals.storage.base import StoreError
from vitals.timefmt import local_time

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class History:
    """Everything stored for one session, read once per refresh and shared by the renderers
    (the readings of a 4-hour session are most of a refresh's cost)."""

    events: list[SessionEvent]
    readings: list[Reading]
    alerts: list[AlertEvent]
    observations: list[Observation]

    def clock(self, now: datetime) -> datetime:
        """The session's own "now" (`session_clock`): what the tile's "Dose +N min" reads."""
        newest = max((x.time for x in (*self.readings[-1:], *self.events)), default=None)
        return session_clock(now, newest)


def load(session_id: str) -> History:
    context = app_context.current()
    store = context.store
    return History(store.events(session_id),
                   context.histories.readings(store, session_id),
                   store.alerts(session_id), store.observations(session_id))


def refresh_view(n_intervals: int | None, session_id: str | None) -> tuple[Any, ...]:
    """The refresh of every live part but the chart (`extend_chart`): reads the session once.
    Kept well inside the poll's interval, so a refresh is never overtaken by the next one."""
    with app_context.gc_paused():
        if not session_id:
            history: History | StoreError | None = None
        else:
            try:
                history = load(session_id)
            except StoreError as err:
                log.warning("session view cannot read the store: %s", err)
                history = err
        return (*refresh(n_intervals, session_id, history),
                *refresh_protocol(n_intervals, session_id, history),
                *refresh_presence(n_intervals, session_id, history))


def read_once(session_id: str, given: History | StoreError | None) -> History:
    """The history the caller read, else read it now; a read that failed raises here."""
    if isinstance(given, StoreError):
        raise given
    return given if given is not None else load(session_id)


def refresh(_n_intervals: int | None, session_id: str | None,
            history: History | StoreError | None = None) -> tuple[Any, ...]:
    """Header, alert table, status line, and whether to stop polling (session ended)."""
    context = app_context.current()
    now, zone = context.clock(), context.settings.zone
    if not session_id:
        return [html.H2("No session selected")], "", "", True
    try:
        loaded = read_once(session_id, history)
    except StoreError as err:
        return (dash.no_update, dash.no_update,
                f"⚠ Not updating: cannot read the database ({err})", False)
    # The first and last reading of each kind give the status and origin of the whole session.
    readings = frames.reading_rows(extent(loaded.readings))
    events = frames.event_rows(loaded.events)
    alerts = frames.alert_rows(loaded.alerts)
    status = frames.frame_status(events, readings, now, context.active_window)
    if status == "unknown":
        return ([html.H2(session_id), html.Span("no data stored for this session (yet)",
                                                className="muted")],
                "", f"checked {local_time(now, zone)}", False)
    origin, origin_label = frames.session_origin(events, readings)
    since = None if origin is None else queries.age_seconds(loaded.clock(now), origin) / 60
    return (
        tables.session_header(session_id, status, origin_label, since,
                               present_alarms(loaded.alerts), session_label(loaded.events),
                               zone),
        tables.alerts_table(alerts, origin, zone),
        f"updated {local_time(now, zone)}",
        status == "ended",  # an ended session no longer changes: stop polling it
    )


def extent(readings: list[Reading]) -> list[Reading]:
    """The first and the last reading of each kind (time order kept): a session's extent."""
    first: dict[Any, Reading] = {}
    last: dict[Any, Reading] = {}
    for reading in readings:
        first.setdefault(reading.kind, reading)
        last[reading.kind] = reading
    return sorted({id(r): r for r in (*first.values(), *last.values())}.values(),
                  key=lambda r: r.time)



AUDIT_EVENTS = frozenset({"note", "checklist", "override", "signoff", "start", "dose", "end",
                          "checkin"})


def status_of(history: History) -> SessionStatus:
    """The session's protocol status from its stored history (pure `session_status`)."""
    context = app_context.current()
    return session_status(history.events, history.readings, history.alerts, context.profile,
                          history.clock(context.clock()))


def _latest(events: Any, kind: SessionEventType) -> dict[str, Any] | None:
    found = events[events["event"] == kind.value]
    return None if found.empty else found.iloc[-1].to_dict()


def _recorded(event: dict[str, Any] | None, zone: tzinfo,
              with_note: bool = False) -> str | None:
    if event is None:
        return None
    by = event["by"] if isinstance(event["by"], str) else "unknown"
    text = f"by {by} at {local_time(event['time'], zone, '%H:%M')}"
    if with_note and isinstance(event["note"], str):
        text += f": {event['note']}"
    return text


def refresh_protocol(_n: int | None, session_id: str | None,
                     history: History | StoreError | None = None) -> tuple[Any, Any]:
    """Verdict (with the recorded checklist), cues, discharge, and the audit trail."""
    if not session_id:
        return [], []
    try:
        loaded = read_once(session_id, history)
    except StoreError as err:
        return html.Div(f"⚠ Cannot read the database: {err}", className="error"), dash.no_update
    status = status_of(loaded)
    zone = app_context.current().settings.zone
    events = frames.event_rows(loaded.events)
    checklist = _latest(events, SessionEventType.CHECKLIST)
    recorded = (None if checklist is None
                else f"Checklist recorded {_recorded(checklist, zone)}"
                + (" — no findings" if not status.checklist else ""))
    override = _recorded(_latest(events, SessionEventType.OVERRIDE), zone, with_note=True)
    signoff = _recorded(_latest(events, SessionEventType.SIGNOFF), zone, with_note=True)
    protocol = [
        html.Div(className="panel", children=[
            html.H3("Pre-session verdict"),
            components.verdict_box(status.verdict, recorded, override),
        ]),
        html.Div(className="panel", children=[
            html.H3("Cues"), components.cue_list(status.cues, status.dosed, zone),
        ]),
        html.Div(className="panel", children=[
            html.H3("Discharge"), components.discharge_box(status.discharge, signoff),
        ]),
    ]
    return protocol, tables.events_table(events[events["event"].isin(AUDIT_EVENTS)], zone)


def refresh_presence(_n: int | None, session_id: str | None,
                     history: History | StoreError | None = None) -> tuple[Any, Any]:
    """The observation log and the check-in countdown."""
    if not session_id:
        return [], []
    context = app_context.current()
    try:
        loaded = read_once(session_id, history)
    except StoreError as err:
        problem = html.Div(f"⚠ Cannot read the database: {err}", className="error")
        return problem, problem
    events = frames.event_rows(loaded.events)
    observed = frames.observation_rows(loaded.observations)
    origin = frames.dose_time(events)
    return (obs.observations_table(observed, origin, context.settings.zone),
            obs.checkin_badge(*presence(events, observed, context.clock(),
                                        obs.checkin_policy(context.profile))))


def presence(events: pd.DataFrame, observed: pd.DataFrame, now: Any,
             policy: obs.CheckinPolicy) -> tuple[obs.Checkin | None, str | None]:
    """The session's check-in status (None once ended) and who checked in last. Without a
    check-in the countdown runs from the start event, else the first thing recorded."""
    starts = events.loc[events["event"] == SessionEventType.START.value, "time"]
    ends = events.loc[events["event"] == SessionEventType.END.value, "time"]
    if has_ended(None if ends.empty else ends.max(),
                         None if starts.empty else starts.max()):
        return None, None
    last, by = obs.latest_checkin(events)
    times = pd.concat([events["time"], observed["time"]])
    reference = (starts.max() if not starts.empty
                 else None if times.empty else times.min())
    return obs.checkin_status(last, None if reference is None else reference.to_pydatetime(),
                              now, policy), by


def refresh_notifications(_n: int | None, session_id: str | None) -> list[Any] | str:
    """Who the notifier told of each alarm (its own small read: the log is short)."""
    if not session_id:
        return ""
    try:
        records = app_context.current().store.notifications(session_id)
    except StoreError as err:
        return f"⚠ Cannot read the notification log ({err})."
    return components.notification_log(session_id, records, app_context.current().settings.zone)
