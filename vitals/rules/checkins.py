"""Presence check-ins: a monitor's silence beyond interval + grace raises a technical alarm,
the next check-in resolves it."""

from __future__ import annotations

from datetime import datetime, timedelta

from vitals.alerts import AlertEvent, Priority
from vitals.profile import Profile
from vitals.rules.latch import escalate, reconcile_data
from vitals.rules.state import DATA_RULE_CHECKIN, Cause, SessionState
from vitals.rules.wording import format_number


def checkin_since(state: SessionState, profile: Profile) -> datetime | None:
    """Where the check-in silence is counted from; None while the session is not watched."""
    if state.last_checkin is not None:
        return state.last_checkin
    if profile.checkin.required_from_start:
        return state.started
    return None


def check_checkin(state: SessionState, profile: Profile, now: datetime) -> list[AlertEvent]:
    """A missed presence check-in at `now` (the session's clock) raises its technical alarm."""
    if state.ended is not None or DATA_RULE_CHECKIN in state.data_causes:
        return []
    since = checkin_since(state, profile)
    if since is None:
        return []
    gap = (now - since).total_seconds()
    limit = profile.checkin.limit_minutes * 60
    if gap <= limit:
        return []
    # As of the moment it became due, whenever noticed (the same event in every replica).
    message = profile.checkin.message.format(
        value=int(limit // 60), interval=format_number(profile.checkin.interval_minutes),
        limit=format_number(profile.checkin.limit_minutes),
    )
    state.data_causes[DATA_RULE_CHECKIN] = Cause(
        DATA_RULE_CHECKIN, Priority.MEDIUM, message, round(limit / 60, 1),
        profile.checkin.limit_minutes, due=since + timedelta(seconds=limit),
    )
    return reconcile_data(state, DATA_RULE_CHECKIN, now)


def record_checkin(state: SessionState, profile: Profile, time: datetime) -> list[AlertEvent]:
    """A check-in: the session is watched from now on, and a missed check-in is resolved."""
    if state.ended is not None:
        return []
    events: list[AlertEvent] = []
    since = checkin_since(state, profile)
    if since is not None and time > since:
        # Judge the silence up to this check-in first, so a gap no tick caught is still raised
        # (dated back to when it fell due, it may be due to escalate before it ends).
        events += check_checkin(state, profile, time)
        events += escalate(state, profile, time)
    if state.last_checkin is None or time > state.last_checkin:
        state.last_checkin = time
    if state.data_causes.pop(DATA_RULE_CHECKIN, None) is not None:
        events += reconcile_data(state, DATA_RULE_CHECKIN, time, "A monitor checked in.")
    return events
