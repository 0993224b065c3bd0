"""Readings, session events and alerts built in a line, around a fixed NOW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import Reading, SessionEvent, SessionEventType
from vitals.vital_signs import Kind

NOW = datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)


def bp(session: str, at: datetime, systolic: float, diastolic: float) -> Reading:
    return Reading(session, Kind.BP, at, {"systolic": systolic, "diastolic": diastolic},
                   device="cuff-1")


def hr(session: str, at: datetime, bpm: float) -> Reading:
    return Reading(session, Kind.HR, at, {"bpm": bpm}, device="ox-1")


def spo2(session: str, at: datetime, value: float, pulse: float | None = None) -> Reading:
    values = {"spo2": value} if pulse is None else {"spo2": value, "pulse": pulse}
    return Reading(session, Kind.SPO2, at, values, device="ox-1")


def event(session: str, at: datetime, kind: SessionEventType) -> SessionEvent:
    return SessionEvent(session, kind, at)


def alert(session: str, at: datetime, metric: Metric, priority: Priority,
          state: AlertState = AlertState.ACTIVE, message: str = "", value: float | None = None,
          rule: str = "") -> AlertEvent:
    return AlertEvent(at, session, metric, priority, state, message or f"{metric} {priority}",
                      rule=rule or f"{metric}.{priority}", value=value)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
