"""Query answers of InfluxDB's v1 `/query` (JSON, `epoch=u`) decoded into values (pure, no I/O).

A result is the list of series one InfluxQL statement answered: each series a `name`, its GROUP BY
`tags` and rows of `values` in the order of its `columns`. The schema is `influx_lines`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
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
from vitals.storage.base import NotificationRecord
from vitals.storage.influx_lines import READING_META
from vitals.timefmt import from_us
from vitals.vital_signs import Kind

Row = dict[str, Any]
Series = Mapping[str, Any]  # one series of a query's JSON answer: name, tags, columns, values


def rows(result: Sequence[Series]) -> Iterator[Row]:
    for series in result:
        columns = series["columns"]
        for values in series["values"]:
            yield dict(zip(columns, values, strict=True))


def grouped(result: Sequence[Series]) -> Iterator[tuple[str, dict[str, str], Row]]:
    for series in result:
        columns = series["columns"]
        for values in series["values"]:
            yield series["name"], series.get("tags") or {}, dict(zip(columns, values, strict=True))


def series_readings(kind: Kind, series: Series) -> Iterator[Reading]:
    """The readings of one result series, decoded column-wise: a 4-hour session at 1 Hz is
    tens of thousands of rows, and a dict per row (`rows`) was most of the session view's
    load time. What is the same for the whole series (tags) is looked up once."""
    columns = series["columns"]
    tags = series.get("tags") or {}  # GROUP BY tags: no column of their own

    def column(name: str) -> int | None:
        return columns.index(name) if name in columns else None

    at, session_at, device_at = columns.index("time"), column("session"), column("device")
    inferred_at, problems_at = column("time_inferred"), column("problems")
    fields = [(i, name) for i, name in enumerate(columns) if name not in READING_META]
    session = tags.get("session", "")
    device = tags.get("device") or None
    for values in series["values"]:
        problems = None if problems_at is None else values[problems_at]
        yield Reading(
            session if session_at is None else values[session_at],
            kind,
            from_us(values[at]),
            {name: float(values[i]) for i, name in fields if values[i] is not None},
            device if device_at is None else (values[device_at] or None),
            inferred_at is not None and bool(values[inferred_at]),
            tuple(DeviceProblem(p) for p in problems.split(",")) if problems else (),
        )


def newest_by_session(
    result: Sequence[Series], into: dict[str, dict[Kind, Reading]] | None = None
) -> dict[str, dict[Kind, Reading]]:
    """The newest reading per session and kind from the answer to `InfluxStore._latest`'s
    statement (one series per session and device): the newest device's, at one instant the
    greater device id."""
    latest: dict[str, dict[Kind, Reading]] = {} if into is None else into
    for series in result:
        kind = Kind(measurement_kind(series["name"]))
        # Column 0 is time, column 1 the selector's own copy of time_inferred: dropped.
        selected = {
            **series,
            "columns": [c for i, c in enumerate(series["columns"]) if i != 1],
            "values": [[v for i, v in enumerate(row) if i != 1] for row in series["values"]],
        }
        for reading in series_readings(kind, selected):
            per_kind = latest.setdefault(reading.session, {})
            current = per_kind.get(kind)
            if current is None or _newer(reading, current):
                per_kind[kind] = reading
    return latest


class _Sessioned(Protocol):
    @property
    def session(self) -> str: ...


S = TypeVar("S", bound=_Sessioned)


def _by_session(result: Sequence[Series], wanted: Sequence[str], decode: Callable[[Row], S],
                order: Callable[[S], Any]) -> dict[str, list[S]]:
    """Each wanted session's decoded rows (none: []), sorted by `order`."""
    found: dict[str, list[S]] = {session: [] for session in wanted}
    for row in rows(result):
        item = decode(row)
        if item.session in found:  # belt and braces: never hand out an unlisted session
            found[item.session].append(item)
    for items in found.values():
        items.sort(key=order)
    return found


