"""The session timeline: protocol, cadence, payloads exactly as the contract has them, merging."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from simulators.scenarios import SCENARIOS
from simulators.timeline import TOPIC_LEAVES, SimMessage, merge, session_messages
from vitals.parser import parse
from vitals.readings import (
    Observation,
    ObservationKind,
    Reading,
    SessionEvent,
    SessionEventType,
    Severity,
)
from vitals.timefmt import rfc3339

START = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@cache
def normal(seed: int = 0) -> tuple[SimMessage, ...]:
    return tuple(session_messages("normal", "s-normal", START, seed))


def of(messages: tuple[SimMessage, ...] | list[SimMessage], leaf: str) -> list[SimMessage]:
    return [m for m in messages if m.leaf == leaf]


@pytest.mark.parametrize("seed", [0])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_generated_payload_parses_as_a_reading_session_event_or_observation(
    name: str, seed: int
) -> None:
    for message in session_messages(name, "s-parse", START, seed):
        topic = f"vitals/{message.session}/{message.leaf}"
        parsed = parse(topic, json.dumps(message.payload).encode(), message.time)
        assert isinstance(parsed, Reading | SessionEvent | Observation), parsed
        assert parsed.time == message.time and not parsed.time_inferred


def test_the_timelines_publish_on_exactly_the_declared_topic_leaves() -> None:
    # TOPIC_LEAVES is what the ACL test publishes with the simulator account: a leaf a timeline
    # gains must be declared there, or the broker could drop it unseen.
    used = {m.leaf for name in SCENARIOS for m in session_messages(name, "s-leaves", START, 0)}
    assert used == set(TOPIC_LEAVES)


def test_session_starts_is_dosed_after_10_minutes_and_ends_120_minutes_after_the_dose() -> None:
    events = [(m.offset, m.payload["event"]) for m in of(normal(), "session")
              if m.payload["event"] != "checkin"]
    assert events == [(timedelta(0), "start"), (10 * MINUTE, "dose"), (130 * MINUTE, "end")]
    assert normal()[0].payload["event"] == "start"
    assert normal()[-1].payload["event"] == "end"


def test_messages_are_in_time_order() -> None:
    offsets = [m.offset for m in normal()]
    assert offsets == sorted(offsets)


def test_two_baseline_bp_readings_come_before_the_dose() -> None:
    before = [m for m in of(normal(), "bp") if m.offset < 10 * MINUTE]
    assert len(before) == 2 and before[0].offset > timedelta(0)


def test_bp_is_measured_every_5_minutes_after_the_dose_by_default() -> None:
    after = [m.offset - 10 * MINUTE for m in of(normal(), "bp") if m.offset > 10 * MINUTE]
    assert after == [k * 5 * MINUTE for k in range(1, 25)]


def test_a_bp_reading_near_40_minutes_is_added_to_a_sparse_cadence() -> None:
    messages = session_messages("normal", "s-sparse", START, 0, cuff_interval=15 * MINUTE)
    after = [m.offset - 10 * MINUTE for m in of(messages, "bp") if m.offset > 10 * MINUTE]
    assert 40 * MINUTE in after
    assert after == sorted({*(k * 15 * MINUTE for k in range(1, 9)), 40 * MINUTE})


@pytest.mark.parametrize(("interval", "count"), [(timedelta(seconds=5), 1560),
                                                 (timedelta(seconds=30), 260)])
def test_hr_and_spo2_are_sampled_every_stream_interval_until_the_end(
    interval: timedelta, count: int
) -> None:
    messages = session_messages("normal", "s-stream", START, 0, stream_interval=interval)
    for leaf in ("hr", "spo2"):
        offsets = [m.offset for m in of(messages, leaf)]
        assert len(offsets) == count
        assert offsets == [k * interval for k in range(count)]


def test_payloads_carry_exactly_the_contract_fields_as_device_integers() -> None:
    bp, hr, spo2 = (of(normal(), leaf)[0].payload for leaf in ("bp", "hr", "spo2"))
    assert set(bp) == {"systolic", "diastolic", "pulse", "time", "device"}
    assert set(hr) == {"bpm", "time", "device"}
    assert set(spo2) == {"spo2", "pulse", "time", "device"}
    assert bp["device"] == "cuff-1" and hr["device"] == spo2["device"] == "oximeter-1"
    for payload in (bp, hr, spo2):
        assert all(type(v) is int for k, v in payload.items() if k not in ("time", "device"))


def test_payload_time_is_start_plus_offset_in_rfc3339() -> None:
    for message in normal()[:50]:
        assert message.time == START + message.offset
        assert message.payload["time"] == rfc3339(START + message.offset)
    assert normal()[-1].payload["time"] == "2026-11-28T19:10:00Z"


def test_the_start_event_names_the_scenario() -> None:
    start = of(normal(), "session")[0]
    assert start.payload["event"] == SessionEventType.START
    assert "normal" in start.payload["note"]


def test_same_seed_gives_the_same_timeline_and_another_seed_a_different_one() -> None:
    first = session_messages("normal", "s-a", START, 5)
    assert session_messages("normal", "s-a", START, 5) == first
    assert session_messages("normal", "s-a", START, 6) != first


def test_device_dropout_silences_hr_and_spo2_for_4_minutes_then_resumes() -> None:
    messages = session_messages("device-dropout", "s-drop", START, 0)
    for leaf in ("hr", "spo2"):
        offsets = [m.offset for m in of(messages, leaf)]
        gaps = [(a, b) for a, b in itertools.pairwise(offsets)
                if b - a > timedelta(seconds=5)]
        assert gaps == [(40 * MINUTE - timedelta(seconds=5), 44 * MINUTE)]
    assert len(of(messages, "bp")) == len(of(normal(), "bp"))


def test_cuff_error_flags_readings_and_repeats_each_a_minute_later() -> None:
    messages = session_messages("cuff-error", "s-cuff", START, 0)
    flagged = [(m.offset, m.payload["problems"]) for m in of(messages, "bp")
               if "problems" in m.payload]
    assert flagged == [(32 * MINUTE, ["cuff_loose"]), (62 * MINUTE, ["body_movement"])]
    repeats = [m for m in of(messages, "bp") if m.offset in (33 * MINUTE, 63 * MINUTE)]
    assert len(repeats) == 2 and all("problems" not in m.payload for m in repeats)


def test_merge_interleaves_sessions_by_time_and_keeps_every_message() -> None:
    a = session_messages("normal", "s-a", START, 1)
    b = session_messages("tachycardia", "s-b", START + timedelta(seconds=2), 2)
    merged = merge([a, b])
    assert len(merged) == len(a) + len(b)
    assert [m.time for m in merged] == sorted(m.time for m in merged)
    assert [m for m in merged if m.session == "s-a"] == a
    assert [m for m in merged if m.session == "s-b"] == b


@pytest.mark.parametrize(
    ("session_id", "start"),
    [("bad id", START), ("x" * 65, START), ("s-ok", datetime(2026, 11, 28, 17, 0))],
)
def test_invalid_session_id_or_naive_start_is_refused(session_id: str, start: datetime) -> None:
    with pytest.raises(ValueError):
        session_messages("normal", session_id, start, 0)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_simulated_monitor_checks_in_every_15_minutes_from_the_start(name: str) -> None:
    messages = session_messages(name, "s-checkin", START, 0)
    checkins = [m for m in of(messages, "session") if m.payload["event"] == "checkin"]
    assert [m.offset for m in checkins] == [k * 15 * MINUTE for k in range(9)]  # 0 .. 120 < 130
    assert {m.payload["by"] for m in checkins} == {"sim-monitor"}
    assert [m.payload["event"] for m in messages if m.leaf == "session"][:2] == [
        "start", "checkin"]


def test_a_session_without_a_monitor_has_no_checkins() -> None:
    messages = session_messages("normal", "s-alone", START, 0, checkin_interval=None)
    assert all(m.payload.get("event") != "checkin" for m in messages)


def test_the_normal_scenario_records_mild_nausea_20_minutes_after_the_dose() -> None:
    seen = of(normal(), "observation")
    assert [(m.offset, m.payload["observation"], m.payload["severity"], m.payload["by"])
            for m in seen] == [(30 * MINUTE, "nausea", "mild", "sim-monitor")]
    parsed = parse("vitals/s-normal/observation", json.dumps(seen[0].payload).encode(),
                   seen[0].time)
    assert parsed == Observation("s-normal", START + 30 * MINUTE, ObservationKind.NAUSEA,
                                 Severity.MILD, seen[0].payload["note"], "sim-monitor")


def test_the_respiratory_depression_scenario_records_it_as_moderate() -> None:
    messages = session_messages("respiratory-depression", "s-rd", START, 0)
    assert ("respiratory_depression", "moderate") in [
        (m.payload["observation"], m.payload["severity"]) for m in of(messages, "observation")]
