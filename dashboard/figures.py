"""Pure functions: frames (`frames.py`) and overview rows (`queries.py`) in, plotly figures and
Dash components out.

No store, no request, no clock: whatever time matters arrives as an argument, so every function
here is tested by calling it.

Alarm presentation follows the IEC 60601-1-8 convention monitors use: high red flashing fast,
medium yellow flashing slowly, low cyan steady; colour is never the only signal (every alarm
also has its priority and message as text).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html
from plotly.subplots import make_subplots

from dashboard import ids
from dashboard.observations import SEVERITY_PRIORITY, Checkin, checkin_badge
from dashboard.queries import HR_SOURCES
from vitals.alerts import AlertEvent, AlertState
from vitals.profile import source_label
from vitals.readings import Kind, Reading

DISCLAIMER: Final = (
    "Decision support only — not a certified medical device. A trained monitor must be present."
)

# Trace colours, as bedside monitors use them: HR green, SpO2 blue, NIBP white.
COLOUR: Final[Mapping[str, str]] = {
    "systolic": "#f1f5f9",
    "diastolic": "#94a3b8",
    "hr": "#4ade80",
    "spo2": "#60a5fa",
    "high": "#ef4444",
    "medium": "#facc15",
    "low": "#22d3ee",
    "grid": "#1f2937",
    "text": "#e5e7eb",
    "muted": "#6b7280",
    "event": "#c084fc",
}

ALARM_LABEL: Final[Mapping[str, str]] = {
    "high": "▲ HIGH",
    "medium": "◆ MEDIUM",
    "low": "● LOW",
}

METRIC_LABEL: Final[Mapping[str, str]] = {
    "systolic": "Systolic",
    "diastolic": "Diastolic",
    "heart_rate": "Heart rate",
    "spo2": "SpO2",
    "data": "Data",
    "observation": "Observation",
}


@dataclass(frozen=True, slots=True)
class Limit:
    """A guidance limit drawn on a trend: which panel, where, what it means, how urgent."""

    panel: str  # "bp", "hr", "spo2"
    value: float
    label: str
    priority: str


# The default profile's limits (clinical guidance); drawn as lines, the high ones also as bands.
LIMITS: Final[tuple[Limit, ...]] = (
    Limit("bp", 160, "SBP 160", "medium"),
    Limit("bp", 180, "SBP 180", "high"),
    Limit("bp", 100, "DBP 100", "medium"),
    Limit("bp", 110, "DBP 110", "high"),
    Limit("hr", 50, "HR 50", "medium"),
    Limit("hr", 100, "HR 100", "low"),
    Limit("hr", 120, "HR 120", "medium"),
    Limit("spo2", 92, "SpO2 92", "medium"),
    Limit("spo2", 90, "SpO2 90", "high"),
)

SPARKLINE_PX: Final = 56
SHORT_NAME: Final[Mapping[str, str]] = {
    "systolic": "SBP", "diastolic": "DBP", "heart_rate": "HR", "spo2": "SpO2",
}


def limits_from_profile(profile: Any) -> tuple[Limit, ...]:
    """The fixed-threshold rules of an alert profile (`vitals.profile.Profile`) as limit lines;
    the guidance defaults when there is none. Baseline-relative rules have no fixed line."""
    if profile is None or not hasattr(profile, "rules"):
        return LIMITS
    limits = []
    for rule in profile.rules.values():
        metric = str(getattr(rule.metric, "value", rule.metric))
        if not rule.enabled or rule.threshold is None or metric not in SHORT_NAME:
            continue
        priority = str(getattr(rule.priority, "value", rule.priority))
        limits.append(Limit(METRIC_PANEL[metric], float(rule.threshold),
                            f"{SHORT_NAME[metric]} {rule.threshold:g}", priority))
    # One line per (panel, value): the most urgent rule names it.
    best: dict[tuple[str, float], Limit] = {}
    rank = {"low": 1, "medium": 2, "high": 3}
    for limit in limits:
        key = (limit.panel, limit.value)
        if key not in best or rank.get(limit.priority, 0) > rank.get(best[key].priority, 0):
            best[key] = limit
    return tuple(best.values())


PANELS: Final = ("bp", "hr", "spo2")
PANEL_TITLE: Final[Mapping[str, str]] = {
    "bp": "Blood pressure (mmHg)",
    "hr": "Heart rate (/min)",
    "spo2": "SpO2 (%)",
}
PANEL_RANGE: Final[Mapping[str, tuple[float, float]]] = {
    "bp": (40, 220),
    "hr": (30, 160),
    "spo2": (80, 101),
}
METRIC_PANEL: Final[Mapping[str, str]] = {
    "systolic": "bp",
    "diastolic": "bp",
    "heart_rate": "hr",
    "spo2": "spo2",
    "data": "bp",
    "observation": "bp",
}


# --- text --------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def number(value: Any) -> str:
    """A measured value as a monitor shows it: whole numbers, a dash when there is none."""
    return "—" if _missing(value) else f"{float(value):.0f}"


def duration(seconds: float) -> str:
    """A short human duration: 12 s, 4 min, 1 h 05 min."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def age_text(seconds: Any) -> str:
    """How long ago a value was measured; ages under 5 s (or in the future) are "just now"."""
    if _missing(seconds):
        return ""
    return "just now" if float(seconds) < 5 else f"{duration(seconds)} ago"


