"""One ingest cycle without I/O: messages in, a storage batch and the publications out.

parse → admit (devices bound to sessions, caps on new sessions, signed actions; see
docs/threat-model.md) → alert rules → batch. The worker (`ingest.worker`) owns MQTT and the
store; this module owns what happens in between, so it is tested without a broker. Rejections
are aggregated per source (`ingest.rejections`): a flood stores a sample and a count.

A failure inside the alert rules must not lose the reading nor silence the session: the reading
is still stored and a technical alarm says the rules failed.

Every replica of the worker judges every message it receives, and every output is a function of
the input alone (a reading's point identity, an alert event's (session, metric, rule, state,
time)), so what two replicas store collapses into one record.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import NamedTuple

from ingest.rejections import RejectionLimiter, source_of
from vitals.admission import Admission, Refusal
from vitals.alerts import AlertEvent, Metric
from vitals.engine import AlertEngine
from vitals.mqtt import is_output
from vitals.parser import parse, parse_topic, preview, truncate
from vitals.readings import (
    MAX_TIME_AHEAD,
    Acknowledgement,
    DeliveryReport,
    Observation,
    ObservationRetraction,
    Reading,
    Rejection,
    SessionEvent,
    SessionEventType,
)
from vitals.signing import SIGNED_LEAVES, signature_problem
from vitals.storage.base import Batch

log = logging.getLogger(__name__)

# Identities of recently processed readings: a message the broker redelivers (after a reconnect)
# is stored again (an idempotent overwrite) but not judged twice.
RECENT_IDENTITIES = 100_000
# A topic may be 64 KiB: a rejection carries enough of it (and of its reason) for a person to act.
REJECTION_TOPIC_CHARS = 256
REJECTION_REASON_CHARS = 512
# Technical alarms the pipeline raises about a session's input (`AlertEngine.technical_problem`).
UNBOUND_DEVICE_RULE = "ingest.unbound_device"
UNSIGNED_ACTION_RULE = "ingest.unsigned_action"


Valid = (Reading | SessionEvent | Observation | ObservationRetraction | Acknowledgement
         | DeliveryReport)


def _identity(item: SessionEvent | Observation | Reading) -> tuple[object, ...]:
    """What makes a message the same message again (the store overwrites on the same key)."""
    if isinstance(item, SessionEvent):
        return ("event", item.session, item.event, item.time)
    if isinstance(item, Observation):
        return ("observation", item.session, item.observation, item.by, item.time)
    return (item.session, item.kind, item.device, item.time)


class Inbound(NamedTuple):
    """One MQTT message as received, with what the worker needs to acknowledge it.

    A named tuple, immutable like a frozen dataclass: paho's network thread builds one per
    message, and this is built in a quarter of the time."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 1
    generation: int = 0  # the connection it arrived on; acks never cross a reconnect
    retain: bool = False  # the broker's retained copy (sent on subscribing): refused by `parse`


@dataclass(slots=True)
class Counters:
    """Running totals since start, for logs and health."""

    received: int = 0
    readings: int = 0
    events: int = 0
    observations: int = 0
    rejected: int = 0
    duplicates: int = 0
    alerts: int = 0
    rule_failures: int = 0
    rejections_suppressed: int = 0  # counted, not stored whole (`ingest.rejections`)
    stored_batches: int = 0
    stored: int = 0  # readings, session events and observations written (redeliveries again)
    acknowledged: int = 0  # messages acknowledged to the broker after their batch was stored
    deliveries: int = 0  # the notifier's delivery reports (failures become technical alarms)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one cycle produced: `batch` to store, then `alerts` and `rejections` to publish."""

    batch: Batch
    alerts: Sequence[AlertEvent]
    rejections: Sequence[Rejection]


