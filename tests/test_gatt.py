"""Bluetooth GATT characteristic decoders: byte-exact vectors built from the GATT Specification
Supplement and IEEE 11073-20601 (SFLOAT = 4-bit exponent, 12-bit mantissa, little-endian)."""

from __future__ import annotations

import logging
import time as time_module
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from vitals.gatt import (
    CuffPressure,
    GattReading,
    NotAReading,
    decode,
    device_time_utc,
    gatt_reading,
    uuid16_of,
)
from vitals.gatt_primitives import GattError
from vitals.readings import DeviceProblem
from vitals.vital_signs import FIELDS, Kind

P = DeviceProblem
RECEIVED = datetime(2026, 11, 28, 17, 5, 30, tzinfo=UTC)
# 2026-11-28 17:05:00 as a GATT Date Time: year 0x07EA LE, month 11, day 28, 17:05:00.
STAMP = "EA 07 0B 1C 11 05 00"
STAMP_TIME = datetime(2026, 11, 28, 17, 5, 0)
BP = "76 00 4C 00 5A 00"  # 118 / 76 / MAP 90 mmHg


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# --- Blood Pressure Measurement 2A35 --------------------------------------------------------

BP_VALUES = {"systolic": 118.0, "diastolic": 76.0, "mean_arterial": 90.0}


@pytest.mark.parametrize(("value", "values", "device_time", "problems", "user"), [
    pytest.param(f"00 {BP}", BP_VALUES, None, (), None, id="mmHg, no options"),
    # 16.0 / 10.7 / 12.5 kPa (exponent -1) -> x 7.50062 mmHg, to 0.1 mmHg.
    pytest.param("01 A0 F0 6B F0 7D F0", {"systolic": 120.0, "diastolic": 80.3,
                                          "mean_arterial": 93.8}, None, (), None, id="kPa"),
    pytest.param(f"02 {BP} {STAMP}", BP_VALUES, STAMP_TIME, (), None, id="timestamp"),
    pytest.param(f"02 {BP} 00 00 00 00 00 00 00", BP_VALUES, None, (), None,
                 id="timestamp not known"),
    pytest.param(f"04 {BP} 48 00", BP_VALUES | {"pulse": 72.0}, None, (), None, id="pulse"),
    pytest.param("05 A0 F0 6B F0 7D F0 48 00", {"systolic": 120.0, "diastolic": 80.3,
                 "mean_arterial": 93.8, "pulse": 72.0}, None, (), None,
                 id="pulse stays per minute in kPa"),
    pytest.param(f"08 {BP} 02", BP_VALUES, None, (), 2, id="user id"),
    pytest.param(f"08 {BP} FF", BP_VALUES, None, (), None, id="user id unknown"),
    pytest.param(f"10 {BP} 00 00", BP_VALUES, None, (), None, id="status all clear"),
    pytest.param(f"10 {BP} 01 00", BP_VALUES, None, (P.BODY_MOVEMENT,), None,
                 id="body movement"),
    pytest.param(f"10 {BP} 02 00", BP_VALUES, None, (P.CUFF_LOOSE,), None, id="cuff too loose"),
    pytest.param(f"10 {BP} 04 00", BP_VALUES, None, (P.IRREGULAR_PULSE,), None,
                 id="irregular pulse"),
    pytest.param(f"10 {BP} 08 00", BP_VALUES, None, (P.PULSE_RATE_RANGE,), None,
                 id="pulse rate above range"),
    pytest.param(f"10 {BP} 10 00", BP_VALUES, None, (P.PULSE_RATE_RANGE,), None,
                 id="pulse rate below range"),
    pytest.param(f"10 {BP} 20 00", BP_VALUES, None, (P.IMPROPER_POSITION,), None,
                 id="improper position"),
    pytest.param(f"10 {BP} C0 FF", BP_VALUES, None, (), None, id="reserved status bits ignored"),
    pytest.param(f"10 {BP} 3F 00", BP_VALUES, None, (P.BODY_MOVEMENT, P.CUFF_LOOSE,
                 P.IRREGULAR_PULSE, P.PULSE_RATE_RANGE, P.IMPROPER_POSITION), None,
                 id="every status bit"),
    pytest.param(f"1F A0 F0 6B F0 7D F0 {STAMP} 48 00 01 05 00",
                 {"systolic": 120.0, "diastolic": 80.3, "mean_arterial": 93.8, "pulse": 72.0},
                 STAMP_TIME, (P.BODY_MOVEMENT, P.IRREGULAR_PULSE), 1, id="every flag"),
    pytest.param(f"E0 {BP}", BP_VALUES, None, (), None, id="reserved flag bits ignored"),
    pytest.param("00 76 00 4C 00 FF 07", {"systolic": 118.0, "diastolic": 76.0}, None, (), None,
                 id="MAP NaN leaves MAP out"),
    pytest.param(f"04 {BP} FF 07", BP_VALUES, None, (), None, id="pulse NaN leaves pulse out"),
])
def test_blood_pressure_measurement_decodes_every_flag(
    value: str, values: dict[str, float], device_time: datetime | None,
    problems: tuple[DeviceProblem, ...], user: int | None,
) -> None:
    assert decode("2a35", h(value)) == GattReading(
        kind=Kind.BP, values=values, device_time=device_time, problems=problems, user_id=user)


