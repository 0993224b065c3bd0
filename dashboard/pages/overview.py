"""Overview (`/`): one tile per active session, refreshed by a `dcc.Interval`; each tile shows
its check-in countdown and has a compact "I'm here" button."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import dash
from dash import ALL, Output, ctx, dcc, html

from dashboard import app_context, ids, queries, tiles
from dashboard import observations as obs
from dashboard.session_buttons import publish_checkin
from dashboard.wiring import children, clicks, store_updates, stored, stores, ticks
from vitals.alerts import Metric
from vitals.storage.base import StoreError
from vitals.timefmt import local_time

log = logging.getLogger(__name__)

PATH = "/"


def layout(**_query: Any) -> html.Div:
    context = app_context.current()
    return html.Div(className="page page--overview", children=[
        html.H2("Active sessions", className="visually-hidden"),
        dcc.Interval(id=ids.OVERVIEW_INTERVAL, interval=context.refresh_ms, n_intervals=0),
        dcc.Store(id=ids.OVERVIEW_RENDERED, data=None),
        dcc.Store(id=ids.OVERVIEW_CHANGES, data=None),
        html.Div(id=ids.OVERVIEW_STATUS, className="status-line"),
        html.Div(id=ids.OVERVIEW_FEEDBACK, className="feedback", role="status"),
        html.Div(id=ids.OVERVIEW_TILES, className="tiles"),
    ])


def checkins(overview: Sequence[Mapping[str, Any]], now: datetime,
             policy: obs.CheckinPolicy) -> dict[str, obs.Checkin]:
    """Each active session's check-in countdown (from its last check-in, else its start), from
    `queries.overview_rows`."""
    return {str(row["session"]): obs.checkin_status(row.get("checkin_last"),
                                                    row.get("checkin_reference"), now, policy)
            for row in overview}


def refresh(_n_intervals: int | None) -> tuple[list[Any], Any]:
    """The tiles (components) and the status line, from the store as it is now."""
    with app_context.gc_paused():  # ~1,200 components for 48 tiles
        view, status = read()
        return _render(view), status


@dataclass(frozen=True)
class StoreFailure:
    """What the overview shows when the store cannot be read (`read`), instead of tiles."""

    message: str


def read(*, buttons: bool = True) -> tuple[tiles.TilesView | StoreFailure, Any]:
    """The tiles as plain data (or why the store cannot be read), and the status line.
    `buttons`: a check-in button beside each tile (the wall, a display, has none)."""
    context = app_context.current()
    now, zone = context.clock(), context.settings.zone
    try:
        snapshot = context.reader.snapshot()
    except StoreError as err:
        log.warning("overview cannot read the store: %s", err)
        return StoreFailure(str(err)), f"⚠ Not updating — {local_time(now, zone)}"
    # Ages from now: a snapshot read a moment ago shows each value as old as it is.
    hr_sources = context.profile.metrics[Metric.HEART_RATE].sources
    overview = queries.overview_rows(snapshot.live, now, hr_sources=hr_sources)
    count = len(overview)
    plural = "session" if count == 1 else "sessions"
    policy = obs.checkin_policy(context.profile)
    status: Any = f"{count} active {plural} · updated {local_time(snapshot.read_at, zone)}"
    if snapshot.hidden:
        status = [status, " · ", dcc.Link(
            f"{snapshot.hidden} more sessions not shown (the most urgent are)",
            href="/sessions", id=ids.OVERVIEW_HIDDEN, className="hidden-sessions")]
    view = tiles.tile_views(overview, snapshot.trends, checkins(overview, now, policy), zone)
    return (view if buttons else replace(view, buttons=False)), status


def _render(view: tiles.TilesView | StoreFailure) -> list[Any]:
    if isinstance(view, StoreFailure):
        return [tiles.store_error(view.message)]
    return tiles.render_tiles(view)


# The layout of the store's error message: never the version of any tiles' layout (hex).
STORE_FAILURE_LAYOUT: Final = "store-failure"


def update(n_intervals: int | None, rendered: dict[str, Any] | None
           ) -> tuple[Any, Any, dict[str, Any], dict[str, dict[str, Any]]]:
    """`refresh`, as only what changed since the browser rendered the tiles (`rendered`: the
    versions of what it shows, as this returned them then): the tiles (all of them) only when
    their layout changed (a session came or went, a sparkline appeared), else no_update and
    the live props of each part whose version changed (by id). Returns the tiles, the status
    line, the new `rendered` and the changes.

    Dash's renderer re-renders every component below a changed `children` (Dash 3.0.2, #3248):
    a `Patch` of the tiles container re-renders all 48 tiles (1,200 components) each refresh,
    and publish → value took 1.7 s (median, `page_latency --sessions 48`) against 0.5-0.65 s
    this way. A prop set on one part re-renders that part alone."""
    with app_context.gc_paused():
        view, status = read()
        return changes(view, status, rendered)


def changes(view: tiles.TilesView | StoreFailure, status: Any, rendered: dict[str, Any] | None
            ) -> tuple[Any, Any, dict[str, Any], dict[str, dict[str, Any]]]:
    """`update` of a view already `read`: the overview's and the wall's one way to send only
    what changed."""
    if isinstance(view, StoreFailure):
        return _render(view), status, {"layout": STORE_FAILURE_LAYOUT, "parts": {}}, {}
    parts = dict(view.parts())
    now_rendered = {"layout": view.layout,
                    "parts": {part: shown.version for part, shown in parts.items()}}
    if rendered is None or rendered.get("layout") != view.layout:
        return _render(view), status, now_rendered, {}
    was = rendered.get("parts") or {}
    changed = {part: dict(shown.props) for part, shown in parts.items()
               if was.get(part) != shown.version}
    return dash.no_update, status, now_rendered, changed


def publish(n_intervals: int | None, rendered: dict[str, Any] | None) -> tuple[Any, Any, Any]:
    """The registered refresh (login-guarded like every server callback): `update`, its
    changes and new `rendered` handed to `APPLY_CHANGES` in the browser (none when nothing
    changed)."""
    return pending(*update(n_intervals, rendered))


def pending(tiles: Any, status: Any, now_rendered: dict[str, Any],
            changed: dict[str, dict[str, Any]]) -> tuple[Any, Any, Any]:
    """`changes` as the registered callbacks return them: the changed parts and the new
    `rendered` for `APPLY_CHANGES`, or no_update when nothing changed."""
    if tiles is dash.no_update and not changed:
        return tiles, status, dash.no_update
    return tiles, status, {"changes": changed, "rendered": now_rendered}


# Sets each changed part's props in place (Dash's own `set_props`, so Dash's layout stays the
# truth), then records what the browser now shows, in the same step: a refresh whose response
# Dash dropped (a newer one overtook it) changes neither, so the next one diffs against what is
# really on screen.
APPLY_CHANGES: Final = """
function (pending) {
    if (!pending) {
        return window.dash_clientside.no_update;
    }
    for (const [part, props] of Object.entries(pending.changes)) {
        window.dash_clientside.set_props(part, props);
    }
    return pending.rendered;
}
"""


def tile_check_in(_clicks: list[int | None]) -> str:
    """A tile's compact check-in button was clicked (tiles re-render: only a real click)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update
    return publish_checkin(str(trigger.get("session")))


