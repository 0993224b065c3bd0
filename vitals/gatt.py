"""Decoders for standard Bluetooth GATT characteristic values (pure: bytes in, values out).

Consumer cuffs, heart-rate sensors and pulse oximeters that implement the Bluetooth SIG
profiles send their measurements as raw characteristic values. A gateway forwards those bytes
unchanged to `<prefix>/<session>/gatt/<uuid16>`; this module turns them into readings.

- `decode(uuid16, data)` reads one value exactly as the GATT Specification Supplement lays it
  out: Blood Pressure Measurement `2a35`, Intermediate Cuff Pressure `2a36`, Heart Rate
  Measurement `2a37`, PLX Spot-check `2a5e` and PLX Continuous `2a5f`.
- `gatt_reading(session, uuid16, data, received_at)` makes a `vitals.readings.Reading` of it,
  with the same artefact bounds as a JSON reading (`vitals.vital_signs.FIELDS`).

Numbers are IEEE 11073-20601 SFLOAT/FLOAT, read with the byte reader and the Date Time of
`vitals.gatt_primitives`. Their special values (NaN, NRes, +/-INF, reserved)
are never turned into numbers. One deliberate exception: NaN ("not available") in an *optional*
field (mean arterial pressure, pulse rate; the unused slots of an intermediate cuff pressure)
leaves that field out, because several cuffs send MAP as NaN and refusing the whole reading for
it would lose the systolic and diastolic values. Every other special value refuses the message.

Device time: a GATT Date Time has no time zone. It is read as wall-clock time in `device_tz`
(default: the zone of the machine running the ingest). A value without a device time gets the
receive time and `time_inferred=True`, like a JSON reading without `time`. A device time too
far from the receive time is not trusted:
- more than `max_ahead` (`vitals.readings.MAX_TIME_AHEAD`, as for JSON) in the future: the clock
  is wrong (a measurement cannot come from the future), the reading is fresh: it gets the
  receive time, `time_inferred=True`, and a warning is logged;
- more than `max_clock_skew` in the past: it may be a stored measurement sent on reconnect
  (another time, perhaps another user) as well as a late clock. It is refused with the reason,
  never filed as current.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from vitals.gatt_primitives import (
    ByteReader,
    GattError,
    as_datetime,
    need_length,
    problems_in,
    read_flags,
    sfloat_field,
    unique,
)
from vitals.parser import time_not_ahead
from vitals.readings import MAX_TIME_AHEAD, SESSION_ID, DeviceProblem, Reading
from vitals.vital_signs import FIELDS, Kind

logger = logging.getLogger(__name__)

MMHG_PER_KPA: Final = 7.50062
DEFAULT_MAX_CLOCK_SKEW: Final = timedelta(minutes=10)

BLOOD_PRESSURE: Final = "2a35"
INTERMEDIATE_CUFF_PRESSURE: Final = "2a36"
HEART_RATE: Final = "2a37"
PLX_SPOT_CHECK: Final = "2a5e"
PLX_CONTINUOUS: Final = "2a5f"

_BASE_UUID = re.compile(r"^0000([0-9a-f]{4})-0000-1000-8000-00805f9b34fb$")
_SHORT_UUID = re.compile(r"^(?:0x)?([0-9a-f]{4})$")


class NotAReading(GattError):
    """A value that decodes but is not a measurement to store (an intermediate cuff pressure).

    The caller logs or ignores it; it is a `GattError` so that a caller that only knows about
    `GattError` still refuses it rather than storing it.
    """


@dataclass(frozen=True, slots=True)
class GattReading:
    """A decoded measurement; `values` are floats under the contract's payload field names."""

    kind: Kind
    values: Mapping[str, float]
    device_time: datetime | None = None  # naive: the device's wall clock, as it sent it
    problems: tuple[DeviceProblem, ...] = ()
    user_id: int | None = None  # blood pressure: the cuff's user slot (None: absent or unknown)
    rr_intervals: tuple[float, ...] = ()  # heart rate: seconds between beats, oldest first
    energy_expended_kj: int | None = None  # heart rate: cumulative, since the sensor's reset
    pulse_amplitude_index: float | None = None  # PLX: perfusion, %
    notes: tuple[str, ...] = ()  # status bits worth a log line that are not problems


@dataclass(frozen=True, slots=True)
class CuffPressure:
    """Intermediate Cuff Pressure: the cuff's pressure while it measures; not a reading."""

    mmhg: float
    device_time: datetime | None = None
    user_id: int | None = None
    problems: tuple[DeviceProblem, ...] = ()


