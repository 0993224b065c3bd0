"""Line protocol escaping and formatting, as tables (pure: no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import DeviceProblem, Reading, Rejection, SessionEvent, SessionEventType
from vitals.storage import lineprotocol as lp
from vitals.storage.base import Batch
from vitals.storage.influx_lines import ALERT, EVENT, batch_lines, reading_line
from vitals.vital_signs import Kind

T = datetime(2026, 11, 28, 17, 5, 0, 123456, tzinfo=UTC)
T_US = 1_795_885_500_123_456


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bp", "bp"),
        ("a b", r"a\ b"),
        ("a,b", r"a\,b"),
        ("a=b", "a=b"),  # an equals sign needs no escape in a measurement
        ('a"b', 'a"b'),
    ],
    ids=["plain", "space", "comma", "equals", "quote"],
)
def test_measurement_escapes_comma_and_space(name: str, expected: str) -> None:
    assert lp.escape_measurement(name) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cuff-1", "cuff-1"),
        ("a b", r"a\ b"),
        ("a,b", r"a\,b"),
        ("a=b", r"a\=b"),
        ("x' OR 1=1 --", r"x'\ OR\ 1\=1\ --"),
        ('say "hi"', r'say\ "hi"'),
        ("日本", "日本"),
    ],
    ids=["plain", "space", "comma", "equals", "injection", "quotes", "unicode"],
)
def test_tag_keys_and_values_escape_comma_equals_and_space(value: str, expected: str) -> None:
    assert lp.escape_tag_value(value) == expected
    assert lp.escape_key(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "a\nb", "a\rb", "ends\\"],
    ids=["empty", "newline", "carriage-return", "trailing-backslash"],
)
def test_tag_values_that_line_protocol_cannot_carry_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        lp.escape_tag_value(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (118, "118.0"),
        (118.0, "118.0"),
        (97.5, "97.5"),
        (0, "0.0"),
        (-3, "-3.0"),
        (0.1, "0.1"),
        (1e16, "1e+16"),
        (True, "true"),
        (False, "false"),
        ("plain", '"plain"'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("ends\\", r'"ends\\"'),
        ("line1\nline2", '"line1\nline2"'),
        ("a,b c=d", '"a,b c=d"'),
        ("", '""'),
    ],
    ids=[
        "int-as-float", "float", "fraction", "zero", "negative", "shortest-repr", "exponent",
        "true", "false", "string", "quotes", "backslash", "trailing-backslash", "newline-kept",
        "comma-space-equals-need-no-escape", "empty-string",
    ],
)
def test_field_values_are_floats_booleans_or_escaped_strings(
    value: float | bool | str, expected: str
) -> None:
    assert lp.format_field(value) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ValueError):
        lp.format_field(value)


def test_line_sorts_tags_and_leaves_out_none_and_empty() -> None:
    line = lp.line(
        "bp", {"session": "s1", "device": None, "a": "", "b": "x"}, {"v": 1, "n": None}, 42
    )
    assert line == "bp,b=x,session=s1 v=1.0 42"


def test_line_without_any_field_is_refused() -> None:
    with pytest.raises(ValueError):
        lp.line("bp", {"session": "s1"}, {"v": None}, 42)


def test_line_time_must_be_integer_microseconds() -> None:
    with pytest.raises(TypeError):
        lp.line("bp", {}, {"v": 1.0}, 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (
            Reading("s1", Kind.BP, T, {"systolic": 128, "diastolic": 84}, device="cuff-1"),
            f"bp,device=cuff-1,session=s1 systolic=128.0,diastolic=84.0,time_inferred=false {T_US}",
        ),
        (
            Reading("s1", Kind.HR, T, {"bpm": 76.5}, time_inferred=True),
            f"hr,session=s1 bpm=76.5,time_inferred=true {T_US}",
        ),
        (
            Reading(
                "s1", Kind.SPO2, T, {"spo2": 97},
                problems=(DeviceProblem.BODY_MOVEMENT, DeviceProblem.SENSOR_CONTACT),
            ),
            f'spo2,session=s1 spo2=97.0,time_inferred=false,'
            f'problems="body_movement,sensor_contact" {T_US}',
        ),
    ],
    ids=["bp-with-device", "hr-time-inferred", "spo2-with-problems"],
)
def test_reading_lines_follow_the_schema(reading: Reading, expected: str) -> None:
    assert reading_line(reading) == expected


def test_session_event_line_tags_session_and_event() -> None:
    event = SessionEvent("s1", SessionEventType.DOSE, T, note='0.5 mg/kg "IM"', by="dr b")
    assert EVENT.line(event) == (
        f'session_event,event=dose,session=s1 time_inferred=false,'
        f'note="0.5 mg/kg \\"IM\\"",by="dr b" {T_US}'
    )


def test_alert_line_keeps_priority_as_a_field_and_leaves_out_an_empty_rule() -> None:
    alert = AlertEvent(T, "s1", Metric.SPO2, Priority.HIGH, AlertState.ACTIVE, "SpO2 88 %", "",
                       value=88, limit=90)
    assert ALERT.line(alert) == (
        f'alert,metric=spo2,session=s1,state=active priority="high",message="SpO2 88 %",'
        f"value=88.0,limit=90.0 {T_US}"
    )


def test_rejections_at_the_same_instant_get_distinct_microseconds() -> None:
    rejections = [Rejection(f"vitals/s1/x{i}", "bad", "{}", T, "s1") for i in range(3)]
    other = Rejection("vitals/s2/x", "bad", "{}", T, "s2")
    lines = batch_lines(Batch(rejections=[*rejections, other]))
    assert [line.rsplit(" ", 1)[1] for line in lines] == [
        str(T_US), str(T_US + 1), str(T_US + 2), str(T_US),
    ]
