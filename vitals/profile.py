"""The alert profile's schema: thresholds as data, every part validated as it is built.

A `Profile` holds the limit rules per metric, observation rules, the presence check-in and the
technical, cadence, pre-session and discharge settings; `vitals.profile_loader` builds one from
`vitals/profiles/default.toml` and a clinic's overrides. Every limit rule names its source.

Observation rules (`[observation_rules."..."]`) and the presence check-in (`[checkin]`) live in
the same file: a rule whose value is a local decision rather than a cited one says so with
`source = "clinic_choice"` and a `note` explaining the choice.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vitals.alerts import Metric, Priority
from vitals.readings import OBSERVATION_LABELS, ObservationKind, Severity
from vitals.vital_signs import LIMIT_METRICS, SIGNS, Kind

_CONDITION = re.compile(r"^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


class Comparison(StrEnum):
    """How a value is compared with a limit; the alarm side is the side the operator holds on."""

    GE = ">="
    GT = ">"
    LE = "<="
    LT = "<"

    def holds(self, value: float, limit: float) -> bool:
        return _OPERATORS[self._value_](value, limit)  # a str key: enum hashing is Python code

    @property
    def alarms_above(self) -> bool:
        """True when the alarm is above the limit."""
        return self in (Comparison.GE, Comparison.GT)

    def inside_by(self, value: float, limit: float, margin: float) -> bool:
        """Whether `value` is back inside the limit by at least `margin` (hysteresis)."""
        return value <= limit - margin if self.alarms_above else value >= limit + margin

    @property
    def words(self) -> str:
        return {">=": "at or above", ">": "above", "<=": "at or below", "<": "below"}[self.value]


_OPERATORS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    Comparison.GE.value: operator.ge,
    Comparison.GT.value: operator.gt,
    Comparison.LE.value: operator.le,
    Comparison.LT.value: operator.lt,
}

# Fields a message template may use; a template naming any other fails at load.
_TEMPLATE_FIELDS: Final = {
    "label": "Systolic", "value": "186", "unit": "mmHg", "limit": "180", "baseline": "120",
    "offset": "20", "seconds": "15", "cadence": "10", "kind": "bp", "problems": "cuff loose",
    "source": "cuff",
}


def _check_template(template: str) -> str:
    try:
        template.format(**_TEMPLATE_FIELDS)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"message template {template!r} is invalid: {err!r}") from err
    return template


# Fields an observation rule's message may use.
_OBSERVATION_TEMPLATE_FIELDS: Final = {
    "label": "Respiratory depression", "observation": "respiratory_depression",
    "severity": "moderate", "by": "nurse-a", "note": "shallow breathing", "time": "09:40",
    "while_label": "Sedation", "while_severity": "moderate", "minutes": "30",
}
_CHECKIN_TEMPLATE_FIELDS: Final = {"value": "17", "interval": "15", "limit": "17"}
CLINIC_CHOICE: Final = "clinic_choice"


def _check_fields(template: str, fields: Mapping[str, str]) -> str:
    try:
        template.format(**fields)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"message template {template!r} is invalid: {err!r}") from err
    return template


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The device a source's kind of reading comes from, as alarms and the dashboard name it.
SOURCE_DEVICES: Final = {kind: sign.device for kind, sign in SIGNS.items()}


def source_label(source: str) -> str:
    """'bp.pulse' -> 'cuff': the device a "kind.field" source is read from."""
    return SOURCE_DEVICES[Kind(source.partition(".")[0])]


class MetricSpec(_Model):
    label: str
    unit: str
    # "kind.field" in rank order: a source is judged only while every one listed before it
    # is stale (issue 17: the HR stream, then the oximeter's pulse, then the cuff's).
    sources: tuple[str, ...] = Field(min_length=1)
    margin: float = Field(ge=0)

    @model_validator(mode="after")
    def _sources_are_fields(self) -> MetricSpec:
        for source in self.sources:
            kind, _, name = source.partition(".")
            if kind not in Kind.__members__.values() or not name:
                raise ValueError(f"source {source!r} must be '<bp|hr|spo2>.<field>'")
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("sources: each source once (the order is the rank)")
        return self

    def ranked_above(self, source: str) -> tuple[str, ...]:
        """The sources that outrank `source` (listed before it)."""
        return self.sources[: self.sources.index(source)]

    def sources_in(self, kind: Kind) -> list[str]:
        """The field names of `kind` this metric reads, in the order of `sources`."""
        return [name for source_kind, _, name in (s.partition(".") for s in self.sources)
                if source_kind == kind.value]


class LimitRule(_Model):
    """One row of the profile table: a limit on one metric, with its priority and source."""

    id: str
    metric: Metric
    priority: Priority
    comparison: Comparison
    threshold: float | None = None
    baseline_offset: float | None = None
    sustained_seconds: float = Field(default=0, ge=0)
    message: str
    source: str
    enabled: bool = True

    @model_validator(mode="after")
    def _one_limit(self) -> LimitRule:
        if self.metric not in LIMIT_METRICS:
            raise ValueError("limit rules apply to systolic, diastolic, heart_rate or spo2")
        if (self.threshold is None) == (self.baseline_offset is None):
            raise ValueError("give exactly one of threshold or baseline_offset")
        _check_template(self.message)
        return self

    @property
    def relative(self) -> bool:
        return self.baseline_offset is not None

    def limit(self, baseline: float | None) -> float | None:
        """The limit in force; None for a baseline rule while there is no baseline."""
        if self.threshold is not None:
            return self.threshold
        if baseline is None:
            return None
        assert self.baseline_offset is not None
        return baseline + self.baseline_offset


class ObservationWhile(_Model):
    """The "while" of an observation rule: another observation recorded near it in time."""

    observations: tuple[ObservationKind, ...] = Field(min_length=1)
    min_severity: Severity = Severity.MILD
    within_minutes: float = Field(gt=0)

    def matches(self, kind: ObservationKind, severity: Severity) -> bool:
        return kind in self.observations and severity.rank >= self.min_severity.rank


class ObservationRule(_Model):
    """A row of `[observation_rules]`: which observations, from what severity, raise what.

    `observations` empty means any kind. With `while_`, the rule needs an observation of
    another kind within `within_minutes` of this one, before or after it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str
    observations: tuple[ObservationKind, ...] = ()
    min_severity: Severity = Severity.MILD
    while_: ObservationWhile | None = Field(default=None, alias="while")
    priority: Priority
    message: str
    source: str
    note: str = ""  # why, for a clinic choice; shown beside the rule
    enabled: bool = True

    @model_validator(mode="after")
    def _valid(self) -> ObservationRule:
        if self.min_severity is Severity.NONE:
            raise ValueError("min_severity 'none' would alarm on 'not seen': use mild or above")
        if self.source == CLINIC_CHOICE and not self.note.strip():
            raise ValueError("a clinic_choice rule needs a note saying why")
        _check_fields(self.message, _OBSERVATION_TEMPLATE_FIELDS)
        return self

    def matches(self, kind: ObservationKind, severity: Severity) -> bool:
        """Whether an observation is this rule's own (the while condition aside)."""
        return ((not self.observations or kind in self.observations)
                and severity.rank >= self.min_severity.rank)

    def render(self, kind: ObservationKind, severity: Severity, by: str | None,
               note: str | None, time: str, partner: tuple[ObservationKind, Severity] | None
               ) -> str:
        fields = {
            "label": OBSERVATION_LABELS[kind], "observation": kind.value,
            "severity": severity.value, "by": by or "the monitor", "note": note or "",
            "time": time, "while_label": "", "while_severity": "", "minutes": "",
        }
        if partner is not None and self.while_ is not None:
            fields.update(while_label=OBSERVATION_LABELS[partner[0]],
                          while_severity=partner[1].value,
                          minutes=f"{self.while_.within_minutes:g}")
        return self.message.format(**fields)