@pytest.mark.parametrize("special", ["FF 07", "00 08", "FE 07", "02 08", "01 08"])
@pytest.mark.parametrize("slot", [0, 1])
def test_blood_pressure_special_value_in_systolic_or_diastolic_is_refused(
        special: str, slot: int) -> None:
    fields = ["76 00", "4C 00", "5A 00"]
    fields[slot] = special
    with pytest.raises(GattError, match=["systolic", "diastolic"][slot]):
        decode("2a35", h("00 " + " ".join(fields)))


@pytest.mark.parametrize(("special", "name"), [
    ("00 08", "NRes"), ("FE 07", "INF"), ("02 08", "INF"), ("01 08", "reserved"),
])
def test_blood_pressure_special_other_than_nan_in_optional_field_is_refused(
        special: str, name: str) -> None:
    with pytest.raises(GattError, match=f"mean arterial pressure is .*{name}"):
        decode("2a35", h(f"00 76 00 4C 00 {special}"))
    with pytest.raises(GattError, match=f"pulse rate is .*{name}"):
        decode("2a35", h(f"04 {BP} {special}"))


@pytest.mark.parametrize(("value", "reason"), [
    ("", "2A35 value is 0 bytes; it needs at least 7"),
    ("00 76 00 4C 00", "2A35 value is 5 bytes; it needs at least 7"),
    (f"00 {BP} 00", "2A35 value is 8 bytes; flags 0x00 need 7"),
    (f"02 {BP}", "2A35 value is 7 bytes; flags 0x02 need 14"),
    (f"02 {BP} EA 07 0B 1C 11 05", "2A35 value is 13 bytes; flags 0x02 need 14"),
    (f"04 {BP} 48", "2A35 value is 8 bytes; flags 0x04 need 9"),
    (f"08 {BP}", "2A35 value is 7 bytes; flags 0x08 need 8"),
    (f"10 {BP} 01", "2A35 value is 8 bytes; flags 0x10 need 9"),
    (f"1F {BP} {STAMP} 48 00 01 05", "2A35 value is 18 bytes; flags 0x1F need 19"),
])
def test_blood_pressure_truncated_or_over_long_value_is_refused_with_the_lengths(
        value: str, reason: str) -> None:
    with pytest.raises(GattError) as caught:
        decode("2a35", h(value))
    assert str(caught.value) == reason


def test_blood_pressure_timestamp_that_is_not_a_date_is_refused() -> None:
    with pytest.raises(GattError, match="2026-13-28 17:05:00 is not a real date"):
        decode("2a35", h(f"02 {BP} EA 07 0D 1C 11 05 00"))


# --- Intermediate Cuff Pressure 2A36 --------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("00 96 00 FF 07 FF 07", CuffPressure(150.0)),
    ("01 C8 F0 FF 07 FF 07", CuffPressure(150.0)),  # 20.0 kPa
    (f"1A 96 00 FF 07 FF 07 {STAMP} 03 02 00",
     CuffPressure(150.0, STAMP_TIME, 3, (P.CUFF_LOOSE,))),
])
def test_intermediate_cuff_pressure_decodes_to_a_cuff_pressure(
        value: str, expected: CuffPressure) -> None:
    assert decode("2a36", h(value)) == expected


