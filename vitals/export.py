"""`vitals export`: a session's stored data as the contract's JSON or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

from vitals.alerts import AlertEvent
from vitals.readings import FIELDS, Observation, Reading, SessionEvent
from vitals.storage.base import Store
from vitals.timefmt import rfc3339

# CSV columns: identity first, then every measured field of every kind, in the FIELDS table order.
CSV_COLUMNS = (
    "time", "session", "kind", "device",
    *dict.fromkeys(spec.name for specs in FIELDS.values() for spec in specs),
    "time_inferred", "problems",
)


class UnknownSession(LookupError):
    """Nothing is stored for the session: no reading, event, alert or observation."""


def export_session(store: Store, session: str, fmt: str, out: TextIO) -> None:
    """Write the session's stored data; raises `UnknownSession` (writing nothing, not even a
    CSV header) when nothing is stored for it: a typo must not look like an empty session."""
    readings = store.readings(session)
    alerts, events = store.alerts(session), store.events(session)
    observations = store.observations(session)
    if not (readings or alerts or events or observations):
        raise UnknownSession(session)
    if fmt == "csv":
        write_csv(readings, out)
        return
    document = {
        "session": session,
        "readings": [reading_json(r) for r in readings],
        "alerts": [alert_json(a) for a in alerts],
        "events": [event_json(e) for e in events],
        "observations": [observation_json(o) for o in observations],
    }
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")


def reading_json(reading: Reading) -> dict[str, Any]:
    document: dict[str, Any] = {"time": rfc3339(reading.time), "kind": reading.kind.value}
    document.update(reading.values)
    if reading.device is not None:
        document["device"] = reading.device
    if reading.time_inferred:
        document["time_inferred"] = True
    if reading.problems:
        document["problems"] = [p.value for p in reading.problems]
    return document


def alert_json(alert: AlertEvent) -> dict[str, Any]:
    return {k: v for k, v in alert.to_json().items() if v is not None}


def event_json(event: SessionEvent) -> dict[str, Any]:
    document: dict[str, Any] = {"time": rfc3339(event.time), "event": event.event.value}
    for name in ("note", "by"):
        if getattr(event, name) is not None:
            document[name] = getattr(event, name)
    return document


def observation_json(observation: Observation) -> dict[str, Any]:
    """Every key always present (`note`/`by` null when not recorded), so a reader need not guess."""
    document: dict[str, Any] = {
        "time": rfc3339(observation.time),
        "observation": observation.observation.value,
        "severity": observation.severity.value,
        "note": observation.note,
        "by": observation.by,
    }
    if observation.time_inferred:
        document["time_inferred"] = True
    return document


def write_csv(readings: Iterable[Reading], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for reading in readings:
        row: dict[str, Any] = {
            "time": rfc3339(reading.time),
            "session": reading.session,
            "kind": reading.kind.value,
            "device": reading.device or "",
            "time_inferred": "true" if reading.time_inferred else "false",
            "problems": ";".join(p.value for p in reading.problems),
        }
        row.update({name: number_text(value) for name, value in reading.values.items()})
        writer.writerow(row)


def number_text(value: float) -> str:
    """118.0 as "118", 97.25 as "97.25": exact, no float noise, no scientific notation."""
    return str(int(value)) if value.is_integer() else repr(value)
