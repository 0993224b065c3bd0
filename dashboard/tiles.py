"""The overview's tiles, pure: a session's row (`queries.overview_rows`) in, first as plain data
(`TileView`, what a refresh may change and its version), then as Dash components built from
the same data (`render_tiles`), and each tile's sparkline.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any, Final

from dash import dcc, html

from dashboard import ids
from dashboard.components import label_of, session_name
from dashboard.observations import Checkin, checkin_badge
from dashboard.texts import (
    age_text,
    alarm_text,
    dose_text,
    missing,
    number,
    stale_text,
)
from vitals.alerts import Priority
from vitals.readings import Reading
from vitals.vital_signs import SIGNS, VITAL_SIGNS, Kind, VitalSign

SPARKLINE_PX: Final = 56


# A tile is first plain data (`TileView`): for each part a refresh may change (a numeral, an
# age, a class, the alarm's text and role, the sparkline), its live props by the part's id and
# a version that changes exactly when they do. The overview sends the browser only the parts
# whose version it has not shown yet (`pages/overview.py`) and builds the components, from the
# same data, only when the tiles' layout changes: what is set in place and what a whole render
# shows cannot disagree.
TREND_CACHE: Final = 128  # sparklines of ~128 tiles, each the current trend only


@dataclass(frozen=True)
class TilePart:
    """The live props of one part of a tile, every one of them (None where unset, so that
    setting them in place clears what was there), and their version."""

    props: Mapping[str, Any]
    version: str


def _version(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _part(**props: Any) -> TilePart:
    return TilePart(props, _version(repr(props)))


@dataclass(frozen=True)
class TileView:
    """One active session's tile as plain data."""

    session: str
    label: str | None  # the display label, in the tile's head (its layout: set at start)
    parts: Mapping[str, TilePart]  # by the part's id
    checkin: bool  # shows the check-in line
    trend: bool  # shows a sparkline
    vitals: tuple[Kind, ...] = tuple(s.kind for s in VITAL_SIGNS if not s.optional)


@dataclass(frozen=True)
class TilesView:
    """The overview's tiles as plain data (`tile_views`)."""

    tiles: tuple[TileView, ...]
    buttons: bool  # a check-in button beside each tile

    @property
    def layout(self) -> str:
        """The version of what the tiles are made of (which tiles in which order, which parts),
        apart from the live props of their parts."""
        return _version(repr((self.buttons, [(t.session, t.label, t.checkin, t.trend, t.vitals)
                                             for t in self.tiles])))

    def parts(self) -> Iterator[tuple[str, TilePart]]:
        for view in self.tiles:
            yield from view.parts.items()


