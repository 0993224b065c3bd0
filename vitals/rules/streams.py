"""Technical alarms of the reading streams: a stream silent too long (a BP gap beyond the
cadence), judged on a tick or when it resumes, and a problem the device reported."""

from __future__ import annotations

from datetime import datetime, timedelta

from vitals.alerts import AlertEvent, Priority
from vitals.profile import Profile
from vitals.readings import Reading
from vitals.rules.latch import escalate, reconcile_data
from vitals.rules.state import (
    DATA_RULE_BP_GAP,
    DATA_RULE_PROBLEM,
    DATA_RULE_STREAM,
    Cause,
    SessionState,
)
from vitals.rules.wording import KIND_WORDS, format_number, render
from vitals.vital_signs import Kind

_STREAM_RULES: dict[Kind, str] = {kind: f"{DATA_RULE_STREAM}.{kind.value}" for kind in Kind}
_PROBLEM_RULES: dict[Kind, str] = {kind: f"{DATA_RULE_PROBLEM}.{kind.value}" for kind in Kind}


def stream_limits(
    kind: Kind, state: SessionState, profile: Profile, stale_seconds: float | None, last: datetime
) -> tuple[tuple[Priority, float], ...]:
    """(priority, seconds) limits on the silence of a stream, worst last."""
    if stale_seconds is not None:
        return ((Priority.MEDIUM, stale_seconds),)
    technical = profile.technical
    if kind is Kind.BP:
        cadence_s = bp_cadence_minutes(state, profile, last) * 60
        return (
            (Priority.LOW, technical.bp_gap_low_factor * cadence_s),
            (Priority.MEDIUM, technical.bp_gap_medium_factor * cadence_s),
        )
    return ((Priority.MEDIUM, technical.stream_seconds),)


def bp_cadence_minutes(state: SessionState, profile: Profile, at: datetime) -> float:
    since = None if state.dosed is None else (at - state.dosed).total_seconds() / 60
    return profile.cadence.minutes_at(since)


def stale_cause(
    kind: Kind,
    gap_seconds: float,
    state: SessionState,
    profile: Profile,
    stale_seconds: float | None,
    last: datetime,
) -> Cause | None:
    """The technical cause a silence of `gap_seconds` since `last` amounts to, if any."""
    hit: tuple[Priority, float] | None = None
    for priority, limit in stream_limits(kind, state, profile, stale_seconds, last):
        if gap_seconds > limit:
            hit = (priority, limit)
    if hit is None:
        return None
    priority, limit = hit
    technical = profile.technical
    # Said as of the moment the silence reached its limit, whenever it is noticed: the same
    # event in every replica of the ingest.
    due = last + timedelta(seconds=limit)
    if kind is Kind.BP and stale_seconds is None:
        cadence = bp_cadence_minutes(state, profile, last)
        message = render(
            technical.bp_gap_message, value=format_number(limit / 60),
            cadence=format_number(cadence), limit=format_number(limit / 60),
        )
        return Cause(DATA_RULE_BP_GAP, priority, message, round(limit / 60, 1),
                     round(limit / 60, 1), due=due)
    message = render(
        technical.stream_message, kind=KIND_WORDS[kind], value=format_number(round(limit)),
        limit=format_number(limit),
    )
    return Cause(stale_rule(kind, stale_seconds), priority, message, round(limit, 1), limit,
                 due=due)


def stale_rule(kind: Kind, stale_seconds: float | None) -> str:
    """The rule (and so the alarm) of a stream's silence: BP by its cadence, else per kind."""
    if kind is Kind.BP and stale_seconds is None:
        return DATA_RULE_BP_GAP
    return _STREAM_RULES[kind]


def silent_since(kind: Kind, last: datetime, state: SessionState, now: datetime) -> datetime:
    """Where a stream's silence is counted from: its last reading, or for BP the dose if later.

    The BP cadence is defined from the dose, so a pre-dose check long before dosing does not
    make the first post-dose reading late.
    """
    if kind is Kind.BP and state.dosed is not None and last < state.dosed <= now:
        return state.dosed
    return last


def check_stale(
    state: SessionState, profile: Profile, now: datetime, stale_seconds: float | None
) -> list[AlertEvent]:
    """Streams silent for too long at `now` (the session's clock) raise their alarms."""
    if state.ended is not None:
        return []
    events: list[AlertEvent] = []
    for kind, last in sorted(state.last_reading.items()):  # a fixed order, as for escalation
        cause = _silence_cause(kind, last, now, state, profile, stale_seconds)
        if cause is None:
            continue
        _keep_if_worse(state, cause)
        events += reconcile_data(state, cause.rule, now)
    return events


def check_resume(
    reading: Reading, state: SessionState, profile: Profile, stale_seconds: float | None
) -> list[AlertEvent]:
    """A reading after a silence: raise the gap alarm a tick may have missed, then end it."""
    if state.ended is not None:
        return []
    events: list[AlertEvent] = []
    key = stale_rule(reading.kind, stale_seconds)
    last = state.last_reading.get(reading.kind)
    if last is not None and reading.time > last:
        cause = _silence_cause(reading.kind, last, reading.time, state, profile, stale_seconds)
        if cause is not None and _keep_if_worse(state, cause):
            events += reconcile_data(state, key, reading.time)
            # Dated back to when it fell due, it may be due to escalate before it ends.
            events += escalate(state, profile, reading.time)
    if last is None or reading.time > last:
        state.last_reading[reading.kind] = reading.time
    if state.data_causes.pop(key, None) is not None:
        events += reconcile_data(state, key, reading.time)
    return events


def _silence_cause(
    kind: Kind, last: datetime, now: datetime, state: SessionState, profile: Profile,
    stale_seconds: float | None,
) -> Cause | None:
    """The cause a stream whose last reading came at `last` has at `now`, if any."""
    since = silent_since(kind, last, state, now)
    return stale_cause(kind, (now - since).total_seconds(), state, profile, stale_seconds, since)


def _keep_if_worse(state: SessionState, cause: Cause) -> bool:
    """Make `cause` its rule's cause unless one as bad is there already; whether it did."""
    current = state.data_causes.get(cause.rule)
    if current is not None and cause.priority.rank <= current.priority.rank:
        return False
    state.data_causes[cause.rule] = cause
    return True


def device_problems(reading: Reading, state: SessionState, profile: Profile) -> list[AlertEvent]:
    """Problems the device reported with a reading are a low technical alarm of its kind, until
    a reading of that kind reports none."""
    key = _PROBLEM_RULES[reading.kind]
    if reading.problems:
        words = ", ".join(p.value.replace("_", " ") for p in reading.problems)
        message = render(
            profile.technical.device_problem_message, kind=KIND_WORDS[reading.kind],
            problems=words,
        )
        state.data_causes[key] = Cause(key, Priority.LOW, message)
    elif key in state.data_causes:
        del state.data_causes[key]
    else:
        return []
    return reconcile_data(state, key, reading.time)
