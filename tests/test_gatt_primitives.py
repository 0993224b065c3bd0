"""IEEE 11073-20601 numbers as GATT values carry them: SFLOAT (4-bit exponent, 12-bit mantissa)
and FLOAT (8-bit exponent, 24-bit mantissa), with their special values refused by name."""

from __future__ import annotations

import pytest

from vitals.gatt_primitives import SpecialValue, float32, sfloat


@pytest.mark.parametrize(("raw", "value"), [
    (0x0076, 118.0),  # exponent 0
    (0x0000, 0.0),
    (0xF4D2, 123.4),  # exponent -1, mantissa 1234
    (0xE3CF, 9.75),  # exponent -2, mantissa 975
    (0xFFFF, -0.1),  # exponent -1, mantissa -1
    (0x0FFF, -1.0),  # negative mantissa
    (0x0803, -2045.0),  # most negative ordinary mantissa
    (0x07FD, 2045.0),  # largest ordinary mantissa
    (0x1001, 10.0),  # exponent 1
    (0x7001, 1e7),  # largest exponent
    (0x8001, 1e-8),  # smallest exponent
    (0x17FF, 20470.0),  # NaN's mantissa with a non-zero exponent is an ordinary number
])
def test_sfloat_decodes_exponent_and_mantissa(raw: int, value: float) -> None:
    assert sfloat(raw) == value


@pytest.mark.parametrize(("raw", "name"), [
    (0x07FF, "NaN"), (0x0800, "NRes"), (0x07FE, "+INF"), (0x0802, "-INF"), (0x0801, "reserved"),
])
def test_sfloat_special_values_are_refused_by_name(raw: int, name: str) -> None:
    with pytest.raises(SpecialValue, match=name.replace("+", r"\+")):
        sfloat(raw)


@pytest.mark.parametrize(("raw", "value"), [
    (0x00000076, 118.0),
    (0xFE003039, 123.45),  # exponent -2, mantissa 12345
    (0xFFFFFFFF, -0.1),
    (0x00FFFFFF, -1.0),
    (0x01000001, 10.0),
    (0x00800003, -8388605.0),
])
def test_float_decodes_exponent_and_mantissa(raw: int, value: float) -> None:
    assert float32(raw) == value


@pytest.mark.parametrize(("raw", "name"), [
    (0x007FFFFF, "NaN"), (0x00800000, "NRes"), (0x007FFFFE, "+INF"), (0x00800002, "-INF"),
    (0x00800001, "reserved"),
])
def test_float_special_values_are_refused_by_name(raw: int, name: str) -> None:
    with pytest.raises(SpecialValue, match=name.replace("+", r"\+")):
        float32(raw)