class Checkin(_Model):
    """Presence check-ins: expected every `interval_minutes` once a session opted in."""

    interval_minutes: float = Field(gt=0)
    grace_minutes: float = Field(ge=0)
    # False: a session is watched for check-ins only after its first one, so a device-only
    # session is never told it has no monitor. True: from the session's start.
    required_from_start: bool = False
    message: str
    source: str
    note: str = ""

    @model_validator(mode="after")
    def _valid(self) -> Checkin:
        if self.source == CLINIC_CHOICE and not self.note.strip():
            raise ValueError("a clinic_choice setting needs a note saying why")
        _check_fields(self.message, _CHECKIN_TEMPLATE_FIELDS)
        return self

    @property
    def limit_minutes(self) -> float:
        return self.interval_minutes + self.grace_minutes


class Hysteresis(_Model):
    consecutive: int = Field(ge=1)
    source: str


class Escalation(_Model):
    after_minutes: float = Field(gt=0)
    source: str


class Technical(_Model):
    source: str
    bp_gap_low_factor: float = Field(gt=1)
    bp_gap_medium_factor: float = Field(gt=1)
    stream_seconds: float = Field(gt=0)
    bp_gap_message: str
    stream_message: str
    device_problem_message: str

    @model_validator(mode="after")
    def _valid(self) -> Technical:
        if self.bp_gap_medium_factor < self.bp_gap_low_factor:
            raise ValueError("bp_gap_medium_factor must be at least bp_gap_low_factor")
        for template in (self.bp_gap_message, self.stream_message, self.device_problem_message):
            _check_template(template)
        return self


