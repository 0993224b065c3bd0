"""Session view (`/session/<id>`): trends over session time, events, alarms; live while active.

Below the chart: the pre-session checklist and go / caution / no-go verdict, the cues (the
~40-minute reassessment), discharge readiness and sign-off, notes and the protocol buttons.
Above the chart: the presence check-in ("I'm here") with its countdown; beside it the observation
log (choose a severity, tap what is seen). Every button publishes over MQTT
(`commands.Commands`); the ingest stores it and the next refresh shows it.

This module holds the layout and wires the callbacks: `session_view` refreshes the live parts,
`session_chart` draws the chart, `session_buttons` handles the buttons.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, dcc, html

from dashboard import app_context, components, ids, session_buttons, session_chart, session_view
from dashboard import observations as obs
from dashboard.wiring import children, clicks, values
from vitals.alerts import Metric
from vitals.readings import MAX_LABEL_CHARS

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


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path_template=PATH_TEMPLATE, name="Session",
                       title=lambda session_id=None: f"Vitals — {session_id}", layout=layout,
                       order=1)
    session = State(ids.SESSION_ID_STORE, "data")
    poll = Input(ids.SESSION_INTERVAL, "n_intervals")
    # The chart: drawn when the page opens (not by the poll: a long session's first draw may
    # take longer than the poll's interval, and a poll overtaken by the next one never shows),
    # then extended by each poll.
    app.callback(Output(ids.SESSION_GRAPH, "figure"), Output(ids.SESSION_CHART_DRAWN, "data"),
                 Input(ids.SESSION_ID_STORE, "data"))(session_chart.draw)
    app.callback(Output(ids.SESSION_GRAPH, "figure", allow_duplicate=True),
                 Output(ids.SESSION_CHART_DRAWN, "data", allow_duplicate=True),
                 poll, session, State(ids.SESSION_CHART_DRAWN, "data"),
                 prevent_initial_call=True)(session_chart.extend_chart)
    app.callback(*children(ids.SESSION_HEADER, ids.SESSION_ALERTS, ids.SESSION_STATUS),
                 Output(ids.SESSION_INTERVAL, "disabled"),
                 *children(ids.SESSION_PROTOCOL, ids.SESSION_EVENTS, ids.OBSERVATION_LOG,
                           ids.CHECKIN_STATUS),
                 poll, session)(session_view.refresh_view)
    app.callback(*children(ids.SESSION_NOTIFICATIONS), poll,
                 session)(session_view.refresh_notifications)
    app.callback(*children(ids.SESSION_FEEDBACK),
                 *clicks(ids.EVENT_START, ids.EVENT_DOSE, ids.END_CONFIRM_SUBMIT, ids.NOTE_SUBMIT,
                         ids.CHECKLIST_SUBMIT, ids.OVERRIDE_SUBMIT, ids.SIGNOFF_SUBMIT),
                 session, *values(ids.NOTE_TEXT, ids.CHECKLIST_GUIDELINES,
                                  ids.CHECKLIST_CONTRAINDICATIONS, ids.OVERRIDE_REASON,
                                  ids.END_REASON, ids.START_LABEL),
                 prevent_initial_call=True)(session_buttons.command)
    app.callback(Output(ids.END_CONFIRM, "hidden"), *children(ids.END_CONFIRM_TEXT),
                 *clicks(ids.EVENT_END, ids.END_CONFIRM_SUBMIT, ids.END_CANCEL), session,
                 prevent_initial_call=True)(session_buttons.ask_end)
    app.callback(*children(ids.CHECKIN_FEEDBACK), *clicks(ids.CHECKIN_BUTTON), session,
                 prevent_initial_call=True)(session_buttons.check_in)
    app.callback(*children(ids.OBSERVATION_FEEDBACK), Output(ids.OBSERVATION_NOTE, "value"),
                 Input({"type": ids.OBSERVATION_BUTTON, "observation": ALL}, "n_clicks"),
                 State(ids.OBSERVATION_SEVERITY, "value"), State(ids.OBSERVATION_NOTE, "value"),
                 session, prevent_initial_call=True)(session_buttons.record_observation)
    app.callback(Output(ids.OBSERVATION_FEEDBACK, "children", allow_duplicate=True),
                 Input({"type": ids.OBSERVATION_UNDO, "session": ALL, "observation": ALL,
                        "time": ALL}, "n_clicks"),
                 session, prevent_initial_call=True)(session_buttons.undo_observation)