def test_intermediate_cuff_pressure_without_a_pressure_is_refused() -> None:
    with pytest.raises(GattError, match="current cuff pressure is NaN"):
        decode("2a36", h("00 FF 07 FF 07 FF 07"))


def test_intermediate_cuff_pressure_is_not_a_reading_to_store() -> None:
    with pytest.raises(NotAReading, match="150 mmHg"):
        gatt_reading("room-3", "2a36", h("00 96 00 FF 07 FF 07"), RECEIVED)


# --- Heart Rate Measurement 2A37 ------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("00 48", GattReading(Kind.HR, {"bpm": 72.0})),
    ("01 48 00", GattReading(Kind.HR, {"bpm": 72.0})),
    ("01 2C 01", GattReading(Kind.HR, {"bpm": 300.0})),  # uint16 above 255
    ("02 48", GattReading(Kind.HR, {"bpm": 72.0})),  # contact bit without support: ignored
    ("04 48", GattReading(Kind.HR, {"bpm": 72.0}, problems=(P.SENSOR_CONTACT,))),
    ("06 48", GattReading(Kind.HR, {"bpm": 72.0})),  # supported and detected
    ("08 48 10 27", GattReading(Kind.HR, {"bpm": 72.0}, energy_expended_kj=10000)),
    ("10 48", GattReading(Kind.HR, {"bpm": 72.0})),  # RR flag, no interval in this value
    ("10 48 00 04 00 02", GattReading(Kind.HR, {"bpm": 72.0}, rr_intervals=(1.0, 0.5))),
    ("1F 48 00 10 27 00 04", GattReading(Kind.HR, {"bpm": 72.0}, energy_expended_kj=10000,
                                         rr_intervals=(1.0,))),
    ("E0 48", GattReading(Kind.HR, {"bpm": 72.0})),  # reserved flag bits ignored
])
def test_heart_rate_measurement_decodes_every_flag(value: str, expected: GattReading) -> None:
    assert decode("2a37", h(value)) == expected


@pytest.mark.parametrize(("value", "reason"), [
    ("", "2A37 value is 0 bytes; it needs at least 2"),
    ("00", "2A37 value is 1 bytes; it needs at least 2"),
    ("01 48", "2A37 value is 2 bytes; flags 0x01 need 3"),
    ("00 48 00", "2A37 value is 3 bytes; flags 0x00 need 2"),
    ("08 48 10", "2A37 value is 3 bytes; flags 0x08 need 4"),
    ("10 48 00", "2A37 value is 3 bytes; flags 0x10 need 2 plus 2 per RR interval"),
    ("19 48 00 10", "2A37 value is 4 bytes; flags 0x19 need 5 plus 2 per RR interval"),
])
def test_heart_rate_truncated_or_over_long_value_is_refused_with_the_lengths(
        value: str, reason: str) -> None:
    with pytest.raises(GattError) as caught:
        decode("2a37", h(value))
    assert str(caught.value) == reason


# --- PLX Spot-check 2A5E and Continuous 2A5F ------------------------------------------------

SPO2 = "61 00 48 00"  # 97 %, 72 /min
SPO2_VALUES = {"spo2": 97.0, "pulse": 72.0}


