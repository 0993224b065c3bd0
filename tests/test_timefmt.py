"""Microseconds since the epoch: exact for any aware time, naive times read as local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from vitals.timefmt import from_us, local_time, to_us, zone_named

PLUS_2 = timezone(timedelta(hours=2))


@pytest.mark.parametrize(("moment", "micros"), [
    (datetime(1970, 1, 1, tzinfo=UTC), 0),
    (datetime(2026, 11, 28, 17, 5, 0, 123456, tzinfo=UTC), 1_795_885_500_123_456),
    (datetime(2026, 11, 28, 19, 5, 0, 123456, tzinfo=PLUS_2), 1_795_885_500_123_456),
    (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), -1),
    (datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC), -2_208_988_799_999_999),
])
def test_aware_times_convert_exactly_both_ways(moment, micros):
    assert to_us(moment) == micros
    assert from_us(micros) == moment


def test_a_naive_time_is_read_as_local_time():
    naive = datetime(2026, 11, 28, 17, 5, 0, 7)
    assert to_us(naive) == to_us(naive.astimezone(UTC))


BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


@pytest.mark.parametrize(("moment", "zone", "shown"), [
    # Berlin springs forward at 01:00 UTC on 2026-03-29: 02:00 CET becomes 03:00 CEST.
    (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), BERLIN, "01:59:59 CET"),
    (datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC), BERLIN, "03:00:00 CEST"),
    # ... and falls back at 01:00 UTC on 2026-10-25: 02:30 is shown twice, told apart by zone.
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), BERLIN, "02:30:00 CEST"),
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), BERLIN, "02:30:00 CET"),
    # New York springs forward at 07:00 UTC on 2026-03-08.
    (datetime(2026, 3, 8, 6, 59, tzinfo=UTC), NEW_YORK, "01:59:00 EST"),
    (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), NEW_YORK, "03:00:00 EDT"),
    (datetime(2026, 11, 28, 17, 5, tzinfo=UTC), "UTC", "17:05:00 UTC"),
    # A zone whose abbreviation is only an offset says it is one.
    (datetime(2026, 11, 28, 17, 5, tzinfo=UTC), "America/Sao_Paulo", "14:05:00 UTC-03"),
    (datetime(2026, 11, 28, 19, 5, tzinfo=PLUS_2), BERLIN, "18:05:00 CET"),  # any offset in
])
def test_local_times_carry_the_zone_abbreviation_across_daylight_saving_changes(moment, zone,
                                                                                 shown):
    assert local_time(moment, zone_named(zone)) == shown


def test_a_local_time_takes_the_format_asked_for():
    moment = datetime(2026, 7, 1, 6, 30, tzinfo=UTC)
    assert local_time(moment, zone_named(BERLIN), "%Y-%m-%d %H:%M") == "2026-07-01 08:30 CEST"


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "CEST", "", "../etc/passwd", "Europe/"])
def test_an_unknown_zone_is_refused_naming_what_is_expected(name):
    with pytest.raises(ValueError, match=r"unknown time zone .* expected an IANA name"):
        zone_named(name)