Decoded = GattReading | CuffPressure


# --- Blood pressure (2A35, 2A36) --------------------------------------------------------------

_BP_KPA, _BP_TIME, _BP_PULSE, _BP_USER, _BP_STATUS = 0x01, 0x02, 0x04, 0x08, 0x10
_BP_USER_UNKNOWN: Final = 0xFF

# Blood Pressure Measurement Status bits (GATT Specification Supplement, Blood Pressure
# Measurement): the pulse-rate range is two bits, 0 within range, 1 above, 2 below, 3 RFU.
BP_STATUS_PROBLEMS: Final[tuple[tuple[int, DeviceProblem], ...]] = (
    (0x0001, DeviceProblem.BODY_MOVEMENT),
    (0x0002, DeviceProblem.CUFF_LOOSE),
    (0x0004, DeviceProblem.IRREGULAR_PULSE),
    (0x0018, DeviceProblem.PULSE_RATE_RANGE),
    (0x0020, DeviceProblem.IMPROPER_POSITION),
)


@dataclass(frozen=True, slots=True)
class _BloodPressure:
    flags: int
    compound: tuple[int, int, int]  # raw SFLOATs: systolic, diastolic, MAP
    device_time: datetime | None
    pulse: int | None
    user_id: int | None
    problems: tuple[DeviceProblem, ...]


def _blood_pressure_layout(name: str, data: bytes) -> _BloodPressure:
    flags = read_flags(name, data, 7)
    length = 7 + 7 * bool(flags & _BP_TIME) + 2 * bool(flags & _BP_PULSE) \
        + bool(flags & _BP_USER) + 2 * bool(flags & _BP_STATUS)
    need_length(name, data, flags, length)
    read = ByteReader(data)
    read.u8()
    compound = (read.u16(), read.u16(), read.u16())
    device_time = as_datetime(read.date_time(), name) if flags & _BP_TIME else None
    pulse = read.u16() if flags & _BP_PULSE else None
    user = read.u8() if flags & _BP_USER else None
    status = read.u16() if flags & _BP_STATUS else 0
    return _BloodPressure(
        flags=flags,
        compound=compound,
        device_time=device_time,
        pulse=pulse,
        user_id=None if user == _BP_USER_UNKNOWN else user,
        problems=unique(problems_in(status, BP_STATUS_PROBLEMS)),
    )


def _pressure(raw: int, field_name: str, kpa: bool, *, optional: bool = False) -> float | None:
    value = sfloat_field(raw, field_name, optional=optional)
    if value is None or not kpa:
        return value
    return round(value * MMHG_PER_KPA, 1)  # kPa has 0.1 resolution = 0.75 mmHg


def decode_blood_pressure(data: bytes) -> GattReading:
    """Blood Pressure Measurement (0x2A35): a finished cuff measurement."""
    bp = _blood_pressure_layout(BLOOD_PRESSURE, data)
    kpa = bool(bp.flags & _BP_KPA)
    systolic, diastolic, mean = bp.compound
    values = {
        "systolic": _pressure(systolic, "systolic", kpa),
        "diastolic": _pressure(diastolic, "diastolic", kpa),
        "mean_arterial": _pressure(mean, "mean arterial pressure", kpa, optional=True),
    }
    if bp.pulse is not None:  # beats per minute whatever the pressure unit
        values["pulse"] = sfloat_field(bp.pulse, "pulse rate", optional=True)
    return GattReading(
        kind=Kind.BP,
        values={k: v for k, v in values.items() if v is not None},
        device_time=bp.device_time,
        problems=bp.problems,
        user_id=bp.user_id,
    )


def decode_cuff_pressure(data: bytes) -> CuffPressure:
    """Intermediate Cuff Pressure (0x2A36): the systolic slot holds the current cuff pressure."""
    bp = _blood_pressure_layout(INTERMEDIATE_CUFF_PRESSURE, data)
    pressure = _pressure(bp.compound[0], "current cuff pressure", bool(bp.flags & _BP_KPA))
    assert pressure is not None  # not optional: NaN raised
    return CuffPressure(pressure, bp.device_time, bp.user_id, bp.problems)


# --- Heart rate (2A37) ------------------------------------------------------------------------

_HR_U16, _HR_CONTACT_DETECTED, _HR_CONTACT_SUPPORTED = 0x01, 0x02, 0x04
_HR_ENERGY, _HR_RR = 0x08, 0x10
RR_UNITS_PER_SECOND: Final = 1024


