"""Time conversions shared by storage, export and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
