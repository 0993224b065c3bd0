"""The payload parser: every artefact bound, every required field, every refusal has a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitals.parser import InvalidMessage, decode_json_strictly, from_json_or_standard, parse
from vitals.readings import (
    MAX_NOTE_CHARS,
    MAX_PAYLOAD_BYTES,
    MAX_TIME_AHEAD,
    OBSERVATION_LABELS,
    REJECTED_PAYLOAD_CHARS,
    DeviceProblem,
    Observation,
    ObservationKind,
    ObservationRetraction,
    Reading,
    Rejection,
    SessionEvent,
    SessionEventType,
    Severity,
)
from vitals.vital_signs import Kind

RECEIVED = datetime(2026, 11, 28, 17, 30, 0, tzinfo=UTC)  # after the stated times (none ahead)


def parsed(topic: str, document: object) -> Reading | SessionEvent | Rejection:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse(topic, payload, RECEIVED)


def reason(topic: str, document: object) -> str:
    result = parsed(topic, document)
    assert isinstance(result, Rejection), f"expected a rejection, got {result!r}"
    assert result.reason, "a rejection always carries a reason"
    return result.reason


def test_a_blood_pressure_reading_keeps_its_values_device_and_time():
    reading = parsed("vitals/s1/bp", {"systolic": 128, "diastolic": 84, "pulse": 76,
                                      "time": "2026-11-28T17:05:00Z", "device": "cuff-1"})
    assert reading == Reading(
        session="s1", kind=Kind.BP, time=datetime(2026, 11, 28, 17, 5, tzinfo=UTC),
        values={"systolic": 128.0, "diastolic": 84.0, "pulse": 76.0}, device="cuff-1")


def test_heart_rate_and_spo2_readings_parse_under_the_payload_names():
    hr = parsed("vitals/s1/hr", {"bpm": 76, "device": "oximeter-1"})
    spo2 = parsed("vitals/s1/spo2", {"spo2": 97.5, "pulse": 75})
    assert (hr.kind, dict(hr.values)) == (Kind.HR, {"bpm": 76.0})
    assert (spo2.kind, dict(spo2.values)) == (Kind.SPO2, {"spo2": 97.5, "pulse": 75.0})


def test_a_reading_without_time_takes_the_receive_time_and_says_so():
    reading = parsed("vitals/s1/hr", {"bpm": 70})
    assert reading.time == RECEIVED
    assert reading.time_inferred is True


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-28T17:05:00Z", datetime(2026, 11, 28, 17, 5, tzinfo=UTC)),
    ("2026-11-28T18:05:00+01:00", datetime(2026, 11, 28, 17, 5, tzinfo=UTC)),
    ("2026-11-28T12:05:00.250-05:00", datetime(2026, 11, 28, 17, 5, 0, 250000, tzinfo=UTC)),
    ("2026-11-28t17:05:00.123456z", datetime(2026, 11, 28, 17, 5, 0, 123456, tzinfo=UTC)),
])
def test_rfc3339_times_with_an_offset_are_converted_to_utc(text, expected):
    assert parsed("vitals/s1/hr", {"bpm": 70, "time": text}).time == expected


# RECEIVED is 17:30:00Z; MAX_TIME_AHEAD is 5 s.
@pytest.mark.parametrize(("text", "time", "inferred"), [
    ("2026-11-28T17:30:00Z", datetime(2026, 11, 28, 17, 30, tzinfo=UTC), False),
    ("2026-11-28T17:30:05Z", datetime(2026, 11, 28, 17, 30, 5, tzinfo=UTC), False),  # at the bound
    ("2026-11-28T17:30:05.000001Z", RECEIVED, True),   # just past it
    ("2026-11-28T17:30:29Z", RECEIVED, True),          # under the 30 s stream limit, still ahead
    ("2026-11-28T18:30:06+01:00", RECEIVED, True),     # ahead once converted to UTC
    ("2099-01-01T00:00:00Z", RECEIVED, True),
    ("9999-12-31T23:59:59-05:00", RECEIVED, True),     # past the calendar once in UTC
    ("2020-01-01T00:00:00Z", datetime(2020, 1, 1, tzinfo=UTC), False),  # late: no bound
])
def test_a_time_ahead_of_the_receive_time_by_more_than_the_bound_takes_the_receive_time(
        text, time, inferred):
    assert timedelta(seconds=5) == MAX_TIME_AHEAD
    for topic, document in [("vitals/s1/hr", {"bpm": 70}),
                            ("vitals/s1/session", {"event": "checkin", "by": "nurse-a"}),
                            ("vitals/s1/observation", {"observation": "nausea"})]:
        result = parsed(topic, {**document, "time": text})
        assert (result.time, result.time_inferred) == (time, inferred), topic
    ack = parsed("vitals/s1/ack", {"metric": "spo2", "by": "nurse-a", "time": text})
    assert ack.time == time


def test_the_bound_on_times_ahead_is_the_callers_to_set():
    payload = json.dumps({"bpm": 70, "time": "2026-11-28T17:40:00Z"}).encode()
    lenient = parse("vitals/s1/hr", payload, RECEIVED, max_ahead=timedelta(minutes=15))
    strict = parse("vitals/s1/hr", payload, RECEIVED, max_ahead=timedelta(0))
    assert (lenient.time, lenient.time_inferred) == (datetime(2026, 11, 28, 17, 40, tzinfo=UTC),
                                                     False)
    assert (strict.time, strict.time_inferred) == (RECEIVED, True)


def test_a_time_before_the_calendar_once_in_utc_is_refused():
    assert "not a real date and time" in reason("vitals/s1/hr", {
        "bpm": 70, "time": "0001-01-01T00:00:00+01:00"})


@pytest.mark.parametrize("text", [
    "2026-11-28T17:05:00",            # no offset: ambiguous
    "2026-11-28",                     # a date is not a time
    "20261128T170500Z",               # ISO basic format is not RFC 3339
    "2026-13-28T17:05:00Z",           # no 13th month
    "yesterday",
    1764349500,                        # epoch numbers are not RFC 3339
])
def test_times_that_are_not_rfc3339_with_an_offset_are_refused(text):
    assert "time" in reason("vitals/s1/hr", {"bpm": 70, "time": text})


# The guidance's artefact row: one value on each side of each bound (bounds inclusive).
ARTEFACT_BOUNDS = [
    # leaf, field, lowest plausible, highest plausible, other fields that make the reading valid
    ("bp", "systolic", 50, 260, {"diastolic": 30}),
    ("bp", "diastolic", 30, 160, {"systolic": 200}),
    ("bp", "pulse", 27, 220, {"systolic": 120, "diastolic": 80}),
    ("hr", "bpm", 27, 220, {}),
    ("spo2", "spo2", 50, 100, {}),
    ("spo2", "pulse", 27, 220, {"spo2": 97}),
]


@pytest.mark.parametrize(("leaf", "field", "low", "high", "others"), ARTEFACT_BOUNDS)
def test_values_at_the_plausibility_bounds_are_readings(leaf, field, low, high, others):
    for value in (low, high):
        document = {**others, field: value}
        if leaf == "bp" and document["diastolic"] >= document["systolic"]:
            continue  # covered by the diastolic-not-below-systolic table
        assert isinstance(parsed(f"vitals/s1/{leaf}", document), Reading), document


@pytest.mark.parametrize(("leaf", "field", "low", "high", "others"), ARTEFACT_BOUNDS)
def test_values_just_outside_the_plausibility_bounds_are_artefacts(
        leaf, field, low, high, others):
    for value in (low - 1, high + 1, low - 0.5, high + 0.5):
        text = reason(f"vitals/s1/{leaf}", {**others, field: value})
        assert field in text and "artefact" in text


@pytest.mark.parametrize(("systolic", "diastolic"), [(120, 120), (110, 120)])
def test_diastolic_not_below_systolic_is_an_artefact(systolic, diastolic):
    text = reason("vitals/s1/bp", {"systolic": systolic, "diastolic": diastolic})
    assert "not below systolic" in text


@pytest.mark.parametrize(("leaf", "document", "missing"), [
    ("bp", {"diastolic": 80}, "systolic"),
    ("bp", {"systolic": 120}, "diastolic"),
    ("hr", {"pulse": 70}, "bpm"),
    ("spo2", {"pulse": 70}, "spo2"),
])
def test_required_fields_are_named_when_missing(leaf, document, missing):
    assert repr(missing) in reason(f"vitals/s1/{leaf}", document)


@pytest.mark.parametrize("value", ["120", True, [120], {"v": 120}])
def test_measured_values_must_be_json_numbers(value):
    assert "must be a number" in reason("vitals/s1/hr", {"bpm": value})


@pytest.mark.parametrize("payload", [b'{"bpm": NaN}', b'{"bpm": Infinity}', b'{"bpm": -Infinity}'])
def test_nan_and_infinity_are_refused(payload):
    assert "not a number" in reason("vitals/s1/hr", payload)


@pytest.mark.parametrize(("payload", "words"), [
    (b"\xff\xfe{}", "not UTF-8"),
    (b"{not json", "not valid JSON"),
    (b"[70]", "JSON object"),
    (b"70", "JSON object"),
    (b"", "not valid JSON"),
    (b'{"bpm": 70, "x": [[[[[1]]]]]}', "nested deeper"),
    (b'{"bpm": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "bytes; the limit"),
])
def test_malformed_payloads_are_refused_with_a_reason(payload, words):
    assert words in reason("vitals/s1/hr", payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                  max_size=4),
    max_leaves=10,
)
payloads = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),  # NaN and Infinity included
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
)


def decoded(decode, payload: bytes) -> tuple[str, str]:
    try:
        return "document", repr(decode(payload))  # repr: 1, 1.0 and True differ
    except InvalidMessage as err:
        return "refused", str(err)


@settings(max_examples=1500, deadline=None)
@given(payload=payloads)
def test_the_fast_json_path_decides_exactly_as_the_standard_library(payload):
    """pydantic-core parses first; what it accepts must be what `json` makes of it, and what
    it refuses must get the standard library's verdict and reason."""
    assert decoded(from_json_or_standard, payload) == decoded(decode_json_strictly, payload)


