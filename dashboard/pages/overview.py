"""Overview (`/`): one tile per active session, refreshed by a `dcc.Interval`; each tile shows
its check-in countdown and has a compact "I'm here" button."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html
from dash.development.base_component import Component

from dashboard import app_context, figures, ids, queries
from dashboard import observations as obs
from dashboard.pages.session import publish_checkin
from vitals.alerts import Metric
from vitals.storage.base import StoreError

log = logging.getLogger(__name__)

PATH = "/"


def layout(**_query: Any) -> html.Div:
    context = app_context.current()
    return html.Div(className="page page--overview", children=[
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
    """The tiles and the status line, from the store as it is now."""
    with app_context.gc_paused():  # ~1,200 components for 48 tiles
        return _refresh()


def _refresh() -> tuple[list[Any], Any]:
    context = app_context.current()
    now = context.clock()
    try:
        snapshot = context.reader.snapshot()
    except StoreError as err:
        log.warning("overview cannot read the store: %s", err)
        return [figures.store_error(str(err))], f"⚠ Not updating — {now:%H:%M:%S} UTC"
    # Ages from now: a snapshot read a moment ago shows each value as old as it is.
    hr_sources = context.profile.metrics[Metric.HEART_RATE].sources
    overview = queries.overview_rows(snapshot.live, now, hr_sources=hr_sources)
    count = len(overview)
    plural = "session" if count == 1 else "sessions"
    policy = obs.checkin_policy(context.profile)
    status: Any = f"{count} active {plural} · updated {snapshot.read_at:%H:%M:%S} UTC"
    if snapshot.hidden:
        status = [status, " · ", dcc.Link(
            f"{snapshot.hidden} more sessions not shown (the most urgent are)",
            href="/sessions", id=ids.OVERVIEW_HIDDEN, className="hidden-sessions")]
    return figures.tiles(overview, snapshot.trends, checkins(overview, now, policy)), status


def update(n_intervals: int | None, rendered: dict[str, Any] | None
           ) -> tuple[Any, str, dict[str, Any], dict[str, dict[str, Any]]]:
    """`refresh`, as only what changed since the browser rendered the tiles (`rendered`: what
    `shown` digested then): the tiles (all of them) only when their layout changed (a session
    came or went, a sparkline appeared), else no_update and the live props of each part that
    changed (by id). Returns the tiles, the status line, the new `rendered` and the changes.

    Dash's renderer re-renders every component below a changed `children`: even a `Patch` of
    the tiles container re-rendered 48 tiles (1,200 components) every half second and kept a
    browser busy for about a second per refresh, so a new value took seconds to show. A prop
    set on one part re-renders that part alone."""
    with app_context.gc_paused():
        cells, status = _refresh()
        layout, live, digests = shown(cells)
        now_rendered = {"layout": layout, "parts": digests}
        if rendered is None or rendered.get("layout") != layout:
            return cells, status, now_rendered, {}
        was = rendered.get("parts") or {}
        changed = {part: live[part] for part, digest in digests.items() if was.get(part) != digest}
        return dash.no_update, status, now_rendered, changed


def publish(n_intervals: int | None, rendered: dict[str, Any] | None) -> tuple[Any, str, Any]:
    """The registered refresh (login-guarded like every server callback): `update`, its
    changes and new `rendered` handed to `APPLY_CHANGES` in the browser (none when nothing
    changed)."""
    tiles, status, now_rendered, changed = update(n_intervals, rendered)
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

# The props a refresh may change in place on a tile part with a string id (text, class, role,
# figure); any other change re-renders the tiles.
LIVE_PROPS: Final = ("children", "className", "role", "figure")


def shown(cells: list[Any]) -> tuple[str, dict[str, dict[str, Any]], dict[str, str]]:
    """What the tiles show, in three: a digest of their layout (which components in which
    order, with their fixed props); for each part with a string id, its live props (None where
    unset, so that setting them clears what was there); and a digest of those, by id."""
    live: dict[str, dict[str, Any]] = {}
    digests: dict[str, str] = {}
    layout = repr(_skeleton(cells, live, digests))
    return _hash(layout), live, digests


# Where a component keeps what `shown` made of it: the tiles' parts are built once per content
# and reused (`figures.PART_CACHE`), so each part is digested once, not every refresh. Dash
# sends only props, never attributes starting with "_" (`props_of`).
_SHOWN: Final = "_overview_shown"


def _skeleton(node: Any, live: dict[str, dict[str, Any]], digests: dict[str, str]) -> Any:
    if isinstance(node, list | tuple):
        return [_skeleton(child, live, digests) for child in node]
    if not isinstance(node, Component):
        return node
    memo = vars(node).get(_SHOWN)
    if memo is None:
        memo = _shown_component(node)
        setattr(node, _SHOWN, memo)
    skeleton, own_live, own_digests = memo
    live.update(own_live)
    digests.update(own_digests)
    return skeleton


def _shown_component(node: Component) -> tuple[str, dict[str, dict[str, Any]], dict[str, str]]:
    """`shown` of one component and what is below it, its layout as a digest."""
    live: dict[str, dict[str, Any]] = {}
    digests: dict[str, str] = {}
    props = props_of(node)
    if isinstance(props.get("id"), str):
        own = {name: props.pop(name, None) for name in LIVE_PROPS
               if name in node._prop_names and not _has_component(props.get(name))}
        live[props["id"]], digests[props["id"]] = own, _digest(own)
    layout = repr((node._type, {
        name: _skeleton(value, live, digests) if isinstance(value, list | tuple | Component)
        else value
        for name, value in props.items()}))
    return _hash(layout), live, digests


def props_of(component: Component) -> dict[str, Any]:
    """The props set on a component, as `to_plotly_json` gives them, at a third of its cost (a
    tenth of a refresh's CPU with 48 tiles): Dash keeps its own attributes under these
    prefixes."""
    return {name: value for name, value in vars(component).items()
            if not name.startswith(("_", "available_"))}


def _has_component(value: Any) -> bool:
    return isinstance(value, Component) or (
        isinstance(value, list | tuple) and any(isinstance(v, Component) for v in value))


def _digest(props: dict[str, Any]) -> str:
    # A sparkline's points are its content (spelling the whole figure costs more than all the
    # other parts together; its layout is fixed).
    figure = props.get("figure")
    return _hash(repr({**props, "figure": [(t["x"], t["y"]) for t in figure["data"]]}
                      if figure else props))


def _hash(text: str) -> str:
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
        Output(ids.OVERVIEW_CHANGES, "data"),
        Input(ids.OVERVIEW_INTERVAL, "n_intervals"),
        State(ids.OVERVIEW_RENDERED, "data"),
    )(publish)
    app.clientside_callback(
        APPLY_CHANGES,
        Output(ids.OVERVIEW_RENDERED, "data"),
        Input(ids.OVERVIEW_CHANGES, "data"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.OVERVIEW_FEEDBACK, "children"),
        Input({"type": ids.TILE_CHECKIN, "session": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(tile_check_in)