class _Same:
    """A value as a cache key by identity (a sparkline's trend: a list, rebuilt by
    `caches.TrendCache` only when it refetches), holding it so that its id stays its own."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value


@functools.lru_cache(maxsize=TREND_CACHE)
def _trend_part(trend: _Same) -> TilePart:
    # Built and versioned once per trend: spelling a figure costs more than all the other parts
    # of a refresh together.
    figure = sparkline(trend.value)
    return TilePart({"figure": figure}, _version(repr(figure["data"])))


def _alarm_part(row: Mapping[str, Any], priority: str | None, acked_by: str | None,
                zone: tzinfo) -> TilePart:
    if priority is None:
        return _part(children="✓ No active alarm", className="tile-alarm tile-alarm--none",
                     role=None)
    alarm_count = 0 if missing(row.get("alarm_count")) else int(row["alarm_count"])
    more = f"  (+{alarm_count - 1} more)" if alarm_count > 1 else ""
    text = alarm_text(
        priority, str(row.get("alarm_message") or ""),
        None if missing(row.get("alarm_metric")) else str(row["alarm_metric"]),
        acked_by=acked_by, value=row.get("alarm_value"), now=row.get("alarm_now"),
        ended=row.get("alarm_ended"), zone=zone) + more
    if acked_by is not None:  # present but seen: no alert role, no flashing (as in the panel)
        return _part(children=text, role=None,
                     className=f"tile-alarm tile-alarm--{priority} tile-alarm--acked")
    return _part(children=text, className=f"tile-alarm tile-alarm--{priority}", role="alert")


def tile_view(row: Mapping[str, Any], trend: Sequence[Reading] | None = None,
              checkin: Checkin | None = None, zone: tzinfo = UTC) -> TileView:
    """One active session on the overview (a row of `queries.overview_rows`): big numbers,
    freshness, dose time, top alarm, and (with `checkin`) when the monitor last checked in;
    clock times on the clinic's clock (`zone`)."""
    session = str(row["session"])
    priority = None if missing(row.get("alarm_priority")) else str(row["alarm_priority"])
    acked_by = None if missing(row.get("alarm_acked_by")) else str(row["alarm_acked_by"])
    parts = {
        ids.tile(session): _part(className="tile" + (
            f" tile--alarm tile--{priority}" + (" tile--acked" if acked_by is not None else "")
            if priority else "")),
        ids.tile_dose(session): _part(children=dose_text(row.get("since_dose_min"))),
        ids.tile_alarm(session): _alarm_part(row, priority, acked_by, zone),
    }
    vitals = tile_vitals(row)
    levels = row.get("alarm_levels") or {}
    for sign in vitals:
        what = sign.kind.value
        # Blood pressure as monitors write it, "150/95"; every other sign one number.
        value = "/".join(number(row.get(m.metric.value)) for m in sign.measures)
        age_s, stale = row.get(f"{what}_age_s"), bool(row.get(f"{what}_stale"))
        note = stale_text(sign.short, age_s) if stale else age_text(age_s)
        source = row.get(f"{what}_source")
        if not missing(source):  # which device, where several measure it (issue 17)
            note = f"{note} · {source}"
        level = vital_alarm(sign, levels)
        parts[ids.tile_vital(session, what)] = _part(
            className=f"vital vital--{what}" + (" vital--stale" if stale else "")
            + (f" vital--alarm vital--alarm-{level}" if level else ""))
        parts[ids.tile_value(session, what)] = _part(children=value)
        parts[ids.tile_age(session, what)] = _part(children=("⚠ " if stale else "") + note)
    if checkin is not None:
        # Its words, colour and role are the check-in badge's to decide; read as its props.
        badge = checkin_badge(checkin, None if missing(row.get("checkin_by"))
                              else str(row["checkin_by"]))
        parts[ids.tile_checkin_status(session)] = _part(
            children=badge.children, className=badge.className,
            role=getattr(badge, "role", None))
    if trend:
        parts[ids.tile_trend(session)] = _trend_part(_Same(trend))
    return TileView(session, label_of(row), parts, checkin is not None, bool(trend),
                    tuple(sign.kind for sign in vitals))


def vital_alarm(sign: VitalSign, levels: Mapping[str, str]) -> str | None:
    """The priority of the most urgent alarm present on any of the sign's measures (`levels`:
    metric -> priority, `queries.overview_rows`' "alarm_levels"), or None: the tile shows its
    value in that priority's colour."""
    found = [Priority(levels[m.metric.value]) for m in sign.measures if m.metric.value in levels]
    return max(found, key=lambda p: p.rank).value if found else None


def tile_vitals(row: Mapping[str, Any]) -> tuple[VitalSign, ...]:
    """The vital signs a session's tile shows: every one a session must have, and an optional
    one (respiratory rate) once the session has a reading of it."""
    return tuple(s for s in VITAL_SIGNS
                 if not s.optional or not missing(row.get(f"{s.kind}_time")))


def tile_views(overview: Sequence[Mapping[str, Any]],
               trends: Mapping[str, Sequence[Reading]] | None = None,
               checkins: Mapping[str, Checkin] | None = None,
               zone: tzinfo = UTC) -> TilesView:
    """Every active session's tile (`queries.overview_rows`) as plain data. With `checkins`
    (session -> status), each tile shows its check-in countdown and has a compact check-in
    button beside the link (a button inside a link would navigate)."""
    trends, known = trends or {}, checkins or {}
    return TilesView(tuple(tile_view(row, trends.get(str(row["session"])),
                                     known.get(str(row["session"])), zone)
                           for row in overview), checkins is not None)


@functools.cache
def _vital_label(label: str, unit: str) -> html.Div:
    # The same three labels on every tile: built once and shared (never changed once built).
    return html.Div(className="vital-label", children=[label, html.Span(unit, className="unit")])


