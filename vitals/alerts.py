"""Alert events: the closed vocabularies of the contract and the value an alarm is.

The rules that produce them live in `vitals.rules`; this module is only the shape, so storage,
ingest and dashboard can share it without importing the rule engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vitals.timefmt import rfc3339
from vitals.vital_signs import Metric


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher is more urgent; the worst priority wins when several rules fire."""
        return _RANKS[self._value_]  # a str key: enum hashing and `.value` are Python code


_RANKS = {"low": 1, "medium": 2, "high": 3}


class AlertState(StrEnum):
    ACTIVE = "active"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change of an alarm's state, as stored and published on `<prefix>/<session>/alert`."""

    time: datetime
    session: str
    metric: Metric
    priority: Priority
    state: AlertState
    message: str
    rule: str = ""  # the profile rule that fired, e.g. "systolic.crisis"
    value: float | None = None
    limit: float | None = None
    by: str | None = None  # who acknowledged, for acknowledged events
    note: str | None = None
    # A latched technical alarm's events: when its condition ended (it shows until acknowledged).
    ended: datetime | None = None

    @property
    def key(self) -> AlarmKey:
        """Which of the session's alarms this event is about."""
        return AlarmKey(self.metric, self.rule if self.metric is Metric.DATA else "")

    def restates(self, shown: AlertEvent | None) -> bool:
        """Whether this `active` event only restates `shown`, the alarm already raised: a
        latched technical alarm saying its cause ended or came back keeps its priority and
        raises nothing new (neither an alarm counted nor a new escalation clock)."""
        return (self.state is AlertState.ACTIVE and self.metric is Metric.DATA
                and shown is not None and shown.state is AlertState.ACTIVE
                and shown.key == self.key and shown.priority is self.priority)

    def to_json(self) -> dict[str, object]:
        """The contract's MQTT payload (plus `rule`, and `by`/`note` when set)."""
        document: dict[str, object] = {
            "time": rfc3339(self.time),
            "session": self.session,
            "metric": self.metric.value,
            "priority": self.priority.value,
            "state": self.state.value,
            "value": self.value,
            "limit": self.limit,
            "message": self.message,
            "rule": self.rule,
        }
        if self.by is not None:
            document["by"] = self.by
        if self.note is not None:
            document["note"] = self.note
        if self.ended is not None:
            document["ended"] = rfc3339(self.ended)
        return document


@dataclass(frozen=True, slots=True, order=True)
class AlarmKey:
    """One alarm of a session: one per clinical metric, one per technical cause (`data` alarms
    are told apart by their rule, e.g. `data.stream_silent.hr`), so a silent heart-rate stream
    and a missed check-in each raise, latch, are acknowledged and clear on their own."""

    metric: Metric
    rule: str = ""  # a technical alarm's cause; "" for a clinical metric's one alarm
