"""The ingest's write thread: store what the judging thread produced, then publish its
rejections, then acknowledge its messages.

Batches form naturally: one write takes every judged batch that queued while the previous write
ran, so latency stays low at low load and writes grow large under load. While the store is down
the same batch is retried with backoff and nothing is acknowledged: the broker keeps the rest
(see `ingest.worker` for why that bounds what is held).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ingest.health import LatencyWindow
from ingest.inbox import Inbox
from ingest.pipeline import Counters, Inbound, Outcome
from ingest.publisher import Publisher
from vitals.storage import Batch, Store, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Judged:
    """One judged batch for the writer: store, then acknowledge."""

    outcome: Outcome
    messages: list[Inbound]


class StoreWriter:
    """The write thread's work (`run`) and what it knows of the store: up or down since when,
    and how long its writes take."""

    def __init__(
        self,
        store: Store,
        counters: Counters,
        inbox: Inbox[Inbound | None],
        publisher: Publisher,
        acknowledge: Callable[[list[Inbound]], None],
        *,
        clock: Callable[[], datetime],
        stop: threading.Event,
        batch_max: int,
        tick: float,
    ) -> None:
        self.store = store
        self._counters = counters
        self._inbox = inbox
        self._publisher = publisher
        self._acknowledge = acknowledge  # counts the messages finished before anything can fail
        self._clock = clock
        self._stop = stop
        self._batch_max = batch_max
        self._tick = tick
        self.down_since: float | None = None  # monotonic time the store stopped answering
        self.down_at: datetime | None = None  # the same, as the clock tells it
        self.latency = LatencyWindow()
        # Judged batches waiting for the write; bounded by the broker's in-flight window.
        self._outbox: queue.Queue[Judged | None] = queue.Queue()
        self._unwritten = 0  # judged batches put in the outbox and not yet through `_write`
        self._written = threading.Condition()

    @property
    def up(self) -> bool:
        return self.down_since is None

    def put(self, judged: Judged) -> None:
        with self._written:
            self._unwritten += 1
        self._outbox.put(judged)

    def finish(self) -> None:
        """`run` returns once everything put before this is written."""
        self._outbox.put(None)

    def wait_written(self, timeout: float) -> bool:
        """True once everything put so far is through its write (waits up to `timeout` s)."""
        with self._written:
            self._written.wait_for(lambda: self._unwritten == 0, timeout=timeout)
        return self._unwritten == 0

    def store_down(self) -> None:
        """The store did not answer elsewhere (the restore at start): down until it does."""
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.down_at = self._clock()

    def unavailable(self, err: StoreError) -> None:
        if self.down_since is None:
            # Once per outage, not once per attempt or per message.
            self.store_down()
            log.error("store unavailable, holding %d messages unacknowledged (the broker "
                      "keeps the rest) and retrying with backoff: %s", self._inbox.unfinished, err)
            self._publisher.status(force=True)

    def run(self) -> None:
        """Store: one write takes every outcome that queued meanwhile; then rejections, acks."""
        while True:
            try:
                first = self._outbox.get(timeout=self._tick)
            except queue.Empty:
                if not self.up:
                    self._probe()  # nothing to write: ask whether the store is back
                self._publisher.status()
                continue
            items = [first]
            count = len(first.messages) if first is not None else 0
            while first is not None and count < self._batch_max:
                try:
                    item = self._outbox.get_nowait()
                except queue.Empty:
                    break
                items.append(item)
                if item is None:
                    break
                count += len(item.messages)
            work = [item for item in items if item is not None]
            if work:
                try:
                    self._write(work)
                finally:
                    with self._written:
                        self._unwritten -= len(work)
                        self._written.notify_all()
            if items[-1] is None:
                return  # the judging thread has finished: everything it produced is written
            self._publisher.status()

    def _write(self, work: list[Judged]) -> None:
        messages = [message for judged in work for message in judged.messages]
        outcomes = [judged.outcome for judged in work]
        finished = False
        try:
            batch = Batch(
                readings=[r for o in outcomes for r in o.batch.readings],
                events=[e for o in outcomes for e in o.batch.events],
                alerts=[a for o in outcomes for a in o.batch.alerts],
                rejections=[r for o in outcomes for r in o.batch.rejections],
                observations=[x for o in outcomes for x in o.batch.observations],
                retractions=[x for o in outcomes for x in o.batch.retractions],
            )
            if self._store(batch):
                self._publisher.rejections(batch.rejections)
                # `acknowledge` counts them finished before anything in it can fail: never twice.
                finished = True
                self._acknowledge(messages)
        except Exception:  # the worker never dies; the messages stay unacknowledged
            log.exception("writing %d messages failed; they stay with the broker", len(messages))
        finally:
            if not finished:
                # Not acknowledged: the broker redelivers them after the next reconnect.
                self._inbox.finished(len(messages))

    def _probe(self) -> None:
        """While the store is down and nothing waits to be written: is it back?"""
        try:
            self.store.ping()
        except Exception:  # a StoreError, or one nobody translated: not back (status: down)
            return
        self._back()

    def _back(self) -> None:
        if self.down_since is not None:
            log.warning("store back after %.1f s; writing the %d held messages",
                        time.monotonic() - self.down_since, self._inbox.unfinished)
            self.down_since = None
            self.down_at = None
            self._publisher.status(force=True)

    def _store(self, batch: Batch) -> bool:
        if not len(batch):
            return True  # only our own outputs came back: nothing to store, nothing learnt
        delay = RETRY_MIN_SECONDS
        while True:
            started = time.perf_counter()
            try:
                self.store.write(batch)
            except StoreUnavailable as err:
                self.unavailable(err)
                if self._stop.is_set():
                    log.warning("stopping while the store is down: %d messages stay with the "
                                "broker for redelivery", self._inbox.unfinished)
                    return False
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                self._publisher.status()
                continue
            except StoreError:
                # Not retryable (e.g. a request the database refuses): keep it visible and keep
                # the messages with the broker rather than acknowledge what was not stored.
                log.exception("store refused a batch of %d; not acknowledging it", len(batch))
                return False
            self.latency.add((time.perf_counter() - started) * 1000)
            self._back()
            counters = self._counters
            counters.stored_batches += 1
            counters.stored += len(batch.readings) + len(batch.events) + len(batch.observations)
            return True
