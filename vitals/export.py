"""`vitals export`: a session's stored data as the contract's JSON or CSV.

Every CSV the project writes (this export, the dashboard's readings.csv and observations.csv)
goes through `write_table`, which neutralises spreadsheet formulas in text cells.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, Final, TextIO

from vitals.alerts import AlertEvent
from vitals.readings import Observation, Reading, SessionEvent
from vitals.storage.base import NotificationRecord, Store
from vitals.timefmt import rfc3339
from vitals.vital_signs import FIELDS

# CSV columns: identity first, then every measured field of every kind, in the FIELDS table order.
MEASURED_COLUMNS = tuple(dict.fromkeys(spec.name for specs in FIELDS.values() for spec in specs))
CSV_COLUMNS = ("time", "session", "kind", "device", *MEASURED_COLUMNS, "time_inferred", "problems")
_UNITS: Final = {spec.name: spec.unit for specs in FIELDS.values() for spec in specs}
assert all(spec.unit == _UNITS[spec.name] for specs in FIELDS.values() for spec in specs), \
    "a measured field's unit is the same in every kind, so one column holds it"
# The dashboard's readings.csv, for a clinician's spreadsheet: the same columns, units named.
# (`vitals export --format csv` keeps the payload's bare names: scripts read it by them.)
CSV_COLUMNS_WITH_UNITS = ("time", "session", "kind", "device",
                          *(f"{name} ({_UNITS[name]})" for name in MEASURED_COLUMNS),
                          "time_inferred", "problems")


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
        "notifications": [notification_json(n) for n in store.notifications(session)],
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
    if observation.retracted_at is not None:  # entered in error: kept, marked
        document["retracted_by"] = observation.retracted_by
        document["retracted_at"] = rfc3339(observation.retracted_at)
    return document


def notification_json(notification: NotificationRecord) -> dict[str, Any]:
    """Who was told about which alarm, how, when, and whether it arrived (`error` null if so)."""
    return {"time": rfc3339(notification.time), "metric": notification.metric,
            "person": notification.person, "channel": notification.channel,
            "kind": notification.kind, "delivered": notification.delivered,
            "error": notification.error}


def write_csv(readings: Iterable[Reading], out: TextIO, units: bool = False) -> None:
    write_table(out, CSV_COLUMNS_WITH_UNITS if units else CSV_COLUMNS, (
        (rfc3339(reading.time), reading.session, reading.kind.value, reading.device,
         *(reading.values.get(name) for name in MEASURED_COLUMNS),
         "true" if reading.time_inferred else "false",
         ";".join(p.value for p in reading.problems))
        for reading in readings))


# OWASP CSV injection: a spreadsheet runs a cell starting with one of these as a formula
# (`=HYPERLINK(...)`, `@SUM(...)`, `-2+3`); a leading `'` makes it text, and shows nothing.
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def write_table(out: TextIO, columns: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    """A header row and `rows`: numbers as `number_text` (a negative number stays a number),
    None as an empty cell, any other cell as text that cannot start a formula."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(float(value))
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def number_text(value: float) -> str:
    """118.0 as "118", 97.25 as "97.25": exact, no float noise, no scientific notation."""
    return str(int(value)) if value.is_integer() else repr(value)
