"""Store calls turned into pandas DataFrames (times as UTC), and the one accessor callbacks use.

Nothing here renders: `figures.py` turns these frames into plotly figures and Dash components.
The dashboard's store and settings live on the Flask server (`attach`), never in a module global,
so several apps (tests) can run in one process, each with its own store.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pandas as pd
from flask import Flask, current_app

from dashboard.observations import label as observation_label
from vitals.alerts import AlertEvent, AlertState
from vitals.profile import source_label
from vitals.readings import (
    FIELDS,
    SIGNS,
    Kind,
    Observation,
    Reading,
    SessionEvent,
    SessionEventType,
)
from vitals.sessions import alarm_urgency, present_alarms, session_clock
from vitals.settings import Settings
from vitals.storage.base import Live, SessionSummary, Store
from vitals.timefmt import utcnow

log = logging.getLogger(__name__)

EXTENSION_KEY: Final = "vitals_dashboard"
DEFAULT_ACTIVE_WINDOW: Final = timedelta(minutes=30)
TREND_WINDOW: Final = timedelta(minutes=30)
TREND_BUCKET: Final = timedelta(seconds=30)  # 60 points a sparkline: a few pixels each
TREND_REFETCH: Final = timedelta(seconds=5)

# A value is stale when older than the guidance expects (`VitalSign.stale_after`).
STALE_AFTER: Final[Mapping[Kind, timedelta]] = {k: s.stale_after for k, s in SIGNS.items()}

# The default profile's heart-rate sources in rank order; pages pass the profile's in force.
HR_SOURCES: Final = ("hr.bpm", "spo2.pulse", "bp.pulse")

READING_COLUMNS: Final = ("time", "kind", "device", *dict.fromkeys(
    spec.name for specs in FIELDS.values() for spec in specs))
EVENT_COLUMNS: Final = ("time", "event", "note", "by")
OBSERVATION_COLUMNS: Final = ("time", "observation", "label", "severity", "rank", "note", "by")
ALERT_COLUMNS: Final = ("time", "metric", "priority", "rank", "state", "value", "limit",
                        "message", "rule", "by", "note", "ended")
OVERVIEW_COLUMNS: Final = (
    "session", "first_time", "dosed", "since_dose_min",
    "systolic", "diastolic", "bp_time", "bp_age_s", "bp_stale",
    "hr", "hr_source", "hr_time", "hr_age_s", "hr_stale",
    "spo2", "spo2_time", "spo2_age_s", "spo2_stale",
    "alarm_priority", "alarm_metric", "alarm_message", "alarm_count", "alarm_acked_by",
    "alarm_value", "alarm_now", "alarm_ended",
    "checkin_last", "checkin_by", "checkin_reference",
)
SESSION_COLUMNS: Final = ("session", "first_time", "last_time", "started", "dosed", "ended",
                          "status")


@dataclass(frozen=True, slots=True)
class DashboardContext:
    """What every page needs, attached to the Flask server by `create_app`."""

    store: Store
    settings: Settings
    refresh_ms: int = 500  # a new value shows within this + the live reader's 0.1 s + the pipeline
    active_window: timedelta = DEFAULT_ACTIVE_WINDOW
    profile_name: str = "default"
    limits: tuple[Any, ...] = ()  # figures.Limit lines of the profile in force
    trends: TrendCache = field(default_factory=lambda: TrendCache())  # tiles' sparklines
    histories: HistoryCache = field(default_factory=lambda: HistoryCache())  # session views
    clock: Callable[[], datetime] = field(default=utcnow)
    profile: Any = None  # vitals.profile.Profile in force (session status, discharge)
    commands: Any = None  # dashboard.commands.Commands: every write goes over MQTT
    stale_after_s: float = 30.0  # a stream silent this long is overdue (`pipeline_silence`)
    health: Callable[[], str | None] | None = None  # extra pipeline check (e.g. ingest status)
    # The alarms showing as the ingest published them (dashboard.health.IngestStatus.alarms)
    alarm_feed: Callable[[], list[dict[str, Any]]] | None = None
    # snapshots.LiveReader of `store`: the live pages' data, read once for every browser
    reader: Any = None
    burden: Any = None  # dashboard.burden.BurdenReports of `profile` (the /burden page)


def attach(server: Flask, context: DashboardContext) -> None:
    server.extensions[EXTENSION_KEY] = context


def context_of(server: Flask) -> DashboardContext:
    return server.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def current() -> DashboardContext:
    """The context of the app serving this request (callbacks and page layouts run in one)."""
    return context_of(current_app)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: reading a long session builds ~100,000 objects, and
    each full collection the allocations trigger walks every object of the process (Dash,
    plotly, pandas): half the session view's load time. Only memory in reference cycles waits
    until the end; other threads' collections too, which is harmless for a few hundred ms."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- frames -----------------------------------------------------------------------------------


def _utc(values: Sequence[datetime | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True), dtype="datetime64[us, UTC]")


def reading_rows(readings: Sequence[Reading]) -> pd.DataFrame:
    # Column by column, no dict per row: a 4-hour session at 1 Hz is tens of thousands of rows.
    nan = float("nan")
    columns: dict[str, Any] = {
        "time": _utc([r.time for r in readings]),
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
    frame["time"] = _utc(frame["time"].tolist())
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def observation_rows(observations: Sequence[Observation]) -> pd.DataFrame:
    """One row per observation by the monitor, in time order, with its human label."""
    rows = [
        {"time": o.time, "observation": o.observation.value,
         "label": observation_label(o.observation.value),
         "severity": o.severity.value, "rank": o.severity.rank, "note": o.note, "by": o.by}
        for o in observations
    ]
    frame = pd.DataFrame(rows, columns=list(OBSERVATION_COLUMNS))
    frame["time"] = _utc(frame["time"].tolist())
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
    frame["time"] = _utc(frame["time"].tolist())
    frame["rank"] = frame["rank"].astype("int64")
    for name in ("value", "limit"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def alerts_frame(store: Store, session: str, since: datetime | None = None) -> pd.DataFrame:
    """The session's alert events (every state change) in time order."""
    return alert_rows(store.alerts(session, since=since))


