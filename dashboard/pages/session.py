"""Session view (`/session/<id>`): trends over session time, events, alarms; live while active.

Below the chart: the pre-session checklist and go / caution / no-go verdict, the cues (the
~40-minute reassessment), discharge readiness and sign-off, notes and the protocol buttons.
Above the chart: the presence check-in ("I'm here") with its countdown; beside it the observation
log (choose a severity, tap what is seen). Every button publishes over MQTT
(`commands.Commands`); the ingest stores it and the next refresh shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import dash
import pandas as pd
from dash import ALL, Input, Output, State, ctx, dcc, html

from dashboard import (
    app_context,
    auth,
    components,
    figures,
    frames,
    ids,
    queries,
    session_commands,
    tables,
)
from dashboard import observations as obs
from dashboard.commands import CommandFailed
from vitals.alerts import AlertEvent, Metric
from vitals.readings import (
    MAX_LABEL_CHARS,
    Observation,
    Reading,
    SessionEvent,
    SessionEventType,
    Severity,
)
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
from vitals.users import Role

log = logging.getLogger(__name__)

PATH_TEMPLATE = "/session/<session_id>"


def notified_alarm(alarm: Any) -> html.Div | None:
    """The line a notification's link (`?alarm=<metric>`) opens the page with: it points at the
    alarm in the alarms panel, where the logged-in user acknowledges it. The link itself never
    acknowledges anything."""
    metrics = {m.value for m in Metric}
    if not isinstance(alarm, str) or alarm not in metrics:
        return None
    return html.Div(f"You followed a notification about the {alarm.replace('_', ' ')} alarm: "
                    "acknowledge it in the alarms panel.", className="notified-alarm",
                    role="status")


def layout(session_id: str | None = None, **query: Any) -> html.Div:
    context = app_context.current()
    return html.Div(className="page page--session", children=[
        notified_alarm(query.get("alarm")),
        dcc.Store(id=ids.SESSION_ID_STORE, data=session_id),
        dcc.Interval(id=ids.SESSION_INTERVAL, interval=context.refresh_ms, n_intervals=0),
        html.Div(id=ids.SESSION_HEADER, className="session-header"),
        html.Div(id=ids.SESSION_STATUS, className="status-line"),
        html.Div(className="presence", children=[
            html.Button("I'm here — check in", id=ids.CHECKIN_BUTTON,
                        className="checkin-button", n_clicks=0),
            html.Div(id=ids.CHECKIN_STATUS, className="checkin-line"),
            html.Div(id=ids.CHECKIN_FEEDBACK, className="feedback", role="status"),
        ]),
        dcc.Graph(id=ids.SESSION_GRAPH, config={"displaylogo": False}),
        dcc.Store(id=ids.SESSION_CHART_DRAWN),  # what the browser's chart holds (`draw`)
        html.Div(className="panel observation-panel", children=[
            html.H3("Observations (choose severity, then tap what you see)"),
            obs.observation_controls(),
            html.Div(id=ids.OBSERVATION_LOG),
        ]),
        html.Div(className="session-actions", children=[
            # No maxLength: the browser would cut a pasted label silently; a longer one is
            # refused with its reason instead.
            dcc.Input(id=ids.START_LABEL, className="note-input",
                      placeholder=f"label: room, chair, initials (up to {MAX_LABEL_CHARS})"),
            html.Button("Start session", id=ids.EVENT_START, className="action", n_clicks=0),
            html.Button("Record dose", id=ids.EVENT_DOSE, className="action", n_clicks=0),
            html.Button("End session…", id=ids.EVENT_END, className="action", n_clicks=0),
            dcc.Input(id=ids.NOTE_TEXT, placeholder="note (also the reason for a sign-off "
                      "with unmet criteria)", maxLength=400, className="note-input"),
            html.Button("Add note", id=ids.NOTE_SUBMIT, className="action", n_clicks=0),
        ]),
        # Ending clears the session's alarms: it asks first, listing them (`ask_end`).
        html.Div(id=ids.END_CONFIRM, className="panel end-confirm", hidden=True, children=[
            html.Div(id=ids.END_CONFIRM_TEXT),
            dcc.Input(id=ids.END_REASON, placeholder="reason (required with alarms present)",
                      maxLength=300, className="note-input"),
            html.Button("Confirm: end the session", id=ids.END_CONFIRM_SUBMIT,
                        className="action action--danger", n_clicks=0),
            html.Button("Cancel", id=ids.END_CANCEL, className="action", n_clicks=0),
        ]),
        html.Div(id=ids.SESSION_FEEDBACK, className="feedback", role="status"),
        html.Div(id=ids.SESSION_PROTOCOL, className="protocol"),
        html.Div(className="protocol-forms", children=[
            html.Div(className="panel", children=[
                html.H3("Pre-session checklist"),
                components.checklist_form(),
            ]),
            html.Div(className="panel", children=[
                html.H3("No-go override (clinician)"),
                dcc.Textarea(id=ids.OVERRIDE_REASON, placeholder="written reason (required)",
                             maxLength=400, className="override-reason"),
                html.Button("Override no-go", id=ids.OVERRIDE_SUBMIT, className="action",
                            n_clicks=0),
                html.H3("Discharge sign-off (clinician)"),
                html.Button("Sign off discharge", id=ids.SIGNOFF_SUBMIT, className="action",
                            n_clicks=0),
            ]),
        ]),
        html.H3("Notes and audit trail"),
        html.Div(id=ids.SESSION_EVENTS),
        html.H3("Alert events"),
        html.Div(id=ids.SESSION_ALERTS),
        html.H3("Notifications"),
        html.Div(id=ids.SESSION_NOTIFICATIONS),
    ])


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


def _history(session_id: str, given: History | StoreError | None) -> History:
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
        loaded = _history(session_id, history)
    except StoreError as err:
        return (dash.no_update, dash.no_update,
                f"⚠ Not updating: cannot read the database ({err})", False)
    # The first and last reading of each kind give the status and origin of the whole session.
    readings = frames.reading_rows(_ends(loaded.readings))
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


def _ends(readings: list[Reading]) -> list[Reading]:
    """The first and the last reading of each kind (time order kept): a session's extent."""
    first: dict[Any, Reading] = {}
    last: dict[Any, Reading] = {}
    for reading in readings:
        first.setdefault(reading.kind, reading)
        last[reading.kind] = reading
    return sorted({id(r): r for r in (*first.values(), *last.values())}.values(),
                  key=lambda r: r.time)