def render_tile(view: TileView) -> dcc.Link:
    """The components of one tile, with the live props of its parts."""
    session = view.session

    def live(part_id: str) -> dict[str, Any]:
        return {"id": part_id, **view.parts[part_id].props}

    children: list[Any] = [
        html.Div(className="tile-head", children=[
            # A heading: the overview's outline (#19).
            html.H3(session_name(session, view.label), className="tile-session"),
            html.Span(**live(ids.tile_dose(session)), className="tile-dose"),
        ]),
        html.Div(**live(ids.tile_alarm(session))),
        html.Div(className="tile-vitals", children=[
            # Its colour, the registry's: `dashboard.css` colours a vital by `--vital`.
            html.Div(**live(ids.tile_vital(session, kind)),
                     style={"--vital": SIGNS[kind].measures[0].colour}, children=[
                _vital_label(SIGNS[kind].short, SIGNS[kind].unit),
                html.Div(**live(ids.tile_value(session, kind)), className="vital-value"),
                html.Div(**live(ids.tile_age(session, kind)), className="vital-age"),
            ]) for kind in view.vitals]),
    ]
    if view.checkin:
        children.append(html.Div(**live(ids.tile_checkin_status(session))))
    if view.trend:
        children.append(dcc.Graph(
            **live(ids.tile_trend(session)),
            config={"staticPlot": True, "displayModeBar": False},
            className="tile-trend",
            responsive=True,
            style={"height": f"{SPARKLINE_PX}px", "width": "100%"},  # inline: beats Dash's 100%
        ))
    return dcc.Link(href=f"/session/{session}", children=children, **live(ids.tile(session)))


def render_tiles(view: TilesView) -> list[Any]:
    """The overview's tiles (`tile_views`) as components, or the empty state."""
    if not view.tiles:
        return [empty_state()]
    if not view.buttons:
        return [render_tile(tile) for tile in view.tiles]
    return [html.Div(className="tile-cell", children=[
        render_tile(tile),
        html.Button("✓ I'm here — check in", id={"type": ids.TILE_CHECKIN, "session": tile.session},
                    className="tile-checkin-button", n_clicks=0),
    ]) for tile in view.tiles]


def tile(row: Mapping[str, Any], trend: Sequence[Reading] | None = None,
         checkin: Checkin | None = None) -> dcc.Link:
    """One tile's components (`tile_view`)."""
    return render_tile(tile_view(row, trend, checkin))


def tiles(overview: Sequence[Mapping[str, Any]],
          trends: Mapping[str, Sequence[Reading]] | None = None,
          checkins: Mapping[str, Checkin] | None = None) -> list[Any]:
    """The tiles' components (`tile_views`), or the empty state."""
    return render_tiles(tile_views(overview, trends, checkins))


def empty_state() -> html.Div:
    return html.Div(className="empty", children=[
        html.Div("No active sessions", className="empty-title"),
        html.Div(["A session appears here with its first reading. To try the dashboard, run ",
                  html.Code("vitals simulate"), " (or ", html.Code("vitals demo"), ")."],
                 className="empty-hint"),
    ])


def store_error(message: str) -> html.Div:
    """What the overview shows when the database cannot be read: never a silent blank wall."""
    return html.Div(className="tile tile--alarm tile--high store-error", role="alert", children=[
        html.Div("▲ TECHNICAL — cannot read vitals from the database", className="tile-alarm"),
        html.Div(message, className="empty-hint"),
        html.Div("Values are not updating. Watch the patients and the devices directly.",
                 className="empty-hint"),
    ])


def sparkline(trend: Sequence[Reading]) -> dict[str, Any]:
    """A tiny trend of each vital sign's main field for a tile (no axes, no interaction).

    A plain figure dict built from the readings, not a `go.Figure` from a frame: plotly's
    validation cost ~35 ms a tile, most of an overview refresh's budget with 48 tiles. The x
    axis (hidden) is whole seconds since the trend's first point, not ISO strings: a third of
    the bytes of an overview refresh, and time to format.
    """
    traces = []
    origin = min((r.time for r in trend), default=None)
    series = ((s.kind, s.main_field, s.measures[0].colour) for s in VITAL_SIGNS)
    for kind, field, colour in series:
        points = [(r.time, r.values[field]) for r in trend
                  if r.kind is kind and field in r.values]
        if not points:
            continue
        # Each series scaled to its own panel range so the units share a few pixels of height.
        low, high = SIGNS[kind].chart.axis
        traces.append({
            "type": "scatter", "mode": "lines",
            "x": [int((t - origin).total_seconds()) for t, _ in points],
            "y": [round((v - low) / (high - low), 4) for _, v in points],
            "line": {"color": colour, "width": 2, "shape": "hv" if kind is Kind.BP else "linear"},
            "hoverinfo": "skip", "showlegend": False,
        })
    return {"data": traces, "layout": {
        "height": SPARKLINE_PX, "margin": {"l": 0, "r": 0, "t": 2, "b": 2},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "xaxis": {"visible": False}, "yaxis": {"visible": False, "range": [0, 1]},
    }}