def decode_heart_rate(data: bytes) -> GattReading:
    """Heart Rate Measurement (0x2A37)."""
    flags = read_flags(HEART_RATE, data, 2)
    fixed = 1 + (2 if flags & _HR_U16 else 1) + 2 * bool(flags & _HR_ENERGY)
    if flags & _HR_RR:
        if len(data) < fixed or (len(data) - fixed) % 2:
            raise GattError(
                f"2A37 value is {len(data)} bytes; flags 0x{flags:02X} need {fixed} plus 2 "
                "per RR interval")
    else:
        need_length(HEART_RATE, data, flags, fixed)
    read = ByteReader(data)
    read.u8()
    bpm = read.u16() if flags & _HR_U16 else read.u8()
    energy = read.u16() if flags & _HR_ENERGY else None
    rr = tuple(read.u16() / RR_UNITS_PER_SECOND for _ in range((len(data) - fixed) // 2))
    no_contact = flags & _HR_CONTACT_SUPPORTED and not flags & _HR_CONTACT_DETECTED
    return GattReading(
        kind=Kind.HR,
        values={"bpm": float(bpm)},
        problems=(DeviceProblem.SENSOR_CONTACT,) if no_contact else (),
        rr_intervals=rr,
        energy_expended_kj=energy,
    )


# --- Pulse oximetry (2A5E, 2A5F) --------------------------------------------------------------

# PLX Measurement Status (16 bits; 0-4 RFU).
_PLX_DEMO, _PLX_TESTING = 0x0400, 0x0800
PLX_MEASUREMENT_PROBLEMS: Final[tuple[tuple[int, DeviceProblem], ...]] = (
    (0x1000, DeviceProblem.MEASUREMENT_ERROR),  # calibration ongoing
    (0x2000, DeviceProblem.MEASUREMENT_ERROR),  # measurement unavailable
    (0x4000, DeviceProblem.MEASUREMENT_ERROR),  # questionable measurement detected
    (0x8000, DeviceProblem.MEASUREMENT_ERROR),  # invalid measurement detected
)
PLX_MEASUREMENT_NOTES: Final[tuple[tuple[int, str], ...]] = (
    (0x0020, "measurement ongoing"),
    (0x0040, "early estimated data"),
    (0x0200, "data from measurement storage"),
)
# PLX Device and Sensor Status (24 bits; 16-23 RFU). Display/analysis-in-progress bits
# (0, 9) are not problems.
PLX_SENSOR_PROBLEMS: Final[tuple[tuple[int, DeviceProblem], ...]] = (
    (0x000002, DeviceProblem.MEASUREMENT_ERROR),  # equipment malfunction detected
    (0x000004, DeviceProblem.MEASUREMENT_ERROR),  # signal processing irregularity
    (0x000008, DeviceProblem.MEASUREMENT_ERROR),  # inadequate signal
    (0x000010, DeviceProblem.MEASUREMENT_ERROR),  # poor signal
    (0x000020, DeviceProblem.MEASUREMENT_ERROR),  # low perfusion
    (0x000040, DeviceProblem.MEASUREMENT_ERROR),  # erratic signal
    (0x000080, DeviceProblem.MEASUREMENT_ERROR),  # nonpulsatile signal
    (0x000100, DeviceProblem.MEASUREMENT_ERROR),  # questionable pulse
    (0x000400, DeviceProblem.MEASUREMENT_ERROR),  # sensor interference
    (0x000800, DeviceProblem.SENSOR_CONTACT),  # sensor unconnected to user
    (0x001000, DeviceProblem.MEASUREMENT_ERROR),  # unknown sensor connected
    (0x002000, DeviceProblem.SENSOR_CONTACT),  # sensor displaced
    (0x004000, DeviceProblem.MEASUREMENT_ERROR),  # sensor malfunctioning
    (0x008000, DeviceProblem.SENSOR_CONTACT),  # sensor disconnected
)

_SPOT_TIME, _SPOT_STATUS, _SPOT_SENSOR, _SPOT_PAI, _SPOT_CLOCK_NOT_SET = 1, 2, 4, 8, 16
_CONT_FAST, _CONT_SLOW, _CONT_STATUS, _CONT_SENSOR, _CONT_PAI = 1, 2, 4, 8, 16


def _oximetry(name: str, spo2: int, pulse: int, measurement: int, sensor: int,
              pai: int | None, device_time: datetime | None) -> GattReading:
    problems = unique(problems_in(measurement, PLX_MEASUREMENT_PROBLEMS)
                       + problems_in(sensor, PLX_SENSOR_PROBLEMS))
    if measurement & (_PLX_DEMO | _PLX_TESTING):
        # Simulated numbers must never be filed as the patient's.
        what = "demonstration" if measurement & _PLX_DEMO else "testing"
        raise GattError(f"{name.upper()} value is marked as {what} data, not a measurement")
    try:
        saturation = sfloat_field(spo2, "SpO2")
        pulse_rate = sfloat_field(pulse, "pulse rate", optional=True)
    except GattError as err:
        if problems:  # say why the device had no number, when it said so
            raise GattError(f"{err} (device reports: {', '.join(problems)})") from err
        raise
    assert saturation is not None  # not optional: NaN raised
    values = {"spo2": saturation}
    if pulse_rate is not None:
        values["pulse"] = pulse_rate
    return GattReading(
        kind=Kind.SPO2,
        values=values,
        device_time=device_time,
        problems=problems,
        pulse_amplitude_index=None if pai is None else sfloat_field(pai, "PAI", optional=True),
        notes=tuple(note for mask, note in PLX_MEASUREMENT_NOTES if measurement & mask),
    )


def decode_plx_spot_check(data: bytes) -> GattReading:
    """PLX Spot-check Measurement (0x2A5E)."""
    flags = read_flags(PLX_SPOT_CHECK, data, 5)
    length = 5 + 7 * bool(flags & _SPOT_TIME) + 2 * bool(flags & _SPOT_STATUS) \
        + 3 * bool(flags & _SPOT_SENSOR) + 2 * bool(flags & _SPOT_PAI)
    need_length(PLX_SPOT_CHECK, data, flags, length)
    read = ByteReader(data)
    read.u8()
    spo2, pulse = read.u16(), read.u16()
    stamp = read.date_time() if flags & _SPOT_TIME else None
    measurement = read.u16() if flags & _SPOT_STATUS else 0
    sensor = read.u24() if flags & _SPOT_SENSOR else 0
    pai = read.u16() if flags & _SPOT_PAI else None
    # A device that says its clock is not set has sent a meaningless timestamp.
    device_time = None
    if stamp is not None and not flags & _SPOT_CLOCK_NOT_SET:
        device_time = as_datetime(stamp, PLX_SPOT_CHECK)
    return _oximetry(PLX_SPOT_CHECK, spo2, pulse, measurement, sensor, pai, device_time)


def decode_plx_continuous(data: bytes) -> GattReading:
    """PLX Continuous Measurement (0x2A5F): the Normal SpO2/PR pair is the reading."""
    flags = read_flags(PLX_CONTINUOUS, data, 5)
    length = 5 + 4 * bool(flags & _CONT_FAST) + 4 * bool(flags & _CONT_SLOW) \
        + 2 * bool(flags & _CONT_STATUS) + 3 * bool(flags & _CONT_SENSOR) \
        + 2 * bool(flags & _CONT_PAI)
    need_length(PLX_CONTINUOUS, data, flags, length)
    read = ByteReader(data)
    read.u8()
    spo2, pulse = read.u16(), read.u16()
    # Fast and Slow are other averaging windows of the same signal; Normal is what we store.
    read.at += 4 * bool(flags & _CONT_FAST) + 4 * bool(flags & _CONT_SLOW)
    measurement = read.u16() if flags & _CONT_STATUS else 0
    sensor = read.u24() if flags & _CONT_SENSOR else 0
    pai = read.u16() if flags & _CONT_PAI else None
    return _oximetry(PLX_CONTINUOUS, spo2, pulse, measurement, sensor, pai, None)


# --- Public entry points ----------------------------------------------------------------------

DECODERS: Final[Mapping[str, Callable[[bytes], Decoded]]] = {
    BLOOD_PRESSURE: decode_blood_pressure,
    INTERMEDIATE_CUFF_PRESSURE: decode_cuff_pressure,
    HEART_RATE: decode_heart_rate,
    PLX_SPOT_CHECK: decode_plx_spot_check,
    PLX_CONTINUOUS: decode_plx_continuous,
}


def uuid16_of(uuid: str) -> str | None:
    """`2a35` for `2a35`, `2A35`, `0x2A35` or `00002a35-0000-1000-8000-00805f9b34fb`; None when
    the text is not a 16-bit Bluetooth SIG UUID."""
    text = uuid.strip().lower()
    match = _SHORT_UUID.match(text) or _BASE_UUID.match(text)
    return match.group(1) if match else None


def decode(uuid16: str, data: bytes) -> Decoded:
    """Decode one characteristic value; raises `GattError` with a reason a person can act on."""
    key = uuid16_of(uuid16)
    decoder = DECODERS.get(key or "")
    if decoder is None:
        raise GattError(
            f"unsupported characteristic {uuid16[:40]!r}: expected one of "
            + ", ".join(DECODERS))
    return decoder(bytes(data))


def gatt_reading(
    session: str,
    uuid16: str,
    data: bytes,
    received_at: datetime,
    *,
    device_tz: tzinfo | None = None,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
    max_ahead: timedelta = MAX_TIME_AHEAD,
) -> Reading:
    """A `Reading` from a raw characteristic value received at `received_at` (aware).

    Raises `NotAReading` for an intermediate cuff pressure and `GattError` for anything that
    cannot be stored, with the reason. Bounds are those of `vitals.vital_signs.FIELDS`.
    """
    if not SESSION_ID.match(session):
        raise GattError(f"session id must be 1 to 64 characters of A-Z a-z 0-9 _ -, "
                        f"got {session[:80]!r}")
    decoded = decode(uuid16, data)
    if isinstance(decoded, CuffPressure):
        raise NotAReading(
            f"2A36 intermediate cuff pressure {decoded.mmhg:g} mmHg is the cuff inflating, "
            "not a reading to store")
    _check_bounds(decoded)
    time, inferred = _reading_time(session, decoded.device_time, received_at, device_tz,
                                   max_clock_skew, max_ahead)
    return Reading(
        session=session,
        kind=decoded.kind,
        time=time,
        values=dict(decoded.values),
        time_inferred=inferred,
        problems=decoded.problems,
    )


def _check_bounds(decoded: GattReading) -> None:
    problems = f" (device reports: {', '.join(decoded.problems)})" if decoded.problems else ""
    for spec in FIELDS[decoded.kind]:
        value = decoded.values.get(spec.name)
        if value is None:
            if spec.required:
                raise GattError(f"{decoded.kind} reading needs {spec.name!r} ({spec.unit})")
            continue
        if not spec.low <= value <= spec.high:
            raise GattError(
                f"{spec.name} {value:g} {spec.unit} is outside the plausible range "
                f"{spec.low:g}-{spec.high:g}: artefact, re-measure{problems}")
    if decoded.kind is Kind.BP and decoded.values["diastolic"] >= decoded.values["systolic"]:
        raise GattError(
            f"diastolic {decoded.values['diastolic']:g} is not below systolic "
            f"{decoded.values['systolic']:g}: artefact, re-measure{problems}")


def device_time_utc(device_time: datetime, device_tz: tzinfo | None = None) -> datetime:
    """The device's naive wall-clock time as an aware UTC time, read in `device_tz`
    (None: this machine's local zone)."""
    if device_tz is None:
        return device_time.astimezone(UTC)  # naive astimezone() reads it as local time
    return device_time.replace(tzinfo=device_tz).astimezone(UTC)


def _reading_time(session: str, device_time: datetime | None, received_at: datetime,
                  device_tz: tzinfo | None, max_skew: timedelta,
                  max_ahead: timedelta) -> tuple[datetime, bool]:
    received = received_at.astimezone(UTC)
    if device_time is None:
        return received, True
    try:
        moment = device_time_utc(device_time, device_tz)
    except (OverflowError, ValueError):  # year 9999 (or 1) pushed past the calendar by the zone
        moment = datetime.max.replace(tzinfo=UTC) if device_time > received.replace(
            tzinfo=None) else datetime.min.replace(tzinfo=UTC)
    if received - moment > max_skew:
        # A stored measurement (cuffs send their backlog on connect) and a fresh one from a
        # clock that runs late look alike. Filing a backlog value as "now" could show another
        # time's (or another user's) numbers as the patient's current state, so refuse it.
        raise GattError(
            f"device time {device_time.isoformat(sep=' ')} is {_age(received - moment)} before "
            f"it was received (more than {_age(max_skew)}): a stored measurement or a device "
            "clock running late; set the device clock and re-measure")
    time, replaced = time_not_ahead(moment, received, max_ahead)
    if replaced:
        # A time in the future cannot be a stored measurement: the reading is fresh and the
        # clock is wrong. Trusting it would file the reading where no rule looks at it.
        logger.warning(
            "session %s: device clock says %s, %s ahead of the receive time %s; using the "
            "receive time (set the device clock)", session, device_time.isoformat(sep=" "),
            _age(moment - received), received.isoformat())
    return time, replaced


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86_400:
        return f"{seconds // 86_400} days"
    if seconds >= 7200:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"


__all__ = [
    "CuffPressure", "GattReading", "NotAReading", "decode", "device_time_utc", "gatt_reading",
    "uuid16_of",
]
