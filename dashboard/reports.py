"""Pure builders of a session's exports: CSV, FHIR R4 Bundle, the REMS-style summary (the HTML
clinical summary that uses it is `summary_report.py`).

Stored values in, text or documents out; no store, no request, no clock (the report's "generated
at" arrives as an argument). Served behind the login by `dashboard/exports.py`.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

from vitals.alerts import AlertEvent, AlertState, Metric
from vitals.episodes import alarm_episodes
from vitals.export import number_text as _number_text
from vitals.export import write_csv, write_table
from vitals.readings import (
    OBSERVATION_LABELS,
    Observation,
    ObservationKind,
    Reading,
    SessionEvent,
    SessionEventType,
)
from vitals.sessions import alert_order, raising_events
from vitals.storage.base import NotificationRecord
from vitals.timefmt import local_time, rfc3339
from vitals.vital_signs import VITAL_SIGNS, Code, Kind, VitalSign

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
CATEGORY_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
SESSION_SYSTEM: Final = "urn:session-vitals:session"
# A fixed namespace so the same reading always gets the same entry id (idempotent re-export).
_NAMESPACE: Final = uuid.UUID("6f1c1c62-3c7e-4d0e-9a61-3e2b0f6f9b11")

DISCLAIMER: Final = ("Decision support only — not a certified medical device. Values come from "
                     "the connected devices as stored; verify against the clinical record.")


def number_text(value: float) -> str:
    return _number_text(float(value))


# --- CSV -----------------------------------------------------------------------------------------


def readings_csv(readings: Sequence[Reading]) -> str:
    """The readings as `vitals export --format csv` writes them (one row each, header first),
    with each measured column's unit in its header."""
    out = io.StringIO()
    write_csv(readings, out, units=True)
    return out.getvalue()


ALARM_CSV_COLUMNS: Final = ("time", "session", "metric", "rule", "priority", "state", "value",
                            "limit", "message", "by", "note", "ended")


def alarms_csv(alerts: Sequence[AlertEvent]) -> str:
    """Every alert event (raised, acknowledged, cleared), one row each in time order."""
    out = io.StringIO()
    write_table(out, ALARM_CSV_COLUMNS, (
        (rfc3339(a.time), a.session, a.metric.value, a.rule, a.priority.value, a.state.value,
         a.value, a.limit, a.message, a.by, a.note, None if a.ended is None else rfc3339(a.ended))
        for a in sorted(alerts, key=alert_order)))
    return out.getvalue()


EVENT_CSV_COLUMNS: Final = ("time", "session", "event", "by", "note", "label")


def events_csv(events: Sequence[SessionEvent]) -> str:
    """The session's protocol events (start, dose, check-ins, checklist, override, sign-off,
    notes, end), one row each in time order."""
    out = io.StringIO()
    write_table(out, EVENT_CSV_COLUMNS, (
        (rfc3339(e.time), e.session, e.event.value, e.by, e.note, e.label)
        for e in sorted(events, key=lambda e: e.time)))
    return out.getvalue()


OBSERVATION_CSV_COLUMNS: Final = ("time", "session", "observation", "label", "severity", "by",
                                   "note", "time_inferred", "retracted_by", "retracted_at")


def _observation_label(kind: ObservationKind) -> str:
    return str(OBSERVATION_LABELS.get(kind, kind.value))


def observations_csv(observations: Sequence[Observation]) -> str:
    """The monitor's observations, one row each in time order, header first."""
    out = io.StringIO()
    write_table(out, OBSERVATION_CSV_COLUMNS, (
        (rfc3339(o.time), o.session, o.observation.value, _observation_label(o.observation),
         o.severity.value, o.by, o.note, "true" if o.time_inferred else "false",
         o.retracted_by, None if o.retracted_at is None else rfc3339(o.retracted_at))
        for o in sorted(observations, key=lambda o: o.time)))
    return out.getvalue()


NOTIFICATION_CSV_COLUMNS: Final = ("time", "session", "metric", "person", "channel", "kind",
                                    "delivered", "error")


def notifications_csv(notifications: Sequence[NotificationRecord]) -> str:
    """The notifier's log: one row per delivery on one channel, in time order, header first."""
    out = io.StringIO()
    write_table(out, NOTIFICATION_CSV_COLUMNS, (
        (rfc3339(n.time), n.session, n.metric, n.person, n.channel, n.kind,
         "true" if n.delivered else "false", n.error)
        for n in sorted(notifications, key=lambda n: n.time)))
    return out.getvalue()


