"""Microseconds since the epoch: exact for any aware time, naive times read as local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from vitals.timefmt import from_us, to_us

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
