"""Observation rules: each observation the monitor records judged against the profile's
`observation_rules`; the worst matching rule raises the `observation` alarm."""

from __future__ import annotations

import logging
from datetime import timedelta

from vitals.alerts import AlarmKey, AlertEvent, Metric
from vitals.profile import ObservationRule, Profile
from vitals.readings import Observation, ObservationRetraction
from vitals.rules.latch import reconcile
from vitals.rules.state import OBSERVATION_RULE_PREFIX, Cause, SessionState

log = logging.getLogger(__name__)

# Observations kept per session for "while" rules; a bound so a long session cannot grow.
MAX_OBSERVATIONS = 2_000


def evaluate_observation(
    observation: Observation, state: SessionState, profile: Profile
) -> list[AlertEvent]:
    """The alert events one recorded observation causes (metric `observation`)."""
    if state.ended is not None or _retracted(observation, state):
        return []
    history = state.observations
    history.append(observation)
    if len(history) > MAX_OBSERVATIONS:
        del history[: len(history) - MAX_OBSERVATIONS]
    counted = [o for o in history if not _retracted(o, state)]
    worst: Cause | None = None
    for rule in profile.observation_rules.values():
        if not rule.enabled:
            continue
        try:
            cause = _observation_cause(rule, observation, counted)
        except Exception:
            state.rule_errors += 1  # isolation, as for limit rules
            log.exception("observation rule %s failed for session %s", rule.id, state.session)
            continue
        if cause is not None and (worst is None or cause.priority.rank > worst.priority.rank):
            worst = cause
    if worst is None:
        return []
    events = reconcile(state, AlarmKey(Metric.OBSERVATION), worst, observation.time, "")
    alarm = state.alarms.get(AlarmKey(Metric.OBSERVATION))
    if alarm is not None:
        alarm.condition_present = False  # a moment, not a state: latched until acknowledged
    return events


def retract_observation(retraction: ObservationRetraction, state: SessionState) -> None:
    """Later rules no longer count the retracted observation. An alarm it raised is left as it
    is: it latches until acknowledged, like any observation alarm (docs/alarms.md)."""
    state.retracted.add((retraction.observation, retraction.observed_at))


def _retracted(observation: Observation, state: SessionState) -> bool:
    return (observation.observation, observation.time) in state.retracted


def _observation_cause(
    rule: ObservationRule, observation: Observation, history: list[Observation]
) -> Cause | None:
    kind, severity = observation.observation, observation.severity
    if rule.while_ is None:
        if not rule.matches(kind, severity):
            return None
        return _cause(rule, observation, None)
    window = timedelta(minutes=rule.while_.within_minutes)
    near = [o for o in history if o is not observation and abs(o.time - observation.time) <= window]
    if rule.matches(kind, severity):
        partner = next((o for o in reversed(near)
                        if rule.while_.matches(o.observation, o.severity)), None)
        if partner is not None:
            return _cause(rule, observation, partner)
    if rule.while_.matches(kind, severity):
        # The condition recorded after the observation it qualifies: the pair still raises.
        primary = next((o for o in reversed(near) if rule.matches(o.observation, o.severity)),
                       None)
        if primary is not None:
            return _cause(rule, primary, observation)
    return None


def _cause(rule: ObservationRule, observation: Observation, partner: Observation | None) -> Cause:
    return Cause(
        OBSERVATION_RULE_PREFIX + rule.id,
        rule.priority,
        lambda: rule.render(
            observation.observation, observation.severity, observation.by, observation.note,
            observation.time.strftime("%H:%M"),
            None if partner is None else (partner.observation, partner.severity),
        ),
    )