def test_an_oversized_payload_is_refused_and_its_preview_truncated():
    payload = b'{"note": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    rejection = parsed("vitals/s1/hr", payload)
    assert "limit" in rejection.reason
    assert len(rejection.payload) <= REJECTED_PAYLOAD_CHARS


@pytest.mark.parametrize(("topic", "words"), [
    ("vitals/s1/temperature", "unknown reading kind"),
    ("vitals/" + "a" * 65 + "/hr", "session id"),
    ("vitals/bad id/hr", "session id"),
    ("vitals/s1,x=1/hr", "session id"),
    ('vitals/s"1/hr', "session id"),
    ("vitals/s1/hr/ox-1/extra", "topic must be"),
    ("vitals/s1/session/ox-1", "topic must be"),  # only readings name a device
    ("vitals/s1/hr/ox 1", "device must be"),
    ("other/s1/hr", "topic must be"),
])
def test_topics_outside_the_contract_are_refused(topic, words):
    assert words in reason(topic, {"bpm": 70})


def test_a_rejection_names_the_session_only_when_the_topic_had_a_valid_one():
    assert parsed("vitals/s1/temperature", {}).session == "s1"
    assert parsed("vitals/bad id/hr", {}).session is None


@pytest.mark.parametrize("device", ["", "cuff 1", "x" * 65, "cuff,1", 7])
def test_device_ids_outside_the_safe_alphabet_are_refused(device):
    assert "device" in reason("vitals/s1/hr", {"bpm": 70, "device": device})


