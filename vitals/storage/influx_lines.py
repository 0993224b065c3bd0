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
from typing import Final

from vitals.alerts import AlertEvent
from vitals.readings import (
    Observation,
    ObservationRetraction,
    Reading,
    Rejection,
    SessionEvent,
    truncate,
)
from vitals.storage import lineprotocol
from vitals.storage.base import MAX_REJECTION_TEXT, Batch, NotificationRecord
from vitals.timefmt import rfc3339, to_us

EVENT: Final = "session_event"
ALERT: Final = "alert"
REJECTION: Final = "rejection"
OBSERVATION: Final = "observation"
RETRACTION: Final = "observation_retraction"
NOTIFICATION: Final = "notification"
READING_META: Final = frozenset({"time", "session", "device", "time_inferred", "problems"})


def batch_lines(batch: Batch) -> list[str]:
    """The line protocol for a whole batch: what `InfluxStore.write` sends."""
    lines = [reading_line(r) for r in batch.readings]
    lines += [event_line(e) for e in batch.events]
    lines += [alert_line(a) for a in batch.alerts]
    lines += [observation_line(o) for o in batch.observations]
    lines += [retraction_line(r) for r in batch.retractions]
    lines += [notification_line(n) for n in batch.notifications]
    used: set[tuple[str | None, int]] = set()
    for rejection in batch.rejections:
        time_us = to_us(rejection.time)
        while (rejection.session, time_us) in used:
            time_us += 1  # same series, same instant: would overwrite the previous rejection
        used.add((rejection.session, time_us))
        lines.append(rejection_line(rejection, time_us))
    return lines


def reading_line(reading: Reading) -> str:
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


def event_line(event: SessionEvent) -> str:
    return lineprotocol.line(
        EVENT,
        {"session": event.session, "event": event.event.value},
        {"time_inferred": event.time_inferred, "note": event.note, "by": event.by,
         "label": event.label},
        to_us(event.time),
    )


def alert_line(alert: AlertEvent) -> str:
    return lineprotocol.line(
        ALERT,
        {
            "session": alert.session,
            "metric": alert.metric.value,
            "state": alert.state.value,
            "rule": alert.rule or None,
        },
        {
            "priority": alert.priority.value,
            "message": alert.message,
            "value": alert.value,
            "limit": alert.limit,
            "by": alert.by,
            "note": alert.note,
            "ended": None if alert.ended is None else rfc3339(alert.ended),
        },
        to_us(alert.time),
    )


def observation_line(observation: Observation) -> str:
    return lineprotocol.line(
        OBSERVATION,
        {
            "session": observation.session,
            "observation": observation.observation.value,
            "recorder": by_tag(observation.by),
        },
        {
            "severity": observation.severity.value,
            "note": observation.note,
            "by": observation.by,
            "time_inferred": observation.time_inferred,
        },
        to_us(observation.time),
    )


def retraction_line(retraction: ObservationRetraction) -> str:
    """Timed at the observation it marks: retracting it again overwrites, never adds."""
    return lineprotocol.line(
        RETRACTION,
        {
            "session": retraction.session,
            "observation": retraction.observation.value,
            "retractor": by_tag(retraction.by),
        },
        {"by": retraction.by, "retracted_at": rfc3339(retraction.time)},
        to_us(retraction.observed_at),
    )


def notification_line(notification: NotificationRecord) -> str:
    return lineprotocol.line(
        NOTIFICATION,
        {
            "session": notification.session,
            "metric": notification.metric,
            "person": by_tag(notification.person),
            "channel": notification.channel,
            "kind": notification.kind,
        },
        # `person` again as a field: the exact name, whatever its tag had to become.
        {"delivered": notification.delivered, "error": notification.error,
         "name": notification.person},
        to_us(notification.time),
    )


def by_tag(by: str | None) -> str | None:
    """`by` as a tag value. A tag cannot hold a newline, a trailing backslash or be empty; such
    a name (free text from MQTT) is tagged by its hash instead, so it still has one identity."""
    if not by:
        return None
    if "\n" in by or "\r" in by or by.endswith("\\") or by != by.strip():
        return "sha256:" + hashlib.sha256(by.encode()).hexdigest()[:32]
    return by


def rejection_line(rejection: Rejection, time_us: int | None = None) -> str:
    return lineprotocol.line(
        REJECTION,
        {"session": rejection.session},
        {
            "topic": truncate(rejection.topic, MAX_REJECTION_TEXT),
            "reason": truncate(rejection.reason, MAX_REJECTION_TEXT),
            "payload": truncate(rejection.payload, MAX_REJECTION_TEXT),
        },
        to_us(rejection.time) if time_us is None else time_us,
    )