def stale_text(label: str, seconds: Any) -> str:
    """What a stale value says instead of its age: "no BP for 12 min" / "no BP yet"."""
    if _missing(seconds):
        return f"no {label} yet"
    return f"no {label} for {duration(seconds)}"


def dose_text(since_dose_min: Any) -> str:
    if _missing(since_dose_min):
        return "No dose recorded"
    return f"Dose +{math.floor(float(since_dose_min)):d} min"


def alarm_text(priority: str, message: str, metric: str | None = None, *,
               acked_by: str | None = None, value: Any = None, now: Any = None,
               ended: Any = None) -> str:
    """The words that go with an alarm's colour: "▲ HIGH — Systolic 186 mmHg: ...", with the
    metric's latest value when it differs from the one that raised the alarm ("now 193"),
    "acknowledged, silenced" for an alarm acknowledged while its condition persists, and for a
    latched technical alarm whose cause is gone, when it ended."""
    label = ALARM_LABEL.get(priority, priority.upper())
    body = message or METRIC_LABEL.get(metric or "", metric or "alarm")
    if not _missing(now) and not _missing(value) and number(now) != number(value):
        body += f" — now {number(now)}"
    if not _missing(ended):
        body += f" · {ended_text(ended)}"
    if acked_by is not None:
        body += f" · ✔ acknowledged by {acked_by}, silenced until its condition ends"
    return f"{label} — {body}"


def ended_text(ended: Any) -> str:
    """A latched technical alarm's cause is gone; only an acknowledgement clears it."""
    return f"ended at {ended:%H:%M} — acknowledge to clear"


# --- overview tiles ----------------------------------------------------------------------------

# A tile is first plain data (`TileView`): for each part a refresh may change (a numeral, an
# age, a class, the alarm's text and role, the sparkline), its live props by the part's id and
# a version that changes exactly when they do. The overview sends the browser only the parts
# whose version it has not shown yet (`pages/overview.py`) and builds the components, from the
# same data, only when the tiles' layout changes: what is set in place and what a whole render
# shows cannot disagree.
TREND_CACHE: Final = 128  # sparklines of ~128 tiles, each the current trend only
VITALS: Final = (("bp", "BP", "mmHg"), ("hr", "HR", "/min"), ("spo2", "SpO2", "%"))


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
    parts: Mapping[str, TilePart]  # by the part's id
    checkin: bool  # shows the check-in line
    trend: bool  # shows a sparkline