def test_device_reported_problems_are_kept_on_the_reading():
    reading = parsed("vitals/s1/bp", {"systolic": 130, "diastolic": 85,
                                      "problems": ["cuff_loose", "body_movement", "cuff_loose"]})
    assert reading.problems == (DeviceProblem.CUFF_LOOSE, DeviceProblem.BODY_MOVEMENT)


def test_unknown_device_problems_are_refused():
    assert "unknown device problem" in reason(
        "vitals/s1/bp", {"systolic": 130, "diastolic": 85, "problems": ["gremlins"]})


@pytest.mark.parametrize("event", ["start", "dose", "end"])
def test_session_events_parse(event):
    result = parsed("vitals/s1/session", {"event": event, "time": "2026-11-28T17:00:00Z",
                                          "note": "ok"})
    assert result == SessionEvent("s1", SessionEventType(event),
                                  datetime(2026, 11, 28, 17, tzinfo=UTC), note="ok")


@pytest.mark.parametrize(("raw", "label"), [
    ("Chair 3 · AB", "Chair 3 · AB"),  # a middle dot and a space are printable
    ("  Room 1 · chair A \t", "Room 1 · chair A"),  # trimmed at both ends
    ("x" * 40, "x" * 40),  # exactly the limit
    ("   ", None),  # blank is no label
    ("", None),
    (None, None),  # absent
])
def test_a_start_carries_its_display_label_trimmed(raw, label):
    document = {"event": "start"} | ({} if raw is None else {"label": raw})
    result = parsed("vitals/s1/session", document)
    assert isinstance(result, SessionEvent) and result.label == label


