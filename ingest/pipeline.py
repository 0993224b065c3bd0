"""One ingest cycle without I/O: messages in, a storage batch and the publications out.

parse → alert rules → batch. The worker (`ingest.worker`) owns MQTT and the store; this module
owns what happens in between, so it is tested without a broker.

A failure inside the alert rules must not lose the reading nor silence the session: the reading
is still stored and a technical alarm says the rules failed.

With several shards (`ingest.shards`) a cycle stores every valid message it received but judges
only those of its own sessions, plus what other workers forwarded on its judge topic (judged, not
stored again); the others come out as `forwards` for their owners.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ingest.shards import Forwarded, shard_of, unwrap
from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.mqtt import is_judge_topic, is_output, judge_topic
from vitals.readings import (
    MAX_TIME_AHEAD,
    Acknowledgement,
    Observation,
    Reading,
    Rejection,
    SessionEvent,
    parse,
    truncate,
)
from vitals.storage.base import Batch

log = logging.getLogger(__name__)

# Identities of recently processed readings: a message the broker redelivers (after a reconnect)
# is stored again (an idempotent overwrite) but not judged twice.
RECENT_IDENTITIES = 100_000
# A topic may be 64 KiB: a rejection carries enough of it (and of its reason) for a person to act.
REJECTION_TOPIC_CHARS = 256
REJECTION_REASON_CHARS = 512


Valid = Reading | SessionEvent | Observation | Acknowledgement
# At one instant a start or dose governs a reading (as in `AlertEngine.restore`).
_KIND_ORDER = {SessionEvent: 0, Observation: 1, Reading: 2, Acknowledgement: 3}


def _identity(item: SessionEvent | Observation | Reading) -> tuple[object, ...]:
    """What makes a message the same message again (the store overwrites on the same key)."""
    if isinstance(item, SessionEvent):
        return ("event", item.session, item.event, item.time)
    if isinstance(item, Observation):
        return ("observation", item.session, item.observation, item.by, item.time)
    return (item.session, item.kind, item.device, item.time)


def _judging_order(item: tuple[Valid, datetime]) -> tuple[datetime, int]:
    return item[0].time, _KIND_ORDER[type(item[0])]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One MQTT message as received, with what the worker needs to acknowledge it."""

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
    stored_batches: int = 0
    stored: int = 0  # readings, session events and observations written (redeliveries again)
    acknowledged: int = 0  # messages acknowledged to the broker after their batch was stored
    forwarded: int = 0  # valid messages of other shards' sessions, sent to their owner to judge
    judged_for_others: int = 0  # messages other workers received and forwarded here to judge
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Forward:
    """A valid message of another shard's session: to publish on that shard's judge topic."""

    topic: str
    message: Forwarded


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one cycle produced: `batch` to store, then `alerts` and `rejections` to publish,
    and `forwards` for the owners of other sessions (acknowledge only once they have them)."""

    batch: Batch
    alerts: Sequence[AlertEvent]
    rejections: Sequence[Rejection]
    forwards: Sequence[Forward] = ()


class Pipeline:
    def __init__(self, engine: AlertEngine, prefix: str = "vitals", *, shard: int = 0,
                 shards: int = 1, max_time_ahead: timedelta = MAX_TIME_AHEAD) -> None:
        if not 0 <= shard < shards:
            raise ValueError(f"shard {shard} is not one of {shards} shards")
        self.engine = engine
        self.prefix = prefix
        self.max_time_ahead = max_time_ahead
        self.shard = shard
        self.shards = shards
        self.counters = Counters()
        self._recent: OrderedDict[tuple[object, ...], None] = OrderedDict()

    def process(self, messages: Sequence[Inbound]) -> Outcome:
        readings: list[Reading] = []
        events: list[SessionEvent] = []
        observations: list[Observation] = []
        alerts: list[AlertEvent] = []
        rejections: list[Rejection] = []
        forwards: list[Forward] = []
        judged: list[tuple[Valid, datetime]] = []
        for message in messages:
            if is_output(message.topic, self.prefix):
                continue  # our own alert or rejection coming back: acknowledged, not input
            # Only a sharded worker subscribes to a judge topic.
            forwarded = self.shards > 1 and is_judge_topic(message.topic, self.prefix)
            if forwarded:
                # Stored by the worker that received it: here it is only judged.
                try:
                    original = unwrap(message.payload)
                except ValueError as err:
                    rejections.append(self._reject_envelope(message, str(err)))
                    continue
                self.counters.judged_for_others += 1
                topic, payload, received_at = original.topic, original.payload, original.received_at
            else:
                self.counters.received += 1
                topic, payload, received_at = message.topic, message.payload, message.received_at
            parsed = parse(topic, payload, received_at, self.prefix,
                           max_ahead=self.max_time_ahead, retained=message.retain)
            if isinstance(parsed, Rejection):
                if forwarded:  # valid where it was received: the workers run different versions
                    rejections.append(self._reject_envelope(message, parsed.reason))
                    continue
                parsed = replace(parsed, topic=truncate(parsed.topic, REJECTION_TOPIC_CHARS),
                                 reason=truncate(parsed.reason, REJECTION_REASON_CHARS))
                self._count_rejection(parsed)
                rejections.append(parsed)
                continue
            if not forwarded:
                if isinstance(parsed, SessionEvent):
                    self.counters.events += 1
                    events.append(parsed)
                elif isinstance(parsed, Observation):
                    self.counters.observations += 1
                    observations.append(parsed)
                elif isinstance(parsed, Reading):
                    self.counters.readings += 1
                    readings.append(parsed)
            if forwarded or self.owns(parsed.session):
                judged.append((parsed, received_at))
            else:
                forwards.append(Forward(
                    judge_topic(self.prefix, shard_of(parsed.session, self.shards)),
                    Forwarded(topic, payload, received_at)))
        if self.shards > 1:
            # A session's messages reach its engine by two paths (direct, or forwarded a few ms
            # later) that may cross: what arrived together is judged in time order.
            judged.sort(key=_judging_order)
        for parsed, received_at in judged:
            alerts += self._judge_message(parsed, received_at)
        self.counters.alerts += len(alerts)
        self.counters.forwarded += len(forwards)
        return Outcome(Batch(readings, events, alerts, rejections, observations), alerts,
                       rejections, forwards)

    def owns(self, session: str) -> bool:
        """True when this worker's engine judges `session` (always, with one shard)."""
        return self.shards == 1 or shard_of(session, self.shards) == self.shard

    def restore(self, session: str, events: Sequence[SessionEvent], readings: Sequence[Reading],
                alerts: Sequence[AlertEvent], observations: Sequence[Observation] = ()) -> None:
        """Rebuild a session's alarm state from storage after a restart (`AlertEngine.restore`).

        What was restored counts as judged: the broker redelivers what the last run stored but
        did not acknowledge (and another shard forwards what it stored while this one was down);
        judging it again would count it twice in baselines, hysteresis and sustained breaches.
        """
        self.engine.restore(session, events, readings, alerts, observations)
        for item in sorted([*events, *observations, *readings], key=lambda x: x.time):
            self._first_time(_identity(item))

    def _judge_message(self, parsed: Valid, received_at: datetime) -> list[AlertEvent]:
        """Run the rules on a valid message, once per identity (a redelivery is not judged)."""
        if isinstance(parsed, Acknowledgement):
            return self._judge(parsed.session, parsed.time, lambda a=parsed: (
                self.engine.acknowledge(a.session, Metric(a.metric), a.by, a.note, a.time)))
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

    def _reject_envelope(self, message: Inbound, reason: str) -> Rejection:
        """A forward that cannot be judged: refused loudly, never silently dropped."""
        log.error("cannot judge a message forwarded on %s: %s", message.topic, reason[:200])
        rejection = Rejection(
            time=message.received_at, topic=truncate(message.topic, REJECTION_TOPIC_CHARS),
            reason=truncate(f"forwarded message not judged: {reason}", REJECTION_REASON_CHARS),
            payload=truncate(message.payload[:4096].decode("utf-8", "replace"),
                             REJECTION_REASON_CHARS))
        self._count_rejection(rejection)
        return rejection

    def tick(self, now: datetime) -> Outcome:
        """Time-driven rules (no data, escalation), run while no message arrives."""
        alerts = self._judge(None, now, lambda: self.engine.on_tick(now))
        self.counters.alerts += len(alerts)
        return Outcome(Batch(alerts=alerts), alerts, ())

    def _judge(self, session: str | None, at: datetime, rule_call) -> list[AlertEvent]:
        try:
            return list(rule_call())
        except Exception:  # one failing rule must not silence the session or lose the reading
            self.counters.rule_failures += 1
            log.exception("alert rules failed (session %s)", session)
            if session is None:
                return []
            return [AlertEvent(
                time=at, session=session, metric=Metric.DATA, priority=Priority.HIGH,
                state=AlertState.ACTIVE, rule="ingest.rules_failed",
                message="Alarm rules failed on the latest reading: watch the patient directly "
                        "and check the ingest log.",
            )]

    def _count_rejection(self, rejection: Rejection) -> None:
        self.counters.rejected += 1
        # Count by the reason's first clause so the table stays small ("systolic 300 ..." varies).
        key = rejection.reason.split(":")[0][:60]
        self.counters.rejected_by_reason[key] = self.counters.rejected_by_reason.get(key, 0) + 1
        log.warning("rejected %s: %s", rejection.topic[:120], rejection.reason[:200])

    def _first_time(self, identity: tuple[object, ...]) -> bool:
        if identity in self._recent:
            self._recent.move_to_end(identity)
            return False
        self._recent[identity] = None
        if len(self._recent) > RECENT_IDENTITIES:
            self._recent.popitem(last=False)
        return True
