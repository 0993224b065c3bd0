"""The session view's chart: drawn whole when the page opens (`draw`), then extended in the
browser by each poll (`extend_chart`) with only the readings it does not hold yet."""

from __future__ import annotations

import logging
from typing import Any

import dash
import pandas as pd

from dashboard import app_context, figures, frames
from dashboard.session_view import History, extent, load, read_once
from vitals.alerts import Metric
from vitals.readings import Reading, SessionEventType
from vitals.storage.base import StoreError

log = logging.getLogger(__name__)

# Readings appended to the chart before it is drawn whole again, thinned: 1 Hz HR and SpO2
# grow it by ~7,000 points an hour, and an out-of-order reading is only placed by a redraw.
REDRAW_AFTER_POINTS = 600


def _chart_marks(loaded: History, origin: Any) -> list[Any]:
    """What else than readings the chart shows: when any of it changes, it is drawn whole."""
    return [None if origin is None else origin.isoformat(),
            sum(e.event is not SessionEventType.CHECKIN for e in loaded.events),
            len(loaded.alerts), len(loaded.observations),
            sorted({r.kind.value for r in loaded.readings})]


def draw(session_id: str | None, history: History | StoreError | None = None
         ) -> tuple[Any, dict[str, Any] | None]:
    """The whole chart, thinned (`frames.thin`), and what it holds: its marks (`_chart_marks`),
    the index of each reading trace, the time of the last reading drawn of each kind, and the
    readings appended since. Run when the page opens, so the first draw never waits for a poll."""
    if not session_id:
        return {}, None
    try:
        loaded = read_once(session_id, history)
    except StoreError as err:
        log.warning("session chart cannot read the store: %s", err)
        return dash.no_update, None  # the status line says so; the next poll draws it
    readings = frames.reading_rows(frames.thin(loaded.readings))
    events = frames.event_rows(loaded.events)
    origin, origin_label = frames.session_origin(events, readings)
    # Check-ins every few minutes would bury the protocol lines: they stay in the audit trail.
    figure = _figure(readings, events[events["event"] != SessionEventType.CHECKIN.value],
                     frames.alert_rows(loaded.alerts), origin, origin_label,
                     frames.observation_rows(loaded.observations))
    # The reading traces (`figures._trace` marks each with its kind and field): index -> them.
    traces = {str(index): trace.meta["reading"] for index, trace in enumerate(figure.data)
              if isinstance(trace.meta, dict) and "reading" in trace.meta}
    last = {kind: max(times).isoformat() for kind, times in
            readings.groupby("kind")["time"]} if not readings.empty else {}
    return figure, {"session": session_id, "marks": _chart_marks(loaded, origin),
                    "traces": traces, "last": last, "appended": 0}


def extend_chart(_n: int | None, session_id: str | None,
                 drawn: dict[str, Any] | None) -> tuple[Any, Any]:
    """Each poll: only the readings newer than those the chart holds, appended in the browser
    (`dash.Patch`), a few hundred bytes; the whole chart again only when its marks (events,
    alarms, observations, origin) changed or after `REDRAW_AFTER_POINTS`."""
    if not session_id or not drawn or drawn.get("session") != session_id:
        return dash.no_update, dash.no_update  # the first draw is still on its way
    try:
        loaded = load(session_id)
    except StoreError:
        return dash.no_update, dash.no_update  # the status line says so
    origin = frames.session_origin(frames.event_rows(loaded.events),
                                    frames.reading_rows(extent(loaded.readings)))[0]
    if (_chart_marks(loaded, origin) != drawn["marks"]
            or drawn["appended"] > REDRAW_AFTER_POINTS):
        return draw(session_id, loaded)
    last = {kind: pd.Timestamp(at) for kind, at in drawn["last"].items()}
    oldest = min(last.values(), default=None)
    newer: list[Reading] = []
    for reading in reversed(loaded.readings):  # time order: the new ones are at the end
        if oldest is not None and reading.time <= oldest:
            break
        if reading.kind.value not in last or reading.time > last[reading.kind.value]:
            newer.append(reading)
    if not newer:
        return dash.no_update, dash.no_update
    newer.reverse()
    rows = frames.reading_rows(newer)
    x = figures.minutes_from(rows["time"], origin)
    patch = dash.Patch()
    appended = 0
    for index, (kind, field) in drawn["traces"].items():
        index = int(index)
        part = (rows["kind"] == kind) & rows[field].notna()
        if part.any():
            patch["data"][index]["x"].extend(figures.chart_minutes(x[part]))
            patch["data"][index]["y"].extend(rows.loc[part, field].tolist())
            appended += int(part.sum())
    for kind, times in rows.groupby("kind")["time"]:
        drawn["last"][kind] = max(times).isoformat()
    drawn["appended"] += appended
    return patch, drawn


def _figure(readings: Any, events: Any, alerts: Any, origin: Any, origin_label: str,
            observed: Any = None) -> Any:
    context = app_context.current()
    cadence = context.profile.cadence
    marks = figures.reassessment_marks(origin, frames.dose_time(events),
                                       cadence.reassessment_minutes,
                                       cadence.reassessment_window_minutes)
    return figures.session_figure(readings, events, alerts, origin, origin_label,
                                  context.limits or figures.default_limits(), marks=marks,
                                  observations=observed,
                                  hr_sources=context.profile.metrics[Metric.HEART_RATE].sources)
