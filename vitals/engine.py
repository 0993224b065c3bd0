"""`AlertEngine`: the per-session alarm state the ingest worker owns. No I/O, no clock of its own.

Time: rules driven by readings judge by reading times, so a simulation run 60x faster raises the
same alarms as real time. `on_tick(now)` judges staleness and escalation by the wall clock mapped
onto each session's clock with the offset seen on its last reading (`reading.time - received_at`).

Restart: `restore` replays a session's stored events, observations and readings silently
(baselines, rules in effect, sustained and hysteresis counters, last reading per stream, last
check-in, observation history), then takes each alarm's state (priority, acknowledgement,
latch; one alarm per clinical metric, one per technical cause) from its latest stored event,
so nothing already stored is emitted again.
Staleness that only a tick saw is seen again by the next tick; the offset is unknown until the
next reading, so ticks meanwhile judge by the wall clock as is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from vitals.alerts import AlarmKey, AlertEvent, AlertState, Metric, Priority
from vitals.profile import Profile
from vitals.readings import (
    DeliveryReport,
    Observation,
    ObservationRetraction,
    Reading,
    SessionEvent,
    SessionEventType,
)
from vitals.rules import (
    DATA_RULE_AFTER_END,
    OBSERVATION_RULE_PREFIX,
    Alarm,
    Cause,
    SessionState,
    acknowledge,
    check_checkin,
    check_resume,
    check_stale,
    delivery_outcome,
    end_session,
    escalate,
    evaluate,
    evaluate_observation,
    notify_cause,
    reading_after_end,
    reconcile_data,
    record_checkin,
    retract_observation,
)
from vitals.sessions import alert_order, raising_events

log = logging.getLogger(__name__)

RULES_FAILED_RULE = "ingest.rules_failed"  # a reading's rules raised
TICK_FAILED_RULE = "ingest.tick_failed"  # the session's timed checks raised
FAILED_RULES = (RULES_FAILED_RULE, TICK_FAILED_RULE)  # high technical alarms of their own


class AlertEngine:
    """Alarm state of every session seen, fed by readings, session events, ticks and acks."""

    def __init__(self, profile: Profile, *, stale_seconds: float | None = None) -> None:
        if stale_seconds is not None and stale_seconds <= 0:
            raise ValueError("stale_seconds must be positive")
        self.profile = profile
        self.stale_seconds = stale_seconds
        self._sessions: dict[str, SessionState] = {}
        self._offsets: dict[str, timedelta] = {}

    @property
    def rule_errors(self) -> int:
        """Rule evaluations that raised (logged; the other rules still ran)."""
        return sum(s.rule_errors for s in self._sessions.values())

    def state(self, session: str) -> SessionState | None:
        """The rules' state for a session (read it, don't change it)."""
        return self._sessions.get(session)

    def restore(
        self,
        session: str,
        events: Iterable[SessionEvent],
        readings: Iterable[Reading],
        alerts: Iterable[AlertEvent],
        observations: Sequence[Observation] = (),
    ) -> None:
        """Rebuild a session's state from the Store after a worker restart; emits nothing."""
        self._sessions.pop(session, None)
        self._offsets.pop(session, None)
        # Events before readings at the same instant: a start or dose at t governs a reading at t.
        history: list[tuple[datetime, int, SessionEvent | Observation | Reading]] = [
            (e.time, 0, e) for e in events
        ]
        history += [(o.time, 1, o) for o in observations]
        history += [(r.time, 2, r) for r in readings]
        history.sort(key=lambda item: (item[0], item[1]))
        for _, _, item in history:
            if isinstance(item, SessionEvent):
                self.on_event(item)
            elif isinstance(item, Observation):
                self._apply_observation(item)
            else:
                self._apply_reading(item)
        state = self._sessions.get(session)
        if state is not None:  # the store marks what was entered in error
            state.retracted.update((o.observation, o.time) for o in observations
                                   if o.retracted_at is not None)
        stored = sorted((a for a in alerts if a.session == session), key=alert_order)
        if state is None:
            if not stored:
                return
            state = self._sessions[session] = SessionState(session)
        state.alarms = _alarms_from(stored, state, self.profile)
        state.emitted(stored)  # new events are never dated before the stored ones

    def restore_deliveries(self, session: str, reports: Iterable[DeliveryReport]) -> None:
        """After `restore`: each person and channel whose latest stored delivery failed is a
        technical cause again, so a good delivery still ends it; emits nothing."""
        state = self._sessions.get(session)
        if state is None or state.ended is not None:
            return
        latest = {(r.person, r.channel): r for r in sorted(reports, key=lambda r: r.time)}
        for report in latest.values():
            if not report.delivered:
                rule, cause = notify_cause(report.person, report.channel, report.error)
                state.data_causes[rule] = cause
                alarm = state.alarms.get(AlarmKey(Metric.DATA, rule))
                if alarm is not None:
                    alarm.condition_present = True

    def on_reading(self, reading: Reading, received_at: datetime) -> list[AlertEvent]:
        """Alert events a validated reading causes, judged by the reading's time."""
        state = self._sessions.get(reading.session)
        if state is not None and state.ended is not None:
            return reading_after_end(reading, state)
        self._offsets[reading.session] = reading.time - received_at
        return self._apply_reading(reading)

    def on_observation(self, observation: Observation,
                       received_at: datetime | None = None) -> list[AlertEvent]:
        """Alert events an observation the monitor recorded causes, judged by its time."""
        if received_at is not None:
            self._offsets[observation.session] = observation.time - received_at
        return self._apply_observation(observation)

    def on_retraction(self, retraction: ObservationRetraction) -> list[AlertEvent]:
        """An observation marked entered in error: no later rule counts it; emits nothing."""
        retract_observation(retraction, self._session_at(retraction.session, retraction.time))
        return []

    def on_event(self, event: SessionEvent,
                 received_at: datetime | None = None) -> list[AlertEvent]:
        """A session's start, dose, end, check-in (or an audit-trail event: nothing to judge).

        With `received_at`, the event also sets the session's clock for `on_tick`, so a
        session that has sent only events so far (a start, a check-in) is judged on its own
        clock, not the wall clock.
        """
        if event.event is SessionEventType.START:
            state = self._sessions.get(event.session)
            if state is None or state.ended is not None:
                state = self._sessions[event.session] = SessionState(event.session)
                self._offsets.pop(event.session, None)
            state.set_start(event.time)
            # As `sessions.session_label`: a start without a label keeps the session's.
            state.label = event.label or state.label
            if received_at is not None:
                self._offsets[event.session] = event.time - received_at
            return []
        if received_at is not None:
            self._offsets[event.session] = event.time - received_at
        # A dose or end before any start or reading starts the session implicitly.
        state = self._session_at(event.session, event.time)
        if state.ended is not None:
            return []
        if event.event is SessionEventType.END:
            return end_session(state, event.time)
        # Escalations due by now first: an alarm's events stay in time order (a check-in that
        # ends a latched alarm comes after its escalation, as stored and as restored).
        events = escalate(state, self.profile, event.time)
        if event.event is SessionEventType.CHECKIN:
            return events + record_checkin(state, self.profile, event.time)
        events += check_checkin(state, self.profile, event.time)  # any event advances the clock
        if event.event is SessionEventType.DOSE:
            state.set_dose(event.time)
        return events  # notes, checklists, sign-offs: the audit trail, not the alarm state

    def on_delivery(self, report: DeliveryReport) -> list[AlertEvent]:
        """How a notification about the session went: a failure is a technical alarm, judged by
        the report's time (every replica gets the same report, so raises the same event)."""
        # Never silent, even for a session this replica has not seen.
        state = self._session_at(report.session, report.time)
        return delivery_outcome(state, report.person, report.channel, report.delivered,
                                report.error, report.time)

    def on_tick(self, now: datetime) -> list[AlertEvent]:
        """Staleness and escalation at wall-clock `now`, mapped onto each session's clock.

        Each session apart: one whose rules raise gets a high technical alarm, and the others
        are judged as usual.
        """
        events: list[AlertEvent] = []
        for session, state in self._sessions.items():
            if state.ended is not None:
                continue
            session_now = now + self._offsets.get(session, timedelta(0))
            try:
                events += self._tick_session(state, session_now)
            except Exception:
                if TICK_FAILED_RULE not in state.data_causes:  # logged once per failure
                    log.exception("time-driven rules failed for session %s", session)
                events += self.rules_failed(
                    session, session_now, "Timed alarm checks (no reading, escalation, "
                    "check-in) failed for this session: watch the patient directly and check "
                    "the ingest log.", rule=TICK_FAILED_RULE)
        return events

    def _tick_session(self, state: SessionState, now: datetime) -> list[AlertEvent]:
        events = escalate(state, self.profile, now)
        events += check_stale(state, self.profile, now, self.stale_seconds)
        events += check_checkin(state, self.profile, now)
        events += escalate(state, self.profile, now)  # a stale medium may be due
        if state.data_causes.pop(TICK_FAILED_RULE, None) is not None:
            events += reconcile_data(state, TICK_FAILED_RULE, now, "Timed alarm checks work again.")
        return events

    def rules_failed(self, session: str, at: datetime, message: str,
                     rule: str = RULES_FAILED_RULE) -> list[AlertEvent]:
        """A high technical alarm for a session whose rules raised: latched and acknowledged
        like any other; raised once while the failure lasts."""
        try:
            state = self._session_at(session, at)
            if rule in state.data_causes:
                return []
            state.data_causes[rule] = Cause(rule, Priority.HIGH, message)
            return reconcile_data(state, rule, at)
        except Exception:  # the session's state itself is broken: say it all the same
            log.exception("cannot record the rules' failure for session %s", session)
            return [AlertEvent(time=at, session=session, metric=Metric.DATA,
                               priority=Priority.HIGH, state=AlertState.ACTIVE,
                               rule=rule, message=message)]

    def technical_problem(self, session: str, at: datetime, rule: str, message: str,
                          priority: Priority = Priority.MEDIUM) -> list[AlertEvent]:
        """A technical (`data`) alarm the ingest raises about a session's input, e.g. readings
        from an unbound device refused: latched like any alarm, raised once per cause. Nothing
        if the session is unknown (the ingest says so on its status instead)."""
        state = self._sessions.get(session)
        if state is None or state.ended is not None or rule in state.data_causes:
            return []
        state.data_causes[rule] = Cause(rule, priority, message)
        return reconcile_data(state, rule, at)

    def acknowledge(
        self, session: str, metric: Metric, by: str, note: str | None, now: datetime,
        rule: str | None = None,
    ) -> list[AlertEvent]:
        """Someone acknowledged the session's alarm for `metric` (no events if none showing);
        for `data`, the technical alarm of `rule`, or without it every one showing."""
        state = self._sessions.get(session)
        if state is None:
            return []
        return acknowledge(state, Metric(metric), by, note, now, rule)

    def active(self, session: str | None = None) -> list[AlertEvent]:
        """The alarm showing per (session, alarm): its latest active or acknowledged event."""
        states = (
            [self._sessions[session]] if session in self._sessions
            else [] if session is not None else list(self._sessions.values())
        )
        showing = [alarm.event for state in states for alarm in state.alarms.values()]
        return sorted(showing, key=lambda e: (e.session, e.metric.value, e.rule))

    def _session_at(self, session: str, at: datetime) -> SessionState:
        """The session's state; a first message other than `start` starts it (the contract) at
        the message's time `at`."""
        state = self._sessions.get(session)
        if state is None:
            state = self._sessions[session] = SessionState(session)
            state.set_start(at)
        return state

    def _apply_reading(self, reading: Reading) -> list[AlertEvent]:
        state = self._session_at(reading.session, reading.time)
        if state.ended is not None:
            return []
        events = escalate(state, self.profile, reading.time)
        events += check_resume(reading, state, self.profile, self.stale_seconds)
        events += check_checkin(state, self.profile, reading.time)
        events += evaluate(reading, state, self.profile, self.stale_seconds)
        return events

    def _apply_observation(self, observation: Observation) -> list[AlertEvent]:
        state = self._session_at(observation.session, observation.time)
        if state.ended is not None:
            return []
        events = escalate(state, self.profile, observation.time)
        events += check_checkin(state, self.profile, observation.time)
        events += evaluate_observation(observation, state, self.profile)
        return events


