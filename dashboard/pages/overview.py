"""Overview (`/`): one tile per active session, refreshed by a `dcc.Interval`; each tile shows
its check-in countdown and has a compact "I'm here" button."""

from __future__ import annotations

import logging
from typing import Any

import hashlib

import dash
import pandas as pd
from dash import ALL, Input, Output, Patch, State, ctx, dcc, html

from dashboard import figures, ids, queries
from dashboard import observations as obs
from dashboard.pages.session import publish_checkin
from vitals.storage.base import StoreError

log = logging.getLogger(__name__)

PATH = "/"


def layout(**_query: Any) -> html.Div:
    context = queries.current()
    return html.Div(className="page page--overview", children=[
        dcc.Interval(id=ids.OVERVIEW_INTERVAL, interval=context.refresh_ms, n_intervals=0),
        dcc.Store(id=ids.OVERVIEW_RENDERED, data=None),
        html.Div(id=ids.OVERVIEW_STATUS, className="status-line"),
        html.Div(id=ids.OVERVIEW_FEEDBACK, className="feedback", role="status"),
        html.Div(id=ids.OVERVIEW_TILES, className="tiles"),
    ])


def checkins(overview: pd.DataFrame, now: Any,
             policy: obs.CheckinPolicy) -> dict[str, obs.Checkin]:
    """Each active session's check-in countdown (from its last check-in, else its start)."""
    found = {}
    for row in overview.to_dict("records"):
        last, reference = row.get("checkin_last"), row.get("checkin_reference")
        found[str(row["session"])] = obs.checkin_status(
            None if last is None or pd.isna(last) else pd.Timestamp(last).to_pydatetime(),
            None if reference is None or pd.isna(reference)
            else pd.Timestamp(reference).to_pydatetime(),
            now, policy)
    return found


def refresh(_n_intervals: int | None) -> tuple[list[Any], str]:
    """The tiles and the status line, from the store as it is now."""
    with queries.gc_paused():  # ~1,200 components for 48 tiles
        return _refresh()


def _refresh() -> tuple[list[Any], str]:
    context = queries.current()
    now = context.clock()
    try:
        overview = queries.overview_frame(context.store, now, context.active_window)
        trends = context.trends.get(context.store, list(overview["session"]), now)
    except StoreError as err:
        log.warning("overview cannot read the store: %s", err)
        return [figures.store_error(str(err))], f"⚠ Not updating — {now:%H:%M:%S} UTC"
    count = len(overview)
    plural = "session" if count == 1 else "sessions"
    policy = obs.checkin_policy(context.profile)
    return (
        figures.tiles(overview, trends, checkins(overview, now, policy)),
        f"{count} active {plural} · updated {now:%H:%M:%S} UTC",
    )


def update(n_intervals: int | None, rendered: list[list[str]] | None
           ) -> tuple[Any, str, list[list[str]]]:
    """The registered refresh: `refresh`, sent as a `Patch` of only the parts of tiles that
    changed since the browser rendered them (`rendered`: the keys of their parts) when it shows
    the same sessions in the same order; else all the tiles.

    Re-rendering 48 tiles (1,200 components, 48 sparklines) every half second kept a browser
    busy for seconds, so a new value took ~5 s to show; now a new heart rate re-renders one
    tile's numerals, and a sparkline only when its trend changed."""
    with queries.gc_paused():
        cells, status = _refresh()
        keys = [part_keys(cell) for cell in cells]
        same_tiles = (rendered is not None and len(rendered) == len(keys)
                      and all(old[:1] == new[:1] != [""] for old, new in zip(rendered, keys)))
        if not same_tiles:
            return cells, status, keys
        patch = Patch()
        for index, (old, new, cell) in enumerate(zip(rendered or [], keys, cells)):
            if old == new:
                continue
            if len(old) != len(new):  # a part came or went (the first sparkline)
                patch[index] = cell
                continue
            link = patch[index]["props"]["children"][0]["props"]
            if old[1] != new[1]:
                link["className"] = new[1]
            parts = cell.children[0].children
            for part, (was, now) in enumerate(zip(old[2:], new[2:])):
                if was != now:
                    link["children"][part] = parts[part]
        return patch, status, keys


def part_keys(cell: Any) -> list[str]:
    """What identifies what a tile cell shows: its session, its class, and a digest of each
    part of the tile (head, alarm, vitals, check-in, sparkline). [""] for anything else (the
    empty state, a store error)."""
    if "tile-cell" not in str(getattr(cell, "className", "")):
        return [""]
    link = cell.children[0]
    return [str(link.id), str(link.className), *(_digest(part) for part in link.children)]


def _digest(part: Any) -> str:
    # A component's repr spells every prop, recursively; a sparkline's points are its content
    # (spelling the whole figure costs more than all the other parts together).
    text = (repr([(t["x"], t["y"]) for t in part.figure["data"]]) if isinstance(part, dcc.Graph)
            else repr(part))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def tile_check_in(_clicks: list[int | None]) -> str:
    """A tile's compact check-in button was clicked (tiles re-render: only a real click)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update
    return publish_checkin(str(trigger.get("session")))


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Overview", title="Vitals — overview",
                       layout=layout, order=0)
    app.callback(
        Output(ids.OVERVIEW_TILES, "children"),
        Output(ids.OVERVIEW_STATUS, "children"),
        Output(ids.OVERVIEW_RENDERED, "data"),
        Input(ids.OVERVIEW_INTERVAL, "n_intervals"),
        State(ids.OVERVIEW_RENDERED, "data"),
    )(update)
    app.callback(
        Output(ids.OVERVIEW_FEEDBACK, "children"),
        Input({"type": ids.TILE_CHECKIN, "session": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(tile_check_in)