def register_tiles(app: dash.Dash, publish: Callable[..., tuple[Any, ...]], *, interval: str,
                   tiles: str, status: str, changes: str, rendered: str,
                   more: Sequence[Output] = ()) -> None:
    """Wire a page of tiles the overview's way (the overview's and the wall's one way): each
    tick of `interval` runs `publish` with what the browser has `rendered`, for the `tiles`,
    the `status` line, the `changes` (and `more` outputs), and `APPLY_CHANGES` sets the
    changes in the browser and records what it now shows in `rendered`."""
    app.callback(*children(tiles, status), *stores(changes), *more, *ticks(interval),
                 *stored(rendered))(publish)
    app.clientside_callback(APPLY_CHANGES, *stores(rendered), *store_updates(changes),
                            prevent_initial_call=True)


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Overview", title="Vitals — overview",
                       layout=layout, order=0)
    register_tiles(app, publish, interval=ids.OVERVIEW_INTERVAL, tiles=ids.OVERVIEW_TILES,
                   status=ids.OVERVIEW_STATUS, changes=ids.OVERVIEW_CHANGES,
                   rendered=ids.OVERVIEW_RENDERED)
    app.callback(*children(ids.OVERVIEW_FEEDBACK),
                 *clicks({"type": ids.TILE_CHECKIN, "session": ALL}),
                 prevent_initial_call=True)(tile_check_in)
