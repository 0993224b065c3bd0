"""What the dashboard keeps between refreshes: the tiles' sparklines (`TrendCache`) and the
readings of the sessions open in a session view (`HistoryCache`), each read incrementally.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from vitals.readings import Reading
from vitals.storage.base import Store
from vitals.vital_signs import Kind

TREND_WINDOW: Final = timedelta(minutes=30)


TREND_BUCKET: Final = timedelta(seconds=30)  # 60 points a sparkline: a few pixels each


TREND_REFETCH: Final = timedelta(seconds=5)


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
