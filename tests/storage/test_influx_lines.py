"""The schema's lines for what is not a plain attribute: names as tags, a second time, a second
name (pure: no server). Readings, events and alerts: `test_lineprotocol.py`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import Observation, ObservationKind, ObservationRetraction, Severity
from vitals.storage.base import NotificationRecord
from vitals.storage.influx_lines import ALERT, NOTIFICATION, OBSERVATION, RETRACTION

T = datetime(2026, 11, 28, 17, 5, 0, 123456, tzinfo=UTC)
T_US = 1_795_885_500_123_456


def test_observation_is_tagged_by_its_recorder_and_keeps_the_exact_name_as_a_field() -> None:
    observation = Observation("s1", T, ObservationKind.NAUSEA, Severity.MILD, by="dr b")
    assert OBSERVATION.line(observation) == (
        "observation,observation=nausea,recorder=dr\\ b,session=s1 "
        f'severity="mild",by="dr b",time_inferred=false {T_US}'
    )


def test_a_recorder_no_tag_can_hold_is_tagged_by_its_hash() -> None:
    observation = Observation("s1", T, ObservationKind.NAUSEA, Severity.MILD, by="dr b\n")
    assert OBSERVATION.line(observation) == (
        "observation,observation=nausea,recorder=sha256:8bf6ca670989d097c294c789c0346542,"
        f'session=s1 severity="mild",by="dr b\n",time_inferred=false {T_US}'
    )


def test_retraction_is_timed_at_the_observation_and_keeps_its_own_time_as_a_field() -> None:
    retraction = ObservationRetraction("s1", T + timedelta(minutes=5), ObservationKind.NAUSEA, T,
                                       "dr c")
    assert RETRACTION.line(retraction) == (
        "observation_retraction,observation=nausea,retractor=dr\\ c,session=s1 "
        f'by="dr c",retracted_at="2026-11-28T17:10:00.123456Z" {T_US}'
    )


def test_notification_tags_the_person_and_keeps_the_exact_name_as_a_field() -> None:
    record = NotificationRecord(T, "s1", "spo2", "Dr, B", "mailtos", "alarm", False, "timeout")
    assert NOTIFICATION.line(record) == (
        "notification,channel=mailtos,kind=alarm,metric=spo2,person=Dr\\,\\ B,session=s1 "
        f'delivered=false,error="timeout",name="Dr, B" {T_US}'
    )


def test_a_latched_alarm_keeps_when_its_condition_ended_as_rfc3339() -> None:
    alert = AlertEvent(T, "s1", Metric.SPO2, Priority.LOW, AlertState.ACTIVE, "probe off",
                       "spo2.probe", ended=T + timedelta(seconds=30))
    assert ALERT.line(alert) == (
        "alert,metric=spo2,rule=spo2.probe,session=s1,state=active "
        f'priority="low",message="probe off",ended="2026-11-28T17:05:30.123456Z" {T_US}'
    )
