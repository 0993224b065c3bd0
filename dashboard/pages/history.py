"""History (`/sessions`): every stored session, newest first, each linking to its view."""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import html

from dashboard import figures, ids, queries
from vitals.storage.base import StoreError

log = logging.getLogger(__name__)

PATH = "/sessions"


def layout(**_query: Any) -> html.Div:
    # Rendered when the page is opened: history does not need live updates.
    context = queries.current()
    try:
        frame = queries.sessions_frame(context.store, context.clock(), context.active_window)
        content: Any = figures.history_table(frame)
    except StoreError as err:
        log.warning("history cannot read the store: %s", err)
        content = html.Div(f"⚠ Cannot read the database: {err}", className="error")
    return html.Div(className="page page--history", children=[
        html.H2("Sessions"), html.Div(content, id=ids.HISTORY_TABLE),
    ])


def register(_app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Sessions", title="Vitals — sessions",
                       layout=layout, order=2)