class Cadence(_Model):
    early_minutes: float = Field(gt=0)
    early_period_minutes: float = Field(ge=0)
    late_minutes: float = Field(gt=0)
    reassessment_minutes: float = Field(gt=0)
    reassessment_window_minutes: float = Field(ge=0)
    source: str

    def minutes_at(self, minutes_since_dose: float | None) -> float:
        """The BP cadence in force at a moment (early cadence before the dose)."""
        if minutes_since_dose is None or minutes_since_dose < self.early_period_minutes:
            return self.early_minutes
        return self.late_minutes


class Condition(_Model):
    """`>= 140`: a comparison and a number, written as a string in the profile."""

    comparison: Comparison
    value: float

    def holds(self, value: float) -> bool:
        return self.comparison.holds(value, self.value)

    def __str__(self) -> str:
        return f"{self.comparison.value} {self.value:g}"


def _conditions(raw: Any) -> Any:
    if not isinstance(raw, list | tuple):
        return raw
    out = []
    for item in raw:
        if isinstance(item, str):
            match = _CONDITION.match(item)
            if not match:
                raise ValueError(f"condition {item!r} must look like '>= 140'")
            out.append({"comparison": match[1], "value": float(match[2])})
        else:
            out.append(item)
    return out


class Bands(_Model):
    caution: tuple[Condition, ...] = ()
    no_go: tuple[Condition, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: _conditions(value) for key, value in data.items()}
        return data


class Discharge(_Model):
    min_minutes_since_dose: float = Field(ge=0)
    bp_min_apart_minutes: float = Field(ge=0)
    systolic_below: float
    diastolic_below: float
    rise_tolerance: float = Field(ge=0)
    heart_rate_min: float
    heart_rate_max: float
    spo2_min: float
    reminder: str
    source: str