# --- the chart: drawn whole once, then extended -------------------------------------------------

# Readings appended to the chart before it is drawn whole again, thinned: 1 Hz HR and SpO2
# grow it by ~7,000 points an hour, and an out-of-order reading is only placed by a redraw.
REDRAW_AFTER_POINTS = 600


def _chart_marks(loaded: History, origin: Any) -> list[Any]:
    """What else than readings the chart shows: when any of it changes, it is drawn whole."""
    return [None if origin is None else origin.isoformat(),
            sum(e.event is not SessionEventType.CHECKIN for e in loaded.events),
            len(loaded.alerts), len(loaded.observations),
            sorted({r.kind.value for r in loaded.readings})]


def draw(session_id: str | None, history: History | StoreError | None = None
         ) -> tuple[Any, dict[str, Any] | None]:
    """The whole chart, thinned (`frames.thin`), and what it holds: its marks (`_chart_marks`),
    the index of each reading trace, the time of the last reading drawn of each kind, and the
    readings appended since. Run when the page opens, so the first draw never waits for a poll."""
    if not session_id:
        return {}, None
    try:
        loaded = _history(session_id, history)
    except StoreError as err:
        log.warning("session chart cannot read the store: %s", err)
        return dash.no_update, None  # the status line says so; the next poll draws it
    readings = frames.reading_rows(frames.thin(loaded.readings))
    events = frames.event_rows(loaded.events)
    origin, origin_label = frames.session_origin(events, readings)
    # Check-ins every few minutes would bury the protocol lines: they stay in the audit trail.
    figure = _figure(readings, events[events["event"] != SessionEventType.CHECKIN.value],
                     frames.alert_rows(loaded.alerts), origin, origin_label,
                     frames.observation_rows(loaded.observations))
    # The reading traces (`figures._trace` marks each with its kind and field): index -> them.
    traces = {str(index): trace.meta["reading"] for index, trace in enumerate(figure.data)
              if isinstance(trace.meta, dict) and "reading" in trace.meta}
    last = {kind: max(times).isoformat() for kind, times in
            readings.groupby("kind")["time"]} if not readings.empty else {}
    return figure, {"session": session_id, "marks": _chart_marks(loaded, origin),
                    "traces": traces, "last": last, "appended": 0}