@pytest.mark.parametrize(("value", "expected"), [
    (f"00 {SPO2}", GattReading(Kind.SPO2, SPO2_VALUES)),
    ("00 CF F3 48 00", GattReading(Kind.SPO2, {"spo2": 97.5, "pulse": 72.0})),
    (f"01 {SPO2} {STAMP}", GattReading(Kind.SPO2, SPO2_VALUES, device_time=STAMP_TIME)),
    (f"11 {SPO2} {STAMP}", GattReading(Kind.SPO2, SPO2_VALUES)),  # device clock not set
    (f"02 {SPO2} 00 00", GattReading(Kind.SPO2, SPO2_VALUES)),
    (f"02 {SPO2} 20 00", GattReading(Kind.SPO2, SPO2_VALUES, notes=("measurement ongoing",))),
    (f"02 {SPO2} 00 80", GattReading(Kind.SPO2, SPO2_VALUES, problems=(P.MEASUREMENT_ERROR,))),
    (f"02 {SPO2} 00 40", GattReading(Kind.SPO2, SPO2_VALUES, problems=(P.MEASUREMENT_ERROR,))),
    (f"04 {SPO2} 01 02 00", GattReading(Kind.SPO2, SPO2_VALUES)),  # display/analysis ongoing
    (f"04 {SPO2} 20 00 00", GattReading(Kind.SPO2, SPO2_VALUES, problems=(P.MEASUREMENT_ERROR,))),
    (f"04 {SPO2} 00 08 00", GattReading(Kind.SPO2, SPO2_VALUES, problems=(P.SENSOR_CONTACT,))),
    (f"04 {SPO2} 00 A0 00", GattReading(Kind.SPO2, SPO2_VALUES, problems=(P.SENSOR_CONTACT,))),
    (f"04 {SPO2} 10 80 FF", GattReading(Kind.SPO2, SPO2_VALUES,
                                        problems=(P.MEASUREMENT_ERROR, P.SENSOR_CONTACT))),
    (f"08 {SPO2} 1E F0", GattReading(Kind.SPO2, SPO2_VALUES, pulse_amplitude_index=3.0)),
    (f"1F {SPO2} {STAMP} 00 80 00 08 00 1E F0",
     GattReading(Kind.SPO2, SPO2_VALUES, problems=(P.MEASUREMENT_ERROR, P.SENSOR_CONTACT),
                 pulse_amplitude_index=3.0)),
    ("00 61 00 FF 07", GattReading(Kind.SPO2, {"spo2": 97.0})),  # PR NaN: pulse left out
])
def test_plx_spot_check_decodes_every_flag(value: str, expected: GattReading) -> None:
    assert decode("2a5e", h(value)) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (f"00 {SPO2}", GattReading(Kind.SPO2, SPO2_VALUES)),
    (f"01 {SPO2} 62 00 49 00", GattReading(Kind.SPO2, SPO2_VALUES)),  # Fast: not stored
    (f"02 {SPO2} 60 00 47 00", GattReading(Kind.SPO2, SPO2_VALUES)),  # Slow: not stored
    (f"04 {SPO2} 00 80", GattReading(Kind.SPO2, SPO2_VALUES, problems=(P.MEASUREMENT_ERROR,))),
    (f"08 {SPO2} 00 08 00", GattReading(Kind.SPO2, SPO2_VALUES, problems=(P.SENSOR_CONTACT,))),
    (f"10 {SPO2} 1E F0", GattReading(Kind.SPO2, SPO2_VALUES, pulse_amplitude_index=3.0)),
    (f"1F {SPO2} 62 00 49 00 60 00 47 00 40 00 02 00 00 1E F0",
     GattReading(Kind.SPO2, SPO2_VALUES, problems=(P.MEASUREMENT_ERROR,),
                 pulse_amplitude_index=3.0, notes=("early estimated data",))),
])
def test_plx_continuous_decodes_every_flag(value: str, expected: GattReading) -> None:
    assert decode("2a5f", h(value)) == expected


@pytest.mark.parametrize("uuid16", ["2a5e", "2a5f"])
@pytest.mark.parametrize(("status", "what"), [("00 04", "demonstration"), ("00 08", "testing")])
def test_plx_demonstration_or_testing_data_is_refused(uuid16: str, status: str, what: str) -> None:
    flags = "02" if uuid16 == "2a5e" else "04"
    with pytest.raises(GattError, match=f"marked as {what} data"):
        decode(uuid16, h(f"{flags} {SPO2} {status}"))


def test_plx_spo2_nan_is_refused_naming_the_sensor_problem() -> None:
    with pytest.raises(GattError, match=r"SpO2 is NaN.*device reports: sensor_contact"):
        decode("2a5f", h("08 FF 07 FF 07 00 80 00"))


