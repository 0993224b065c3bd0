"""Time conversions shared by storage, export and the dashboard.

Stored and exported times are UTC (`rfc3339`); people read them in the clinic's zone
(`local_time`, the `VITALS_TIMEZONE` setting), always with the zone's abbreviation so a time
never stands without saying which clock it is on.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def rfc3339(moment: datetime) -> str:
    """UTC, `Z`, microseconds only when present: 2026-11-28T17:05:00Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (integer arithmetic, no float rounding)."""
    if moment.tzinfo is None:
        moment = moment.astimezone(UTC)  # naive: local time, as `astimezone` reads it
    return (moment - _EPOCH) // _MICROSECOND


def from_us(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def utcnow() -> datetime:
    return datetime.now(UTC)


@functools.cache
def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone `name` ("Europe/Berlin"), or ValueError saying what is expected."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:  # ValueError: not a key ("../x", "")
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as "
                         "Europe/Berlin, America/New_York or UTC") from err


def local_time(moment: datetime, zone: tzinfo = UTC, fmt: str = "%H:%M:%S") -> str:
    """`moment` on the clinic's clock, with the zone's abbreviation: "18:05:00 CET". An
    abbreviation that is only an offset ("+03") is shown as the offset from UTC ("UTC+03")."""
    local = moment.astimezone(zone)
    name = local.tzname() or ""
    if name.startswith(("+", "-")):
        name = f"UTC{name}"
    return f"{local.strftime(fmt)} {name}"