def delivery_text(notification: NotificationRecord) -> str:
    """"delivered", or "failed: <the error>"."""
    return ("delivered" if notification.delivered
            else f"failed: {notification.error or 'delivery failed'}")


# --- FHIR R4 -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quantity:
    field: str
    code: Code
    unit: str  # UCUM


@dataclass(frozen=True, slots=True)
class ObservationSpec:
    """How one kind of reading becomes a vital-signs Observation (from its `VitalSign` row)."""

    kind: Kind
    codes: tuple[Code, ...]
    text: str
    profile: str
    value: Quantity | None = None  # a single valueQuantity
    components: tuple[Quantity, ...] = ()  # or a panel of components


def _spec(sign: VitalSign) -> ObservationSpec:
    coded = tuple(Quantity(f.name, f.loinc, f.ucum) for f in sign.fields if f.loinc is not None)
    if sign.panel:
        return ObservationSpec(sign.kind, sign.codes, sign.label, sign.fhir_profile,
                               components=coded)
    main = next(q for q in coded if q.field == sign.main_field)
    return ObservationSpec(sign.kind, sign.codes, sign.label, sign.fhir_profile, value=main)


OBSERVATIONS: Final[tuple[ObservationSpec, ...]] = tuple(_spec(s) for s in VITAL_SIGNS)
_BY_KIND: Final[Mapping[Kind, ObservationSpec]] = {spec.kind: spec for spec in OBSERVATIONS}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _concept(codes: Sequence[Code], text: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": c.code, "display": c.display} for c in codes],
            "text": text}


def session_reference(session: str, resource_type: str,
                      label: str | None = None) -> dict[str, Any]:
    """A logical reference to the session (there is no patient identity in this system). The
    display label names where the session ran (the Encounter's display), never the patient."""
    return {"type": resource_type,
            "identifier": {"system": SESSION_SYSTEM, "value": session},
            "display": f"session {session}" + (f", {label}" if label else "")}


def observation(reading: Reading, label: str | None = None) -> dict[str, Any] | None:
    """One reading as a FHIR R4 vital-signs Observation (None for a kind without a mapping)."""
    spec = _BY_KIND.get(reading.kind)
    if spec is None:
        return None
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns", spec.profile]},
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": "vital-signs",
                                  "display": "Vital Signs"}], "text": "Vital Signs"}],
        "code": _concept(spec.codes, spec.text),
        "subject": session_reference(reading.session, "Patient"),
        "encounter": session_reference(reading.session, "Encounter", label),
        "effectiveDateTime": rfc3339(reading.time),
    }
    if reading.device:
        resource["device"] = {"display": reading.device}
    if spec.value is not None:
        resource["valueQuantity"] = _quantity(reading[spec.value.field], spec.value.unit)
    if spec.components:
        resource["component"] = [
            {"code": _concept((q.code,), q.code.display),
             "valueQuantity": _quantity(reading[q.field], q.unit)}
            for q in spec.components if q.field in reading.values
        ]
    return resource


SNOMED: Final = "http://snomed.info/sct"
OBSERVATION_SYSTEM: Final = "urn:session-vitals:observation"
# The severity qualifiers of SNOMED CT (mild, moderate, severe); "none" is an absent finding.
SEVERITY_SNOMED: Final[Mapping[str, Code]] = {
    "mild": Code("255604002", "Mild"),
    "moderate": Code("6736007", "Moderate"),
    "severe": Code("24484000", "Severe"),
}


def monitor_observation(o: Observation, label: str | None = None) -> dict[str, Any]:
    """An observation by the monitor as a FHIR R4 `exam` Observation: the finding as text in
    this system's own code system (no standard code is claimed), the severity as its value."""
    name = _observation_label(o.observation)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final" if o.retracted_at is None else "entered-in-error",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": "exam",
                                  "display": "Exam"}], "text": "Exam"}],
        "code": {"coding": [{"system": OBSERVATION_SYSTEM, "code": o.observation.value,
                             "display": name}], "text": name},
        "subject": session_reference(o.session, "Patient"),
        "encounter": session_reference(o.session, "Encounter", label),
        "effectiveDateTime": rfc3339(o.time),
    }
    severity = SEVERITY_SNOMED.get(o.severity.value)
    if severity is None:
        resource["valueBoolean"] = False  # looked for, not present
    else:
        resource["valueCodeableConcept"] = {
            "coding": [{"system": SNOMED, "code": severity.code, "display": severity.display}],
            "text": o.severity.value}
    if o.by:
        resource["performer"] = [{"display": o.by}]
    if o.note:
        resource["note"] = [{"text": o.note}]
    return resource


