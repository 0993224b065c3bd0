"""The hand-over from paho's network thread to the judging thread, and the count of what is held.

`queue.Queue` costs a lock round and a condition per item on both sides, and `task_done` one
more per item: at tens of thousands of messages a second that is a noticeable share of the one
CPU a Python worker has. Here the network thread appends under one lock, the judging thread
takes everything waiting in one go, and the writer finishes a whole batch at once.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """A FIFO that also counts items put and not yet finished (held: received, not acknowledged
    or given up)."""

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._unfinished = 0
        self._waiting = 0  # takers waiting for an item: only they need a notification

    def put(self, item: T) -> None:
        with self._lock:
            items = self._items
            items.append(item)
            self._unfinished += 1
            # A taker waits only on an empty inbox, and takes everything once woken: the first
            # item wakes it, the ones after it until it runs need no notification of their own.
            if self._waiting and len(items) == 1:
                self._arrived.notify()

    def take(self, limit: int, timeout: float) -> list[T]:
        """Up to `limit` items in order, waiting up to `timeout` s for the first; [] if none."""
        with self._lock:
            if not self._items:
                self._waiting += 1
                try:
                    self._arrived.wait(timeout)
                finally:
                    self._waiting -= 1
            items = self._items
            count = min(limit, len(items))
            return [items.popleft() for _ in range(count)]

    def finished(self, count: int) -> None:
        """`count` items taken earlier are done with (stored and acknowledged, or given up)."""
        with self._lock:
            if count > self._unfinished:
                raise ValueError(f"finished {count} of {self._unfinished} unfinished items")
            self._unfinished -= count

    @property
    def unfinished(self) -> int:
        """Items put and not yet finished (waiting, or taken and still being worked on)."""
        return self._unfinished
