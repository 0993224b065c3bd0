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
from vitals.alerts import Metric
from vitals.profile import Profile, source_label
from vitals.profile_loader import load_profile
from vitals.vital_signs import KIND_OF_METRIC, MEASURES, VITAL_SIGNS, VitalSign

DISCLAIMER: Final = (
    "Decision support only — not a certified medical device. A trained monitor must be present."
)

# Colours of what is not a vital sign's trace (those are `Measure.colour`).
COLOUR: Final[Mapping[str, str]] = {
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


def limits_from_profile(profile: Profile) -> tuple[Limit, ...]:
    """The fixed-threshold rules of an alert profile (`vitals.profile.Profile`) as limit lines.
    Baseline-relative rules have no fixed line."""
    limits = []
    for rule in profile.rules.values():
        if not rule.enabled or rule.threshold is None or rule.metric not in MEASURES:
            continue
        limits.append(Limit(METRIC_PANEL[rule.metric], float(rule.threshold),
                            f"{MEASURES[rule.metric].short} {rule.threshold:g}",
                            rule.priority.value))
    # One line per (panel, value): the most urgent rule names it.
    best: dict[tuple[str, float], Limit] = {}
    rank = {"low": 1, "medium": 2, "high": 3}
    for limit in limits:
        key = (limit.panel, limit.value)
        if key not in best or rank.get(limit.priority, 0) > rank.get(best[key].priority, 0):
            best[key] = limit
    return tuple(best.values())


@functools.cache
def default_limits() -> tuple[Limit, ...]:
    """The default profile's limits (clinical guidance); pages pass the profile in force."""
    return limits_from_profile(load_profile())

# One panel per vital sign, in the registry's order; an optional one only once it has data.
PANEL_RANGE: Final[Mapping[str, tuple[float, float]]] = {
    s.kind.value: s.chart.axis for s in VITAL_SIGNS}
# Which panel an alarm is marked on: its vital sign's; technical and observation alarms on the
# first (blood pressure) panel.
METRIC_PANEL: Final[Mapping[str, str]] = {
    **{m.value: k.value for m, k in KIND_OF_METRIC.items()},
    Metric.DATA.value: VITAL_SIGNS[0].kind.value,
    Metric.OBSERVATION.value: VITAL_SIGNS[0].kind.value,
}


def chart_signs(readings: pd.DataFrame) -> tuple[VitalSign, ...]:
    """The vital signs the session chart has a panel for: every one a session must have, and
    an optional one (respiratory rate) once `readings` hold it."""
    present = set(readings["kind"].unique()) if "kind" in readings else set()
    return tuple(s for s in VITAL_SIGNS if not s.optional or s.kind.value in present)


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
    limits: Sequence[Limit] | None = None,
    marks: tuple[Sequence[dict[str, Any]], Sequence[dict[str, Any]]] = ((), ()),
    observations: pd.DataFrame | None = None,
    hr_sources: Sequence[str] = HR_SOURCES,
) -> go.Figure:
    """BP, HR and SpO2 over session time, with limit lines, session events, alarms and the
    monitor's observations (`frames.observations_frame`); `marks`: extra (shapes, labels),
    e.g. `reassessment_marks`. Heart rate: one line per source ("kind.field", in rank order:
    the first solid, the fallbacks thinner and dotted), each named by its device."""
    signs = chart_signs(readings)
    fig = make_subplots(
        rows=len(signs), cols=1, shared_xaxes=True, vertical_spacing=0.06,
        row_heights=[s.chart.height for s in signs],
        subplot_titles=[f"{s.label} ({s.unit})" for s in signs],
    )
    row_of = {s.kind.value: i + 1 for i, s in enumerate(signs)}

    # Shapes and labels as plain dicts, set once at the end: plotly's add_hline/add_vrect
    # re-validate every shape on each call, which made a refresh take most of a second.
    shapes: list[dict[str, Any]] = [*marks[0]]
    labels: list[dict[str, Any]] = [*marks[1]]
    for limit in default_limits() if limits is None else limits:
        colour = COLOUR.get(limit.priority, COLOUR["muted"])
        if limit.panel not in row_of:
            continue
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
    for sign in signs:
        row = row_of[sign.kind.value]
        (bottom, top), (below, above) = sign.chart.axis, sign.chart.band
        bands = [(bottom, below)] if below is not None else []
        bands += [(above, top)] if above is not None else []
        shapes.extend({"type": "rect", "xref": f"{_axis('x', row)} domain",
                       "yref": _axis("y", row), "x0": 0, "x1": 1, "y0": y0, "y1": y1,
                       "fillcolor": COLOUR["high"], "opacity": 0.08, "line": {"width": 0},
                       "layer": "below"} for y0, y1 in bands)

    if origin is not None and not readings.empty:
        x = minutes_from(readings["time"], origin)
        frame = readings.assign(x=x.values)
        for sign in signs:
            row = row_of[sign.kind.value]
            for measure in sign.measures:
                if measure.metric is Metric.HEART_RATE:  # one line per source (issue 17)
                    for rank, source in enumerate(hr_sources):
                        kind, _, name = source.partition(".")
                        _trace(fig, frame, kind, name, f"{measure.label} ({source_label(source)})",
                               measure.colour, row, sign.unit, fallback=rank > 0)
                else:
                    _trace(fig, frame, sign.kind.value, measure.field, measure.label,
                           measure.colour, row, sign.unit)

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
        template="plotly_dark", height=round(720 * sum(s.chart.height for s in signs)),
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        paper_bgcolor="#0b0f14", plot_bgcolor="#0f151c",
        font={"color": COLOUR["text"], "size": 14},
        legend={"orientation": "h", "y": -0.08},
        hovermode="x unified", uirevision="session",
    )
    for panel, row in row_of.items():
        fig.update_yaxes(range=list(PANEL_RANGE[panel]), row=row, col=1,
                         gridcolor=COLOUR["grid"])
    fig.update_xaxes(gridcolor=COLOUR["grid"])
    fig.update_xaxes(title_text=f"minutes since {origin_label}", row=len(signs), col=1)
    return fig


# The screen's colours on paper: dark-on-light equivalents (a white systolic line vanishes on a
# white page; yellow is unreadable on it).
PRINT_COLOUR: Final[Mapping[str, str]] = {
    **{m.colour: m.print_colour for m in MEASURES.values()},
    COLOUR["high"]: "#b91c1c", COLOUR["medium"]: "#b45309",
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
            meta={"reading": [kind, field]},  # which readings extend it (`session_chart.draw`)
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
    what, how severe, who and the note on hover; one entered in error stays, hollow and grey."""
    if observations.empty:
        return
    retracted = observations["retracted_at"].notna()
    colours = [OBSERVATION_COLOUR["none" if wrong else SEVERITY_PRIORITY.get(s, "none")]
               for s, wrong in zip(observations["severity"], retracted, strict=True)]
    text = (observations["label"] + " (" + observations["severity"] + ")"
            + observations["by"].fillna("").map(lambda b: f" by {b}" if b else "")
            + observations["note"].fillna("").map(lambda n: f": {n}" if n else "")
            + retracted.map(lambda wrong: " — entered in error" if wrong else ""))
    fig.add_trace(
        go.Scatter(
            x=minutes_from(observations["time"], origin),
            y=[OBSERVATION_Y] * len(observations), mode="markers", name="Observations",
            marker={"symbol": ["diamond-open" if wrong else "diamond" for wrong in retracted],
                    "size": 13, "color": colours,
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