def has_ended(ended: datetime | None, started: datetime | None) -> bool:
    """An `end` event closes the session, unless a later `start` reopened it."""
    return ended is not None and (started is None or started <= ended)


def status(last_time: datetime | None, ended: bool, now: datetime, window: timedelta) -> str:
    """`ended`, `active` (a reading or event within the window), `idle`, or `unknown`."""
    if ended:
        return "ended"
    if last_time is None:
        return "unknown"
    return "active" if last_time >= now - window else "idle"


def session_status(summary: SessionSummary, now: datetime, window: timedelta) -> str:
    return status(summary.last_time, has_ended(summary.ended, summary.started), now, window)


def frame_status(events: pd.DataFrame, readings: pd.DataFrame, now: datetime,
                 window: timedelta) -> str:
    """The session's status from its own frames (no scan of every session)."""
    times = pd.concat([events["time"], readings["time"]])
    last = None if times.empty else times.max()

    def latest(kind: SessionEventType) -> pd.Timestamp | None:
        found = events.loc[events["event"] == kind.value, "time"]
        return None if found.empty else found.max()

    ended = has_ended(latest(SessionEventType.END), latest(SessionEventType.START))
    return status(last, ended, now, window)


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
        frame[name] = _utc(frame[name].tolist())
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


def overview_rows(
    live: Live,
    now: datetime,
    stale_after: Mapping[Kind, timedelta] = STALE_AFTER,
    hr_sources: Sequence[str] = HR_SOURCES,
) -> list[dict[str, Any]]:
    """One row (`OVERVIEW_COLUMNS`) per session of `live` (`active`): latest values, their ages
    and staleness, dose, top alarm, check-in. Heart rate from `hr_sources` ("kind.field", in
    rank order, `heart_rate_shown`).

    From one `Store.live` read whatever the number of sessions, and plain dicts, no frame: a
    wall screen of 48 rooms refreshes every half second.
    """
    # Stable order (start of session, then id): tiles must not jump around on a wall screen.
    summaries = sorted(live.sessions, key=lambda s: (s.started or s.first_time, s.session))
    return [
        _overview_row(summary, live.latest.get(summary.session, {}),
                      live.events.get(summary.session, []), live.alerts.get(summary.session, []),
                      now, stale_after, hr_sources)
        for summary in summaries
    ]