@pytest.mark.parametrize(("raw", "words"), [
    ("x" * 41, "label is 41 characters; the limit is 40"),  # refused, never cut
    ("Chair 3\nAB", "printable"),  # a line break inside
    ("Chair\x1b[31m 3", "printable"),  # a terminal escape
    ("Chair\u200b3", "printable"),  # a zero-width space is not printable
    (3, "label must be a string"),
    (["Chair 3"], "label must be a string"),
])
def test_a_start_with_a_label_too_long_or_not_printable_is_refused(raw, words):
    refused = parsed("vitals/s1/session", {"event": "start", "label": raw})
    assert isinstance(refused, Rejection) and refused.session == "s1"
    assert words in refused.reason


def test_only_a_start_names_the_session_label():
    result = parsed("vitals/s1/session", {"event": "dose", "label": "Chair 3"})
    assert isinstance(result, SessionEvent) and result.label is None


def test_unknown_session_events_are_refused():
    assert "start, dose, end, note" in reason("vitals/s1/session", {"event": "pause"})


def test_unknown_extra_fields_are_ignored_for_forward_compatibility():
    assert isinstance(parsed("vitals/s1/hr", {"bpm": 70, "battery": 80}), Reading)


def test_an_acknowledgement_names_the_metric_and_who_acknowledged():
    ack = parsed("vitals/s1/ack", {"metric": "systolic", "by": "nurse-a", "note": "re-measured",
                                   "time": "2026-11-28T17:10:00Z"})
    assert (ack.session, ack.metric, ack.by, ack.note) == ("s1", "systolic", "nurse-a",
                                                           "re-measured")


def test_an_acknowledgement_may_name_one_technical_alarm_by_its_rule():
    one = parsed("vitals/s1/ack", {"metric": "data", "by": "nurse-a",
                                   "rule": "data.stream_silent.hr"})
    every = parsed("vitals/s1/ack", {"metric": "data", "by": "nurse-a"})
    assert (one.rule, every.rule) == ("data.stream_silent.hr", None)
    assert "rule must be a string" in reason("vitals/s1/ack", {"metric": "data", "by": "a",
                                                               "rule": 3})


@pytest.mark.parametrize(("document", "words"), [
    ({"metric": "temperature", "by": "nurse-a"}, "ack needs metric"),
    ({"metric": "systolic"}, "ack needs 'by'"),
    ({"metric": "systolic", "by": ""}, "ack needs 'by'"),
])
def test_acknowledgements_without_a_known_metric_or_a_person_are_refused(document, words):
    assert words in reason("vitals/s1/ack", document)


# ---- observations and check-ins (issue 8) -------------------------------------------------------


