"""InfluxDB line protocol, built by hand (pure, no I/O).

Writing pre-built lines is several times faster than handing dicts to the `influxdb` package,
and it lets us fix two things the package leaves open: numbers are always written as floats
(`118.0`, never `118i`), so an integer-valued reading can never cause a field-type conflict with
a later fractional one, and string fields keep newlines exactly (the package rewrites them).

Escaping (InfluxDB 1.x/2.x line protocol):
- measurement: comma and space;
- tag keys, tag values, field keys: comma, equals sign and space;
- string field values: double quote and backslash (a newline inside the quotes is data).
Tag values cannot carry a newline, an empty value or a trailing backslash in any escaping, so
those are refused with `ValueError` rather than written wrongly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache

FieldValue = float | int | bool | str

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"'})


@lru_cache(maxsize=256)  # few names, written on every line
def escape_measurement(name: str) -> str:
    _check_name(name, "measurement")
    return name.translate(_MEASUREMENT)


@lru_cache(maxsize=1024)
def escape_key(key: str) -> str:
    """A tag key or a field key."""
    _check_name(key, "key")
    return key.translate(_KEY)


@lru_cache(maxsize=8192)  # session and device ids repeat line after line
def escape_tag_value(value: str) -> str:
    if not value:
        raise ValueError("a tag value cannot be empty (leave the tag out instead)")
    if "\n" in value or "\r" in value:
        raise ValueError(f"a tag value cannot contain a line break: {value!r}")
    if value.endswith("\\"):
        raise ValueError(f"a tag value cannot end with a backslash: {value!r}")
    return value.translate(_KEY)


def format_field(value: FieldValue) -> str:
    """A field value: floats for every number, `true`/`false`, or a quoted string."""
    if type(value) is float and math.isfinite(value):  # the common case, first
        return repr(value)
    if isinstance(value, bool):  # before the number case: bool is an int in Python
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"InfluxDB cannot store {number!r}")
        return repr(number)  # shortest text that reads back as exactly this float
    if isinstance(value, str):
        return '"' + value.translate(_STRING) + '"'
    raise TypeError(f"unsupported field value {value!r} ({type(value).__name__})")


def line(
    measurement: str,
    tags: Mapping[str, str | None],
    fields: Mapping[str, FieldValue | None],
    time_us: int,
) -> str:
    """One point: tags and fields that are None (or empty tags) are left out; at least one
    field must remain. Tags are sorted by key, as InfluxDB recommends."""
    head = series(measurement, tuple(tags.items()))
    field_text = ",".join([  # a list: `join` makes one from a generator anyway
        f"{escape_key(key)}={format_field(value)}"
        for key, value in fields.items()
        if value is not None
    ])
    if not field_text:
        raise ValueError(f"a {measurement!r} point needs at least one field")
    if isinstance(time_us, bool) or not isinstance(time_us, int):
        raise TypeError(f"time must be integer microseconds, got {time_us!r}")
    return f"{head} {field_text} {time_us}"


@lru_cache(maxsize=8192)  # a series (session, device, ...) repeats point after point
def series(measurement: str, tags: tuple[tuple[str, str | None], ...]) -> str:
    """The measurement and its tag set, escaped: what a point's line starts with."""
    parts = [escape_measurement(measurement)]
    for key, value in sorted(tags, key=lambda tag: tag[0]):
        if value is None or value == "":
            continue
        parts.append(f"{escape_key(key)}={escape_tag_value(value)}")
    return ",".join(parts)


def _check_name(name: str, what: str) -> None:
    if not name:
        raise ValueError(f"a {what} cannot be empty")
    if "\n" in name or "\r" in name:
        raise ValueError(f"a {what} cannot contain a line break: {name!r}")
    if name.endswith("\\"):
        raise ValueError(f"a {what} cannot end with a backslash: {name!r}")