def extend_chart(_n: int | None, session_id: str | None,
                 drawn: dict[str, Any] | None) -> tuple[Any, Any]:
    """Each poll: only the readings newer than those the chart holds, appended in the browser
    (`dash.Patch`), a few hundred bytes; the whole chart again only when its marks (events,
    alarms, observations, origin) changed or after `REDRAW_AFTER_POINTS`."""
    if not session_id or not drawn or drawn.get("session") != session_id:
        return dash.no_update, dash.no_update  # the first draw is still on its way
    try:
        loaded = load(session_id)
    except StoreError:
        return dash.no_update, dash.no_update  # the status line says so
    origin = frames.session_origin(frames.event_rows(loaded.events),
                                    frames.reading_rows(_ends(loaded.readings)))[0]
    if (_chart_marks(loaded, origin) != drawn["marks"]
            or drawn["appended"] > REDRAW_AFTER_POINTS):
        return draw(session_id, loaded)
    last = {kind: pd.Timestamp(at) for kind, at in drawn["last"].items()}
    oldest = min(last.values(), default=None)
    newer: list[Reading] = []
    for reading in reversed(loaded.readings):  # time order: the new ones are at the end
        if oldest is not None and reading.time <= oldest:
            break
        if reading.kind.value not in last or reading.time > last[reading.kind.value]:
            newer.append(reading)
    if not newer:
        return dash.no_update, dash.no_update
    newer.reverse()
    rows = frames.reading_rows(newer)
    x = figures.minutes_from(rows["time"], origin)
    patch = dash.Patch()
    appended = 0
    for index, (kind, field) in drawn["traces"].items():
        index = int(index)
        part = (rows["kind"] == kind) & rows[field].notna()
        if part.any():
            patch["data"][index]["x"].extend(figures.chart_minutes(x[part]))
            patch["data"][index]["y"].extend(rows.loc[part, field].tolist())
            appended += int(part.sum())
    for kind, times in rows.groupby("kind")["time"]:
        drawn["last"][kind] = max(times).isoformat()
    drawn["appended"] += appended
    return patch, drawn


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
        loaded = _history(session_id, history)
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


def ask_end(_end: int, _confirm: int, _cancel: int,
            session_id: str | None) -> tuple[bool, Any]:
    """"End session…" shows the confirmation with the session's present alarms; confirming
    (`command` ends it, or says why not) or cancelling hides it."""
    if ctx.triggered_id != ids.EVENT_END or not session_id:
        return True, dash.no_update
    try:
        present = present_alarms(app_context.current().store.alerts(session_id))
    except StoreError as err:
        return False, html.P(f"⚠ Cannot read the session's alarms ({err}): not safe to end now.")
    return False, components.end_confirmation(session_id, present,
                                              app_context.current().settings.zone)