def test_an_observation_keeps_every_field():
    result = parsed("vitals/s1/observation", {
        "observation": "sedation", "severity": "moderate", "note": "eyes closed, rousable",
        "by": "nurse-a", "time": "2026-11-28T17:25:00+01:00"})
    assert result == Observation(
        session="s1", time=datetime(2026, 11, 28, 16, 25, tzinfo=UTC),
        observation=ObservationKind.SEDATION, severity=Severity.MODERATE,
        note="eyes closed, rousable", by="nurse-a", time_inferred=False)
    assert result.label == "Sedation"


def test_an_observation_without_severity_time_note_or_name_defaults_to_mild_now():
    assert parsed("vitals/s1/observation", {"observation": "nausea"}) == Observation(
        "s1", RECEIVED, ObservationKind.NAUSEA, Severity.MILD, time_inferred=True)


@pytest.mark.parametrize("kind", list(ObservationKind))
@pytest.mark.parametrize("severity", list(Severity))
def test_every_observation_kind_and_severity_parses(kind, severity):
    result = parsed("vitals/s1/observation", {"observation": kind.value,
                                              "severity": severity.value})
    assert isinstance(result, Observation)
    assert (result.observation, result.severity) == (kind, severity)


def test_every_observation_kind_has_a_label_and_severities_rank_in_order():
    assert set(OBSERVATION_LABELS) == set(ObservationKind)
    assert [s.rank for s in Severity] == [0, 1, 2, 3]


@pytest.mark.parametrize(("document", "words"), [
    ({}, "observation must be one of"),
    ({"observation": "hiccups"}, "observation must be one of anxiety"),
    ({"observation": "Nausea"}, "got 'Nausea'"),
    ({"observation": 3}, "observation must be one of"),
    ({"observation": "nausea", "severity": "extreme"}, "severity must be one of none, mild"),
    ({"observation": "nausea", "severity": 2}, "severity must be one of"),
    ({"observation": "nausea", "severity": None}, "severity must be one of"),
    ({"observation": "nausea", "note": 5}, "note must be a string"),
    ({"observation": "nausea", "by": ["a"]}, "by must be a string"),
    ({"observation": "nausea", "time": "17:05"}, "time must be RFC 3339"),
])
def test_bad_observations_are_refused_with_a_reason(document, words):
    assert words in reason("vitals/s1/observation", document)


def test_an_overlong_observation_note_is_truncated_not_refused():
    result = parsed("vitals/s1/observation", {"observation": "nausea", "note": "x" * 2000})
    assert isinstance(result, Observation) and len(result.note or "") == MAX_NOTE_CHARS


def test_a_retraction_names_the_observation_it_marks_entered_in_error():
    result = parsed("vitals/s1/observation", {
        "retract": {"observation": "vomiting", "time": "2026-11-28T17:05:00+01:00"},
        "by": "nurse-a", "time": "2026-11-28T17:06:00Z"})
    assert result == ObservationRetraction(
        "s1", datetime(2026, 11, 28, 17, 6, tzinfo=UTC), ObservationKind.VOMITING,
        datetime(2026, 11, 28, 16, 5, tzinfo=UTC), "nurse-a")


def test_a_retraction_without_its_own_time_is_dated_on_receipt():
    result = parsed("vitals/s1/observation", {
        "retract": {"observation": "nausea", "time": "2026-11-28T17:05:00Z"}, "by": "nurse-a"})
    assert isinstance(result, ObservationRetraction) and result.time == RECEIVED


GOOD_TARGET = {"observation": "nausea", "time": "2026-11-28T17:05:00Z"}