@pytest.mark.parametrize(("uuid16", "value", "reason"), [
    ("2a5e", "00 61 00 48", "2A5E value is 4 bytes; it needs at least 5"),
    ("2a5e", f"01 {SPO2}", "2A5E value is 5 bytes; flags 0x01 need 12"),
    ("2a5e", f"04 {SPO2} 00 08", "2A5E value is 7 bytes; flags 0x04 need 8"),
    ("2a5e", f"00 {SPO2} 00", "2A5E value is 6 bytes; flags 0x00 need 5"),
    ("2a5e", f"1F {SPO2} {STAMP} 00 80 00 08 00 1E", "2A5E value is 18 bytes; flags 0x1F need 19"),
    ("2a5f", f"01 {SPO2} 62 00", "2A5F value is 7 bytes; flags 0x01 need 9"),
    ("2a5f", f"10 {SPO2}", "2A5F value is 5 bytes; flags 0x10 need 7"),
    ("2a5f", f"00 {SPO2} 00 00", "2A5F value is 7 bytes; flags 0x00 need 5"),
])
def test_plx_truncated_or_over_long_value_is_refused_with_the_lengths(
        uuid16: str, value: str, reason: str) -> None:
    with pytest.raises(GattError) as caught:
        decode(uuid16, h(value))
    assert str(caught.value) == reason


# --- Dispatch ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "uuid16"), [
    ("2a35", "2a35"), ("2A35", "2a35"), ("0x2a37", "2a37"),
    ("00002a5e-0000-1000-8000-00805f9b34fb", "2a5e"), ("1810", "1810"),
    ("2a3", None), ("00002a5e-0000-1000-8000-00805f9b34fc", None), ("gatt", None),
])
def test_uuid16_of_accepts_short_and_base_uuid_forms(text: str, uuid16: str | None) -> None:
    assert uuid16_of(text) == uuid16


def test_unsupported_characteristic_is_refused_listing_the_supported_ones() -> None:
    with pytest.raises(GattError, match=r"unsupported characteristic '2a9c'.*2a35, 2a36, 2a37"):
        decode("2a9c", h("00 76 00"))


@pytest.mark.parametrize(("uuid16", "value"), [
    ("2a35", f"1F {BP} {STAMP} 48 00 01 00 00"),
    ("2a37", "00 48"),
    ("2a5e", f"00 {SPO2}"),
    ("2a5f", f"00 {SPO2}"),
])
def test_decoded_value_names_are_the_contract_payload_names(uuid16: str, value: str) -> None:
    decoded = decode(uuid16, h(value))
    assert isinstance(decoded, GattReading)
    assert set(decoded.values) <= {spec.name for spec in FIELDS[decoded.kind]}


# --- gatt_reading: bounds and time --------------------------------------------------------


def test_reading_without_device_time_uses_the_receive_time() -> None:
    reading = gatt_reading("room-3", "2a35", h(f"10 {BP} 02 00"), RECEIVED)
    assert (reading.session, reading.kind, dict(reading.values)) == ("room-3", Kind.BP, BP_VALUES)
    assert (reading.time, reading.time_inferred) == (RECEIVED, True)
    assert reading.problems == (P.CUFF_LOOSE,)
    assert reading.device is None


@pytest.mark.parametrize(("device_tz", "expected"), [
    (UTC, datetime(2026, 11, 28, 17, 5, tzinfo=UTC)),
    (ZoneInfo("Europe/Berlin"), datetime(2026, 11, 28, 16, 5, tzinfo=UTC)),  # CET, UTC+1
    (timezone(timedelta(hours=-5)), datetime(2026, 11, 28, 22, 5, tzinfo=UTC)),
])
def test_device_time_is_read_in_the_device_time_zone(device_tz, expected: datetime) -> None:
    received = expected + timedelta(seconds=40)
    reading = gatt_reading("room-3", "2a35", h(f"02 {BP} {STAMP}"), received, device_tz=device_tz)
    assert (reading.time, reading.time_inferred) == (expected, False)


