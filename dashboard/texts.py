"""Words and numbers as the screens show them: values, ages, the dose clock, an alarm's line.

Pure; shared by the overview's tiles, the session view and its tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, tzinfo
from typing import Any, Final

import pandas as pd

from vitals.timefmt import local_time
from vitals.vital_signs import MEASURES

ALARM_LABEL: Final[Mapping[str, str]] = {
    "high": "▲ HIGH",
    "medium": "◆ MEDIUM",
    "low": "● LOW",
}


METRIC_LABEL: Final[Mapping[str, str]] = {
    **{metric.value: measure.label for metric, measure in MEASURES.items()},
    "data": "Data",
    "observation": "Observation",
}


def missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def number(value: Any) -> str:
    """A measured value as a monitor shows it: whole numbers, a dash when there is none."""
    return "—" if missing(value) else f"{float(value):.0f}"


def duration(seconds: float) -> str:
    """A short human duration: 12 s, 4 min, 1 h 05 min."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def age_text(seconds: Any) -> str:
    """How long ago a value was measured; ages under 5 s (or in the future) are "just now"."""
    if missing(seconds):
        return ""
    return "just now" if float(seconds) < 5 else f"{duration(seconds)} ago"


def stale_text(label: str, seconds: Any) -> str:
    """What a stale value says instead of its age: "no BP for 12 min" / "no BP yet"."""
    if missing(seconds):
        return f"no {label} yet"
    return f"no {label} for {duration(seconds)}"


def dose_text(since_dose_min: Any) -> str:
    if missing(since_dose_min):
        return "No dose recorded"
    return f"Dose +{math.floor(float(since_dose_min)):d} min"


def alarm_text(priority: str, message: str, metric: str | None = None, *,
               acked_by: str | None = None, value: Any = None, now: Any = None,
               ended: Any = None, zone: tzinfo = UTC) -> str:
    """The words that go with an alarm's colour: "▲ HIGH — Systolic 186 mmHg: ...", with the
    metric's latest value when it differs from the one that raised the alarm ("now 193"),
    "acknowledged, silenced" for an alarm acknowledged while its condition persists, and for a
    latched technical alarm whose cause is gone, when it ended."""
    label = ALARM_LABEL.get(priority, priority.upper())
    body = message or METRIC_LABEL.get(metric or "", metric or "alarm")
    if not missing(now) and not missing(value) and number(now) != number(value):
        body += f" — now {number(now)}"
    if not missing(ended):
        body += f" · {ended_text(ended, zone)}"
    if acked_by is not None:
        body += f" · ✔ acknowledged by {acked_by}, silenced until its condition ends"
    return f"{label} — {body}"


def ended_text(ended: Any, zone: tzinfo = UTC) -> str:
    """A latched technical alarm's cause is gone; only an acknowledgement clears it. On the
    clinic's clock (`zone`)."""
    return f"ended at {local_time(ended, zone, '%H:%M')} — acknowledge to clear"
