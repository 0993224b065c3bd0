"""The ingest worker: MQTT in → pipeline → store → publish alerts and rejections → acknowledge.

Zero loss is the design rule:
- the broker keeps our session (`clean_session=False`, fixed client id) and we acknowledge a
  message only after the batch holding it is stored, so a crash, an outage of the database or a
  restart of the worker leaves unstored messages with the broker, which redelivers them (our
  own alerts, rejections and status coming back are no input: acknowledged on arrival);
- while the database is down we retry the same batch with backoff and take no more work: the
  broker is the buffer. What we hold is bounded by the broker's in-flight window: over MQTT 3.1.1
  (what we speak, for the embedded broker's sake) the client cannot announce a receive maximum, so
  Mosquitto's `max_inflight_messages` decides how many unacknowledged messages it sends us.
  `ingest_inflight` bounds our own outgoing publications; set both to the same value. Mosquitto
  2.0 can overshoot its window while acknowledgements flow fast, so past twice `ingest_inflight`
  held we stop reading from the socket until the writer has caught up;
- acknowledgements never cross a reconnect (a message id is only meaningful on its connection:
  acking an old id could acknowledge a different, unprocessed message);
- a graceful stop takes no new message, stores and acknowledges what it holds, publishes its
  `stopped` status and disconnects without unsubscribing, so the broker queues what follows.

Two threads besides paho's network thread: one judges (parse, alert rules, alarms published at
once) and one writes (store, then rejections, then acknowledgements). Alarms never wait on the
database, not even during an outage, as far as the in-flight window reaches. Batches form
naturally: one write takes everything judged while the previous write ran, so latency stays low
at low load and writes grow large under load.

Start without the database: alarm state is rebuilt from storage at start (`_restore`). If the
store does not answer then, the worker starts anyway and judges from a blank state (readings
start their sessions; an alarm acknowledged before the restart may sound again, never the
reverse), holding acknowledgements. Once the store answers and everything judged meanwhile is
written, the judging thread rebuilds every live session from the stored record, which by then
holds the gap's readings and alarm events too: nothing is emitted again and no latch is lost.

Replicas: run several identical workers, each with its own client id and persistent session,
each taking every message and judging every session. Outputs are deterministic (point
identities; alert events keyed by session, metric, rule, state and the time the rule made them
due), so what replicas store collapses into one record and `<prefix>/<session>/alert` is
at-least-once with that identity.

Health: a retained status on `<prefix>/_ingest/<client id>/status` (see `ingest.health`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt

from ingest.fast_client import make_ingest_client
from ingest.health import (
    STATUS_SECONDS,
    LatencyWindow,
    Snapshot,
    State,
    offline_document,
    should_publish,
    status_document,
)
from ingest.inbox import Inbox
from ingest.pipeline import Inbound, Outcome, Pipeline
from vitals.admission import Admission
from vitals.alerts import AlertEvent
from vitals.engine import AlertEngine
from vitals.errors import BrokerUnavailable, ServiceUnavailable
from vitals.mqtt import (
    alert_topic,
    input_subscription,
    is_output,
    rejected_topic,
    status_topic,
)
from vitals.profile import load_profile
from vitals.readings import DeliveryReport, Rejection
from vitals.settings import Settings
from vitals.storage import Batch, Store, StoreError, StoreUnavailable, open_store
from vitals.timefmt import rfc3339, utcnow

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
HOLD_FACTOR = 2  # messages held unacknowledged, in in-flight windows, before reading pauses
RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 10.0
RECONNECT_MIN_SECONDS = 1
RECONNECT_MAX_SECONDS = 30
# The worker allocates tens of objects per message; at Python's default threshold (a young
# collection every 700 allocations) the cyclic garbage collector took ~20% of the CPU of a
# backlog drain. Hardly anything here forms cycles, so collecting every 10,000 costs no memory.
GC_YOUNG_THRESHOLD = 10_000
RESTORE_WINDOW = timedelta(hours=24)  # a session silent this long without `end` is not live
_WAKE = None  # put in the inbox to wake the processing thread at once (stop)


class IngestWorker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: AlertEngine,
        *,
        clock: Callable[[], datetime] = utcnow,
        status_interval: float = STATUS_SECONDS,
    ) -> None:
        self.settings = settings
        self.store = store
        key = settings.action_key
        if key is None:
            log.warning("VITALS_ACTION_KEY is not set: acknowledgements and session events are "
                        "taken as the broker lets them through (docs/threat-model.md)")
        self.pipeline = Pipeline(
            engine, settings.topic_prefix, max_time_ahead=settings.max_time_ahead,
            admission=Admission(
                max_sessions_per_device=settings.ingest_max_sessions_per_device,
                max_new_sessions_per_minute=settings.ingest_new_sessions_per_minute),
            action_key=key.get_secret_value() if key is not None else None)
        self.clock = clock
        self.status_interval = status_interval
        self.status_topic = status_topic(settings.topic_prefix, settings.ingest_client_id)
        self.max_backlog = 0  # high-water mark of messages held unacknowledged
        self.max_judged = 0  # the most messages judged in one cycle
        self._inbox: Inbox[Inbound | None] = Inbox()
        self._stop = threading.Event()
        self._generation = 0
        self._connected = threading.Event()
        self._connect_answered = threading.Event()
        self._refused: str | None = None
        self._subscribed = threading.Event()  # the broker answered our subscriptions (SUBACK)
        self._refused_filters: list[str] = []
        self._store_down_since: float | None = None
        self._store_down_at: datetime | None = None
        self._latency = LatencyWindow()
        self._publishes: deque[mqtt.MQTTMessageInfo] = deque()  # not yet acknowledged by the broker
        self._publishes_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._last_status: dict[str, object] | None = None
        self._last_status_at = 0.0
        self._state = State.RUNNING
        self._thread: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        # Judged batches waiting for the write; bounded by the broker's in-flight window.
        self._outbox: queue.Queue[_Judged | None] = queue.Queue()
        self._unwritten = 0  # judged batches put in the outbox and not yet through `_write`
        self._written = threading.Condition()
        # Alarm state not yet rebuilt from storage (the store did not answer at start).
        self._restore_pending = False
        self._stopped = False
        self.client = make_ingest_client(
            settings.mqtt,
            settings.ingest_client_id,
            inflight=settings.ingest_inflight,
            # Mosquitto 2.0 can send beyond its in-flight window while acknowledgements flow
            # (a drain): past twice the window we read no more until the writer catches up.
            # Never while the store is down: no acknowledgement flows then, so the broker's
            # window bounds what comes, and an unread PINGRESP would end in a keepalive
            # reconnect (a false "broker lost" during a database outage).
            hold=lambda: (self._store_down_since is None
                          and self._inbox.unfinished >= HOLD_FACTOR * settings.ingest_inflight),
        )
        # Before connecting: the broker announces our death if we vanish without a goodbye.
        self.client.will_set(self.status_topic,
                             json.dumps(offline_document(settings.ingest_client_id)),
                             qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=RECONNECT_MIN_SECONDS,
                                        max_delay=RECONNECT_MAX_SECONDS)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._filters: list[str] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, connect_timeout: float = 10.0) -> None:
        """Rebuild alarm state from storage (or later, if the store is down), connect,
        subscribe, start processing."""
        try:
            failures = self._restore()
        except StoreUnavailable as err:
            # Alarms must not wait for the database: judge from a blank state until it answers.
            log.error("%s: starting without the stored alarm state; alarms are judged and "
                      "published, acknowledgements held until the database answers", err)
            self._restore_pending = True
            self._store_down_since = time.monotonic()
            self._store_down_at = self.clock()
            failures = []
        # Processing runs before the connection: a returning worker's session may bring its
        # backlog before the broker answers our subscriptions, and the client stops reading
        # past two in-flight windows held, so nobody taking them would hide the answer.
        self._thread = threading.Thread(target=self._process_forever, name="ingest-judge",
                                        daemon=True)
        self._writer = threading.Thread(target=self._write_forever, name="ingest-write",
                                        daemon=True)
        self._thread.start()
        self._writer.start()
        endpoint = self.settings.mqtt
        try:
            self.client.connect(endpoint.host, endpoint.port, keepalive=30)
        except OSError as err:
            self._abandon()
            raise BrokerUnavailable(
                f"cannot reach the MQTT broker at {endpoint.host}:{endpoint.port} "
                f"(VITALS_MQTT_URL): {err}"
            ) from err
        self.client.loop_start()
        if not self._connect_answered.wait(connect_timeout) or not self._connected.is_set():
            self._abandon()
            why = self._refused or "no answer"
            raise BrokerUnavailable(
                f"the MQTT broker at {endpoint.host}:{endpoint.port} did not accept the "
                f"connection ({why}; check VITALS_MQTT_URL credentials)"
            )
        # Started means subscribed: a message published before our subscription exists is
        # dropped by the broker.
        if not self._subscribed.wait(connect_timeout) or self._refused_filters:
            self._abandon()
            why = (f"refused {', '.join(self._refused_filters)}" if self._refused_filters
                   else "no answer")
            raise BrokerUnavailable(
                f"the MQTT broker at {endpoint.host}:{endpoint.port} did not grant the ingest's "
                f"subscriptions ({why}; check the broker's ACL for the VITALS_MQTT_URL user)"
            )
        self._emit(failures)

    def _abandon(self) -> None:
        self.stop(timeout=5.0)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop consuming, store and acknowledge what was received, disconnect.

        The persistent session and its subscriptions stay with the broker (we never
        unsubscribe), so readings published while the worker is down arrive when it returns.
        Messages that arrive after the stop began are left unacknowledged: redelivered later.
        """
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        self._inbox.put(_WAKE)
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(timeout)
        if self._writer is not None:
            self._outbox.put(None)  # after everything the judging thread produced
            self._writer.join(max(0.0, deadline - time.monotonic()))
        self._state = State.STOPPED
        self._publish_status(force=True)
        # Alerts, rejections and the status must reach the broker before we leave: paho keeps
        # unsent publications only in memory.
        with self._publishes_lock:
            pending = list(self._publishes)
        for info in pending:
            # Not connected (RuntimeError): it cannot be sent, and nothing else can be done here.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        self.client.disconnect()
        self.client.loop_stop()
        c = self.pipeline.counters
        log.info("ingest stopped: received %d, readings %d, events %d, rejected %d, alerts %d, "
                 "stored %d in %d writes", c.received, c.readings, c.events, c.rejected,
                 c.alerts, c.stored, c.stored_batches)

    @property
    def backlog(self) -> int:
        """Messages received and not yet finished (stored and acknowledged, or given up)."""
        return self._inbox.unfinished

    @property
    def store_up(self) -> bool:
        return self._store_down_since is None

    @property
    def state_restored(self) -> bool:
        """The alarm state was rebuilt from storage (False while the store has not answered)."""
        return not self._restore_pending

    @property
    def alive(self) -> bool:
        """Both threads run (they never die on input)."""
        return all(t is not None and t.is_alive() for t in (self._thread, self._writer))

    def wait_idle(self, timeout: float) -> bool:
        """True once everything received so far is processed (tests and the demo use this)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._inbox.unfinished == 0:
                return True
            time.sleep(0.01)
        return False

    def status(self) -> dict[str, object]:
        """The health status document as it would be published now."""
        c = self.pipeline.counters
        return status_document(Snapshot(
            state=self._state,
            time=self.clock(),
            client_id=self.settings.ingest_client_id,
            broker_up=self._connected.is_set(),
            store_up=self.store_up,
            store_down_since=self._store_down_at,
            received=c.received,
            stored=c.stored,
            rejected=c.rejected,
            duplicates=c.duplicates,
            alerts=c.alerts,
            backlog=self.backlog,
            max_backlog=self.max_backlog,
            write_latency_ms=self._latency.summary(),
            interval_s=self.status_interval,
            state_restored=self.state_restored,
            window=self.settings.ingest_inflight,
            rejections_suppressed=c.rejections_suppressed,
            refused_sessions=self.pipeline.admission.refused_sessions,
            refused_sessions_last=self.pipeline.admission.last_refused,
        ))

    # --- MQTT callbacks (network thread): only hand over, never block ----------------------

    def _on_connect(self, client: mqtt.Client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            self._refused = str(reason_code)
            self._connect_answered.set()
            return
        self._generation += 1
        filters = [input_subscription(self.settings.topic_prefix)]
        # Renewed on every connect: harmless when the broker kept them, needed when it did not.
        self._filters = filters
        client.subscribe([(f, 1) for f in filters])
        log.info("connected to %s:%s (session present: %s), subscribed to %s",
                 self.settings.mqtt.host, self.settings.mqtt.port,
                 flags.session_present, ", ".join(filters))
        self._connected.set()
        self._connect_answered.set()
        self._publish_status(force=True)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        # A broker may refuse a filter (SUBACK 0x80): say so, or its messages never come.
        # (Mosquitto grants a filter its ACL denies and then delivers nothing: the shipped ACL
        # is tested in tests/test_mosquitto_config.py.)
        refused = [topic_filter for topic_filter, code
                   in zip(self._filters, reason_codes, strict=False) if code.is_failure]
        for topic_filter in refused:
            log.error("the broker refused the subscription to %s: check its ACL for this user",
                      topic_filter)
        self._refused_filters = refused
        self._subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.error("lost the MQTT broker (%s); reconnecting with backoff", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        # An exception here would end paho's network thread: nothing may escape.
        try:
            if self._stop.is_set():
                return  # stopping: left unacknowledged, the broker redelivers it later
            try:
                topic = message.topic
            except UnicodeDecodeError:  # a broker that lets invalid UTF-8 through: refuse later
                topic = bytes(message._topic).decode("utf-8", "replace")
            if is_output(topic, self.settings.topic_prefix):
                # Our own alert, rejection or status coming back (we subscribe to the whole
                # prefix): nothing to judge or store, so it is acknowledged now rather than
                # after the next write. Held until then, a drain's ~18,000 alarms took a third
                # of the broker's window to us and went through both threads for nothing.
                if message.qos == 1:
                    client.ack_all([message.mid])
                return
            self._inbox.put(Inbound(topic, bytes(message.payload), self.clock(), message.mid,
                                    message.qos, self._generation, message.retain))
            self.max_backlog = max(self.max_backlog, self._inbox.unfinished)
        except Exception:
            log.exception("could not take a message in; it stays with the broker")

    # --- processing thread -----------------------------------------------------------------

    def _process_forever(self) -> None:
        """Judge: parse, run the rules, publish alarms at once, hand the outcome to the writer.

        Alarms never wait on the database: while a write runs (or an outage lasts) this thread
        goes on judging what the broker's in-flight window lets in.
        """
        last_tick = time.monotonic()
        while True:
            if self._restore_pending and self.store_up and not self._stop.is_set():
                # The store answers again: rebuild from it once everything judged meanwhile is
                # written (the one pause of judging, once per start; see the module docstring).
                with self._written:
                    self._written.wait_for(lambda: self._unwritten == 0, timeout=TICK_SECONDS)
                if self._unwritten == 0:
                    self._restore_late()
                continue
            batch = self._take_batch(timeout=TICK_SECONDS)
            if batch:
                self.max_judged = max(self.max_judged, len(batch))
                try:
                    outcome = self.pipeline.process(batch)
                except Exception:  # the worker never dies; the batch stays unacknowledged
                    log.exception("ingest cycle failed on %d messages; they stay with the "
                                  "broker", len(batch))
                    self._give_up(batch)
                else:
                    self._publish_alerts(outcome)
                    self._to_writer(_Judged(outcome, batch))
            elif self._stop.is_set():
                # The interval's rejection counts, not lost with the process.
                summaries = self.pipeline.limiter.flush(self.clock(), force=True)
                if summaries:
                    self._to_writer(_Judged(Outcome(Batch(rejections=summaries), (), summaries),
                                            []))
                return
            if time.monotonic() - last_tick >= TICK_SECONDS:
                last_tick = time.monotonic()
                try:
                    ticked = self.pipeline.tick(self.clock())
                    self._publish_alerts(ticked)
                    if len(ticked.batch):  # alarms, or the interval's rejection counts
                        self._to_writer(_Judged(ticked, []))
                except Exception:
                    log.exception("time-driven rules failed")
            self._publish_status()

    def _to_writer(self, judged: _Judged) -> None:
        with self._written:
            self._unwritten += 1
        self._outbox.put(judged)

    def _emit(self, alerts: Sequence[AlertEvent]) -> None:
        """Publish alert events at once and hand them to the writer (no message to ack)."""
        if alerts:
            outcome = Outcome(Batch(alerts=list(alerts)), alerts, ())
            self._publish_alerts(outcome)
            self._to_writer(_Judged(outcome, []))

    def _restore_late(self) -> None:
        """The restore the start could not do, now that the store answers (judging thread)."""
        started = time.perf_counter()
        try:
            failures = self._restore()
        except StoreUnavailable as err:
            self._store_unavailable(err)
            return
        self._restore_pending = False
        log.warning("store answered: alarm state rebuilt from storage in %.0f ms",
                    (time.perf_counter() - started) * 1000)
        self._emit(failures)
        self._publish_status(force=True)

    def _write_forever(self) -> None:
        """Store: one write takes every outcome that queued meanwhile; then rejections, acks."""
        while True:
            try:
                first = self._outbox.get(timeout=TICK_SECONDS)
            except queue.Empty:
                if not self.store_up:
                    self._probe_store()  # nothing to write: ask whether the store is back
                self._publish_status()
                continue
            items = [first]
            count = len(first.messages) if first is not None else 0
            while first is not None and count < self.settings.ingest_batch_max:
                try:
                    item = self._outbox.get_nowait()
                except queue.Empty:
                    break
                items.append(item)
                if item is None:
                    break
                count += len(item.messages)
            work = [item for item in items if item is not None]
            if work:
                try:
                    self._write(work)
                finally:
                    with self._written:
                        self._unwritten -= len(work)
                        self._written.notify_all()
            if items[-1] is None:
                return  # the judging thread has finished: everything it produced is written
            self._publish_status()

    def _write(self, work: list[_Judged]) -> None:
        messages = [message for judged in work for message in judged.messages]
        outcomes = [judged.outcome for judged in work]
        finished = False
        try:
            batch = Batch(
                readings=[r for o in outcomes for r in o.batch.readings],
                events=[e for o in outcomes for e in o.batch.events],
                alerts=[a for o in outcomes for a in o.batch.alerts],
                rejections=[r for o in outcomes for r in o.batch.rejections],
                observations=[x for o in outcomes for x in o.batch.observations],
            )
            if self._store(batch):
                for rejection in batch.rejections:
                    self._publish(rejected_topic(self.settings.topic_prefix, rejection.session),
                                  rejection_json(rejection))
                # `_ack` counts them finished before anything in it can fail: never twice.
                finished = True
                self._ack(messages)
        except Exception:  # the worker never dies; the messages stay unacknowledged
            log.exception("writing %d messages failed; they stay with the broker", len(messages))
        finally:
            if not finished:
                self._give_up(messages)

    def _give_up(self, messages: list[Inbound]) -> None:
        """Not acknowledged: the broker redelivers them after the next reconnect."""
        self._inbox.finished(len(messages))

    def _take_batch(self, timeout: float) -> list[Inbound]:
        # At most a window at a time: the client reads on until two windows are held, so the
        # next window is judged while the writer stores this one (taking both at once, the
        # judge would wait for that write and the writer for the judge, turn by turn).
        limit = min(self.settings.ingest_batch_max, self.settings.ingest_inflight)
        items = self._inbox.take(limit, timeout)
        batch = [item for item in items if item is not _WAKE]
        if len(batch) < len(items):
            self._inbox.finished(len(items) - len(batch))
        return batch

    def _publish_alerts(self, outcome: Outcome) -> None:
        for alert in outcome.alerts:
            document = alert.to_json()
            state = self.pipeline.engine.state(alert.session)
            if state is not None and state.label:  # for the notifier's messages (issue 19)
                document["label"] = state.label
            self._publish(alert_topic(self.settings.topic_prefix, alert.session), document)

    def _probe_store(self) -> None:
        """While the store is down and nothing waits to be written: is it back?"""
        try:
            self.store.ping()
        except StoreError:
            return
        self._store_back()

    def _store_unavailable(self, err: StoreError) -> None:
        if self._store_down_since is None:
            # Once per outage, not once per attempt or per message.
            self._store_down_since = time.monotonic()
            self._store_down_at = self.clock()
            log.error("store unavailable, holding %d messages unacknowledged (the broker "
                      "keeps the rest) and retrying with backoff: %s", self.backlog, err)
            self._publish_status(force=True)

    def _store_back(self) -> None:
        if self._store_down_since is not None:
            log.warning("store back after %.1f s; writing the %d held messages",
                        time.monotonic() - self._store_down_since, self.backlog)
            self._store_down_since = None
            self._store_down_at = None
            self._publish_status(force=True)

    def _store(self, batch: Batch) -> bool:
        if not len(batch):
            return True  # only our own outputs came back: nothing to store, nothing learnt
        delay = RETRY_MIN_SECONDS
        while True:
            started = time.perf_counter()
            try:
                self.store.write(batch)
            except StoreUnavailable as err:
                self._store_unavailable(err)
                if self._stop.is_set():
                    log.warning("stopping while the store is down: %d messages stay with the "
                                "broker for redelivery", self.backlog)
                    return False
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                self._publish_status()
                continue
            except StoreError:
                # Not retryable (e.g. a request the database refuses): keep it visible and keep
                # the messages with the broker rather than acknowledge what was not stored.
                log.exception("store refused a batch of %d; not acknowledging it", len(batch))
                return False
            self._latency.add((time.perf_counter() - started) * 1000)
            self._store_back()
            counters = self.pipeline.counters
            counters.stored_batches += 1
            counters.stored += len(batch.readings) + len(batch.events) + len(batch.observations)
            return True

    def _ack(self, messages: list[Inbound]) -> None:
        generation = self._generation
        # Finished before the acks go out: the broker's answer (the next messages) may arrive
        # at once, and the backlog must count only what is really still held.
        self._inbox.finished(len(messages))
        # We subscribe at QoS 1, so the broker sends at most QoS 1; QoS 0 needs no ack. One
        # write for the whole batch.
        current = [m.mid for m in messages if m.qos == 1 and m.generation == generation]
        self.client.ack_all(current)
        self.pipeline.counters.acknowledged += len(current)

    def _publish(self, topic: str, document: dict[str, object],
                 retain: bool = False) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, json.dumps(document, ensure_ascii=False), qos=1,
                                   retain=retain)
        with self._publishes_lock:  # three threads publish
            self._publishes.append(info)
            while self._publishes and _settled(self._publishes[0]):
                self._publishes.popleft()
        return info

    def _publish_status(self, force: bool = False) -> None:
        elapsed = time.monotonic() - self._last_status_at
        if not force and elapsed < self.status_interval:
            return  # the common case, checked without building a document (changes force)
        try:
            with self._status_lock:
                document = self.status()
                elapsed = time.monotonic() - self._last_status_at
                if not force and not should_publish(self._last_status, document, elapsed,
                                                    self.status_interval):
                    return
                self._last_status, self._last_status_at = document, time.monotonic()
                self._publish(self.status_topic, document, retain=True)
        except Exception:  # health reporting must never stop the ingest
            log.exception("could not publish the ingest status")

    def _restore(self) -> list[AlertEvent]:
        """Rebuild active alarms, latches, baselines and session state from storage.

        Raises `StoreUnavailable` if the store cannot list the sessions. One session that
        cannot be rebuilt does not stop the others: it gets a high technical alarm (returned).
        """
        now = self.clock()
        restored = 0
        failures: list[AlertEvent] = []
        for summary in self.store.sessions(since=now - RESTORE_WINDOW):
            session = summary.session
            try:
                events = self.store.events(session)
                if summary.ended is not None:
                    # Its events are enough (an ended session judges no limits), and its
                    # alerts: a "readings after the session ended" alarm may wait for its
                    # acknowledgement.
                    self.pipeline.restore(session, events, [], self.store.alerts(session))
                    continue
                self.pipeline.restore(
                    session,
                    events,
                    self.store.readings(session, since=summary.first_time),
                    self.store.alerts(session),
                    self.store.observations(session),
                )
                self.pipeline.engine.restore_deliveries(session, [
                    DeliveryReport(session, n.time, n.person, n.channel, n.delivered, n.error)
                    for n in self.store.notifications(session)])
                restored += 1
            except StoreUnavailable:
                raise
            except Exception:
                log.exception("could not rebuild the alarm state of session %s", session)
                failures += self.pipeline.engine.rules_failed(
                    session, now, "Alarm state could not be restored after an ingest restart: "
                    "watch the patient directly and check the ingest log.")
        if restored:
            log.info("restored alarm state of %d live sessions from storage", restored)
        return failures


@dataclass(frozen=True, slots=True)
class _Judged:
    """One judged batch for the writer: store, then acknowledge."""

    outcome: Outcome
    messages: list[Inbound]


def _settled(info: mqtt.MQTTMessageInfo) -> bool:
    """Published, or never going to be tracked (queued while disconnected: paho resends it)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True


