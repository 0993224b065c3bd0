"""Health of an ingest worker as a retained MQTT status document (pure: no I/O).

Topic: `<prefix>/_ingest/<client id>/status` (`vitals.mqtt.status_topic`), retained, QoS 1.
The worker publishes it every `STATUS_SECONDS` and at once when its state, the store or the
broker changes; its MQTT last will (set before connecting) is the `offline` document, so a worker
that dies or loses the network is reported by the broker itself. A graceful stop publishes
`stopped`. A reader that sees no fresh status for `3 * interval_s` should also treat the pipeline
as down (a broker that restarts without persistence forgets retained messages and wills).

    {"state": "running", "time": "2026-11-28T17:05:00Z", "client_id": "vitals-ingest",
     "interval_s": 5.0, "broker": "up", "store": "up", "store_down_since": null,
     "received": 1200, "stored": 1180, "rejected": 20, "duplicates": 0, "alerts": 3,
     "backlog": 0, "max_backlog": 812, "write_latency_ms": {"p50": 3.1, "p99": 12.4},
     "state_restored": true, "window": 1000}

`backlog` is the number of messages received and not yet stored and acknowledged (while the store
is down it is what the worker holds; the broker keeps everything beyond it). `max_backlog` is its
high-water mark since start, bounded by the broker's in-flight window. `window` is that window as
configured: while the store is down and `backlog` reaches it, the broker sends nothing more and
new readings wait unjudged (the dashboard says so). `refused_sessions` counts readings refused
because they would start more sessions than one source may (docs/threat-model.md), the last at
`refused_sessions_last` (the dashboard shows it for a while); `rejections_suppressed` counts
rejections only counted, not stored whole (a flood). `state_restored` is false while a worker
that started with the store down has not yet rebuilt its alarm state from storage.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from vitals.timefmt import rfc3339

STATUS_SECONDS: Final = 5.0
LATENCY_SAMPLES: Final = 1000  # the most recent writes the percentiles are taken over
# A change in any of these publishes at once; counters alone wait for the next interval.
CHANGE_KEYS: Final = ("state", "broker", "store")


class State(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # stopped gracefully: everything received was stored and acknowledged
    OFFLINE = "offline"  # the last will: the worker vanished without saying goodbye
    FAILED = "failed"  # connected, but a thread of it has died: it judges or stores nothing


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the worker knows about itself at one instant."""

    state: State
    time: datetime
    client_id: str
    broker_up: bool
    store_up: bool
    store_down_since: datetime | None
    received: int
    stored: int
    rejected: int
    duplicates: int
    alerts: int
    backlog: int
    max_backlog: int
    write_latency_ms: Mapping[str, float | None]
    interval_s: float = STATUS_SECONDS
    state_restored: bool = True  # False: started while the store was down, not rebuilt yet
    window: int = 0  # the most messages it may hold unacknowledged (its in-flight window)
    rejections_suppressed: int = 0  # rejections counted but not stored whole (a flood)
    refused_sessions: int = 0  # readings refused for starting sessions past the caps
    refused_sessions_last: datetime | None = None


def status_document(snapshot: Snapshot) -> dict[str, Any]:
    document = {
        "state": snapshot.state.value,
        "time": rfc3339(snapshot.time),
        "client_id": snapshot.client_id,
        "interval_s": snapshot.interval_s,
        "broker": "up" if snapshot.broker_up else "down",
        "store": "up" if snapshot.store_up else "down",
        "store_down_since": (rfc3339(snapshot.store_down_since)
                             if snapshot.store_down_since is not None else None),
        "received": snapshot.received,
        "stored": snapshot.stored,
        "rejected": snapshot.rejected,
        "duplicates": snapshot.duplicates,
        "alerts": snapshot.alerts,
        "backlog": snapshot.backlog,
        "max_backlog": snapshot.max_backlog,
        "write_latency_ms": dict(snapshot.write_latency_ms),
        "state_restored": snapshot.state_restored,
        "window": snapshot.window,
        "rejections_suppressed": snapshot.rejections_suppressed,
        "refused_sessions": snapshot.refused_sessions,
        "refused_sessions_last": (rfc3339(snapshot.refused_sessions_last)
                                  if snapshot.refused_sessions_last is not None else None),
    }
    return document


def offline_document(client_id: str) -> dict[str, Any]:
    """The last will: the broker publishes it when the worker's connection dies uncleanly."""
    return {"state": State.OFFLINE.value, "client_id": client_id, "broker": "down"}


def should_publish(previous: Mapping[str, Any] | None, current: Mapping[str, Any],
                   elapsed_s: float, interval_s: float = STATUS_SECONDS) -> bool:
    """Publish on the first status, on a change of state/broker/store, or once per interval."""
    if previous is None or elapsed_s >= interval_s:
        return True
    return any(previous.get(key) != current.get(key) for key in CHANGE_KEYS)


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (`q` in 0..1); None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class LatencyWindow:
    """The most recent write latencies, for p50/p99 in the status."""

    def __init__(self, size: int = LATENCY_SAMPLES) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, milliseconds: float) -> None:
        self._samples.append(milliseconds)

    def summary(self) -> dict[str, float | None]:
        samples = list(self._samples)
        return {name: None if (v := percentile(samples, q)) is None else round(v, 2)
                for name, q in (("p50", 0.5), ("p99", 0.99))}
