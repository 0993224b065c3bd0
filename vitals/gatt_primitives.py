"""What Bluetooth GATT characteristic values are built from (pure): IEEE 11073-20601
SFLOAT/FLOAT numbers, the GATT Date Time, status bits and a little-endian byte reader, with the
errors they raise. `vitals.gatt` lays these out into the characteristics we accept.

Numbers: the special values (NaN, NRes, +/-INF, reserved) are never turned into numbers
(`SpecialValue`). One deliberate exception: NaN ("not available") in an *optional* field leaves
that field out (`sfloat_field(..., optional=True)` is None); every other special value refuses
the message.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Final

from vitals.readings import DeviceProblem


class GattError(ValueError):
    """A characteristic value that cannot be decoded or stored; the message says why."""


class SpecialValue(GattError):
    """An SFLOAT/FLOAT special value (NaN, NRes, +INF, -INF, reserved) where a number was due."""

    def __init__(self, name: str, raw: int, width: int) -> None:
        self.name = name
        self.raw = raw
        super().__init__(f"{name} (0x{raw:0{width}X})")


# --- IEEE 11073-20601 numbers ---------------------------------------------------------------

# The special values are defined with a zero exponent (IEEE 11073-20601 Annex F.8): these exact
# raw values, and no others, are special.
SFLOAT_SPECIAL: Final[Mapping[int, str]] = {
    0x07FF: "NaN (not a number)",
    0x0800: "NRes (not at this resolution)",
    0x07FE: "+INF (positive infinity)",
    0x0802: "-INF (negative infinity)",
    0x0801: "reserved value",
}
FLOAT_SPECIAL: Final[Mapping[int, str]] = {
    0x007FFFFF: "NaN (not a number)",
    0x00800000: "NRes (not at this resolution)",
    0x007FFFFE: "+INF (positive infinity)",
    0x00800002: "-INF (negative infinity)",
    0x00800001: "reserved value",
}


def sfloat(raw: int) -> float:
    """The 16-bit SFLOAT `raw` (4-bit signed exponent, 12-bit signed mantissa) as a float.

    Raises `SpecialValue` for NaN, NRes, +INF, -INF and the reserved value.
    """
    return _medical_float(raw, "SFLOAT", 12, 4, SFLOAT_SPECIAL)


def float32(raw: int) -> float:
    """The 32-bit FLOAT `raw` (8-bit signed exponent, 24-bit signed mantissa) as a float.

    Raises `SpecialValue` for NaN, NRes, +INF, -INF and the reserved value.
    """
    return _medical_float(raw, "FLOAT", 24, 8, FLOAT_SPECIAL)


def _medical_float(raw: int, name: str, mantissa_bits: int, exponent_bits: int,
                   special: Mapping[int, str]) -> float:
    bits = mantissa_bits + exponent_bits
    if not 0 <= raw < 1 << bits:
        raise ValueError(f"{name} must be {bits} bits, got {raw:#x}")
    if raw in special:
        raise SpecialValue(special[raw], raw, bits // 4)
    return _scaled(_signed(raw & ((1 << mantissa_bits) - 1), mantissa_bits),
                   _signed(raw >> mantissa_bits, exponent_bits))


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scaled(mantissa: int, exponent: int) -> float:
    # Decimal keeps 1234e-1 at exactly 123.4 instead of 123.40000000000001.
    return float(Decimal(mantissa).scaleb(exponent))


def sfloat_field(raw: int, field_name: str, *, optional: bool = False) -> float | None:
    """An SFLOAT field; None for NaN in an optional field (the device did not measure it)."""
    try:
        return sfloat(raw)
    except SpecialValue as err:
        if optional and raw == 0x07FF:
            return None
        raise GattError(f"{field_name} is {err}: the device sent no usable value") from err


# --- Reading bytes ----------------------------------------------------------------------------


class ByteReader:
    """A little-endian reader over one characteristic value; the layout is checked up front."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def u8(self) -> int:
        self.at += 1
        return self.data[self.at - 1]

    def u16(self) -> int:
        (value,) = struct.unpack_from("<H", self.data, self.at)
        self.at += 2
        return int(value)

    def u24(self) -> int:
        value = int.from_bytes(self.data[self.at:self.at + 3], "little")
        self.at += 3
        return value

    def date_time(self) -> tuple[int, int, int, int, int, int]:
        year = self.u16()
        return year, self.u8(), self.u8(), self.u8(), self.u8(), self.u8()


def need_length(name: str, data: bytes, flags: int, length: int) -> None:
    """Refuses a value of `name` whose length is not the `length` its `flags` lay out."""
    if len(data) != length:
        raise GattError(
            f"{name.upper()} value is {len(data)} bytes; flags 0x{flags:02X} need {length}")


def read_flags(name: str, data: bytes, minimum: int) -> int:
    """The flags byte of a value of `name`, refused when shorter than its `minimum` layout."""
    if len(data) < minimum:
        raise GattError(f"{name.upper()} value is {len(data)} bytes; it needs at least {minimum}")
    return data[0]


def as_datetime(fields: tuple[int, int, int, int, int, int], name: str) -> datetime | None:
    """A GATT Date Time, naive; None when the device says the date is not known (zeros)."""
    year, month, day, hours, minutes, seconds = fields
    if year == 0 or month == 0 or day == 0:  # the spec's "not known"
        return None
    try:
        return datetime(year, month, day, hours, minutes, seconds)
    except ValueError as err:
        raise GattError(
            f"{name.upper()} timestamp {year:04d}-{month:02d}-{day:02d} "
            f"{hours:02d}:{minutes:02d}:{seconds:02d} is not a real date and time: {err}"
        ) from err


# --- Status bits ------------------------------------------------------------------------------


def problems_in(status: int, table: tuple[tuple[int, DeviceProblem], ...]) -> list[DeviceProblem]:
    """The problems whose mask in `table` is set in `status`, in table order."""
    return [problem for mask, problem in table if status & mask]


def unique(problems: list[DeviceProblem]) -> tuple[DeviceProblem, ...]:
    """Each problem once, in first-seen order."""
    return tuple(dict.fromkeys(problems))


__all__ = [
    "ByteReader", "GattError", "SpecialValue", "as_datetime", "float32", "need_length",
    "problems_in", "read_flags", "sfloat", "sfloat_field", "unique",
]
