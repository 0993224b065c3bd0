"""Refusals in one ingest cycle (no I/O): unbound devices, capped new sessions, unsigned
actions and rejection floods. Each refusal is visible: a rejection with its reason, and a
technical alarm on a live session (issue #16; docs/threat-model.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ingest.pipeline import Inbound, Pipeline
from ingest.rejections import RejectionLimiter
from vitals.admission import Admission
from vitals.alerts import AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile_loader import load_profile
from vitals.signing import sign

T0 = datetime(2026, 11, 28, 17, 5, tzinfo=UTC)
KEY = "k" * 64


def pipeline(**kwargs) -> Pipeline:
    return Pipeline(AlertEngine(load_profile(None)), **kwargs)


def inbound(topic: str, payload: dict | bytes, at: datetime = T0) -> Inbound:
    return Inbound(topic, payload if isinstance(payload, bytes) else json.dumps(payload).encode(),
                   at)


def hr(bpm: float, device: str | None, second: int = 0) -> dict:
    document: dict = {"bpm": bpm, "time": (T0 + timedelta(seconds=second)).isoformat()}
    if device is not None:
        document["device"] = device
    return document


def test_a_reading_from_a_device_the_start_did_not_name_is_refused_with_an_alarm() -> None:
    p = pipeline()
    p.process([inbound("vitals/s1/session", {"event": "start", "time": T0.isoformat(),
                                             "devices": ["ox-1", "cuff-1"]})])
    out = p.process([inbound("vitals/s1/hr", hr(75, "ox-1", 1)),
                     inbound("vitals/s1/hr", hr(190, "cuff-7", 2))])

    assert [r.device for r in out.batch.readings] == ["ox-1"]  # the refused one is not judged
    [rejection] = out.rejections
    assert rejection.session == "s1" and "cuff-7" in rejection.reason
    [alarm] = out.alerts
    assert (alarm.metric, alarm.priority, alarm.state) == (Metric.DATA, Priority.MEDIUM,
                                                           AlertState.ACTIVE)
    assert "unbound device cuff-7" in alarm.message
    again = p.process([inbound("vitals/s1/hr", hr(190, "cuff-7", 3))])
    assert again.alerts == [] and len(again.rejections) == 1  # raised once, refused each time


def test_an_implicitly_started_session_refuses_a_second_device_of_the_same_kind() -> None:
    p = pipeline()
    first = p.process([inbound("vitals/s1/hr", hr(75, "ox-1", 1))])
    assert len(first.batch.readings) == 1 and first.rejections == []
    out = p.process([inbound("vitals/s1/hr", hr(76, "ox-2", 2))])
    assert out.batch.readings == [] and "ox-1" in out.rejections[0].reason
    assert [a.metric for a in out.alerts] == [Metric.DATA]


def test_a_flood_of_new_sessions_is_refused_and_counted_and_live_sessions_are_judged() -> None:
    p = pipeline(admission=Admission(max_sessions_per_device=2),
                 limiter=RejectionLimiter(per_source=3))
    flood = [inbound(f"vitals/f{n}/hr", hr(75, "ox-1")) for n in range(200)]
    out = p.process([*flood, inbound("vitals/f0/hr", hr(190, "ox-1", 5))])

    assert {r.session for r in out.batch.readings} == {"f0", "f1"}
    assert [a.priority for a in out.alerts] == [Priority.HIGH]  # f0's crisis still judged
    assert p.admission.refused_sessions == 198
    assert len(out.rejections) == 3  # the rest counted, summarised when the interval ends
    [summary] = p.tick(T0 + timedelta(minutes=1)).rejections
    assert summary.reason.startswith("195 more rejections from new sessions")


def test_with_an_action_key_an_unsigned_ack_is_refused_and_a_signed_one_applies() -> None:
    p = pipeline(action_key=KEY)
    raised = p.process([inbound("vitals/s1/hr", hr(190, "ox-1"))]).alerts
    assert [a.priority for a in raised] == [Priority.HIGH]
    ack = {"metric": "heart_rate", "by": "intruder",
           "time": (T0 + timedelta(seconds=5)).isoformat()}

    refused = p.process([inbound("vitals/s1/ack", ack)])
    assert "unsigned" in refused.rejections[0].reason
    assert [(a.metric, a.state) for a in refused.alerts] == [(Metric.DATA, AlertState.ACTIVE)]
    assert p.engine.active("s1")[0].state is AlertState.ACTIVE  # heart rate not acknowledged

    signed = {**ack, "by": "dr-who"}
    applied = p.process([inbound("vitals/s1/ack", sign(signed, KEY))])
    assert applied.rejections == []
    assert [(a.metric, a.state) for a in applied.alerts] == [
        (Metric.HEART_RATE, AlertState.ACKNOWLEDGED)]


def test_with_an_action_key_an_unsigned_end_does_not_end_the_session() -> None:
    p = pipeline(action_key=KEY)
    p.process([inbound("vitals/s1/hr", hr(75, "ox-1"))])
    out = p.process([inbound("vitals/s1/session", {"event": "end", "by": "x",
                                                   "time": T0.isoformat()})])
    assert out.batch.events == [] and len(out.rejections) == 1
    assert p.engine.state("s1").ended is None
    signed = p.process([inbound("vitals/s1/session", sign(
        {"event": "end", "by": "dr-who", "time": (T0 + timedelta(seconds=1)).isoformat()}, KEY))])
    assert [e.by for e in signed.batch.events] == ["dr-who"]


def test_without_an_action_key_actions_are_taken_as_before() -> None:
    p = pipeline()
    out = p.process([inbound("vitals/s1/session", {"event": "start", "time": T0.isoformat()})])
    assert len(out.batch.events) == 1 and out.rejections == []


def test_a_flood_of_invalid_readings_stores_a_bounded_sample_and_a_count() -> None:
    p = pipeline(limiter=RejectionLimiter(per_source=5))
    junk = b'{"bpm": 999, "pad": "' + b"x" * 16_000 + b'"}'
    out = p.process([inbound("vitals/flood/hr", junk) for _ in range(2000)]
                    + [inbound("vitals/crisis/hr", hr(190, "ox-9"))])
    assert len(out.batch.rejections) == 5
    assert any(a.session == "crisis" and a.priority is Priority.HIGH for a in out.alerts)
    assert (p.counters.rejected, p.counters.rejections_suppressed) == (2000, 1995)