def command(_start: int, _dose: int, _end: int, _note: int, _checklist: int, _override: int,
            _signoff: int, session_id: str | None, note: str | None,
            guidelines: list[str] | None, contraindications: list[str] | None,
            reason: str | None, end_reason: str | None = None,
            label: str | None = None) -> str:
    """One protocol or audit button was clicked: `session_commands.ACTIONS` says what it
    records, who may, and what it must read first."""
    trigger = ctx.triggered_id
    if trigger is None or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update
    action = session_commands.ACTIONS.get(trigger)
    if action is None:
        return dash.no_update
    if not session_id:
        return "⚠ No session selected."
    form = session_commands.Form.typed(note, guidelines, contraindications, reason, end_reason,
                                       label)
    return session_commands.run(action, session_id, form, lambda s: status_of(load(s)))


def refresh_presence(_n: int | None, session_id: str | None,
                     history: History | StoreError | None = None) -> tuple[Any, Any]:
    """The observation log and the check-in countdown."""
    if not session_id:
        return [], []
    context = app_context.current()
    try:
        loaded = _history(session_id, history)
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


def publish_checkin(session_id: str | None) -> str:
    """Publish a presence check-in by the logged-in user (monitor role and above)."""
    if not session_id:
        return "⚠ No session selected."
    user = auth.allowed(Role.MONITOR)
    if user is None:
        return "⚠ Your role cannot check in."
    try:
        app_context.current().commands.session_event(session_id, SessionEventType.CHECKIN,
                                                 user.name)
    except CommandFailed as err:
        return f"⚠ Check-in NOT sent: {err}"
    context = app_context.current()
    at = local_time(context.clock(), context.settings.zone)
    return f"✔ {user.name} checked in at {at} (sent)"


def check_in(n_clicks: int | None, session_id: str | None) -> str:
    """The big "I'm here" button."""
    if not n_clicks:
        return dash.no_update
    return publish_checkin(session_id)