def events_by_session(result: Sequence[Series],
                      wanted: Sequence[str]) -> dict[str, list[SessionEvent]]:
    return _by_session(result, wanted, event_from, lambda e: (e.time, e.event.value))


def alerts_by_session(result: Sequence[Series],
                      wanted: Sequence[str]) -> dict[str, list[AlertEvent]]:
    return _by_session(result, wanted, alert_from,
                       lambda a: (a.time, a.metric.value, a.rule, a.state.value))


def trends_by_session(mean_results: Sequence[Sequence[Series]], bp_result: Sequence[Series],
                      wanted: Sequence[str]) -> dict[str, list[Reading]]:
    """Each wanted session's trend from `InfluxStore.trends`'s answers: a reading per bucket of
    each `mean(*)` statement (its columns `mean_<field>`), and the raw BP readings."""
    found: dict[str, list[Reading]] = {session: [] for session in wanted}
    # Thousands of rows per refresh: a plain loop over the columns, no dict per row.
    for series in (s for result in mean_results for s in result):
        session = (series.get("tags") or {}).get("session", "")
        if session not in found:
            continue
        kind = Kind(measurement_kind(series["name"]))
        columns = series["columns"]
        fields = [(i, c.removeprefix("mean_")) for i, c in enumerate(columns) if c != "time"]
        at = columns.index("time")
        out = found[session]
        for values in series["values"]:
            means = {f: float(values[i]) for i, f in fields if values[i] is not None}
            if means:
                out.append(Reading(session, kind, from_us(values[at]), means))
    for series in bp_result:
        for reading in series_readings(Kind.BP, series):
            if reading.session in found:
                found[reading.session].append(reading)
    for readings in found.values():
        readings.sort(key=lambda r: (r.time, r.kind.value, r.device or ""))
    return found


def measurement_kind(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def event_from(row: Row) -> SessionEvent:
    return SessionEvent(
        session=row["session"],
        event=SessionEventType(row["event"]),
        time=from_us(row["time"]),
        time_inferred=bool(row.get("time_inferred")),
        note=row.get("note"),
        by=row.get("by"),
        label=row.get("label"),
    )


def alert_from(row: Row) -> AlertEvent:
    return AlertEvent(
        time=from_us(row["time"]),
        session=row["session"],
        metric=Metric(row["metric"]),
        priority=Priority(row["priority"]),
        state=AlertState(row["state"]),
        message=row.get("message") or "",
        rule=row.get("rule") or "",
        value=_float(row.get("value")),
        limit=_float(row.get("limit")),
        by=row.get("by"),
        note=row.get("note"),
        ended=datetime.fromisoformat(row["ended"]) if row.get("ended") else None,
    )


def observation_from(row: Row) -> Observation:
    return Observation(
        session=row["session"],
        time=from_us(row["time"]),
        observation=ObservationKind(row["observation"]),
        severity=Severity(row["severity"]),
        note=row.get("note"),
        by=row.get("by") or None,
        time_inferred=bool(row.get("time_inferred")),
    )


def retraction_from(row: Row) -> ObservationRetraction:
    return ObservationRetraction(row["session"], datetime.fromisoformat(row["retracted_at"]),
                                 ObservationKind(row["observation"]), from_us(row["time"]),
                                 row["by"])


def notification_from(row: Row) -> NotificationRecord:
    return NotificationRecord(
        from_us(row["time"]), row["session"], row["metric"], row.get("name") or "",
        row["channel"], row["kind"], bool(row.get("delivered")), row.get("error"))


def rejection_from(row: Row) -> Rejection:
    return Rejection(
        topic=row.get("topic") or "",
        reason=row.get("reason") or "",
        payload=row.get("payload") or "",
        time=from_us(row["time"]),
        session=row.get("session") or None,
    )


def _newer(reading: Reading, than: Reading) -> bool:
    """Newest first; at one instant the greater device id (no device the least)."""
    return (reading.time, reading.device or "") > (than.time, than.device or "")


def _float(value: Any) -> float | None:
    return None if value is None else float(value)