class TrendCache:
    """Sparkline data per session, fetched incrementally: each refresh asks the store only for
    the buckets since the last complete one, so the overview's cost does not grow with the
    trend window. And at most every `refetch`: a sparkline of 30 s buckets looks the same a few
    seconds later, and the tile's numerals (read every refresh) carry the news. Holds only the
    sessions last asked for (the active ones), so it stays bounded."""

    def __init__(self, window: timedelta = TREND_WINDOW, bucket: timedelta = TREND_BUCKET,
                 refetch: timedelta = TREND_REFETCH) -> None:
        self.window, self.bucket, self.refetch = window, bucket, refetch
        self._readings: dict[str, list[Reading]] = {}
        self._complete: dict[str, datetime] = {}  # start of the newest bucket still filling
        self._fetched: datetime | None = None
        self._lock = threading.Lock()

    def get(self, store: Store, sessions: Sequence[str], now: datetime) -> dict[str, list[Reading]]:
        if not sessions:
            return {}
        horizon = self._floor(now - self.window)
        with self._lock:
            fresh_enough = (self._fetched is not None
                            and self._fetched <= now < self._fetched + self.refetch
                            and all(s in self._readings for s in sessions))
            if not fresh_enough:
                self._fetch(store, sessions, horizon)
                self._fetched = now
            for gone in set(self._readings) - set(sessions):
                self._readings.pop(gone, None)
                self._complete.pop(gone, None)
            return {session: self._readings[session] for session in sessions}

    def _fetch(self, store: Store, sessions: Sequence[str], horizon: datetime) -> None:
        since = min(max(self._complete.get(s, horizon), horizon) for s in sessions)
        fresh = store.trends(list(sessions), since=since, bucket=self.bucket)
        for session in sessions:
            kept = [r for r in self._readings.get(session, []) if horizon <= r.time < since]
            merged = kept + fresh.get(session, [])
            self._readings[session] = merged
            streams = [r.time for r in merged if r.kind is not Kind.BP]
            self._complete[session] = self._floor(max(streams)) if streams else since

    def _floor(self, moment: datetime) -> datetime:
        step = self.bucket.total_seconds()
        epoch = moment.timestamp()
        return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)


