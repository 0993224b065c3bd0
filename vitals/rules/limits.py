"""Limit rules: each reading's values judged against its metric's rules, sustained breaches and
hysteresis tracked per rule, the worst rule in effect raising the metric's one alarm."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from vitals.alerts import AlarmKey, AlertEvent, Metric
from vitals.profile import LimitRule, Profile, source_label
from vitals.readings import Reading
from vitals.rules.latch import reconcile
from vitals.rules.state import Cause, RuleTrack, SessionState
from vitals.rules.streams import device_problems, stream_limits
from vitals.rules.wording import format_number, render
from vitals.vital_signs import Kind

log = logging.getLogger(__name__)

# A clinical metric's one alarm, looked up for every value judged (built once, not each time).
_METRIC_KEYS: dict[Metric, AlarmKey] = {metric: AlarmKey(metric) for metric in Metric}


def evaluate(
    reading: Reading, state: SessionState, profile: Profile, stale_seconds: float | None = None
) -> list[AlertEvent]:
    """The alert events one reading causes (limit rules and device problems), by reading time.

    A value from a metric's lower-ranked source (`MetricSpec.sources` order) is judged only
    while every higher-ranked source is stale by its stream's limit (`stale_seconds` as for the
    technical alarms): a cuff's pulse neither raises, clears nor masks the HR stream's alarm.
    Escalation and gaps are judged separately (`escalate`, `check_resume`), so callers control
    the order; `vitals.engine.AlertEngine.on_reading` runs them all.
    """
    if state.ended is not None:
        return []
    events = device_problems(reading, state, profile)
    values = reading.values
    time = reading.time
    last_source = state.last_source
    for metric, name, source, above in profile.sources_of(reading.kind):
        if name not in values:
            continue
        outranked = bool(above) and any(
            source_fresh(higher, state, profile, time, stale_seconds) for higher in above)
        last = last_source.get(source)
        if last is None or time > last:
            last_source[source] = time
        if outranked:
            continue  # not sampled either: the baseline is of the values judged
        value = values[name]
        state.record_sample(metric, time, value)
        events += _evaluate_metric(metric, value, time, state, profile, source)
    return events


def source_fresh(
    source: str, state: SessionState, profile: Profile, now: datetime,
    stale_seconds: float | None,
) -> bool:
    """Whether `source` delivered within its stream's staleness limit (the first limit its
    silence alarm has) by `now`. A source that never delivered is stale."""
    last = state.last_source.get(source)
    if last is None:
        return False
    kind = Kind(source.partition(".")[0])
    limit = min(seconds for _, seconds in stream_limits(kind, state, profile, stale_seconds, last))
    return (now - last).total_seconds() <= limit


def _evaluate_metric(
    metric: Metric, value: float, time: datetime, state: SessionState, profile: Profile,
    source: str,
) -> list[AlertEvent]:
    baseline = state.baseline(metric)
    spec = profile.metrics[metric]
    margin = spec.margin
    consecutive = profile.hysteresis.consecutive
    tracks = state.tracks
    in_effect: list[tuple[LimitRule, RuleTrack]] = []
    for rule in profile.rules_for(metric):
        track = tracks.get(rule.id)
        if track is None:
            track = tracks[rule.id] = RuleTrack()
        try:
            step_rule(rule, track, value, time, baseline, margin, consecutive, source)
        except Exception:
            # Isolation: one broken rule must not silence the others.
            state.rule_errors += 1
            log.exception("rule %s failed on %s=%s for session %s", rule.id, metric, value,
                          state.session)
            continue
        if track.in_effect:
            in_effect.append((rule, track))
    worst = _worst_cause(in_effect, baseline, profile) if in_effect else None
    key = _METRIC_KEYS[metric]
    if worst is None and key not in state.alarms:
        return []  # nothing in effect, nothing showing: what `reconcile` would conclude
    # Which device said it, where a metric has several (issue 17: "HR 70 (oximeter)").
    said = f" ({source_label(source)})" if len(spec.sources) > 1 else ""
    return reconcile(
        state, key, worst, time,
        lambda: f"{spec.label} {format_number(value)} {spec.unit}{said}: back inside the limits.",
        value,
    )


def step_rule(
    rule: LimitRule,
    track: RuleTrack,
    value: float,
    time: datetime,
    baseline: float | None,
    margin: float,
    consecutive: int,
    source: str = "",
) -> None:
    """Advance one rule's track by one reading: breach (sustained), or hysteresis to clear."""
    limit = rule.limit(baseline)
    if limit is None:  # a baseline rule before there is a baseline
        track.breach_since = None
        return
    if rule.comparison.holds(value, limit):
        if track.breach_since is None or time < track.breach_since:
            track.breach_since = time
        track.inside_count = 0
        held = (time - track.breach_since).total_seconds()
        if held >= rule.sustained_seconds:
            track.in_effect = True
            track.value, track.limit, track.source = value, limit, source
        return
    track.breach_since = None
    if not track.in_effect:
        return
    if rule.comparison.inside_by(value, limit, margin):
        track.inside_count += 1
        if track.inside_count >= consecutive:
            track.in_effect = False
            track.inside_count = 0
    else:
        track.inside_count = 0


def _worst_cause(
    in_effect: Iterable[tuple[LimitRule, RuleTrack]], baseline: float | None, profile: Profile
) -> Cause | None:
    worst: tuple[LimitRule, RuleTrack] | None = None
    for rule, track in in_effect:  # profile order breaks ties: the first row listed wins
        if worst is None or rule.priority.rank > worst[0].priority.rank:
            worst = (rule, track)
    if worst is None:
        return None
    rule, track = worst
    spec = profile.metrics[rule.metric]
    value, limit = track.value, track.limit
    source = source_label(track.source) if track.source else ""
    return Cause(
        rule.id,
        rule.priority,
        lambda: render(
            rule.message,
            label=spec.label,
            value=format_number(value),
            unit=spec.unit,
            limit=format_number(limit),
            baseline=format_number(baseline),
            offset=format_number(rule.baseline_offset),
            seconds=format_number(rule.sustained_seconds),
            kind=rule.metric.value,
            source=source,
        ),
        value,
        limit,
    )