def fhir_bundle(session: str, readings: Sequence[Reading], generated: datetime,
                observations: Sequence[Observation] = (),
                label: str | None = None) -> dict[str, Any]:
    """Every BP, HR and SpO2 reading of the session as vital-signs Observations, and the
    monitor's observations as exam Observations, in a `collection` Bundle. `label`: the
    session's display label, shown on each Observation's encounter."""
    entries = []
    for reading in sorted(readings, key=lambda r: r.time):
        resource = observation(reading, label)
        if resource is None:
            continue
        key = f"{session}/{reading.kind.value}/{rfc3339(reading.time)}/{reading.device or ''}"
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, key)}",
                        "resource": resource})
    for o in sorted(observations, key=lambda o: o.time):
        key = f"{session}/observation/{o.observation.value}/{rfc3339(o.time)}/{o.by or ''}"
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, key)}",
                        "resource": monitor_observation(o, label)})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": {"system": SESSION_SYSTEM, "value": session},
        "timestamp": rfc3339(generated),
        "entry": entries,
    }


# --- REMS-style monitoring summary -------------------------------------------------------------

REASSESS_TOLERANCE: Final = timedelta(minutes=10)  # "approximately 40 minutes"
MIN_MONITORING_MINUTES: Final = 120.0


@dataclass(frozen=True, slots=True)
class BpAt:
    time: datetime
    systolic: float
    diastolic: float
    minutes_from_dose: float | None

    def text(self, zone: tzinfo = UTC) -> str:
        at = "" if self.minutes_from_dose is None else f" (dose {self.minutes_from_dose:+.0f} min)"
        return (f"{self.systolic:.0f}/{self.diastolic:.0f} mmHg at "
                f"{local_time(self.time, zone, '%H:%M')}{at}")


@dataclass(frozen=True, slots=True)
class RemsSummary:
    """The device data in the shape of the Spravato REMS patient monitoring form."""

    session: str
    dosed: datetime | None
    ended: datetime | None
    bp_before_dose: BpAt | None
    bp_near_40: BpAt | None
    bp_before_end: BpAt | None
    duration_minutes: float | None
    duration_met: bool
    vitals_in_range: bool
    # One per alarm raised (`vitals.episodes`), the event of its highest priority: an alarm
    # raised from low to medium is one alarm, as the report's alarm table lists it.
    alarms: tuple[AlertEvent, ...] = field(default_factory=tuple)
    acknowledgements: tuple[AlertEvent, ...] = field(default_factory=tuple)
    observations: tuple[Observation, ...] = field(default_factory=tuple)  # in time order


# The REMS monitoring form's own questions about what the monitor saw.
REMS_OBSERVATIONS: Final = (ObservationKind.SEDATION, ObservationKind.DISSOCIATION,
                            ObservationKind.RESPIRATORY_DEPRESSION)


def _protocol(events: Sequence[SessionEvent]) -> tuple[datetime | None, datetime | None]:
    dose = next((e.time for e in sorted(events, key=lambda e: e.time)
                 if e.event is SessionEventType.DOSE), None)
    end = next((e.time for e in sorted(events, key=lambda e: e.time, reverse=True)
                if e.event is SessionEventType.END), None)
    return dose, end