@pytest.fixture
def local_zone_new_york(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time_module.tzset()
    yield
    monkeypatch.undo()
    time_module.tzset()


def test_device_time_defaults_to_the_local_zone(local_zone_new_york: None) -> None:
    assert device_time_utc(STAMP_TIME) == datetime(2026, 11, 28, 22, 5, tzinfo=UTC)
    reading = gatt_reading("room-3", "2a35", h(f"02 {BP} {STAMP}"),
                           datetime(2026, 11, 28, 22, 6, tzinfo=UTC))
    assert (reading.time, reading.time_inferred) == (
        datetime(2026, 11, 28, 22, 5, tzinfo=UTC), False)


@pytest.mark.parametrize("ahead", [timedelta(minutes=11), timedelta(hours=2),
                                   timedelta(days=4000)])
def test_device_clock_ahead_of_receive_time_is_replaced_by_the_receive_time(
        ahead: timedelta, caplog: pytest.LogCaptureFixture) -> None:
    received = datetime(2026, 11, 28, 17, 5, tzinfo=UTC) - ahead
    with caplog.at_level(logging.WARNING, logger="vitals.gatt"):
        reading = gatt_reading("room-3", "2a35", h(f"02 {BP} {STAMP}"), received, device_tz=UTC)
    assert (reading.time, reading.time_inferred) == (received, True)
    assert "device clock says 2026-11-28 17:05:00" in caplog.text


@pytest.mark.parametrize(("behind", "age"), [
    (timedelta(minutes=11), "11 min"), (timedelta(hours=3), "3 h"),
    (timedelta(days=400), "400 days"),
])
def test_device_time_long_before_receipt_is_refused_as_stored_or_late(
        behind: timedelta, age: str) -> None:
    received = datetime(2026, 11, 28, 17, 5, tzinfo=UTC) + behind
    with pytest.raises(GattError, match=f"is {age} before it was received .*stored measurement"):
        gatt_reading("room-3", "2a35", h(f"02 {BP} {STAMP}"), received, device_tz=UTC)


def test_device_time_at_the_end_of_the_calendar_is_treated_as_a_clock_ahead() -> None:
    stamp = "0F 27 0C 1F 17 3B 3B"  # 9999-12-31 23:59:59, pushed past year 9999 by UTC-5
    reading = gatt_reading("s", "2a35", h(f"02 {BP} {stamp}"), RECEIVED,
                           device_tz=timezone(timedelta(hours=-5)))
    assert (reading.time, reading.time_inferred) == (RECEIVED, True)


def test_max_clock_skew_is_configurable() -> None:
    received = datetime(2026, 11, 28, 17, 8, tzinfo=UTC)
    data = h(f"02 {BP} {STAMP}")
    with pytest.raises(GattError, match="3 min before"):
        gatt_reading("s", "2a35", data, received, device_tz=UTC,
                     max_clock_skew=timedelta(minutes=1))
    lenient = gatt_reading("s", "2a35", data, received, device_tz=UTC)
    assert not lenient.time_inferred and lenient.time == datetime(2026, 11, 28, 17, 5, tzinfo=UTC)


def test_plx_device_clock_not_set_uses_the_receive_time() -> None:
    reading = gatt_reading("s", "2a5e", h(f"11 {SPO2} {STAMP}"), RECEIVED, device_tz=UTC)
    assert (reading.time, reading.time_inferred, dict(reading.values)) == (
        RECEIVED, True, SPO2_VALUES)


@pytest.mark.parametrize(("uuid16", "value", "reason"), [
    ("2a35", "00 2C 01 4C 00 5A 00", "systolic 300 mmHg is outside the plausible range 50-260"),
    ("2a35", "00 76 00 14 00 5A 00", "diastolic 20 mmHg is outside the plausible range 30-160"),
    ("2a35", "00 50 00 50 00 5A 00", "diastolic 80 is not below systolic 80"),
    ("2a35", f"04 {BP} F0 00", "pulse 240 /min is outside the plausible range 27-220"),
    ("2a37", "04 00", "bpm 0 /min is outside the plausible range 27-220: artefact, re-measure "
                      "(device reports: sensor_contact)"),
    ("2a5e", "00 2D 00 48 00", "spo2 45 % is outside the plausible range 50-100"),
    ("2a5f", "00 65 00 48 00", "spo2 101 % is outside the plausible range 50-100"),
])
def test_reading_outside_the_artefact_bounds_is_refused(uuid16: str, value: str,
                                                        reason: str) -> None:
    with pytest.raises(GattError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        gatt_reading("s", uuid16, h(value), RECEIVED)


def test_heart_rate_reading_carries_its_sensor_contact_problem() -> None:
    reading = gatt_reading("s", "2a37", h("04 48"), RECEIVED)
    assert (dict(reading.values), reading.problems) == ({"bpm": 72.0}, (P.SENSOR_CONTACT,))


def test_invalid_session_id_is_refused() -> None:
    with pytest.raises(GattError, match="session id"):
        gatt_reading("room 3", "2a37", h("00 48"), RECEIVED)