class Pipeline:
    def __init__(self, engine: AlertEngine, prefix: str = "vitals", *,
                 max_time_ahead: timedelta = MAX_TIME_AHEAD,
                 admission: Admission | None = None,
                 limiter: RejectionLimiter | None = None,
                 action_key: str | None = None) -> None:
        self.engine = engine
        self.prefix = prefix
        self.max_time_ahead = max_time_ahead
        self.admission = admission or Admission()
        self.limiter = limiter or RejectionLimiter()
        self.action_key = action_key  # set: acks and session events must be signed with it
        self.counters = Counters()
        self._recent: OrderedDict[tuple[object, ...], None] = OrderedDict()

    def process(self, messages: Sequence[Inbound]) -> Outcome:
        readings: list[Reading] = []
        events: list[SessionEvent] = []
        observations: list[Observation] = []
        retractions: list[ObservationRetraction] = []
        alerts: list[AlertEvent] = []
        rejections: list[Rejection] = []
        if messages:
            rejections += self.limiter.flush(messages[0].received_at)
        for message in messages:
            if is_output(message.topic, self.prefix):
                continue  # our own alert or rejection coming back: acknowledged, not input
            self.counters.received += 1
            parsed = parse(message.topic, message.payload, message.received_at, self.prefix,
                           max_ahead=self.max_time_ahead, retained=message.retain)
            refusal: Refusal | None = None
            if isinstance(parsed, Acknowledgement | SessionEvent) and self.action_key:
                refusal = self._unsigned(message, parsed.session)
            elif isinstance(parsed, Reading):
                refusal = self.admission.admit(
                    parsed, self.engine.state(parsed.session) is not None, message.received_at)
            if refusal is not None:
                session = parsed.session  # type: ignore[union-attr]  # not a Rejection here
                if refusal.alarm is not None:
                    rule = (UNBOUND_DEVICE_RULE if isinstance(parsed, Reading)
                            else UNSIGNED_ACTION_RULE)
                    # Dated on the session's clock, like every alarm its messages cause.
                    alerts += self._refused_alarm(refusal.alarm, rule, session,
                                                  parsed.time)  # type: ignore[union-attr]
                parsed = Rejection(message.topic, refusal.reason, preview(message.payload),
                                   message.received_at, session)
            if isinstance(parsed, Rejection):
                parsed = replace(parsed, topic=truncate(parsed.topic, REJECTION_TOPIC_CHARS),
                                 reason=truncate(parsed.reason, REJECTION_REASON_CHARS))
                source = refusal.source if refusal is not None else source_of(parsed.topic)
                if self._count_rejection(parsed, source):
                    rejections.append(parsed)
                continue
            if isinstance(parsed, SessionEvent):
                self.counters.events += 1
                events.append(parsed)
                if parsed.event is SessionEventType.START:
                    self.admission.start(parsed.session, parsed.devices)
                elif parsed.event is SessionEventType.END:
                    self.admission.end(parsed.session)
            elif isinstance(parsed, Observation):
                self.counters.observations += 1
                observations.append(parsed)
            elif isinstance(parsed, ObservationRetraction):
                retractions.append(parsed)
            elif isinstance(parsed, Reading):
                self.counters.readings += 1
                readings.append(parsed)
            elif isinstance(parsed, DeliveryReport):
                self.counters.deliveries += 1  # the notifier stores its own audit
            alerts += self._judge_message(parsed, message.received_at)
        self.counters.alerts += len(alerts)
        return Outcome(Batch(readings, events, alerts, rejections, observations,
                             retractions=retractions), alerts, rejections)

    def restore(self, session: str, events: Sequence[SessionEvent], readings: Sequence[Reading],
                alerts: Sequence[AlertEvent], observations: Sequence[Observation] = ()) -> None:
        """Rebuild a session's alarm state from storage after a restart (`AlertEngine.restore`).

        What was restored counts as judged: the broker redelivers what the last run stored but
        did not acknowledge; judging it again would count it twice in baselines, hysteresis and
        sustained breaches.
        """
        self.engine.restore(session, events, readings, alerts, observations)
        for item in sorted([*events, *observations, *readings], key=lambda x: x.time):
            self._first_time(_identity(item))

    def _judge_message(self, parsed: Valid, received_at: datetime) -> list[AlertEvent]:
        """Run the rules on a valid message, once per identity (a redelivery is not judged)."""
        if isinstance(parsed, Acknowledgement):
            return self._judge(parsed.session, parsed.time, lambda a=parsed: (
                self.engine.acknowledge(a.session, Metric(a.metric), a.by, a.note, a.time,
                                        a.rule)))
        if isinstance(parsed, ObservationRetraction):  # idempotent: marks (kind, time)
            return self._judge(parsed.session, parsed.time,
                               lambda r=parsed: self.engine.on_retraction(r))
        if isinstance(parsed, DeliveryReport):  # judging one again changes nothing
            return self._judge(parsed.session, parsed.time,
                               lambda d=parsed: self.engine.on_delivery(d))
        if not self._first_time(_identity(parsed)):
            if not isinstance(parsed, SessionEvent):
                self.counters.duplicates += 1
            return []
        if isinstance(parsed, SessionEvent):
            return self._judge(parsed.session, parsed.time,
                               lambda e=parsed: self.engine.on_event(e, received_at))
        if isinstance(parsed, Observation):
            return self._judge(parsed.session, parsed.time,
                               lambda o=parsed: self.engine.on_observation(o, received_at))
        return self._judge(parsed.session, parsed.time,
                           lambda r=parsed: self.engine.on_reading(r, received_at))

    def tick(self, now: datetime) -> Outcome:
        """Time-driven rules (no data, escalation), run while no message arrives."""
        alerts = self._judge(None, now, lambda: self.engine.on_tick(now))
        self.counters.alerts += len(alerts)
        summaries = self.limiter.flush(now)
        return Outcome(Batch(alerts=alerts, rejections=summaries), alerts, summaries)

    def _unsigned(self, message: Inbound, session: str) -> Refusal | None:
        """An ack or session event not signed with the action key (`vitals.signing`)."""
        assert self.action_key is not None
        leaf = parse_topic(message.topic, self.prefix).leaf
        if leaf not in SIGNED_LEAVES:
            return None
        problem = signature_problem(message.payload, self.action_key)
        if problem is None:
            return None
        return Refusal(f"{leaf} refused, {problem}", f"{session}/{leaf}",
                       alarm=f"A {leaf} message that the dashboard did not sign was refused "
                             "(someone else publishes actions): check the broker's accounts.")

    def _refused_alarm(self, message: str, rule: str, session: str,
                       at: datetime) -> list[AlertEvent]:
        """The technical alarm that keeps a refusal from being silent (raised once per rule)."""
        return self._judge(session, at, lambda: self.engine.technical_problem(
            session, at, rule, message))

    def _judge(self, session: str | None, at: datetime, rule_call) -> list[AlertEvent]:
        try:
            return list(rule_call())
        except Exception:  # one failing rule must not silence the session or lose the reading
            self.counters.rule_failures += 1
            log.exception("alert rules failed (session %s)", session)
            if session is None:
                return []
            # Through the engine, so it latches like any alarm: raised once, acknowledged once.
            return self.engine.rules_failed(
                session, at, "Alarm rules failed on the latest reading: watch the patient "
                "directly and check the ingest log.")

    def _count_rejection(self, rejection: Rejection, source: str) -> bool:
        """Count it; True if it is kept whole (stored, published), False if only counted."""
        self.counters.rejected += 1
        # Count by the reason's first clause so the table stays small ("systolic 300 ..." varies).
        key = rejection.reason.split(":")[0][:60]
        if key in self.counters.rejected_by_reason or len(self.counters.rejected_by_reason) < 200:
            self.counters.rejected_by_reason[key] = self.counters.rejected_by_reason.get(key, 0) + 1
        if not self.limiter.offer(rejection, source, rejection.time):
            self.counters.rejections_suppressed += 1
            return False
        log.warning("rejected %s: %s", rejection.topic[:120], rejection.reason[:200])
        return True

    def _first_time(self, identity: tuple[object, ...]) -> bool:
        if identity in self._recent:
            self._recent.move_to_end(identity)
            return False
        self._recent[identity] = None
        if len(self._recent) > RECENT_IDENTITIES:
            self._recent.popitem(last=False)
        return True