@dataclass(frozen=True)
class TilesView:
    """The overview's tiles as plain data (`tile_views`)."""

    tiles: tuple[TileView, ...]
    buttons: bool  # a check-in button beside each tile

    @property
    def layout(self) -> str:
        """The version of what the tiles are made of (which tiles in which order, which parts),
        apart from the live props of their parts."""
        return _version(repr((self.buttons, [(t.session, t.checkin, t.trend)
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


def _alarm_part(row: Mapping[str, Any], priority: str | None, acked_by: str | None) -> TilePart:
    if priority is None:
        return _part(children="✓ No active alarm", className="tile-alarm tile-alarm--none",
                     role=None)
    alarm_count = 0 if _missing(row.get("alarm_count")) else int(row["alarm_count"])
    more = f"  (+{alarm_count - 1} more)" if alarm_count > 1 else ""
    text = alarm_text(
        priority, str(row.get("alarm_message") or ""),
        None if _missing(row.get("alarm_metric")) else str(row["alarm_metric"]),
        acked_by=acked_by, value=row.get("alarm_value"), now=row.get("alarm_now"),
        ended=row.get("alarm_ended")) + more
    if acked_by is not None:  # present but seen: no alert role, no flashing (as in the panel)
        return _part(children=text, role=None,
                     className=f"tile-alarm tile-alarm--{priority} tile-alarm--acked")
    return _part(children=text, className=f"tile-alarm tile-alarm--{priority}", role="alert")


def tile_view(row: Mapping[str, Any], trend: Sequence[Reading] | None = None,
              checkin: Checkin | None = None) -> TileView:
    """One active session on the overview (a row of `queries.overview_rows`): big numbers,
    freshness, dose time, top alarm, and (with `checkin`) when the monitor last checked in."""
    session = str(row["session"])
    priority = None if _missing(row.get("alarm_priority")) else str(row["alarm_priority"])
    acked_by = None if _missing(row.get("alarm_acked_by")) else str(row["alarm_acked_by"])
    parts = {
        ids.tile(session): _part(className="tile" + (
            f" tile--alarm tile--{priority}" + (" tile--acked" if acked_by is not None else "")
            if priority else "")),
        ids.tile_dose(session): _part(children=dose_text(row.get("since_dose_min"))),
        ids.tile_alarm(session): _alarm_part(row, priority, acked_by),
    }
    bp = ("—/—" if _missing(row.get("systolic"))
          else f"{number(row['systolic'])}/{number(row['diastolic'])}")
    for (what, label, _unit), value, source in zip(
            VITALS, (bp, number(row.get("hr")), number(row.get("spo2"))),
            (None, row.get("hr_source"), None), strict=True):
        age_s, stale = row.get(f"{what}_age_s"), bool(row.get(f"{what}_stale"))
        note = stale_text(label, age_s) if stale else age_text(age_s)
        if not _missing(source):  # which device, where several measure it (issue 17)
            note = f"{note} · {source}"
        parts[ids.tile_vital(session, what)] = _part(
            className=f"vital vital--{what}" + (" vital--stale" if stale else ""))
        parts[ids.tile_value(session, what)] = _part(children=value)
        parts[ids.tile_age(session, what)] = _part(children=("⚠ " if stale else "") + note)
    if checkin is not None:
        # Its words, colour and role are the check-in badge's to decide; read as its props.
        badge = checkin_badge(checkin, None if _missing(row.get("checkin_by"))
                              else str(row["checkin_by"]))
        parts[ids.tile_checkin_status(session)] = _part(
            children=badge.children, className=badge.className,
            role=getattr(badge, "role", None))
    if trend:
        parts[ids.tile_trend(session)] = _trend_part(_Same(trend))
    return TileView(session, parts, checkin is not None, bool(trend))


def tile_views(overview: Sequence[Mapping[str, Any]],
               trends: Mapping[str, Sequence[Reading]] | None = None,
               checkins: Mapping[str, Checkin] | None = None) -> TilesView:
    """Every active session's tile (`queries.overview_rows`) as plain data. With `checkins`
    (session -> status), each tile shows its check-in countdown and has a compact check-in
    button beside the link (a button inside a link would navigate)."""
    trends, known = trends or {}, checkins or {}
    return TilesView(tuple(tile_view(row, trends.get(str(row["session"])),
                                     known.get(str(row["session"])))
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
            html.Span(session, className="tile-session"),
            html.Span(**live(ids.tile_dose(session)), className="tile-dose"),
        ]),
        html.Div(**live(ids.tile_alarm(session))),
        html.Div(className="tile-vitals", children=[
            html.Div(**live(ids.tile_vital(session, what)), children=[
                _vital_label(label, unit),
                html.Div(**live(ids.tile_value(session, what)), className="vital-value"),
                html.Div(**live(ids.tile_age(session, what)), className="vital-age"),
            ]) for what, label, unit in VITALS]),
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
    """A tiny trend of systolic BP, HR and SpO2 for a tile (no axes, no interaction).

    A plain figure dict built from the readings, not a `go.Figure` from a frame: plotly's
    validation cost ~35 ms a tile, most of an overview refresh's budget with 48 tiles. The x
    axis (hidden) is whole seconds since the trend's first point, not ISO strings: a third of
    the bytes of an overview refresh, and time to format.
    """
    traces = []
    origin = min((r.time for r in trend), default=None)
    series = ((Kind.BP, "systolic", COLOUR["systolic"]), (Kind.HR, "bpm", COLOUR["hr"]),
              (Kind.SPO2, "spo2", COLOUR["spo2"]))
    for kind, field, colour in series:
        points = [(r.time, r.values[field]) for r in trend
                  if r.kind is kind and field in r.values]
        if not points:
            continue
        # Each series scaled to its own panel range so three units share a few pixels of height.
        low, high = PANEL_RANGE[kind.value]
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


# --- session view ------------------------------------------------------------------------------


def minutes_from(times: pd.Series, origin: pd.Timestamp | None) -> pd.Series:
    """Minutes since `origin` (negative before it); the x axis of the session view."""
    if origin is None or times.empty:
        return pd.Series([], dtype="float64")
    return (times - origin).dt.total_seconds() / 60


def session_figure(
    readings: pd.DataFrame,
    events: pd.DataFrame,
    alerts: pd.DataFrame,
    origin: pd.Timestamp | None,
    origin_label: str = "dose",
    limits: Sequence[Limit] = LIMITS,
    marks: tuple[Sequence[dict[str, Any]], Sequence[dict[str, Any]]] = ((), ()),
    observations: pd.DataFrame | None = None,
    hr_sources: Sequence[str] = HR_SOURCES,
) -> go.Figure:
    """BP, HR and SpO2 over session time, with limit lines, session events, alarms and the
    monitor's observations (`frames.observations_frame`); `marks`: extra (shapes, labels),
    e.g. `reassessment_marks`. Heart rate: one line per source ("kind.field", in rank order:
    the first solid, the fallbacks thinner and dotted), each named by its device."""
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
        row_heights=[0.46, 0.30, 0.24],
        subplot_titles=[PANEL_TITLE[p] for p in PANELS],
    )
    row_of = {panel: i + 1 for i, panel in enumerate(PANELS)}

    # Shapes and labels as plain dicts, set once at the end: plotly's add_hline/add_vrect
    # re-validate every shape on each call, which made a refresh take most of a second.
    shapes: list[dict[str, Any]] = [*marks[0]]
    labels: list[dict[str, Any]] = [*marks[1]]
    for limit in limits:
        colour = COLOUR.get(limit.priority, COLOUR["muted"])
        row = row_of[limit.panel]
        # Low limits are context, not news: a faint dotted line without a label keeps the
        # medium and high labels readable.
        low = limit.priority == "low"
        shapes.append({
            "type": "line", "xref": f"{_axis('x', row)} domain", "yref": _axis("y", row),
            "x0": 0, "x1": 1, "y0": limit.value, "y1": limit.value,
            "line": {"color": colour, "width": 1,
                     "dash": {"high": "solid", "medium": "dash"}.get(limit.priority, "dot")},
            "opacity": 0.45 if low else 1.0,
        })
        if not low:
            labels.append({
                "text": limit.label, "xref": f"{_axis('x', row)} domain", "x": 0,
                "xanchor": "left", "yref": _axis("y", row), "y": limit.value,
                "yanchor": "bottom", "showarrow": False,
                "font": {"color": colour, "size": 11},
            })
    # The crisis ranges as faint bands, so a value inside one reads as "bad" at a glance.
    for row, (y0, y1) in ((1, (180, PANEL_RANGE["bp"][1])), (3, (PANEL_RANGE["spo2"][0], 90))):
        shapes.append({"type": "rect", "xref": f"{_axis('x', row)} domain",
                       "yref": _axis("y", row), "x0": 0, "x1": 1, "y0": y0, "y1": y1,
                       "fillcolor": COLOUR["high"], "opacity": 0.08, "line": {"width": 0},
                       "layer": "below"})

    if origin is not None and not readings.empty:
        x = minutes_from(readings["time"], origin)
        frame = readings.assign(x=x.values)
        _trace(fig, frame, "bp", "systolic", "Systolic", COLOUR["systolic"], 1, "mmHg")
        _trace(fig, frame, "bp", "diastolic", "Diastolic", COLOUR["diastolic"], 1, "mmHg")
        for rank, source in enumerate(hr_sources):
            kind, _, name = source.partition(".")
            _trace(fig, frame, kind, name, f"Heart rate ({source_label(source)})", COLOUR["hr"],
                   2, "/min", fallback=rank > 0)
        _trace(fig, frame, "spo2", "spo2", "SpO2", COLOUR["spo2"], 3, "%")

    if origin is not None:
        for event in events.to_dict("records"):
            at = float(minutes_from(pd.Series([event["time"]]), origin).iloc[0])
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": at, "x1": at,
                           "y0": 0, "y1": 1,
                           "line": {"color": COLOUR["event"], "width": 1.5, "dash": "dot"}})
            labels.append({
                "x": at, "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "bottom",
                "showarrow": False, "text": str(event["event"]).upper(),
                "font": {"color": COLOUR["event"], "size": 12},
            })
        _alert_markers(fig, alerts, origin, row_of)
        _ack_markers(fig, alerts, origin, row_of)
        if observations is not None:
            _observation_markers(fig, observations, origin)
    fig.update_layout(shapes=shapes, annotations=[*fig.layout.annotations, *labels])

    fig.update_layout(
        template="plotly_dark", height=720, margin={"l": 60, "r": 20, "t": 50, "b": 50},
        paper_bgcolor="#0b0f14", plot_bgcolor="#0f151c",
        font={"color": COLOUR["text"], "size": 14},
        legend={"orientation": "h", "y": -0.08},
        hovermode="x unified", uirevision="session",
    )
    for panel, row in row_of.items():
        fig.update_yaxes(range=list(PANEL_RANGE[panel]), row=row, col=1,
                         gridcolor=COLOUR["grid"])
    fig.update_xaxes(gridcolor=COLOUR["grid"])
    fig.update_xaxes(title_text=f"minutes since {origin_label}", row=3, col=1)
    return fig


# The screen's colours on paper: dark-on-light equivalents (a white systolic line vanishes on a
# white page; yellow is unreadable on it).
PRINT_COLOUR: Final[Mapping[str, str]] = {
    COLOUR["systolic"]: "#111827", COLOUR["diastolic"]: "#6b7280", COLOUR["hr"]: "#15803d",
    COLOUR["spo2"]: "#1d4ed8", COLOUR["high"]: "#b91c1c", COLOUR["medium"]: "#b45309",
    COLOUR["low"]: "#0e7490", COLOUR["grid"]: "#e5e7eb", COLOUR["text"]: "#111827",
    COLOUR["event"]: "#7e22ce",
}


def printable_figure(fig: go.Figure, height: int = 560) -> go.Figure:
    """The session figure for a printed report: light background, dark traces, no hover."""
    def recolour(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: recolour(v) for k, v in value.items()}
        if isinstance(value, list):
            return [recolour(v) for v in value]
        return PRINT_COLOUR.get(value, value) if isinstance(value, str) else value

    printed = go.Figure(recolour(fig.to_dict()))
    printed.update_layout(template="plotly_white", paper_bgcolor="#ffffff",
                          plot_bgcolor="#ffffff", font={"color": "#111827", "size": 11},
                          height=height, hovermode=False,
                          margin={"l": 50, "r": 10, "t": 40, "b": 40})
    return printed


def chart_minutes(minutes: Any) -> list[float]:
    """Minutes of session time as the chart's x values: to the millisecond, as a plain list."""
    return [round(float(m), 5) for m in minutes]


def _trace(fig: go.Figure, frame: pd.DataFrame, kind: str, field: str, name: str, colour: str,
           row: int, unit: str, fallback: bool = False) -> None:
    if field not in frame:
        return
    part = frame[(frame["kind"] == kind) & frame[field].notna()]
    if part.empty:
        return
    line = ({"color": colour, "width": 1.5, "dash": "dot"} if fallback
            else {"color": colour, "width": 2.5})
    fig.add_trace(
        go.Scatter(
            # Plain lists, not arrays (which plotly sends base64-encoded): the session view
            # extends these traces in the browser (`dash.Patch`), which needs JSON arrays.
            x=chart_minutes(part["x"]), y=part[field].tolist(), name=name,
            meta={"reading": [kind, field]},  # which readings extend it (`session.draw`)
            mode="lines+markers" if kind == "bp" else "lines",
            line=line, marker={"size": 6 if fallback else 8},
            hovertemplate=f"{name} %{{y:.0f}} {unit}<extra></extra>",
        ),
        row=row, col=1,
    )


def _alert_markers(fig: go.Figure, alerts: pd.DataFrame, origin: pd.Timestamp,
                   row_of: Mapping[str, int]) -> None:
    raised = alerts[alerts["state"] == "active"]
    if "ended" in raised:  # a latched technical alarm saying its cause ended raises nothing
        raised = raised[raised["ended"].isna()]
    for priority in ("low", "medium", "high"):
        for panel, row in row_of.items():
            part = raised[(raised["priority"] == priority)
                          & (raised["metric"].map(METRIC_PANEL) == panel)]
            if part.empty:
                continue
            # Technical alarms have no value: pin them to the top of the panel.
            y = part["value"].where(part["value"].notna(), PANEL_RANGE[panel][1] - 5)
            fig.add_trace(
                go.Scatter(
                    x=minutes_from(part["time"], origin), y=y, mode="markers",
                    name=f"{priority} alarm", legendgroup=f"alarm-{priority}",
                    showlegend=False,
                    marker={"symbol": "triangle-up", "size": 14, "color": COLOUR[priority],
                            "line": {"color": "#000", "width": 1}},
                    text=part["message"], hovertemplate="%{text}<extra></extra>",
                ),
                row=row, col=1,
            )


OBSERVATION_Y: Final = PANEL_RANGE["bp"][0] + 8  # along the foot of the BP panel, clear of data
OBSERVATION_COLOUR: Final[Mapping[str, str]] = {
    "none": COLOUR["muted"], "low": COLOUR["low"], "medium": COLOUR["medium"],
    "high": COLOUR["high"],
}


def _observation_markers(fig: go.Figure, observations: pd.DataFrame,
                         origin: pd.Timestamp) -> None:
    """One diamond per observation at the foot of the BP panel, in its severity's colour, with
    what, how severe, who and the note on hover."""
    if observations.empty:
        return
    colours = [OBSERVATION_COLOUR[SEVERITY_PRIORITY.get(s, "none")]
               for s in observations["severity"]]
    text = (observations["label"] + " (" + observations["severity"] + ")"
            + observations["by"].fillna("").map(lambda b: f" by {b}" if b else "")
            + observations["note"].fillna("").map(lambda n: f": {n}" if n else ""))
    fig.add_trace(
        go.Scatter(
            x=minutes_from(observations["time"], origin),
            y=[OBSERVATION_Y] * len(observations), mode="markers", name="Observations",
            marker={"symbol": "diamond", "size": 13, "color": colours,
                    "line": {"color": "#000", "width": 1}},
            text=text, hovertemplate="%{text}<extra></extra>",
        ),
        row=1, col=1,
    )


def _axis(letter: str, row: int) -> str:
    return letter if row == 1 else f"{letter}{row}"


def reassessment_marks(origin: pd.Timestamp | None, dosed: Any, at_minutes: float,
                       window_minutes: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ~40-minute reassessment cue as (shapes, labels) for `session_figure(marks=...)`:
    a shaded window and a label."""
    if origin is None or _missing(dosed):
        return [], []
    centre = float((pd.Timestamp(dosed) - origin).total_seconds() / 60 + at_minutes)
    band = {"type": "rect", "xref": "x", "yref": "paper", "x0": centre - window_minutes,
            "x1": centre + window_minutes, "y0": 0, "y1": 1, "fillcolor": COLOUR["event"],
            "opacity": 0.10, "line": {"width": 0}, "layer": "below"}
    label = {"x": centre, "y": 0.0, "xref": "x", "yref": "paper", "yanchor": "bottom",
             "showarrow": False, "text": f"reassess BP ~{at_minutes:g} min",
             "font": {"color": COLOUR["event"], "size": 12}}
    return [band], [label]


def _ack_markers(fig: go.Figure, alerts: pd.DataFrame, origin: pd.Timestamp,
                 row_of: Mapping[str, int]) -> None:
    acked = alerts[alerts["state"] == "acknowledged"]
    for panel, row in row_of.items():
        part = acked[acked["metric"].map(METRIC_PANEL) == panel]
        if part.empty:
            continue
        who = part["by"].fillna("?")
        fig.add_trace(
            go.Scatter(
                x=minutes_from(part["time"], origin),
                y=[PANEL_RANGE[panel][1] - 2] * len(part), mode="markers",
                name="acknowledged", showlegend=False,
                marker={"symbol": "square", "size": 10, "color": COLOUR["text"]},
                text="acknowledged by " + who, hovertemplate="%{text}<extra></extra>",
            ),
            row=row, col=1,
        )


def alerts_table(alerts: pd.DataFrame, origin: pd.Timestamp | None) -> html.Div | html.Table:
    """Every alert event of the session, newest first, with priority as text and colour, and
    who acknowledged it with their note (the audit trail)."""
    if alerts.empty:
        return html.Div("No alert events in this session.", className="muted")
    head = html.Thead(html.Tr([html.Th(h) for h in
                               ("Time (UTC)", "Session min", "Priority", "State", "Metric",
                                "Value", "Limit", "Message", "By", "Note")]))
    rows = []
    minutes = minutes_from(alerts["time"], origin) if origin is not None else None
    for i, alert in enumerate(alerts.to_dict("records")):
        at = "" if minutes is None else f"{minutes.iloc[i]:+.0f}"
        rows.append(html.Tr(className=f"alert-row alert-row--{alert['priority']}", children=[
            html.Td(alert["time"].strftime("%H:%M:%S")),
            html.Td(at),
            html.Td(ALARM_LABEL.get(alert["priority"], alert["priority"]),
                    className=f"prio prio--{alert['priority']}"),
            html.Td(alert["state"]),
            html.Td(METRIC_LABEL.get(alert["metric"], alert["metric"])),
            html.Td(number(alert["value"])),
            html.Td(number(alert["limit"])),
            html.Td(alert["message"]),
            html.Td("" if _missing(alert.get("by")) else str(alert["by"])),
            html.Td("" if _missing(alert.get("note")) else str(alert["note"])),
        ]))
    return html.Table(className="table", children=[head, html.Tbody(rows[::-1])])


def events_table(events: pd.DataFrame) -> html.Div | html.Table:
    """Session events with who recorded them and their notes, newest first (the audit trail)."""
    if events.empty:
        return html.Div("No notes or session events yet.", className="muted")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Time (UTC)", "Event", "By", "Note")]))
    body = [
        html.Tr([
            html.Td(e["time"].strftime("%H:%M:%S")),
            html.Td(str(e["event"])),
            html.Td("" if _missing(e["by"]) else str(e["by"])),
            html.Td("" if _missing(e["note"]) else str(e["note"])),
        ])
        for e in events.to_dict("records")
    ]
    return html.Table(className="table", children=[head, html.Tbody(body[::-1])])


def session_header(session: str, status: str, origin_label: str,
                   since_origin_min: float | None,
                   active: Sequence[AlertEvent] = ()) -> list[Any]:
    """Session id, live/ended badge, session clock, and every alarm present now as text
    (`vitals.sessions.present_alarms`: acknowledged ones marked silenced)."""
    badge = {"active": "LIVE", "ended": "ENDED", "idle": "NO RECENT DATA"}.get(status, status)
    parts: list[Any] = [html.H2(session, className="session-title"),
                        html.Span(badge, className=f"badge badge--{status}")]
    if since_origin_min is not None:
        parts.append(html.Span(f"{since_origin_min:.0f} min since {origin_label}",
                               className="session-clock"))
    if active:
        parts.append(html.Div(className="session-alarms", children=[
            _session_alarm(a, a.state is AlertState.ACKNOWLEDGED) for a in active]))
    return parts


def _session_alarm(alert: AlertEvent, acked: bool) -> html.Div:
    text = alarm_text(alert.priority.value, alert.message, alert.metric.value,
                      acked_by=(alert.by or "someone") if acked else None, ended=alert.ended)
    if acked:
        return html.Div(text, className=f"tile-alarm tile-alarm--{alert.priority.value} "
                        "tile-alarm--acked")
    return html.Div(text, role="alert", className=f"tile-alarm tile-alarm--{alert.priority.value}")


# --- history -----------------------------------------------------------------------------------


def history_table(sessions: pd.DataFrame,
                  exports: Mapping[str, Sequence[str]] | None = None) -> html.Div | html.Table:
    """All sessions, newest first, each a link to its session view; with `exports` (format ->
    one URL per row, for clinicians) a column of export links."""
    if sessions.empty:
        return html.Div("No sessions found.", className="muted")

    def when(value: Any) -> str:
        return "" if _missing(value) else value.strftime("%Y-%m-%d %H:%M")

    titles = ["Session", "Status", "First (UTC)", "Dose (UTC)", "Last (UTC)", "End (UTC)"]
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
