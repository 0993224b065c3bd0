"""Stored values turned into pandas DataFrames (times as UTC) for the figures, and a session's
status and time origin from them. Nothing here renders (`figures.py` does) or reads the live
snapshot (`queries.py` does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import pandas as pd

from dashboard.app_context import DEFAULT_ACTIVE_WINDOW
from dashboard.observations import label as observation_label
from vitals.alerts import AlertEvent
from vitals.readings import Observation, Reading, SessionEvent, SessionEventType
from vitals.sessions import has_ended, liveness
from vitals.storage.base import SessionSummary, Store
from vitals.vital_signs import FIELDS, SIGNS, Kind

READING_COLUMNS: Final = ("time", "kind", "device", *dict.fromkeys(
    spec.name for specs in FIELDS.values() for spec in specs))


EVENT_COLUMNS: Final = ("time", "event", "note", "by")


OBSERVATION_COLUMNS: Final = ("time", "observation", "label", "severity", "rank", "note", "by",
                               "retracted_by", "retracted_at")


ALERT_COLUMNS: Final = ("time", "metric", "priority", "rank", "state", "value", "limit",
                        "message", "rule", "by", "note", "ended")


SESSION_COLUMNS: Final = ("session", "first_time", "last_time", "started", "dosed", "ended",
                          "status")


def utc_times(values: Sequence[datetime | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True), dtype="datetime64[us, UTC]")


def reading_rows(readings: Sequence[Reading]) -> pd.DataFrame:
    # Column by column, no dict per row: a 4-hour session at 1 Hz is tens of thousands of rows.
    nan = float("nan")
    columns: dict[str, Any] = {
        "time": utc_times([r.time for r in readings]),
        "kind": pd.Series([r.kind.value for r in readings], dtype="object"),
        "device": pd.Series([r.device for r in readings], dtype="object"),
    }
    for name in READING_COLUMNS[3:]:
        columns[name] = pd.Series([r.values.get(name, nan) for r in readings], dtype="float64")
    frame = pd.DataFrame(columns, columns=list(READING_COLUMNS))
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def readings_frame(
    store: Store, session: str, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """One row per reading: time, kind, device and every measured field (NaN where absent)."""
    return reading_rows(store.readings(session, since=since, until=until))


MAX_POINTS_PER_KIND: Final = 1500


MAIN_FIELD: Final[Mapping[str, str]] = {k.value: s.main_field for k, s in SIGNS.items()}


def thin(readings: Sequence[Reading], max_points: int = MAX_POINTS_PER_KIND) -> list[Reading]:
    """At most about `max_points` readings per kind for plotting, keeping every extreme.

    Hours of 1 Hz HR and SpO2 would make every refresh send megabytes; averaging would hide a
    brief desaturation. So each time bucket keeps its lowest and its highest reading (of the
    kind's main field), and each kind keeps its first and its last (the trace reaches now).
    `readings` in time order, as the store returns them; the result too. On the readings, before
    any frame is built: a 4-hour session at 1 Hz is ~30,000 of them.
    """
    by_kind: dict[Kind, list[int]] = {}
    for index, reading in enumerate(readings):
        by_kind.setdefault(reading.kind, []).append(index)
    kept: list[int] = []
    for kind, indices in by_kind.items():
        if len(indices) <= max_points:
            kept.extend(indices)
            continue
        field = MAIN_FIELD[kind.value]
        start = min(readings[i].time for i in indices)
        span = max(readings[i].time for i in indices) - start
        width = max(span / max(1, max_points // 2), timedelta(microseconds=1))
        low: dict[int, tuple[float, int]] = {}
        high: dict[int, tuple[float, int]] = {}
        for i in indices:
            value = readings[i].values.get(field)
            if value is None:
                continue
            bucket = (readings[i].time - start) // width
            if bucket not in low or value < low[bucket][0]:  # the first of equals
                low[bucket] = (value, i)
            if bucket not in high or value > high[bucket][0]:
                high[bucket] = (value, i)
        kept.extend({indices[0], indices[-1], *(i for _, i in low.values()),
                     *(i for _, i in high.values())})
    return [readings[i] for i in sorted(kept)]


def events_frame(store: Store, session: str) -> pd.DataFrame:
    """The session's start/dose/end events in time order."""
    return event_rows(store.events(session))


def event_rows(events: Sequence[SessionEvent]) -> pd.DataFrame:
    rows = [{"time": e.time, "event": e.event.value, "note": e.note, "by": e.by} for e in events]
    frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    frame["time"] = utc_times(frame["time"].tolist())
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def observation_rows(observations: Sequence[Observation]) -> pd.DataFrame:
    """One row per observation by the monitor, in time order, with its human label."""
    rows = [
        {"time": o.time, "observation": o.observation.value,
         "label": observation_label(o.observation.value),
         "severity": o.severity.value, "rank": o.severity.rank, "note": o.note, "by": o.by,
         "retracted_by": o.retracted_by, "retracted_at": o.retracted_at}
        for o in observations
    ]
    frame = pd.DataFrame(rows, columns=list(OBSERVATION_COLUMNS))
    frame["time"] = utc_times(frame["time"].tolist())
    frame["retracted_at"] = utc_times(frame["retracted_at"].tolist())
    frame["rank"] = frame["rank"].astype("int64")
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def observations_frame(store: Store, session: str) -> pd.DataFrame:
    """The session's observations (symptoms seen by the monitor) in time order."""
    return observation_rows(store.observations(session))


def alert_rows(alerts: Sequence[AlertEvent]) -> pd.DataFrame:
    rows = [
        {
            "time": a.time,
            "metric": a.metric.value,
            "priority": a.priority.value,
            "rank": a.priority.rank,
            "state": a.state.value,
            "value": a.value,
            "limit": a.limit,
            "message": a.message,
            "rule": a.rule,
            "by": a.by,
            "note": a.note,
            "ended": a.ended,
        }
        for a in alerts
    ]
    frame = pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
    frame["time"] = utc_times(frame["time"].tolist())
    frame["rank"] = frame["rank"].astype("int64")
    for name in ("value", "limit"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def alerts_frame(store: Store, session: str, since: datetime | None = None) -> pd.DataFrame:
    """The session's alert events (every state change) in time order."""
    return alert_rows(store.alerts(session, since=since))


def frame_status(events: pd.DataFrame, readings: pd.DataFrame, now: datetime,
                 window: timedelta) -> str:
    """The session's status from its own frames (no scan of every session)."""
    times = pd.concat([events["time"], readings["time"]])
    last = None if times.empty else times.max()

    def latest(kind: SessionEventType) -> pd.Timestamp | None:
        found = events.loc[events["event"] == kind.value, "time"]
        return None if found.empty else found.max()

    ended = has_ended(latest(SessionEventType.END), latest(SessionEventType.START))
    return liveness(last, ended, now, window)


def sessions_frame(store: Store, now: datetime, window: timedelta = DEFAULT_ACTIVE_WINDOW,
                   since: datetime | None = None) -> pd.DataFrame:
    """Every session (newest first) with its times and status."""
    summaries = store.sessions(since=since)
    frame = pd.DataFrame(
        [
            {
                "session": s.session,
                "first_time": s.first_time,
                "last_time": s.last_time,
                "started": s.started,
                "dosed": s.dosed,
                "ended": s.ended,
                "status": session_status(s, now, window),
            }
            for s in summaries
        ],
        columns=list(SESSION_COLUMNS),
    )
    for name in ("first_time", "last_time", "started", "dosed", "ended"):
        frame[name] = utc_times(frame[name].tolist())
    return frame.sort_values("last_time", ascending=False, kind="stable").reset_index(drop=True)


def dose_time(events: pd.DataFrame) -> pd.Timestamp | None:
    """The session's dose (the first one, should a device send it twice)."""
    doses = events.loc[events["event"] == SessionEventType.DOSE.value, "time"]
    return None if doses.empty else doses.iloc[0]


def session_origin(events: pd.DataFrame, readings: pd.DataFrame) -> tuple[pd.Timestamp | None, str]:
    """Time zero of the session's x axis and its name: the dose, else the first reading."""
    dose = dose_time(events)
    if dose is not None:
        return dose, "dose"
    if not readings.empty:
        return readings["time"].min(), "first reading"
    if not events.empty:
        return events["time"].min(), "first event"
    return None, "dose"


def session_status(summary: SessionSummary, now: datetime, window: timedelta) -> str:
    return liveness(summary.last_time, has_ended(summary.ended, summary.started), now, window)
