"""The InfluxDB schema as line protocol: one line per stored value (pure, no I/O).

Every time in microseconds (the store writes with `precision=u`):

| measurement      | tags                                 | fields                                |
| ---------------- | ------------------------------------ | ------------------------------------- |
| `bp` `hr` `spo2` | `session`, `device` (when known)     | the payload's measured values (float),|
|                  |                                      | `time_inferred` (bool), `problems`    |
|                  |                                      | (string, comma-joined, when present)  |
| `session_event`  | `session`, `event`                   | `time_inferred` (bool), `note`, `by`, |
|                  |                                      | `label` (a start's display label)     |
| `alert`          | `session`, `metric`, `state`, `rule` | `priority`, `message`, `value`,       |
|                  | (`rule` left out when empty)         | `limit` (float), `by`, `note`,        |
|                  |                                      | `ended` (RFC 3339, latched technical) |
| `observation`    | `session`, `observation`, `recorder` | `severity`, `note`, `by` (exact),     |
|                  | (`by` made tag-safe, see `by_tag`)   | `time_inferred` (bool)                |
| `observation_    | `session`, `observation`, `retractor`| `by` (exact), `retracted_at` (RFC     |
|  retraction`     | (time: the observation's own)        | 3339): marked entered in error        |
| `rejection`      | `session` (when the topic named one) | `topic`, `reason`, `payload`          |
| `notification`   | `session`, `metric`, `person`,       | `delivered` (bool), `error`, `name`   |
|                  | `channel`, `kind`                    | (the person exactly)                  |

InfluxDB identifies a point by measurement + tag set + time, and a second write of the same
identity overwrites its fields. The tags are therefore chosen to be exactly the identities of
`vitals.storage.base`: a reading is (session, kind, device, time) and an alert event is (session,
metric, rule, state, time); an observation is (session, observation, by, time), so `by` is (also) a
tag, `recorder`, and `severity` a field (re-recording it with another severity corrects it).
`priority` is a field, not a tag: a rule re-evaluated on a redelivered reading after its
priority escalated must overwrite the stored event, not add a second alarm at the same instant
with a different priority. Two rejections of one session in one batch at the same microsecond
would collide, so later ones are moved forward by 1 µs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from operator import attrgetter
from typing import Any, Final, Generic, TypeVar

from vitals.alerts import AlertEvent
from vitals.parser import truncate
from vitals.readings import Observation, ObservationRetraction, Reading, Rejection, SessionEvent
from vitals.storage import lineprotocol
from vitals.storage.base import MAX_REJECTION_TEXT, Batch, NotificationRecord
from vitals.timefmt import rfc3339, to_us

V = TypeVar("V")

READING_META: Final = frozenset({"time", "session", "device", "time_inferred", "problems"})


@dataclass(frozen=True, slots=True)
class Measurement(Generic[V]):
    """A row of the table above: the measurement of one type of value, the attributes of a value
    that are its point's tags and those that are its fields, in that order. Each is stored under
    its own name, an enum as its value and a time as RFC 3339; None is left out (so is an empty
    tag). `derived` gives the keys that are not a value's attribute as it is."""

    name: str
    tags: tuple[str, ...]
    fields: tuple[str, ...]
    derived: Mapping[str, Callable[[V], Any]] = field(default_factory=dict)
    timed_by: str = "time"  # the attribute that is the point's time
    # (key, how to read it off a value) for the tags, then the fields: looked up once, not on
    # every line (an alert's line is written for each of a drain's ~18,000 alarms).
    _tag_getters: tuple[tuple[str, Callable[[V], Any]], ...] = field(init=False, repr=False)
    _field_getters: tuple[tuple[str, Callable[[V], Any]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        def getters(keys: tuple[str, ...]) -> tuple[tuple[str, Callable[[V], Any]], ...]:
            return tuple((key, self.derived.get(key) or attrgetter(key)) for key in keys)

        object.__setattr__(self, "_tag_getters", getters(self.tags))
        object.__setattr__(self, "_field_getters", getters(self.fields))

    def line(self, value: V, time_us: int | None = None) -> str:
        """`value` as a line, at its own time unless `time_us` is given."""
        return lineprotocol.line(
            self.name,
            {key: _stored(get(value)) for key, get in self._tag_getters},
            {key: _stored(get(value)) for key, get in self._field_getters},
            to_us(getattr(value, self.timed_by)) if time_us is None else time_us,
        )


def _stored(item: Any) -> Any:
    """An enum as its value, a time as RFC 3339, anything else as it is."""
    if isinstance(item, Enum):
        return item.value
    if isinstance(item, datetime):
        return rfc3339(item)
    return item


EVENT: Final[Measurement[SessionEvent]] = Measurement(
    "session_event", tags=("session", "event"), fields=("time_inferred", "note", "by", "label"))
ALERT: Final[Measurement[AlertEvent]] = Measurement(
    "alert", tags=("session", "metric", "state", "rule"),
    fields=("priority", "message", "value", "limit", "by", "note", "ended"))
OBSERVATION: Final[Measurement[Observation]] = Measurement(
    "observation", tags=("session", "observation", "recorder"),
    fields=("severity", "note", "by", "time_inferred"),
    derived={"recorder": lambda o: by_tag(o.by)})
# Timed at the observation it marks: retracting it again overwrites, never adds.
RETRACTION: Final[Measurement[ObservationRetraction]] = Measurement(
    "observation_retraction", tags=("session", "observation", "retractor"),
    fields=("by", "retracted_at"),
    derived={"retractor": lambda r: by_tag(r.by), "retracted_at": lambda r: r.time},
    timed_by="observed_at")
# `person` again as a field, `name`: the exact name, whatever its tag had to become.
NOTIFICATION: Final[Measurement[NotificationRecord]] = Measurement(
    "notification", tags=("session", "metric", "person", "channel", "kind"),
    fields=("delivered", "error", "name"),
    derived={"person": lambda n: by_tag(n.person), "name": lambda n: n.person})
REJECTION: Final[Measurement[Rejection]] = Measurement(
    "rejection", tags=("session",), fields=("topic", "reason", "payload"),
    derived={"topic": lambda r: truncate(r.topic, MAX_REJECTION_TEXT),
             "reason": lambda r: truncate(r.reason, MAX_REJECTION_TEXT),
             "payload": lambda r: truncate(r.payload, MAX_REJECTION_TEXT)})


def batch_lines(batch: Batch) -> list[str]:
    """The line protocol for a whole batch: what `InfluxStore.write` sends."""
    lines = [reading_line(r) for r in batch.readings]
    lines += [EVENT.line(e) for e in batch.events]
    lines += [ALERT.line(a) for a in batch.alerts]
    lines += [OBSERVATION.line(o) for o in batch.observations]
    lines += [RETRACTION.line(r) for r in batch.retractions]
    lines += [NOTIFICATION.line(n) for n in batch.notifications]
    used: set[tuple[str | None, int]] = set()
    for rejection in batch.rejections:
        time_us = to_us(rejection.time)
        while (rejection.session, time_us) in used:
            time_us += 1  # same series, same instant: would overwrite the previous rejection
        used.add((rejection.session, time_us))
        lines.append(REJECTION.line(rejection, time_us))
    return lines


def reading_line(reading: Reading) -> str:
    """A reading's fields are its payload's values (any names but `READING_META`'s)."""
    if not READING_META.isdisjoint(reading.values):
        clash = sorted(READING_META.intersection(reading.values))
        raise ValueError(f"reading value names clash with the schema: {clash}")
    fields: dict[str, lineprotocol.FieldValue | None] = dict(reading.values)
    fields["time_inferred"] = reading.time_inferred
    if reading.problems:
        fields["problems"] = ",".join([p.value for p in reading.problems])
    return lineprotocol.line(
        reading.kind.value,
        {"session": reading.session, "device": reading.device},
        fields,
        to_us(reading.time),
    )


def by_tag(by: str | None) -> str | None:
    """`by` as a tag value. A tag cannot hold a newline, a trailing backslash or be empty; such
    a name (free text from MQTT) is tagged by its hash instead, so it still has one identity."""
    if not by:
        return None
    if "\n" in by or "\r" in by or by.endswith("\\") or by != by.strip():
        return "sha256:" + hashlib.sha256(by.encode()).hexdigest()[:32]
    return by
