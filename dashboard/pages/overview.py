"""Overview (`/`): one tile per active session, refreshed by a `dcc.Interval`."""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboard import figures, ids, queries
from vitals.storage.base import StoreError

log = logging.getLogger(__name__)

PATH = "/"


def layout(**_query: Any) -> html.Div:
    context = queries.current()
    return html.Div(className="page page--overview", children=[
        dcc.Interval(id=ids.OVERVIEW_INTERVAL, interval=context.refresh_ms, n_intervals=0),
        html.Div(id=ids.OVERVIEW_STATUS, className="status-line"),
        html.Div(id=ids.OVERVIEW_TILES, className="tiles"),
    ])


def refresh(_n_intervals: int | None) -> tuple[list[Any], str]:
    """The tiles and the status line, from the store as it is now."""
    context = queries.current()
    now = context.clock()
    try:
        overview = queries.overview_frame(context.store, now, context.active_window)
        trends = {
            session: queries.trend_frame(context.store, session, now)
            for session in overview["session"]
        }
    except StoreError as err:
        log.warning("overview cannot read the store: %s", err)
        return [figures.store_error(str(err))], f"⚠ Not updating — {now:%H:%M:%S} UTC"
    count = len(overview)
    plural = "session" if count == 1 else "sessions"
    return (
        figures.tiles(overview, trends),
        f"{count} active {plural} · updated {now:%H:%M:%S} UTC",
    )


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Overview", title="Vitals — overview",
                       layout=layout, order=0)
    app.callback(
        Output(ids.OVERVIEW_TILES, "children"),
        Output(ids.OVERVIEW_STATUS, "children"),
        Input(ids.OVERVIEW_INTERVAL, "n_intervals"),
    )(refresh)