def _alarms_from(
    stored: list[AlertEvent], state: SessionState, profile: Profile
) -> dict[AlarmKey, Alarm]:
    """Each alarm as its latest stored event left it; the replay says if it persists."""
    latest = {alert.key: alert for alert in stored}
    # The escalation clock runs from the event that raised the current priority.
    raised = {alert.key: alert.time for alert in raising_events(stored)}
    alarms: dict[AlarmKey, Alarm] = {}
    if state.ended is not None:
        # Only "readings after the session ended" alarms after its end: latched until acked.
        after_end = [a for a in stored if a.rule == DATA_RULE_AFTER_END and a.time > state.ended]
        state.alarmed_after_end = bool(after_end)
        key = AlarmKey(Metric.DATA, DATA_RULE_AFTER_END)
        last = latest.get(key)
        if after_end and last is not None and last.state is not AlertState.CLEARED:
            alarms[key] = Alarm(last, after_end[0].time, Priority.MEDIUM.rank,
                                acknowledged=last.state is AlertState.ACKNOWLEDGED,
                                condition_present=False)
        return alarms
    for key, alert in latest.items():
        if alert.state is AlertState.CLEARED:
            continue
        metric = key.metric
        if metric is Metric.DATA:
            present = key.rule in state.data_causes
        elif metric is Metric.OBSERVATION:
            present = False  # an observation is a moment: its alarm only waits for an ack
        else:
            present = any(
                track.in_effect for rule_id, track in state.tracks.items()
                if rule_id in profile.rules and profile.rules[rule_id].metric is metric
            )
        alarms[key] = Alarm(
            event=alert,
            raised_at=raised.get(key, alert.time),
            cause_rank=_cause_rank(alert, profile),
            acknowledged=alert.state is AlertState.ACKNOWLEDGED,
            condition_present=present,
        )
    return alarms


def _cause_rank(alert: AlertEvent, profile: Profile) -> int:
    """The rank of the cause that raised a stored alarm: below `high` if it was escalated."""
    if alert.priority is not Priority.HIGH:
        return alert.priority.rank
    rule = profile.rules.get(alert.rule) or profile.observation_rules.get(
        alert.rule.removeprefix(OBSERVATION_RULE_PREFIX))
    if rule is not None:
        return rule.priority.rank
    if alert.metric is Metric.DATA and alert.rule not in FAILED_RULES:
        return Priority.MEDIUM.rank  # any other high technical alarm is an escalated medium
    return Priority.HIGH.rank
