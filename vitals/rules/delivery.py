"""Notifications the notifier could not deliver: a technical alarm per person and channel."""

from __future__ import annotations

import re
from datetime import datetime

from vitals.alerts import AlertEvent, Priority
from vitals.rules.latch import reconcile_data
from vitals.rules.state import DATA_RULE_NOTIFY, Cause, SessionState


def delivery_outcome(state: SessionState, person: str, channel: str, delivered: bool,
                     error: str | None, time: datetime) -> list[AlertEvent]:
    """A failed notification is a medium `data` alarm of its own (one per person and channel)
    until a later delivery to that person on that channel succeeds (then the alarm clears, or
    stays latched until acknowledged)."""
    if state.ended is not None:
        return []
    rule, cause = notify_cause(person, channel, error)
    if not delivered:
        if rule in state.data_causes:
            return []
        state.data_causes[rule] = cause
        return reconcile_data(state, rule, time)
    if state.data_causes.pop(rule, None) is None:
        return []
    return reconcile_data(state, rule, time, f"{person} notified by {channel} again.")


def notify_cause(person: str, channel: str, error: str | None) -> tuple[str, Cause]:
    """The rule (the `data_causes` key, the alarm's identity) and the cause of a failed
    delivery to `person` by `channel`."""
    rule = f"{DATA_RULE_NOTIFY}.{_slug(person)}.{_slug(channel)}"
    return rule, Cause(
        rule, Priority.MEDIUM,
        f"Could not notify {person} by {channel}: {error or 'delivery failed'}. Call them if "
        "they are needed, and check the roster and the notifier's log.")


def _slug(text: str) -> str:
    # A rule names the alarm in ids and CSS selectors on the dashboard: letters, digits, - and _.
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "-"
