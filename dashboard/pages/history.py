"""History (`/sessions`): every stored session, newest first, found by id and date; each links to
its session view and, for clinicians, to its exports (CSV, HTML report, FHIR)."""

from __future__ import annotations

import logging
from datetime import UTC, date, tzinfo
from typing import Any, Final

import dash
import pandas as pd
from dash import Input, dcc, html

from dashboard import app_context, auth, exports, frames, ids, tables
from dashboard.wiring import children
from vitals.storage.base import StoreError
from vitals.users import Role

log = logging.getLogger(__name__)

MAX_ROWS: Final = 200  # newest first
# The search filters as it is typed, once the typing pauses this long (seconds): one store read
# per pause, not one per key.
SEARCH_PAUSE_S: Final = 0.3
PATH = "/sessions"


def layout(**_query: Any) -> html.Div:
    return html.Div(className="page page--history", children=[
        html.H2("Sessions"),
        html.Div(className="history-search", children=[
            dcc.Input(id=ids.HISTORY_SEARCH, placeholder="session id contains…", type="search",
                      debounce=SEARCH_PAUSE_S, className="search-input"),
            dcc.DatePickerSingle(id=ids.HISTORY_DATE, placeholder="any date", clearable=True,
                                 display_format="YYYY-MM-DD"),
        ]),
        html.Div(id=ids.HISTORY_TABLE),
    ])


def filter_sessions(frame: pd.DataFrame, text: str | None, day: str | None,
                    zone: tzinfo = UTC) -> pd.DataFrame:
    """Sessions whose id contains `text` (any case) and that ran on `day` (YYYY-MM-DD, a day
    on the clinic's clock, as the table shows the times)."""
    if text:
        frame = frame[frame["session"].str.contains(text.strip(), case=False, regex=False)]
    if day:
        wanted = date.fromisoformat(day[:10])
        first = frame["first_time"].dt.tz_convert(zone).dt.date
        last = frame["last_time"].dt.tz_convert(zone).dt.date
        frame = frame[(first <= wanted) & (last >= wanted)]
    return frame.reset_index(drop=True)


def refresh(text: str | None, day: str | None) -> Any:
    context = app_context.current()
    try:
        frame = frames.sessions_frame(context.store, context.clock(), context.active_window)
    except StoreError as err:
        log.warning("history cannot read the store: %s", err)
        return html.Div(f"⚠ Cannot read the database: {err}", className="error")
    found = filter_sessions(frame, text, day, context.settings.zone)
    # Bounded: thousands of rows (a device flooding session ids) would stall the browser.
    more = len(found) - MAX_ROWS
    found = found.head(MAX_ROWS)
    links = None
    if auth.allowed(Role.CLINICIAN) is not None:
        links = {fmt: [exports.export_url(s, fmt) for s in found["session"]]
                 for fmt in exports.FORMATS}
    table = tables.history_table(found, links, context.settings.zone)
    if more <= 0:
        return table
    return html.Div([html.P(f"{more} more sessions not shown: search by id or pick a day.",
                            id=ids.HISTORY_HIDDEN, className="hidden-sessions"), table])


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Sessions", title="Vitals — sessions",
                       layout=layout, order=2)
    app.callback(*children(ids.HISTORY_TABLE), Input(ids.HISTORY_SEARCH, "value"),
                 Input(ids.HISTORY_DATE, "date"))(refresh)