def rems_summary(session: str, events: Sequence[SessionEvent], readings: Sequence[Reading],
                 alerts: Sequence[AlertEvent], reassessment_minutes: float = 40,
                 observations: Sequence[Observation] = ()) -> RemsSummary:
    """BP before dosing (the last before the dose), near 40 minutes (the closest to dose + 40
    within 10 min), before the end (the last after the dose, up to the end); the monitoring
    duration from dose to end (else to the last reading); in range when no clinical alarm was
    raised after the dose."""
    dosed, ended = _protocol(events)
    bps = sorted((r for r in readings if r.kind is Kind.BP), key=lambda r: r.time)

    def at(reading: Reading | None) -> BpAt | None:
        if reading is None:
            return None
        since = None if dosed is None else (reading.time - dosed).total_seconds() / 60
        return BpAt(reading.time, reading["systolic"], reading["diastolic"], since)

    before = [r for r in bps if dosed is not None and r.time <= dosed]
    after = [r for r in bps if dosed is not None and r.time > dosed
             and (ended is None or r.time <= ended)]
    near: Reading | None = None
    if dosed is not None:
        target = dosed + timedelta(minutes=reassessment_minutes)
        close = [r for r in after if abs(r.time - target) <= REASSESS_TOLERANCE]
        near = min(close, key=lambda r: abs(r.time - target), default=None)
    last_time = ended or (max(r.time for r in readings) if readings else None)
    duration = (None if dosed is None or last_time is None
                else max(0.0, (last_time - dosed).total_seconds() / 60))
    ordered = sorted(alerts, key=lambda a: a.time)
    raised = raising_events(ordered)
    clinical_after_dose = [a for a in raised if a.metric is not Metric.DATA
                           and (dosed is None or a.time >= dosed)]
    return RemsSummary(
        session=session,
        dosed=dosed,
        ended=ended,
        bp_before_dose=at(before[-1] if before else None),
        bp_near_40=at(near),
        bp_before_end=at(after[-1] if after else None),
        duration_minutes=duration,
        duration_met=duration is not None and duration >= MIN_MONITORING_MINUTES,
        vitals_in_range=not clinical_after_dose,
        alarms=tuple(e.worst for e in alarm_episodes(ordered, ended)),
        acknowledgements=tuple(a for a in ordered if a.state is AlertState.ACKNOWLEDGED),
        observations=tuple(sorted(observations, key=lambda o: o.time)),
    )


def observed_answer(observations: Sequence[Observation], kind: ObservationKind,
                    dosed: datetime | None, zone: tzinfo = UTC) -> str:
    """The answer to "did the patient show <kind>?" from the monitor's log: the worst severity
    recorded and when it was first recorded; "none recorded" is not "no" (nobody said so)."""
    found = [o for o in observations if o.observation is kind and o.retracted_at is None]
    if not found:
        return "none recorded by the monitor"
    seen = [o for o in found if o.severity.rank > 0]
    if not seen:
        last = found[-1]
        return (f"no (checked by {last.by or 'the monitor'} at "
                f"{local_time(last.time, zone, '%H:%M')})")
    worst = max(seen, key=lambda o: o.severity.rank)
    first = seen[0]
    at = "" if dosed is None else f" (dose {(first.time - dosed).total_seconds() / 60:+.0f} min)"
    return (f"yes — {worst.severity.value} at worst; first recorded "
            f"{local_time(first.time, zone, '%H:%M')}{at}"
            f" by {first.by or 'the monitor'}; {len(seen)} entr{'y' if len(seen) == 1 else 'ies'}")


def rems_rows(summary: RemsSummary, zone: tzinfo = UTC) -> list[tuple[str, str]]:
    """The summary as the form's questions and the answers from the device data, times on the
    clinic's clock (`zone`)."""
    def bp(value: BpAt | None) -> str:
        return "not measured" if value is None else value.text(zone)

    duration = ("unknown (no dose recorded)" if summary.duration_minutes is None
                else f"{summary.duration_minutes:.0f} min"
                + ("" if summary.duration_met else f" (less than {MIN_MONITORING_MINUTES:g})"))
    return [
        ("Dose administered", "not recorded" if summary.dosed is None
         else local_time(summary.dosed, zone, "%Y-%m-%d %H:%M")),
        ("Blood pressure before dosing", bp(summary.bp_before_dose)),
        ("Blood pressure approximately 40 minutes after dosing", bp(summary.bp_near_40)),
        ("Blood pressure before the end of monitoring", bp(summary.bp_before_end)),
        ("Total monitoring time after dosing", duration),
        ("Vital signs within range throughout (no clinical alarm after dosing)",
         "yes" if summary.vitals_in_range else "no"),
        ("Alarms raised", f"{len(summary.alarms)} (" + ", ".join(
            f"{p}: {sum(a.priority.value == p for a in summary.alarms)}"
            for p in ("high", "medium", "low")) + ")"),
        *((f"{_observation_label(kind)} (monitor's observation)",
           observed_answer(summary.observations, kind, summary.dosed, zone))
          for kind in REMS_OBSERVATIONS),
        ("Other observations", _other_observations(summary.observations)),
    ]


def _other_observations(observations: Sequence[Observation]) -> str:
    counts: dict[str, int] = {}
    for o in observations:
        if (o.observation not in REMS_OBSERVATIONS and o.severity.rank > 0
                and o.retracted_at is None):
            name = _observation_label(o.observation)
            counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} ({n})" for name, n in counts.items()) or "none recorded"
