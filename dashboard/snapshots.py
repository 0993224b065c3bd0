"""The live snapshot: what the overview and every page's shell show, read from the store by one
background thread per dashboard process, not by each browser's refresh.

Every browser's overview and shell callbacks read the newest `Snapshot` (`LiveReader.snapshot`)
instead of waiting for the database: a refresh no longer waits ~20 ms for InfluxDB's two
dependent requests, and the database's load no longer grows with the number of browsers open
(one read every `period_s`, however many wall screens and nurses' tabs poll).

Never stale as fresh: a snapshot carries when it was read; when the newest read failed, or the
newest snapshot is older than `max_age_s` (the reader stopped or falls behind), `snapshot()`
raises `StoreError` and the pages show it as they show a database they cannot read (the red
banner, the overview's "Not updating" tile, a technical tone).

The thread starts with the first request and stops after `idle_s` without one (a process whose
pages nobody watches reads nothing); a request that finds no snapshot, the first one or the
first after a pause, reads the store itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from dashboard.caches import TrendCache
from dashboard.queries import active, most_urgent
from vitals.readings import Reading
from vitals.storage.base import Live, Store, StoreError

log = logging.getLogger(__name__)

# Adds up to this (half on average) to publish -> screen; each read costs influxd ~15 ms and the
# dashboard ~5 ms of CPU with 48 sessions. At 250 ms, the p95 with 48 tiles rose from ~630 to
# ~870 ms (target 1 s); at 100 ms it stayed at ~690.
PERIOD_S: Final = 0.1
MAX_AGE_S: Final = 2.0  # 20 periods: a reader this far behind is reported, not trusted
IDLE_S: Final = 5.0  # 10 refreshes of a browser at the shipped 500 ms without a request


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The live pages' data as read at one moment."""

    live: Live  # `queries.active`: the active sessions, their newest readings, events, alerts
    trends: Mapping[str, Sequence[Reading]]  # their sparklines (`caches.TrendCache`)
    read_at: datetime  # the dashboard's clock when the read began ("updated at" on screen)
    taken: float  # monotonic seconds when the read began: how old its data may be
    hidden: int = 0  # active sessions left out of `live` (`queries.most_urgent`)


class LiveReader:
    """Reads `Snapshot`s of `store` every `period_s` in a background thread while requests ask
    for them. `clock`: the dashboard's "now" (tests fix it); `monotonic`: real time, for the
    snapshot's freshness whatever the clock says."""

    def __init__(self, store: Store, clock: Callable[[], datetime], window: timedelta,
                 trends: TrendCache, *, period_s: float = PERIOD_S, max_age_s: float = MAX_AGE_S,
                 idle_s: float = IDLE_S, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store, self._clock, self._window, self._trends = store, clock, window, trends
        self.period_s, self.max_age_s, self.idle_s = period_s, max_age_s, idle_s
        self._monotonic = monotonic
        self._lock = threading.Lock()  # guards everything below
        self._newest: Snapshot | None = None
        self._failure: tuple[float, str] | None = None  # (monotonic when, why) of the last one
        self._asked = 0.0  # monotonic time of the last request
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def snapshot(self) -> Snapshot:
        """The newest snapshot. Raises `StoreError` when the newest read failed or the newest
        snapshot is older than `max_age_s`: never old values shown as if they were current."""
        now = self._monotonic()
        with self._lock:
            self._asked = now
            # Not running: never started, stopped when idle, or (a bug) died: start it again.
            starting = ((self._thread is None or not self._thread.is_alive())
                        and not self._closed.is_set())
            if starting:
                self._thread = threading.Thread(target=self._run, name="live-reader",
                                                daemon=True)
                self._thread.start()
            newest, failure = self._newest, self._failure
        if starting or newest is None:
            # The first request, or the first after a pause: nothing read, or nothing kept
            # fresh by the reader; this one reads the store itself.
            return self.refresh()
        if failure is not None and failure[0] >= newest.taken:
            raise StoreError(failure[1])
        age = now - newest.taken
        if age > self.max_age_s:
            raise StoreError(f"the dashboard's database reader is {age:.1f} s behind")
        return newest

    def refresh(self) -> Snapshot:
        """Read a snapshot now and make it the newest (the reader's loop calls this; so may a
        test that has just stored something)."""
        began, taken = self._clock(), self._monotonic()
        try:
            # Bounded: a flood of session ids must not make every refresh (and every browser)
            # slower and slower until the screen goes blank.
            live, hidden = most_urgent(active(self._store, began, self._window))
            trends = self._trends.get(self._store, [s.session for s in live.sessions], began)
        except StoreError as err:
            self._failed(str(err))
            raise
        snapshot = Snapshot(live, trends, began, taken, hidden)
        with self._lock:
            if self._newest is None or snapshot.taken >= self._newest.taken:
                self._newest = snapshot
        return snapshot

    @property
    def running(self) -> bool:
        """Whether the background thread is reading."""
        with self._lock:
            return self._thread is not None

    def close(self) -> None:
        """Stop the reader (for good: `snapshot` then reads only what was read last)."""
        self._closed.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _failed(self, why: str) -> None:
        with self._lock:
            self._failure = (self._monotonic(), why)

    def _run(self) -> None:
        try:
            self._loop()
        except SystemExit:  # stopped from outside (as threading ignores it; pytest would not)
            pass
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _loop(self) -> None:
        next_read = self._monotonic()
        failing = False  # log an outage once when it begins and once when it ends, not per read
        while not self._closed.wait(max(0.0, next_read - self._monotonic())):
            with self._lock:
                if self._monotonic() - self._asked > self.idle_s:
                    # Nobody is watching: stop, and forget what was read (the next request
                    # reads the store itself).
                    self._thread, self._newest, self._failure = None, None, None
                    return
            next_read = self._monotonic() + self.period_s  # a fixed rate, not period + read
            try:
                self.refresh()
            except StoreError as err:
                if not failing:
                    log.warning("live reader cannot read the store: %s", err)
                failing = True
                continue
            except Exception as err:  # never a silent stop: the pages show it as a failure
                if not failing:
                    log.exception("live reader failed")
                failing = True
                self._failed(f"the dashboard's database reader failed: {err!r}")
                continue
            if failing:
                log.warning("live reader reads the store again")
                failing = False
