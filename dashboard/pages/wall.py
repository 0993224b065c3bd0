"""Wall (`/wall`): the overview for a clinic's central screen, read from across the room.

Full screen, no navigation: the shell's header is hidden on this page (`dashboard.css`, "wall
mode"), its alarms panel stays on top. Every active session's tile in a grid sized by their
count (`grid`), numerals scaled with the tile. A heartbeat (`assets/wall.js`), drawn by the
browser itself, shows the clock and how long ago the screen last heard from the dashboard, and
"NOT UPDATING" once that is longer than the watchdog's threshold: a frozen screen shows it.

The tiles are the overview's, read, sent and wired the overview's way (`overview.read`,
`overview.changes`, `overview.register_tiles`), without the check-in buttons: checking in is
done at the bedside. The access rules are the overview's: any logged-in role.
"""

from __future__ import annotations

import math
from typing import Any

import dash
from dash import dcc, html

from dashboard import app_context, ids
from dashboard.pages import overview
from dashboard.tiles import TilesView
from dashboard.wiring import styles

PATH = "/wall"


def grid(count: int) -> tuple[int, int]:
    """(columns, rows) for `count` tiles filling a landscape screen: the most square grid
    with no empty row. A tile is about 1.6 times as wide as high and a wall screen 16:9, so
    a square grid of tiles fills it best."""
    columns = max(1, math.ceil(math.sqrt(count)))
    return columns, max(1, math.ceil(count / columns))


def grid_style(count: int) -> dict[str, str]:
    columns, rows = grid(count)
    return {"--wall-columns": str(columns), "--wall-rows": str(rows)}


def layout(**_query: Any) -> html.Div:
    context = app_context.current()
    return html.Div(className="page page--wall", children=[
        dcc.Interval(id=ids.WALL_INTERVAL, interval=context.refresh_ms, n_intervals=0),
        dcc.Store(id=ids.WALL_RENDERED, data=None),
        dcc.Store(id=ids.WALL_CHANGES, data=None),
        html.Div(className="wall-bar", children=[
            html.H1("Session vitals", className="wall-title"),
            html.Div(id=ids.WALL_STATUS, className="wall-status"),
            html.Div(id=ids.WALL_HEARTBEAT, className="wall-heartbeat", role="status",
                     children=[html.Span(id=ids.WALL_CLOCK, className="wall-clock"),
                               html.Span(id=ids.WALL_AGE, className="wall-age")]),
        ]),
        html.Div(id=ids.WALL_TILES, className="tiles wall-tiles", style=grid_style(1)),
    ])


def publish(_n_intervals: int | None, rendered: dict[str, Any] | None
            ) -> tuple[Any, Any, Any, Any]:
    """The tiles, the status line, the changed parts (`overview.pending`) and the grid, which
    changes only with the tiles' layout (a new style re-renders every tile)."""
    with app_context.gc_paused():
        view, status = overview.read(buttons=False)
        tiles, status, now_rendered, changed = overview.changes(view, status, rendered)
    style = dash.no_update if tiles is dash.no_update else grid_style(
        len(view.tiles) if isinstance(view, TilesView) else 1)
    return (*overview.pending(tiles, status, now_rendered, changed), style)


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Wall", title="Vitals — wall",
                       layout=layout, order=5)
    overview.register_tiles(app, publish, interval=ids.WALL_INTERVAL, tiles=ids.WALL_TILES,
                            status=ids.WALL_STATUS, changes=ids.WALL_CHANGES,
                            rendered=ids.WALL_RENDERED, more=styles(ids.WALL_TILES))
