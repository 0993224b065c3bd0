"""The one reading of an ingest worker's retained status document (pure): is it judging alarms?

`ingest/health.py` writes the document; the dashboard's pipeline banner (`dashboard.health`) and
`vitals check` (`vitals.check`) both read it through `worker_health`, so the screen and the
operator's check can never disagree about which worker is down and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

SILENT_AFTER_INTERVALS: Final = 3  # the document's contract: no fresh status for 3 x interval_s
DEFAULT_INTERVAL_S: Final = 5.0  # `ingest.health.STATUS_SECONDS`, for a document without one
REFUSED_SHOWN_SECONDS: Final = 600  # a refused new session is news for this long


class Condition(StrEnum):
    JUDGING = "judging"  # running, fresh, connected: it judges every session (the store aside)
    STOPPED = "stopped"  # stopped on purpose, everything it received stored
    OFFLINE = "offline"  # its last will: it vanished
    FAILED = "failed"  # connected, but one of its threads died: it judges or stores nothing
    SILENT = "silent"  # no fresh status: it may have hung, or the network between
    BROKER_LOST = "broker_lost"  # running, but without the MQTT broker: it hears nothing
    UNKNOWN = "unknown"  # a state this reader does not know


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    name: str
    state: str  # as the document says it
    condition: Condition
    age_s: float | None  # since the document's time
    store_down: bool  # it cannot write: alarms are judged, nothing is stored
    store_down_since: str | None
    window: int | None
    backlog: int | None
    window_full: bool  # holding its whole in-flight window: newer readings wait unjudged
    refused: str | None  # recent readings refused for starting too many sessions

    @property
    def judging(self) -> bool:
        return self.condition is Condition.JUDGING


def document_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def worker_health(document: Mapping[str, Any], now: datetime, key: str = "?") -> WorkerHealth:
    """What one status document says (`key`: its topic, the name when it names no client id)."""
    name = str(document.get("client_id") or key)
    state = str(document.get("state") or "?")
    at = document_time(document.get("time"))
    age = None if at is None else (now - at).total_seconds()
    interval = document.get("interval_s")
    interval_s = float(interval) if isinstance(interval, int | float) and interval > 0 \
        else DEFAULT_INTERVAL_S
    if state == "offline":
        condition = Condition.OFFLINE
    elif state == "stopped":
        condition = Condition.STOPPED
    elif state == "failed":
        condition = Condition.FAILED
    elif state != "running":
        condition = Condition.UNKNOWN
    elif age is None or age > SILENT_AFTER_INTERVALS * interval_s:
        condition = Condition.SILENT
    elif document.get("broker") == "down":
        condition = Condition.BROKER_LOST
    else:
        condition = Condition.JUDGING
    window, backlog = document.get("window"), document.get("backlog")
    window = window if isinstance(window, int) else None
    backlog = backlog if isinstance(backlog, int) else None
    since = document.get("store_down_since")
    return WorkerHealth(
        name=name, state=state, condition=condition, age_s=age,
        store_down=condition is Condition.JUDGING and document.get("store") == "down",
        store_down_since=since if isinstance(since, str) else None,
        window=window, backlog=backlog,
        window_full=bool(window and backlog is not None and backlog >= window),
        refused=_refused(document, now),
    )


def workers_health(statuses: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]],
                   now: datetime) -> tuple[WorkerHealth, ...]:
    """Every worker's health, by name (`statuses`: documents by topic, or just documents)."""
    pairs = (statuses.items() if isinstance(statuses, Mapping)
             else ((str(d.get("client_id") or "?"), d) for d in statuses))
    return tuple(sorted((worker_health(d, now, k) for k, d in pairs), key=lambda w: w.name))


def _refused(document: Mapping[str, Any], now: datetime) -> str | None:
    last = document.get("refused_sessions_last")
    at = document_time(last)
    if at is None or (now - at).total_seconds() > REFUSED_SHOWN_SECONDS:
        return None
    return (f"refused readings that would start {document.get('refused_sessions')} new "
            f"sessions (one source may start only a few, docs/threat-model.md), the last at "
            f"{last}: a device account may be misused")