class HistoryCache:
    """The readings of the sessions open in a session view, kept between refreshes: a refresh
    reads only those since the newest kept, less `overlap` (a reading may arrive a little after
    later ones: a cuff sends its result when the measurement ends), and everything again every
    `reread` (anything later still). At most `size` sessions, the least recently viewed
    dropped: a 4-hour session at 1 Hz is ~30,000 readings, ~15 MB."""

    def __init__(self, size: int = 4, overlap: timedelta = timedelta(minutes=2),
                 reread: timedelta = timedelta(minutes=1),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.size, self.overlap, self.reread = size, overlap, reread
        self._monotonic = monotonic  # real time, whatever clock the pages show
        self._kept: OrderedDict[str, tuple[float, list[Reading]]] = OrderedDict()
        self._reading: dict[str, threading.Event] = {}  # sessions being read, by one caller
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every session kept (the next view of each reads it whole)."""
        with self._lock:
            self._kept.clear()

    def readings(self, store: Store, session: str) -> list[Reading]:
        """The session's readings in time order, as `store.readings(session)`. One caller at a
        time reads a session: a page opening runs its chart and its status callbacks at once,
        and two whole reads of 30,000 readings would each take twice as long (one GIL); the
        one that waited then reads only what is newer."""
        while True:
            with self._lock:
                other = self._reading.get(session)
                if other is None:
                    mine = self._reading[session] = threading.Event()
                    break
            other.wait()
        try:
            return self._read(store, session)
        finally:
            with self._lock:
                del self._reading[session]
            mine.set()

    def _read(self, store: Store, session: str) -> list[Reading]:
        now = self._monotonic()
        with self._lock:
            read_at, kept = self._kept.pop(session, (None, []))
        if read_at is None or not kept or now >= read_at + self.reread.total_seconds():
            read_at, readings = now, store.readings(session)
        else:
            since = kept[-1].time - self.overlap
            readings = [r for r in kept if r.time < since] + store.readings(session, since=since)
        with self._lock:
            self._kept[session] = (read_at, readings)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return readings


def _overview_row(
    summary: SessionSummary,
    latest: Mapping[Kind, Reading],
    events: Sequence[SessionEvent],
    alerts: Sequence[AlertEvent],
    now: datetime,
    stale_after: Mapping[Kind, timedelta],
    hr_sources: Sequence[str],
) -> dict[str, Any]:
    session = summary.session

    def times(kind: SessionEventType) -> list[datetime]:
        return sorted(e.time for e in events if e.event is kind)

    doses, starts = times(SessionEventType.DOSE), times(SessionEventType.START)
    dose = doses[0] if doses else None
    session_now = session_clock(now, summary.last_time)
    row: dict[str, Any] = {
        "session": session,
        "first_time": summary.first_time,
        "dosed": dose,
        "since_dose_min": None if dose is None else age_seconds(session_now, dose) / 60,
    }
    bp = latest.get(Kind.BP)
    row.update(_latest_fields("bp", bp, now, stale_after[Kind.BP]))
    row["systolic"] = bp.values.get("systolic") if bp else None
    row["diastolic"] = bp.values.get("diastolic") if bp else None

    oximeter = latest.get(Kind.SPO2)
    hr_reading, hr_value, hr_source = heart_rate_shown(latest, now, stale_after, hr_sources)
    hr_kind = hr_reading.kind if hr_reading is not None else Kind.HR
    row.update(_latest_fields("hr", hr_reading, now, stale_after[hr_kind]))
    row["hr"] = hr_value
    row["hr_source"] = None if hr_source is None else source_label(hr_source)
    row.update(_latest_fields("spo2", oximeter, now, stale_after[Kind.SPO2]))
    row["spo2"] = oximeter.values.get("spo2") if oximeter else None

    alarms = present_alarms(alerts)
    top = alarms[0] if alarms else None
    now_values = {"systolic": row["systolic"], "diastolic": row["diastolic"],
                  "heart_rate": hr_value, "spo2": row["spo2"]}
    row.update(
        alarm_priority=None if top is None else top.priority.value,
        alarm_metric=None if top is None else top.metric.value,
        alarm_message=None if top is None else top.message,
        alarm_count=len(alarms),
        alarm_acked_by=(top.by or "someone" if top is not None
                        and top.state is AlertState.ACKNOWLEDGED else None),
        # The headline's value is the one that raised it; the latest one goes beside it.
        alarm_value=None if top is None else top.value,
        alarm_now=None if top is None else now_values.get(top.metric.value),
        alarm_ended=None if top is None else top.ended,
    )
    checkins = sorted((e for e in events if e.event is SessionEventType.CHECKIN),
                      key=lambda e: e.time)
    last = checkins[-1] if checkins else None
    row.update(
        checkin_last=None if last is None else last.time,
        checkin_by=None if last is None else last.by,
        # No check-in yet: the countdown runs from the session's start (else its first data).
        checkin_reference=starts[-1] if starts else summary.first_time,
    )
    return row


def heart_rate_shown(
    latest: Mapping[Kind, Reading], now: datetime, stale_after: Mapping[Kind, timedelta],
    sources: Sequence[str],
) -> tuple[Reading | None, float | None, str | None]:
    """The heart rate a tile shows, as the rules judge it: the highest-ranked source whose
    latest reading is fresh, else (all stale) the newest. (reading, value, source) or Nones."""
    candidates: list[tuple[Reading, float, str]] = []
    for source in sources:
        kind, _, name = source.partition(".")
        reading = latest.get(Kind(kind))
        if reading is not None and name in reading.values:
            candidates.append((reading, reading.values[name], source))
    for reading, value, source in candidates:
        if age_seconds(now, reading.time) <= stale_after[reading.kind].total_seconds():
            return reading, value, source
    if not candidates:
        return None, None, None
    return max(candidates, key=lambda c: c[0].time)


def _latest_fields(prefix: str, reading: Reading | None, now: datetime,
                   stale_after: timedelta) -> dict[str, Any]:
    if reading is None:
        return {f"{prefix}_time": None, f"{prefix}_age_s": None, f"{prefix}_stale": True}
    age = age_seconds(now, reading.time)
    return {
        f"{prefix}_time": reading.time,
        f"{prefix}_age_s": age,
        f"{prefix}_stale": age > stale_after.total_seconds(),
    }


def age_seconds(now: datetime, then: datetime) -> float:
    """Seconds from `then` to `now` (both aware; a `pd.Timestamp` is one), never negative: a
    time-compressed simulator stamps readings slightly in the future, which is "just now", not
    minus a minute."""
    return max(0.0, (now - then).total_seconds())



ALARM_COLUMNS: Final = ("session", "time", "metric", "rule", "priority", "rank", "state",
                        "value", "message", "by", "note", "ended")


def active(store: Store, now: datetime, window: timedelta = DEFAULT_ACTIVE_WINDOW) -> Live:
    """What the live pages show: the sessions with any reading or event within the window, not
    ended or with an alarm present (an end clears every alarm: what is present since is "readings
    after the session ended", which must not vanish with the tile), with their newest readings,
    events and alerts (`Store.live`)."""
    live = store.live(now - window)
    shown = [s for s in live.sessions if not has_ended(s.ended, s.started)
             or present_alarms(live.alerts.get(s.session, []))]
    names = {s.session for s in shown}
    return Live(shown, {k: v for k, v in live.latest.items() if k in names},
                {k: v for k, v in live.events.items() if k in names},
                {k: v for k, v in live.alerts.items() if k in names})


# The overview's tiles: what one screen can show and one refresh can render (a device
# publishing thousands of session ids must not blank the screen of the rooms really in use).
MAX_TILES: Final = 48


def most_urgent(live: Live, limit: int = MAX_TILES) -> tuple[Live, int]:
    """At most `limit` sessions of `live`: those with the most urgent alarm present first
    (`alarm_urgency`), then the most recently active. A crowd of quiet sessions never pushes an
    alarming one off the screen. Returns them and how many were left out."""
    if len(live.sessions) <= limit:
        return live, 0

    def urgency(summary: SessionSummary) -> tuple[Any, ...]:
        present = present_alarms(live.alerts.get(summary.session, []))
        top = alarm_urgency(present[0]) if present else (1, True, True, 0.0)
        return (not present, *top, -summary.last_time.timestamp(), summary.session)

    shown = sorted(live.sessions, key=urgency)[:limit]
    names = {s.session for s in shown}
    kept = [s for s in live.sessions if s.session in names]
    return Live(kept, {k: v for k, v in live.latest.items() if k in names},
                {k: v for k, v in live.events.items() if k in names},
                {k: v for k, v in live.alerts.items() if k in names}), len(live.sessions) - limit


def alarms_frame(live: Live) -> pd.DataFrame:
    """Every alarm present in an active session (active, or acknowledged and not cleared): the
    latest event per (session, alarm), most urgent first as on the tiles
    (`vitals.sessions.alarm_urgency`). From `active` (every page's shell reads it each
    refresh)."""
    present = sorted(((session, a) for session, alerts in live.alerts.items()
                      for a in present_alarms(alerts)),
                     key=lambda item: (alarm_urgency(item[1]), item[0], item[1].metric.value,
                                       item[1].rule))
    frame = pd.DataFrame(
        [{"session": session, "time": a.time, "metric": a.metric.value, "rule": a.key.rule,
          "priority": a.priority.value, "rank": a.priority.rank, "state": a.state.value,
          "value": a.value, "message": a.message, "by": a.by, "note": a.note, "ended": a.ended}
         for session, a in present],
        columns=list(ALARM_COLUMNS))
    if not frame.empty:
        frame["time"] = _utc(frame["time"].tolist())
    return frame


def pipeline_silence(live: Live, now: datetime, stream_after_s: float,
                     stale_after: Mapping[Kind, timedelta] = STALE_AFTER) -> float | None:
    """Seconds since the newest reading when every stream of every active session (from
    `active`) is overdue, each by its own cadence (the HR and SpO2 streams after
    `stream_after_s`, BP after `stale_after[BP]`); None while any stream is on time, or no
    session has readings. Only then is the pipeline the likely cause: one silent device, while
    others deliver, is that session's technical alarm, not the pipeline's banner."""
    times = [(kind, t) for s in live.sessions for kind, t in s.last_reading.items()]
    if not times:
        return None
    for kind, t in times:
        after = (stale_after[kind].total_seconds() if kind is Kind.BP else stream_after_s)
        if age_seconds(now, t) <= after:
            return None
    return age_seconds(now, max(t for _, t in times))