def record_observation(_clicks: list[int | None], severity: str | None, note: str | None,
                       session_id: str | None) -> tuple[Any, Any]:
    """One observation button was tapped: publish it with the chosen severity, the note and the
    user; clear the note once sent."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update, dash.no_update
    if not session_id:
        return "⚠ No session selected.", dash.no_update
    user = auth.allowed(Role.MONITOR)
    if user is None:
        return "⚠ Your role cannot record observations.", dash.no_update
    kind = str(trigger.get("observation"))
    level = severity or Severity.MILD.value
    text = (note or "").strip() or None
    try:
        app_context.current().commands.observation(session_id, kind, level, user.name, text)
    except CommandFailed as err:
        return f"⚠ Observation NOT recorded: {err}", dash.no_update
    return f"✔ {obs.label(kind)} ({level}) recorded by {user.name} (sent to the ingest)", ""


def refresh_notifications(_n: int | None, session_id: str | None) -> list[Any] | str:
    """Who the notifier told of each alarm (its own small read: the log is short)."""
    if not session_id:
        return ""
    try:
        records = app_context.current().store.notifications(session_id)
    except StoreError as err:
        return f"⚠ Cannot read the notification log ({err})."
    return components.notification_log(session_id, records, app_context.current().settings.zone)


def _figure(readings: Any, events: Any, alerts: Any, origin: Any, origin_label: str,
            observed: Any = None) -> Any:
    context = app_context.current()
    cadence = context.profile.cadence
    marks = figures.reassessment_marks(origin, frames.dose_time(events),
                                       cadence.reassessment_minutes,
                                       cadence.reassessment_window_minutes)
    return figures.session_figure(readings, events, alerts, origin, origin_label,
                                  context.limits or figures.default_limits(), marks=marks,
                                  observations=observed,
                                  hr_sources=context.profile.metrics[Metric.HEART_RATE].sources)


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path_template=PATH_TEMPLATE, name="Session",
                       title=lambda session_id=None: f"Vitals — {session_id}", layout=layout,
                       order=1)
    # The chart: drawn when the page opens (not by the poll: a long session's first draw may
    # take longer than the poll's interval, and a poll overtaken by the next one never shows),
    # then extended by each poll.
    app.callback(
        Output(ids.SESSION_GRAPH, "figure"),
        Output(ids.SESSION_CHART_DRAWN, "data"),
        Input(ids.SESSION_ID_STORE, "data"),
    )(draw)
    app.callback(
        Output(ids.SESSION_GRAPH, "figure", allow_duplicate=True),
        Output(ids.SESSION_CHART_DRAWN, "data", allow_duplicate=True),
        Input(ids.SESSION_INTERVAL, "n_intervals"),
        State(ids.SESSION_ID_STORE, "data"),
        State(ids.SESSION_CHART_DRAWN, "data"),
        prevent_initial_call=True,
    )(extend_chart)
    app.callback(
        Output(ids.SESSION_HEADER, "children"),
        Output(ids.SESSION_ALERTS, "children"),
        Output(ids.SESSION_STATUS, "children"),
        Output(ids.SESSION_INTERVAL, "disabled"),
        Output(ids.SESSION_PROTOCOL, "children"),
        Output(ids.SESSION_EVENTS, "children"),
        Output(ids.OBSERVATION_LOG, "children"),
        Output(ids.CHECKIN_STATUS, "children"),
        Input(ids.SESSION_INTERVAL, "n_intervals"),
        State(ids.SESSION_ID_STORE, "data"),
    )(refresh_view)
    app.callback(
        Output(ids.SESSION_NOTIFICATIONS, "children"),
        Input(ids.SESSION_INTERVAL, "n_intervals"),
        State(ids.SESSION_ID_STORE, "data"),
    )(refresh_notifications)
    app.callback(
        Output(ids.SESSION_FEEDBACK, "children"),
        Input(ids.EVENT_START, "n_clicks"),
        Input(ids.EVENT_DOSE, "n_clicks"),
        Input(ids.END_CONFIRM_SUBMIT, "n_clicks"),
        Input(ids.NOTE_SUBMIT, "n_clicks"),
        Input(ids.CHECKLIST_SUBMIT, "n_clicks"),
        Input(ids.OVERRIDE_SUBMIT, "n_clicks"),
        Input(ids.SIGNOFF_SUBMIT, "n_clicks"),
        State(ids.SESSION_ID_STORE, "data"),
        State(ids.NOTE_TEXT, "value"),
        State(ids.CHECKLIST_GUIDELINES, "value"),
        State(ids.CHECKLIST_CONTRAINDICATIONS, "value"),
        State(ids.OVERRIDE_REASON, "value"),
        State(ids.END_REASON, "value"),
        State(ids.START_LABEL, "value"),
        prevent_initial_call=True,
    )(command)
    app.callback(
        Output(ids.END_CONFIRM, "hidden"),
        Output(ids.END_CONFIRM_TEXT, "children"),
        Input(ids.EVENT_END, "n_clicks"),
        Input(ids.END_CONFIRM_SUBMIT, "n_clicks"),
        Input(ids.END_CANCEL, "n_clicks"),
        State(ids.SESSION_ID_STORE, "data"),
        prevent_initial_call=True,
    )(ask_end)
    app.callback(
        Output(ids.CHECKIN_FEEDBACK, "children"),
        Input(ids.CHECKIN_BUTTON, "n_clicks"),
        State(ids.SESSION_ID_STORE, "data"),
        prevent_initial_call=True,
    )(check_in)
    app.callback(
        Output(ids.OBSERVATION_FEEDBACK, "children"),
        Output(ids.OBSERVATION_NOTE, "value"),
        Input({"type": ids.OBSERVATION_BUTTON, "observation": ALL}, "n_clicks"),
        State(ids.OBSERVATION_SEVERITY, "value"),
        State(ids.OBSERVATION_NOTE, "value"),
        State(ids.SESSION_ID_STORE, "data"),
        prevent_initial_call=True,
    )(record_observation)