class Profile(_Model):
    """A complete, validated alert profile. `origin` says which files and overrides made it."""

    name: str = Field(min_length=1)
    description: str = ""
    origin: tuple[str, ...] = ()
    sources: dict[str, str]
    metrics: dict[Metric, MetricSpec]
    rules: dict[str, LimitRule]
    hysteresis: Hysteresis
    escalation: Escalation
    technical: Technical
    cadence: Cadence
    presession: dict[Metric, Bands]
    discharge: Discharge
    observation_rules: dict[str, ObservationRule] = Field(default_factory=dict)
    checkin: Checkin

    @model_validator(mode="before")
    @classmethod
    def _rule_ids_from_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("rules"), Mapping):
            rules = {
                key: ({"id": key, **value} if isinstance(value, Mapping) else value)
                for key, value in data["rules"].items()
            }
            data = {**data, "rules": rules}
        if isinstance(data, Mapping) and isinstance(data.get("observation_rules"), Mapping):
            rules = {
                key: ({"id": key, **value} if isinstance(value, Mapping) else value)
                for key, value in data["observation_rules"].items()
            }
            data = {**data, "observation_rules": rules}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        missing = [m.value for m in LIMIT_METRICS if m not in self.metrics]
        if missing:
            raise ValueError(f"metrics needs an entry for {', '.join(missing)}")
        if Metric.DATA in self.metrics:
            raise ValueError("metrics.data: the data metric has no limits")
        for key, rule in self.rules.items():
            if rule.id != key:
                raise ValueError(f"rules.{key}: id must match the key")
            if rule.source not in self.sources:
                raise ValueError(f"rules.{key}.source: {rule.source!r} is not a key of [sources]")
        for key, seen_rule in self.observation_rules.items():
            if seen_rule.id != key:
                raise ValueError(f"observation_rules.{key}: id must match the key")
            if seen_rule.source not in self.sources:
                raise ValueError(f"observation_rules.{key}.source: {seen_rule.source!r} is not a "
                                 "key of [sources]")
        for section in ("hysteresis", "escalation", "technical", "cadence", "discharge",
                        "checkin"):
            source = getattr(self, section).source
            if source not in self.sources:
                raise ValueError(f"{section}.source: {source!r} is not a key of [sources]")
        return self

    @property
    def source_path(self) -> str:
        """Where the profile in force came from, for the UI: 'default.toml + clinic.toml'."""
        return " + ".join(self.origin) if self.origin else self.name

    def rules_for(self, metric: Metric) -> tuple[LimitRule, ...]:
        """The enabled limit rules of a metric, in profile order."""
        return self._tables().rules.get(metric, ())

    def fields_of(self, kind: Kind) -> tuple[tuple[Metric, tuple[str, ...]], ...]:
        """The limit metrics a reading of `kind` can carry, each with the payload fields it
        takes from it (`MetricSpec.sources_in`, decided once), in `LIMIT_METRICS` order."""
        return self._tables().fields[kind]

    def sources_of(self, kind: Kind) -> tuple[tuple[Metric, str, str, tuple[str, ...]], ...]:
        """Each value a reading of `kind` can carry, in `fields_of` order: (metric, field,
        its "kind.field" source, the sources that outrank it (`MetricSpec.ranked_above`)),
        decided once per profile rather than for every reading."""
        return self._tables().sources[kind]

    def _tables(self) -> _Tables:
        # Looked up on every reading; a profile is immutable, so the tables are computed once
        # per profile object (held in the cache so its id cannot be reused while cached).
        cached = _TABLES.get(id(self))
        if cached is None or cached[0] is not self:
            if len(_TABLES) > 64:
                _TABLES.clear()
            rules = {
                m: tuple(r for r in self.rules.values() if r.metric is m and r.enabled)
                for m in LIMIT_METRICS
            }
            fields = {
                kind: tuple((m, names) for m in LIMIT_METRICS
                            if (names := tuple(self.metrics[m].sources_in(kind))))
                for kind in Kind
            }
            sources = {
                kind: tuple((m, name, f"{kind.value}.{name}",
                             self.metrics[m].ranked_above(f"{kind.value}.{name}"))
                            for m, names in fields[kind] for name in names)
                for kind in Kind
            }
            cached = _TABLES[id(self)] = (self, _Tables(rules, fields, sources))
        return cached[1]

    def source_text(self, key: str) -> str:
        return self.sources.get(key, key)


@dataclass(frozen=True, slots=True)
class _Tables:
    rules: dict[Metric, tuple[LimitRule, ...]]
    fields: dict[Kind, tuple[tuple[Metric, tuple[str, ...]], ...]]
    sources: dict[Kind, tuple[tuple[Metric, str, str, tuple[str, ...]], ...]]


_TABLES: dict[int, tuple[Profile, _Tables]] = {}
