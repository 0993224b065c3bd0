"""Session view (`/session/<id>`): trends over session time, events, alarms; live while active."""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from dashboard import figures, ids, queries
from vitals.storage.base import StoreError

log = logging.getLogger(__name__)

PATH_TEMPLATE = "/session/<session_id>"


def layout(session_id: str | None = None, **_query: Any) -> html.Div:
    context = queries.current()
    return html.Div(className="page page--session", children=[
        dcc.Store(id=ids.SESSION_ID_STORE, data=session_id),
        dcc.Interval(id=ids.SESSION_INTERVAL, interval=context.refresh_ms, n_intervals=0),
        html.Div(id=ids.SESSION_HEADER, className="session-header"),
        html.Div(id=ids.SESSION_STATUS, className="status-line"),
        dcc.Graph(id=ids.SESSION_GRAPH, config={"displaylogo": False}),
        html.H3("Alert events"),
        html.Div(id=ids.SESSION_ALERTS),
    ])


def refresh(_n_intervals: int | None, session_id: str | None) -> tuple[Any, ...]:
    """Header, figure, alert table, status line, and whether to stop polling (session ended)."""
    context = queries.current()
    now = context.clock()
    if not session_id:
        return [html.H2("No session selected")], {}, "", "", True
    try:
        readings = queries.readings_frame(context.store, session_id)
        events = queries.events_frame(context.store, session_id)
        alerts = queries.alerts_frame(context.store, session_id)
    except StoreError as err:
        log.warning("session view cannot read the store: %s", err)
        return (dash.no_update, dash.no_update, dash.no_update,
                f"⚠ Not updating: cannot read the database ({err})", False)
    status = queries.frame_status(events, readings, now, context.active_window)
    if status == "unknown":
        return ([html.H2(session_id), html.Span("no data stored for this session (yet)",
                                                className="muted")],
                {}, "", f"checked {now:%H:%M:%S} UTC", False)
    origin, origin_label = queries.session_origin(events, readings)
    since = None if origin is None else queries.age_seconds(now, origin) / 60
    return (
        figures.session_header(session_id, status, origin_label, since,
                               queries.active_alarms(alerts)),
        figures.session_figure(queries.thin(readings), events, alerts, origin, origin_label,
                               context.limits or figures.LIMITS),
        figures.alerts_table(alerts, origin),
        f"updated {now:%H:%M:%S} UTC",
        status == "ended",  # an ended session no longer changes: stop polling it
    )


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path_template=PATH_TEMPLATE, name="Session",
                       title=lambda session_id=None: f"Vitals — {session_id}", layout=layout,
                       order=1)
    app.callback(
        Output(ids.SESSION_HEADER, "children"),
        Output(ids.SESSION_GRAPH, "figure"),
        Output(ids.SESSION_ALERTS, "children"),
        Output(ids.SESSION_STATUS, "children"),
        Output(ids.SESSION_INTERVAL, "disabled"),
        Input(ids.SESSION_INTERVAL, "n_intervals"),
        State(ids.SESSION_ID_STORE, "data"),
    )(refresh)