def rejection_json(rejection: Rejection) -> dict[str, object]:
    """The payload of `<prefix>/<session>/rejected` (the pipeline already truncated its texts)."""
    return {"time": rfc3339(rejection.time), "topic": rejection.topic,
            "reason": rejection.reason, "payload": rejection.payload}


def build_engine(settings: Settings) -> AlertEngine:
    return AlertEngine(load_profile(settings.profile), stale_seconds=settings.stale_seconds)


def tune_gc() -> None:
    """The garbage collector's setting for a process that runs the ingest (`GC_YOUNG_THRESHOLD`)."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def run_worker(settings: Settings) -> None:
    """`vitals ingest`: run until SIGTERM or SIGINT, then shut down gracefully."""
    tune_gc()  # the process is ours
    for retired in RETIRED_SETTINGS:
        if os.environ.get(retired):
            log.warning("%s is no longer used: every ingest worker is a full replica that "
                        "judges every session (docs/reliability.md, Replicas)", retired)
    store = open_store(settings)
    check_store(store)
    worker = IngestWorker(settings, store, build_engine(settings))
    # What start-up built (modules, the profile, settings) lives as long as the process: out of
    # the collector's reach, its full collections scan only what the ingest allocates since.
    gc.freeze()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker.start()
    log.info("ingest running; SIGTERM or Ctrl-C stops it gracefully")
    stop.wait()
    worker.stop()
    store.close()


# Settings of the retired judge shards: a deployment that still sets them is told, not broken.
RETIRED_SETTINGS = ("VITALS_INGEST_SHARE_GROUP", "VITALS_INGEST_SHARDS", "VITALS_INGEST_SHARD")


def check_store(store: Store) -> None:
    """Fail start-up on what waiting cannot fix (a database that refuses these credentials);
    a database that does not answer is only logged: alarms must not wait for it."""
    try:
        store.ping()
        # A bounded read: the ping alone needs no credentials on InfluxDB 1.x.
        store.rejections(since=utcnow() - timedelta(minutes=1), limit=1)
    except StoreUnavailable:
        pass  # said once by `IngestWorker.start`, which starts without the stored state
    except StoreError as err:
        raise ServiceUnavailable(
            f"{err} (check VITALS_INFLUX_DB and the credentials: VITALS_INFLUX_USERNAME and "
            "VITALS_INFLUX_PASSWORD, or VITALS_INFLUX_TOKEN)") from err
