"""The alarm latch: one alarm per (session, metric) brought in line with its worst cause,
acknowledged, escalated and cleared; every event an alarm emits is made here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from vitals.alerts import AlarmKey, AlertEvent, AlertState, Metric, Priority
from vitals.profile import Profile
from vitals.readings import Reading
from vitals.rules.state import DATA_RULE_AFTER_END, Alarm, Cause, SessionState
from vitals.rules.wording import KIND_WORDS, format_number


def reconcile(
    state: SessionState,
    key: AlarmKey,
    worst: Cause | None,
    time: datetime,
    cleared_message: str | Callable[[], str],
    value: float | None = None,
) -> list[AlertEvent]:
    """Bring one alarm in line with its worst current cause; the events that takes."""
    alarm = state.alarms.get(key)
    technical = key.metric is Metric.DATA
    if worst is not None:
        # Compared with the raising cause, not the escalated priority: a crisis reading after a
        # medium alarm escalated to high still raises, with the crisis message.
        if alarm is None or worst.priority.rank > alarm.cause_rank:
            # Dated when it fell due (time-driven causes), and never before the alarm's last
            # event (a reading stamped before an escalation a tick made).
            time = state.dated(key, worst.due or time)
            event = AlertEvent(
                time=time,
                session=state.session,
                metric=key.metric,
                priority=worst.priority,
                state=AlertState.ACTIVE,
                message=worst.message,
                rule=worst.rule,
                value=worst.value,
                limit=worst.limit,
            )
            state.alarms[key] = Alarm(event, time, worst.priority.rank)
            return state.emitted([event])
        alarm.condition_present = True
        if technical and alarm.event.ended is not None:  # latched, and its cause is back
            alarm.event = replace(alarm.event, time=state.dated(key, time), ended=None)
            return state.emitted([alarm.event])
        return []
    if alarm is None:
        return []
    alarm.condition_present = False
    if alarm.priority is Priority.LOW or alarm.acknowledged:
        del state.alarms[key]
        message = cleared_message if isinstance(cleared_message, str) else cleared_message()
        return state.emitted([_cleared(alarm, time, message, value)])
    if technical and alarm.event.ended is None:
        # Latched: it shows until acknowledged, saying since when its cause is gone.
        alarm.event = replace(alarm.event, time=state.dated(key, time), ended=time)
        return state.emitted([alarm.event])
    return []  # latched: keeps showing until acknowledged


def acknowledge(
    state: SessionState, metric: Metric, by: str, note: str | None, now: datetime,
    rule: str | None = None,
) -> list[AlertEvent]:
    """Acknowledge the metric's alarm; a latched alarm whose condition ended clears with it.

    For `data`, `rule` names one technical alarm; without it every technical alarm showing is
    acknowledged (an older dashboard's ack, which named only the metric)."""
    if metric is not Metric.DATA:
        keys = [AlarmKey(metric)]
    elif rule:
        keys = [AlarmKey(metric, rule)]
    else:
        keys = [key for key, _ in _in_metric_order(state.alarms) if key.metric is metric]
    events: list[AlertEvent] = []
    for key in keys:
        events += _acknowledge(state, key, by, note, now)
    return events


def _acknowledge(
    state: SessionState, key: AlarmKey, by: str, note: str | None, now: datetime
) -> list[AlertEvent]:
    alarm = state.alarms.get(key)
    if alarm is None or alarm.acknowledged:
        return []
    now = _not_before(alarm, now)
    event = replace(alarm.event, time=now, state=AlertState.ACKNOWLEDGED, by=by, note=note)
    alarm.event = event
    alarm.acknowledged = True
    if alarm.condition_present:
        return state.emitted([event])
    del state.alarms[key]
    return state.emitted(
        [event, _cleared(alarm, now, "Acknowledged after its condition ended.", None)])


def escalate(state: SessionState, profile: Profile, now: datetime) -> list[AlertEvent]:
    """Unacknowledged medium alarms older than the escalation delay become high."""
    if state.ended is not None or not state.alarms:
        return []
    after = timedelta(minutes=profile.escalation.after_minutes)
    events: list[AlertEvent] = []
    for key, alarm in _in_metric_order(state.alarms):
        if alarm.priority is not Priority.MEDIUM or alarm.acknowledged:
            continue
        due = alarm.raised_at + after
        if now < due:
            continue
        due = state.dated(key, due)  # after the alarm's own events, as stored and restored
        minutes = format_number(profile.escalation.after_minutes)
        event = replace(
            alarm.event,
            time=due,
            priority=Priority.HIGH,
            message=f"Unacknowledged for {minutes} min, now high priority. {alarm.event.message}",
        )
        state.alarms[key] = Alarm(
            event, due, alarm.cause_rank, condition_present=alarm.condition_present
        )
        events.append(event)
    return state.emitted(events)


def end_session(state: SessionState, time: datetime) -> list[AlertEvent]:
    """The session ended: clear every alarm showing; nothing alarms afterwards."""
    state.ended = time
    events = [
        _cleared(alarm, time, "Session ended.", None, rule=alarm.event.rule)
        for _, alarm in _in_metric_order(state.alarms)
    ]
    state.alarms.clear()
    state.data_causes.clear()
    return state.emitted(events)


def reading_after_end(reading: Reading, state: SessionState) -> list[AlertEvent]:
    """A reading of an ended session, stamped after its end: its devices still send, so the
    patient may still be attached. A medium technical alarm, raised once per ended session and
    latched until acknowledged (acknowledging clears it); the reading is never judged against
    the limits. A reading stamped before the end (a cuff that finished measuring late) is not."""
    if state.ended is None or reading.time <= state.ended or state.alarmed_after_end:
        return []
    values = "/".join(format_number(v) for v in reading.values.values())
    event = AlertEvent(
        time=reading.time,
        session=state.session,
        metric=Metric.DATA,
        priority=Priority.MEDIUM,
        state=AlertState.ACTIVE,
        message=(f"Readings after the session ended ({KIND_WORDS[reading.kind]} {values} at "
                 f"{reading.time:%H:%M:%S}): its devices still send. If the patient is still "
                 "monitored, start the session again; if not, stop the devices."),
        rule=DATA_RULE_AFTER_END,
    )
    state.alarms[event.key] = Alarm(event, reading.time, Priority.MEDIUM.rank,
                                    condition_present=False)
    state.alarmed_after_end = True
    return state.emitted([event])


def _in_metric_order(alarms: dict[AlarmKey, Alarm]) -> list[tuple[AlarmKey, Alarm]]:
    # A fixed order (metric, then a technical alarm's rule), so every replica and a restored
    # engine emit the same events in the same order.
    return sorted(alarms.items(), key=lambda item: (_METRIC_ORDER[item[0].metric], item[0].rule))


_METRIC_ORDER = {metric: i for i, metric in enumerate(Metric)}


def _not_before(alarm: Alarm, time: datetime) -> datetime:
    """An alarm's events never go back in time: stored and shown in time order, its latest
    event is its state. A reading stamped before an escalation a tick made (a cuff stamps when
    it began measuring), or an acknowledgement by a wall clock behind a compressed session's,
    is stamped at the alarm's last event."""
    return max(time, alarm.event.time)


def _cleared(
    alarm: Alarm, time: datetime, message: str, value: float | None, rule: str | None = None
) -> AlertEvent:
    return replace(
        alarm.event,
        time=_not_before(alarm, time),
        state=AlertState.CLEARED,
        message=message,
        value=value if value is not None else alarm.event.value,
        rule=rule or alarm.event.rule,
        by=None,
        note=None,
        ended=None,
    )


def reconcile_data(
    state: SessionState, rule: str, time: datetime,
    cleared_message: str = "Readings are arriving normally again.",
) -> list[AlertEvent]:
    """Bring the technical alarm of `rule` in line with its cause (`state.data_causes`)."""
    return reconcile(state, AlarmKey(Metric.DATA, rule), state.data_causes.get(rule), time,
                     cleared_message)
