"""The vital signs, one row each: everything the ingest, the rules, the stores, the dashboard
and the exports need to know about a kind of reading is in `VITAL_SIGNS` or derived from it.

Adding a vital sign is adding its `Kind`, its `Metric` and its row here (as Home Assistant
declares a sensor by its entity description), then its rules in the profile, its topic in the
broker's ACL and, for the demo, its signal in the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    """What a reading measures; also its MQTT topic leaf and its InfluxDB measurement."""

    BP = "bp"
    HR = "hr"
    SPO2 = "spo2"
    RR = "rr"


class Metric(StrEnum):
    """What an alarm is about: a vital sign's measure (each in one `VitalSign.measures`), or
    one of the two technical vocabularies."""

    SYSTOLIC = "systolic"
    DIASTOLIC = "diastolic"
    HEART_RATE = "heart_rate"
    SPO2 = "spo2"
    RESPIRATORY_RATE = "respiratory_rate"
    DATA = "data"  # technical alarms: no readings, device-reported problems, missed check-ins
    # Alarms raised by a monitor's observation (issue 8): an extension of the contract's
    # vocabulary. They latch until acknowledged; an observation has no "back in range".
    OBSERVATION = "observation"


@dataclass(frozen=True, slots=True)
class Code:
    """A LOINC code and its display name (the FHIR export's coding)."""

    code: str
    display: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One measured field of a payload: its name, unit and plausible range (inclusive), and
    its LOINC code and UCUM unit where the FHIR export carries it."""

    name: str
    unit: str
    low: float
    high: float
    required: bool = True
    label: str = ""  # as a report's table names it ("Systolic BP")
    loinc: Code | None = None
    ucum: str = ""


@dataclass(frozen=True, slots=True)
class Measure:
    """An alarm metric as the screens name it, and the field of its vital sign it reads first
    (the profile's `[metrics.<metric>] sources` rank any others)."""

    metric: Metric
    field: str
    label: str  # "Systolic", as a table names it
    short: str  # "SBP", as a limit line names it
    # Its trace's colour on the dark screen, as bedside monitors colour them, and on paper.
    colour: str
    print_colour: str


@dataclass(frozen=True, slots=True)
class Chart:
    """How the session chart draws a vital sign: its panel's axis range and share of the
    chart's height."""

    axis: tuple[float, float]
    height: float
    # Faint "crisis" bands (below, above): below the first limit and above the second, each to
    # the axis' edge; None: no band on that side.
    band: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True, slots=True)
class VitalSign:
    """One vital sign, one row: everything the ingest, the dashboard, the stores and the
    exports need to know about a kind of reading is here or derived from here."""

    kind: Kind  # topic leaf, InfluxDB measurement
    label: str  # "Blood pressure", as headings say it
    short: str  # "BP", as a tile names it
    words: str  # "blood pressure", inside a sentence (alarm messages)
    device: str  # what measures it, as alarms and the dashboard name it
    fields: tuple[FieldSpec, ...]
    main_field: str  # the field a trend is drawn and thinned by
    stale_after: timedelta  # older than this, a value is stale on the tile
    stream: bool  # a continuous stream (seconds apart), trended by its mean per bucket
    codes: tuple[Code, ...]  # the FHIR Observation's code (first is primary)
    fhir_profile: str
    measures: tuple[Measure, ...]  # the alarm metrics it is the first source of, as shown
    chart: Chart
    panel: bool = False  # the FHIR Observation is a panel of components, not one value
    # Optional: not every session has the device (a capnograph). Shown once a session has it;
    # its absence is neither "pending" before a session nor a missing-data alarm.
    optional: bool = False

    @property
    def unit(self) -> str:
        return self.field(self.main_field).unit

    def field(self, name: str) -> FieldSpec:
        return next(spec for spec in self.fields if spec.name == name)


VITAL_SIGNS: Final[tuple[VitalSign, ...]] = (
    VitalSign(
        Kind.BP, "Blood pressure", "BP", "blood pressure", "cuff",
        (FieldSpec("systolic", "mmHg", 50, 260, label="Systolic BP",
                   loinc=Code("8480-6", "Systolic blood pressure"), ucum="mm[Hg]"),
         FieldSpec("diastolic", "mmHg", 30, 160, label="Diastolic BP",
                   loinc=Code("8462-4", "Diastolic blood pressure"), ucum="mm[Hg]"),
         FieldSpec("pulse", "/min", 27, 220, required=False, label="Pulse (BP cuff)"),
         FieldSpec("mean_arterial", "mmHg", 30, 230, required=False,
                   label="Mean arterial pressure")),
        # BP every 10 min by the guidance, x 1.5
        main_field="systolic", stale_after=timedelta(minutes=15), stream=False,
        codes=(Code("85354-9", "Blood pressure panel with all children optional"),),
        fhir_profile="http://hl7.org/fhir/StructureDefinition/bp",
        measures=(Measure(Metric.SYSTOLIC, "systolic", "Systolic", "SBP", "#f1f5f9", "#111827"),
                  Measure(Metric.DIASTOLIC, "diastolic", "Diastolic", "DBP", "#94a3b8",
                          "#6b7280")),
        chart=Chart((40, 220), 0.46, band=(None, 180)), panel=True,
    ),
    VitalSign(
        Kind.HR, "Heart rate", "HR", "heart rate", "HR sensor",
        (FieldSpec("bpm", "/min", 27, 220, label="Heart rate", loinc=Code("8867-4", "Heart rate"),
                   ucum="/min"),),
        # a 30 s gap in a stream is already a technical alarm
        main_field="bpm", stale_after=timedelta(seconds=30), stream=True,
        codes=(Code("8867-4", "Heart rate"),),
        fhir_profile="http://hl7.org/fhir/StructureDefinition/heartrate",
        measures=(Measure(Metric.HEART_RATE, "bpm", "Heart rate", "HR", "#4ade80", "#15803d"),),
        chart=Chart((30, 160), 0.30),
    ),
    VitalSign(
        Kind.SPO2, "Oxygen saturation", "SpO2", "SpO2", "oximeter",
        (FieldSpec("spo2", "%", 50, 100, label="SpO2", loinc=Code(
            "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"), ucum="%"),
         FieldSpec("pulse", "/min", 27, 220, required=False, label="Pulse (oximeter)")),
        main_field="spo2", stale_after=timedelta(seconds=30), stream=True,
        codes=(Code("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
               Code("2708-6", "Oxygen saturation in Arterial blood")),
        fhir_profile="http://hl7.org/fhir/StructureDefinition/oxygensat",
        measures=(Measure(Metric.SPO2, "spo2", "SpO2", "SpO2", "#60a5fa", "#1d4ed8"),),
        chart=Chart((80, 101), 0.24, band=(90, None)),
    ),
    VitalSign(
        Kind.RR, "Respiratory rate", "RR", "respiratory rate", "capnograph",
        (FieldSpec("rate", "/min", 4, 60, label="Respiratory rate",
                   loinc=Code("9279-1", "Respiratory rate"), ucum="/min"),),
        main_field="rate", stale_after=timedelta(seconds=30), stream=True,
        codes=(Code("9279-1", "Respiratory rate"),),
        fhir_profile="http://hl7.org/fhir/StructureDefinition/resprate",
        measures=(Measure(Metric.RESPIRATORY_RATE, "rate", "Respiratory rate", "RR", "#fbbf24",
                          "#92400e"),),
        chart=Chart((0, 40), 0.20, band=(8, None)), optional=True,
    ),
)
SIGNS: Final[Mapping[Kind, VitalSign]] = {sign.kind: sign for sign in VITAL_SIGNS}
assert set(SIGNS) == set(Kind), "every kind of reading has its row in VITAL_SIGNS"
FIELDS: Final[Mapping[Kind, tuple[FieldSpec, ...]]] = {s.kind: s.fields for s in VITAL_SIGNS}

MEASURES: Final[Mapping[Metric, Measure]] = {
    measure.metric: measure for sign in VITAL_SIGNS for measure in sign.measures}
# The metrics a limit rule may judge: every vital sign's measures, in the table's order.
LIMIT_METRICS: Final[tuple[Metric, ...]] = tuple(MEASURES)
assert set(LIMIT_METRICS) == set(Metric) - {Metric.DATA, Metric.OBSERVATION}, \
    "every vital metric is a measure of exactly one vital sign"
# The metrics every session must have measured before its pre-session verdict is reached.
REQUIRED_METRICS: Final[tuple[Metric, ...]] = tuple(
    m.metric for sign in VITAL_SIGNS if not sign.optional for m in sign.measures)
KIND_OF_METRIC: Final[Mapping[Metric, Kind]] = {
    measure.metric: sign.kind for sign in VITAL_SIGNS for measure in sign.measures}
