"""Values as the embedded store's rows and back (pure, no I/O).

An encoder returns the parameters of its table's write statement (`sqlite_schema`), in its
order; a decoder takes a row as `sqlite3.Row` (by name) or, for readings, `READING_COLUMNS`
(by position).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.parser import truncate
from vitals.readings import (
    DeviceProblem,
    Observation,
    ObservationKind,
    ObservationRetraction,
    Reading,
    Rejection,
    SessionEvent,
    SessionEventType,
    Severity,
)
from vitals.storage.base import MAX_REJECTION_TEXT, NotificationRecord
from vitals.timefmt import from_us, to_us
from vitals.vital_signs import Kind

if TYPE_CHECKING:
    from sqlite3 import Row

# The columns `reading_from` unpacks, in its order (never `*`: a migration appends columns).
READING_COLUMNS: Final = "session, kind, device, time_us, vals, time_inferred, problems"
READING_COLUMNS_OF_R: Final = ", ".join(f"r.{c}" for c in READING_COLUMNS.split(", "))

_KINDS: Final = {kind.value: kind for kind in Kind}


# -- encoding ----------------------------------------------------------------------------------


def reading_row(reading: Reading) -> tuple[Any, ...]:
    return (
        reading.session,
        reading.kind.value,
        reading.device or "",
        to_us(reading.time),
        json.dumps({name: float(value) for name, value in reading.values.items()}),
        int(reading.time_inferred),
        ",".join(p.value for p in reading.problems),
    )


def event_row(e: SessionEvent) -> tuple[Any, ...]:
    return (e.session, e.event.value, to_us(e.time), int(e.time_inferred), e.note, e.by,
            e.label)


def alert_row(a: AlertEvent) -> tuple[Any, ...]:
    return (a.session, a.metric.value, a.rule, a.state.value, to_us(a.time), a.priority.value,
            a.message, a.value, a.limit, a.by, a.note,
            None if a.ended is None else to_us(a.ended))


def observation_row(o: Observation) -> tuple[Any, ...]:
    return (o.session, o.observation.value, o.by or "", to_us(o.time), o.severity.value, o.note,
            int(o.time_inferred))


def retraction_row(r: ObservationRetraction) -> tuple[Any, ...]:
    return (r.session, r.observation.value, to_us(r.observed_at), r.by, to_us(r.time))


def notification_row(n: NotificationRecord) -> tuple[Any, ...]:
    return (n.session, n.metric, n.person, n.channel, n.kind, to_us(n.time), int(n.delivered),
            n.error)


def rejection_row(r: Rejection) -> tuple[Any, ...]:
    return (
        to_us(r.time),
        r.session,
        truncate(r.topic, MAX_REJECTION_TEXT),
        truncate(r.reason, MAX_REJECTION_TEXT),
        truncate(r.payload, MAX_REJECTION_TEXT),
    )


# -- decoding ----------------------------------------------------------------------------------


def reading_from(row: Row) -> Reading:
    # A session view reads hours of 1 Hz readings at once (30,000 for 4 h): positional access
    # (a Row's by-name lookup compares every column name), and values that repeat (a heart
    # rate is one of ~100 numbers) decoded once per distinct JSON text, copied per reading.
    session, kind, device, time_us, vals, time_inferred, problems = row
    return Reading(
        session=session,
        kind=_KINDS[kind],
        time=from_us(time_us),
        values=dict(_values(vals)),
        device=device or None,
        time_inferred=bool(time_inferred),
        problems=tuple(DeviceProblem(p) for p in problems.split(",")) if problems else (),
    )


@functools.lru_cache(maxsize=8192)
def _values(text: str) -> Mapping[str, float]:
    return json.loads(text)  # type: ignore[no-any-return]


def event_from(row: Row) -> SessionEvent:
    return SessionEvent(
        session=row["session"],
        event=SessionEventType(row["event"]),
        time=from_us(row["time_us"]),
        time_inferred=bool(row["time_inferred"]),
        note=row["note"],
        by=row["by"],
        label=row["label"],
    )


def alert_from(row: Row) -> AlertEvent:
    return AlertEvent(
        time=from_us(row["time_us"]),
        session=row["session"],
        metric=Metric(row["metric"]),
        priority=Priority(row["priority"]),
        state=AlertState(row["state"]),
        message=row["message"],
        rule=row["rule"],
        value=row["value"],
        limit=row["limit"],
        by=row["by"],
        note=row["note"],
        ended=None if row["ended_us"] is None else from_us(row["ended_us"]),
    )


def observation_from(row: Row) -> Observation:
    return Observation(
        session=row["session"],
        time=from_us(row["time_us"]),
        observation=ObservationKind(row["observation"]),
        severity=Severity(row["severity"]),
        note=row["note"],
        by=row["by"] or None,
        time_inferred=bool(row["time_inferred"]),
    )


def retraction_from(row: Row) -> ObservationRetraction:
    return ObservationRetraction(row["session"], from_us(row["time_us"]),
                                 ObservationKind(row["observation"]),
                                 from_us(row["observed_us"]), row["by"])


def notification_from(row: Row) -> NotificationRecord:
    return NotificationRecord(from_us(row["time_us"]), row["session"], row["metric"],
                              row["person"], row["channel"], row["kind"], bool(row["delivered"]),
                              row["error"])


def rejection_from(row: Row) -> Rejection:
    return Rejection(
        topic=row["topic"],
        reason=row["reason"],
        payload=row["payload"],
        time=from_us(row["time_us"]),
        session=row["session"],
    )
