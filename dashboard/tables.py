"""The session view's and the history's tables and the session header, pure: frames
(`frames.py`) in, Dash components out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, tzinfo
from typing import Any

import pandas as pd
from dash import dcc, html

from dashboard.components import session_name
from dashboard.figures import minutes_from
from dashboard.texts import (
    ALARM_LABEL,
    METRIC_LABEL,
    alarm_text,
    missing,
    number,
)
from vitals.alerts import AlertEvent, AlertState
from vitals.timefmt import local_time


def alerts_table(alerts: pd.DataFrame, origin: pd.Timestamp | None,
                 zone: tzinfo = UTC) -> html.Div | html.Table:
    """Every alert event of the session, newest first, with priority as text and colour, and
    who acknowledged it with their note (the audit trail); times on the clinic's clock."""
    if alerts.empty:
        return html.Div("No alert events in this session.", className="muted")
    head = html.Thead(html.Tr([html.Th(h) for h in
                               ("Time", "Session min", "Priority", "State", "Metric",
                                "Value", "Limit", "Message", "By", "Note")]))
    rows = []
    minutes = minutes_from(alerts["time"], origin) if origin is not None else None
    for i, alert in enumerate(alerts.to_dict("records")):
        at = "" if minutes is None else f"{minutes.iloc[i]:+.0f}"
        rows.append(html.Tr(className=f"alert-row alert-row--{alert['priority']}", children=[
            html.Td(local_time(alert["time"], zone)),
            html.Td(at),
            html.Td(ALARM_LABEL.get(alert["priority"], alert["priority"]),
                    className=f"prio prio--{alert['priority']}"),
            html.Td(alert["state"]),
            html.Td(METRIC_LABEL.get(alert["metric"], alert["metric"])),
            html.Td(number(alert["value"])),
            html.Td(number(alert["limit"])),
            html.Td(alert["message"]),
            html.Td("" if missing(alert.get("by")) else str(alert["by"])),
            html.Td("" if missing(alert.get("note")) else str(alert["note"])),
        ]))
    return html.Table(className="table", children=[head, html.Tbody(rows[::-1])])


def events_table(events: pd.DataFrame, zone: tzinfo = UTC) -> html.Div | html.Table:
    """Session events with who recorded them and their notes, newest first (the audit trail);
    times on the clinic's clock."""
    if events.empty:
        return html.Div("No notes or session events yet.", className="muted")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Time", "Event", "By", "Note")]))
    body = [
        html.Tr([
            html.Td(local_time(e["time"], zone)),
            html.Td(str(e["event"])),
            html.Td("" if missing(e["by"]) else str(e["by"])),
            html.Td("" if missing(e["note"]) else str(e["note"])),
        ])
        for e in events.to_dict("records")
    ]
    return html.Table(className="table", children=[head, html.Tbody(body[::-1])])


def session_header(session: str, status: str, origin_label: str,
                   since_origin_min: float | None,
                   active: Sequence[AlertEvent] = (), label: str | None = None,
                   zone: tzinfo = UTC) -> list[Any]:
    """Display label and session id, live/ended badge, session clock, and every alarm present
    now as text (`vitals.sessions.present_alarms`: acknowledged ones marked silenced)."""
    badge = {"active": "LIVE", "ended": "ENDED", "idle": "NO RECENT DATA"}.get(status, status)
    parts: list[Any] = [html.H2(session_name(session, label), className="session-title"),
                        html.Span(badge, className=f"badge badge--{status}")]
    if since_origin_min is not None:
        parts.append(html.Span(f"{since_origin_min:.0f} min since {origin_label}",
                               className="session-clock"))
    if active:
        parts.append(html.Div(className="session-alarms", children=[
            _session_alarm(a, a.state is AlertState.ACKNOWLEDGED, zone) for a in active]))
    return parts


def _session_alarm(alert: AlertEvent, acked: bool, zone: tzinfo) -> html.Div:
    text = alarm_text(alert.priority.value, alert.message, alert.metric.value,
                      acked_by=(alert.by or "someone") if acked else None, ended=alert.ended,
                      zone=zone)
    if acked:
        return html.Div(text, className=f"tile-alarm tile-alarm--{alert.priority.value} "
                        "tile-alarm--acked")
    return html.Div(text, role="alert", className=f"tile-alarm tile-alarm--{alert.priority.value}")


def history_table(sessions: pd.DataFrame, exports: Mapping[str, Sequence[str]] | None = None,
                  zone: tzinfo = UTC) -> html.Div | html.Table:
    """All sessions, newest first, each a link to its session view; with `exports` (format ->
    one URL per row, for clinicians) a column of export links."""
    if sessions.empty:
        return html.Div("No sessions found.", className="muted")

    def when(value: Any) -> str:
        return "" if missing(value) else local_time(value, zone, "%Y-%m-%d %H:%M")

    titles = ["Session", "Status", "First", "Dose", "Last", "End"]
    if exports:
        titles.append("Export")
    head = html.Thead(html.Tr([html.Th(h) for h in titles]))
    rows = []
    for i, s in enumerate(sessions.to_dict("records")):
        cells = [
            html.Td(dcc.Link(s["session"], href=f"/session/{s['session']}")),
            html.Td(html.Span(s["status"], className=f"badge badge--{s['status']}")),
            html.Td(when(s["first_time"])),
            html.Td(when(s["dosed"])),
            html.Td(when(s["last_time"])),
            html.Td(when(s["ended"])),
        ]
        if exports:
            cells.append(html.Td(className="exports", children=[
                html.A(fmt.upper(), href=urls[i], target="_blank", className="export-link")
                for fmt, urls in exports.items()
            ]))
        rows.append(html.Tr(cells))
    return html.Table(className="table", children=[head, html.Tbody(rows)])
