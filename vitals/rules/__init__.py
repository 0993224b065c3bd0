"""The alarm rules: pure functions of a reading (or a moment), a session's state and the profile.

Nothing here does I/O or reads a clock; every function takes the time it should judge by.
`vitals.engine.AlertEngine` owns one `SessionState` per session and calls these.

Modules by role: `state` (what the rules remember: `SessionState`, `Alarm`, `Cause`, the technical
rule ids), `limits` (limit rules on readings), `latch` (raising, latching, acknowledging,
escalating and clearing alarms), `streams` (silent streams, BP gaps, device problems),
`checkins` (presence check-ins), `delivery` (notifications not delivered), `observations`
(observation rules), `wording` (messages). Import from `vitals.rules`: this is its interface.

Alarm model (IEC 60601-1-8 as monitors implement it):

- One alarm per (session, metric). Every limit rule of the metric is evaluated in isolation (an
  exception in one rule is logged and counted, the others still run). The alarm shows the worst
  priority among the rules in effect; a rule of higher priority than the one that raised the
  alarm showing raises a new `active` event at that priority (acknowledged or not). A drop to a
  lower priority does not emit anything: the alarm keeps its priority until its whole condition
  has ended.
- A limit rule comes into effect on a reading that breaches it (for SpO2 rules with a sustained
  duration: when the breach has lasted that long by reading times, every reading in between
  breaching) and leaves effect after `hysteresis.consecutive` consecutive readings inside the
  limit by the metric's margin.
- A metric fed by several sources (heart rate: `hr.bpm`, `spo2.pulse`, `bp.pulse`) ranks them
  in the profile's order: a value is judged (and sampled for the baseline) only while every
  higher-ranked source is stale, by the first limit of its stream's silence alarm
  (`source_fresh`). Messages name the value's device with `{source}`.
- High and medium alarms latch. When their condition ends and nobody has acknowledged them, no
  event is emitted: the alarm keeps showing as `active` (`Alarm.condition_present` is False).
  Acknowledging it then emits `acknowledged` followed at once by `cleared`. When an acknowledged
  alarm's condition ends, `cleared` is emitted. Low alarms emit `cleared` by themselves when their
  condition ends.
- `acknowledged` carries `by`/`note`. An acknowledged alarm whose condition persists stays
  acknowledged; only a rule of higher priority raises it again.
- An unacknowledged medium alarm (its condition persisting or not: nobody has seen it) becomes
  high `escalation.after_minutes` after it was raised: an `active` event at `high`, timed exactly
  at the moment it became due, so a fast simulation and real time produce the same events.
- Technical alarms have the `data` metric and one alarm per cause, told apart by their rule
  (`AlarmKey`): BP gap beyond the cadence (`data.bp_gap`, low, then medium), a stream silent too
  long (`data.stream_silent.<kind>`, medium), a device-reported problem
  (`data.device_problem.<kind>`, low, until the next reading of that kind without one), a missed
  check-in, failing rules. Each raises, escalates, is acknowledged and clears on its own. A
  latched technical alarm whose cause ended emits an `active` event with `ended` set (so a tile
  can say "ended at hh:mm — acknowledge to clear"), and one without it if the cause comes back.
  Staleness is only judged for a stream that has delivered at least one reading; BP silence is
  counted from the dose when the last BP came before it. `stale_seconds` (VITALS_STALE_SECONDS)
  replaces every stream's limits with one medium limit. `value`/`limit` of a BP gap are minutes,
  of a silent stream seconds. A gap is also judged when the stream resumes (`check_resume`),
  so a compressed simulation that no tick caught between two readings still raises it.
- Presence check-ins are a `data` cause too (medium): once a session had its first check-in
  (or from its start when `checkin.required_from_start`), a silence longer than interval + grace
  by the session's clock raises it; the next check-in removes the cause (so its alarm clears,
  or stays latched until acknowledged, like any medium technical alarm).
- Observation rules (`metric` observation) judge each observation the monitor records against
  the profile's `observation_rules`; the worst matching rule raises. An observation is a moment,
  not a state: its condition ends as soon as it is raised, so a high or medium observation
  alarm latches until acknowledged (acknowledging emits `acknowledged` then `cleared`), and a
  medium one escalates like any other. While it shows, only a worse rule raises it again.
- After a session's `end` event every showing alarm is cleared and nothing alarms any more;
  a `start` for the same id afterwards begins a new session.
"""

from vitals.rules.checkins import (
    check_checkin,
    checkin_since,
    record_checkin,
)
from vitals.rules.delivery import (
    delivery_outcome,
    notify_cause,
)
from vitals.rules.latch import (
    acknowledge,
    end_session,
    escalate,
    reading_after_end,
    reconcile,
    reconcile_data,
)
from vitals.rules.limits import (
    evaluate,
    source_fresh,
    step_rule,
)
from vitals.rules.observations import (
    MAX_OBSERVATIONS,
    evaluate_observation,
    retract_observation,
)
from vitals.rules.state import (
    DATA_RULE_AFTER_END,
    DATA_RULE_BP_GAP,
    DATA_RULE_CHECKIN,
    DATA_RULE_ENDED,
    DATA_RULE_NOTIFY,
    DATA_RULE_PROBLEM,
    DATA_RULE_STREAM,
    MAX_BASELINE_SAMPLES,
    OBSERVATION_RULE_PREFIX,
    Alarm,
    Cause,
    RuleTrack,
    SessionState,
)
from vitals.rules.streams import (
    bp_cadence_minutes,
    check_resume,
    check_stale,
    silent_since,
    stale_cause,
    stale_rule,
    stream_limits,
)

__all__ = [
    "DATA_RULE_AFTER_END",
    "DATA_RULE_BP_GAP",
    "DATA_RULE_CHECKIN",
    "DATA_RULE_ENDED",
    "DATA_RULE_NOTIFY",
    "DATA_RULE_PROBLEM",
    "DATA_RULE_STREAM",
    "MAX_BASELINE_SAMPLES",
    "MAX_OBSERVATIONS",
    "OBSERVATION_RULE_PREFIX",
    "Alarm",
    "Cause",
    "RuleTrack",
    "SessionState",
    "acknowledge",
    "bp_cadence_minutes",
    "check_checkin",
    "check_resume",
    "check_stale",
    "checkin_since",
    "delivery_outcome",
    "end_session",
    "escalate",
    "evaluate",
    "evaluate_observation",
    "notify_cause",
    "reading_after_end",
    "reconcile",
    "reconcile_data",
    "record_checkin",
    "retract_observation",
    "silent_since",
    "source_fresh",
    "stale_cause",
    "stale_rule",
    "step_rule",
    "stream_limits",
]