@pytest.mark.parametrize("document, words", [
    ({"retract": GOOD_TARGET}, "needs 'by'"),
    ({"retract": GOOD_TARGET, "by": ""}, "needs 'by'"),
    ({"retract": GOOD_TARGET, "by": 3}, "by must be a string"),
    ({"retract": None, "by": "nurse-a"}, "retract must be"),
    ({"retract": "nausea", "by": "nurse-a"}, "retract must be"),
    ({"retract": {"observation": "nausea"}, "by": "nurse-a"}, "retract must be"),
    ({"retract": {**GOOD_TARGET, "severity": "mild"}, "by": "nurse-a"}, "retract must be"),
    ({"retract": {**GOOD_TARGET, "observation": "hiccups"}, "by": "nurse-a"},
     "observation must be one of"),
    ({"retract": {**GOOD_TARGET, "time": None}, "by": "nurse-a"}, "needs the observation's time"),
    ({"retract": {**GOOD_TARGET, "time": "17:05"}, "by": "nurse-a"}, "time must be RFC 3339"),
    ({"retract": GOOD_TARGET, "by": "nurse-a", "time": "yesterday"}, "time must be RFC 3339"),
    ({"retract": GOOD_TARGET, "by": "nurse-a", "observation": "nausea"},
     "only retract, by and time, not observation"),
    ({"retract": GOOD_TARGET, "by": "nurse-a", "note": "oops"}, "not note"),
])
def test_bad_retractions_are_refused_with_a_reason(document, words):
    assert words in reason("vitals/s1/observation", document)


def test_a_checkin_is_a_session_event_with_who_checked_in():
    result = parsed("vitals/s1/session", {"event": "checkin", "by": "nurse-a",
                                          "time": "2026-11-28T17:15:00Z"})
    assert result == SessionEvent("s1", SessionEventType.CHECKIN,
                                  datetime(2026, 11, 28, 17, 15, tzinfo=UTC), by="nurse-a")


def test_an_observation_alarm_can_be_acknowledged():
    result = parsed("vitals/s1/ack", {"metric": "observation", "by": "nurse-a"})
    assert result.metric == "observation"


@pytest.mark.parametrize(("topic", "document", "words"), [
    ("vitals/s1/session", {"event": "end"}, "retained session messages are refused"),
    ("vitals/s1/ack", {"metric": "spo2", "by": "nurse-a"}, "retained ack messages are refused"),
    ("vitals/s1/observation", {"observation": "nausea"},
     "retained observation messages are refused"),
    ("vitals/s1/hr", {"bpm": 70}, "retained readings are refused"),
    ("vitals/s1/bp", {"systolic": 120, "diastolic": 80}, "retained readings are refused"),
    ("vitals/s1/gatt/2a37", b"\x00\x48", "retained readings are refused"),
])
def test_a_retained_message_is_refused_whatever_it_says(topic, document, words):
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    assert not isinstance(parse(topic, payload, RECEIVED), Rejection)
    refused = parse(topic, payload, RECEIVED, retained=True)
    assert isinstance(refused, Rejection) and refused.session == "s1"
    assert words in refused.reason
    assert f"mosquitto_pub -r -n -t {topic}" in refused.reason


# A reading's topic may end in its device's MQTT account (the broker's ACL checks it: `pattern
# write vitals/+/hr/%u`), so the device is known, not only the payload's word.
@pytest.mark.parametrize(("topic", "document", "device"), [
    ("vitals/s1/hr/ox-1", {"bpm": 70}, "ox-1"),
    ("vitals/s1/hr/ox-1", {"bpm": 70, "device": "ox-1"}, "ox-1"),
    ("vitals/s1/hr", {"bpm": 70, "device": "ox-1"}, "ox-1"),
    ("vitals/s1/bp/cuff.2", {"systolic": 120, "diastolic": 80}, "cuff.2"),
])
def test_a_reading_topic_may_name_its_device(topic, document, device) -> None:
    reading = parsed(topic, document)
    assert isinstance(reading, Reading) and reading.device == device


def test_a_payload_naming_another_device_than_its_topic_is_refused() -> None:
    assert "topic's device" in reason("vitals/s1/hr/ox-1", {"bpm": 70, "device": "cuff-1"})


def test_a_raw_gatt_value_may_name_its_device_account_as_the_last_level() -> None:
    reading = parse("vitals/s1/gatt/2a37/strap-1", b"\x00\x48", RECEIVED)
    assert isinstance(reading, Reading)
    assert (reading.values["bpm"], reading.device) == (72.0, "strap-1")
