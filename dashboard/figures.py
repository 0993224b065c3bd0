"""Pure functions: frames (`frames.py`) and overview rows (`queries.py`) in, plotly figures and
Dash components out.

No store, no request, no clock: whatever time matters arrives as an argument, so every function
here is tested by calling it.

Alarm presentation follows the IEC 60601-1-8 convention monitors use: high red flashing fast,
medium yellow flashing slowly, low cyan steady; colour is never the only signal (every alarm
also has its priority and message as text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.observations import SEVERITY_PRIORITY
from dashboard.queries import HR_SOURCES
from dashboard.texts import (
    missing,
)
from vitals.profile import source_label

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
    if origin is None or missing(dosed):
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


