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
once) and one writes (store, then rejections, then acknowledgements: `ingest.writer`). Alarms
never wait on the database, not even during an outage, as far as the in-flight window reaches.
Every publication goes through `ingest.publisher`; `vitals ingest` runs the worker from
`ingest.service`.

Start without the database: alarm state is rebuilt from storage at start (`ingest.restore`). If the
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

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import paho.mqtt.client as mqtt

from ingest.fast_client import make_ingest_client
from ingest.health import STATUS_SECONDS, Snapshot, State, offline_document, status_document
from ingest.inbox import Inbox
from ingest.pipeline import Inbound, Outcome, Pipeline
from ingest.publisher import Publisher
from ingest.restore import restore
from ingest.writer import Judged, StoreWriter
from vitals.admission import Admission
from vitals.alerts import AlertEvent
from vitals.engine import AlertEngine
from vitals.errors import BrokerUnavailable
from vitals.mqtt import input_subscription, is_output, status_topic
from vitals.settings import Settings
from vitals.storage import Batch, Store, StoreUnavailable
from vitals.timefmt import utcnow

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # how often each thread wakes when idle: tick rules, status, probe store
HOLD_FACTOR = 2  # messages held unacknowledged, in in-flight windows, before reading pauses
RECONNECT_MIN_SECONDS = 1
RECONNECT_MAX_SECONDS = 30
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
        self._state = State.RUNNING
        self._judge_thread: threading.Thread | None = None
        self._write_thread: threading.Thread | None = None
        # Alarm state not yet rebuilt from storage (the store did not answer at start).
        self._restore_pending = False
        self._restore_failed = False  # the late restore raised: judged on without it
        self._stopped = False
        inbox, hold_at = self._inbox, HOLD_FACTOR * settings.ingest_inflight
        self.client = make_ingest_client(
            settings.mqtt,
            settings.ingest_client_id,
            inflight=settings.ingest_inflight,
            # Mosquitto 2.0 can send beyond its in-flight window while acknowledgements flow
            # (a drain): past twice the window we read no more until the writer catches up.
            # Never while the store is down: no acknowledgement flows then, so the broker's
            # window bounds what comes, and an unread PINGRESP would end in a keepalive
            # reconnect (a false "broker lost" during a database outage).
            hold=lambda: self._writer.down_since is None and inbox.unfinished >= hold_at,
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
        self._publisher = Publisher(self.client, settings.topic_prefix, self.status_topic,
                                    self.status, status_interval, label_of=self._label_of)
        self._writer = StoreWriter(store, self.pipeline.counters, self._inbox, self._publisher,
                                   self._ack, clock=clock, stop=self._stop,
                                   batch_max=settings.ingest_batch_max, tick=TICK_SECONDS)

    def _label_of(self, session: str) -> str | None:
        """The display label of a session's latest start, for the notifier's messages (#19)."""
        state = self.pipeline.engine.state(session)
        return state.label if state is not None else None

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
            self._writer.store_down()
            failures = []
        # Processing runs before the connection: a returning worker's session may bring its
        # backlog before the broker answers our subscriptions, and the client stops reading
        # past two in-flight windows held, so nobody taking them would hide the answer.
        self._judge_thread = threading.Thread(target=self._process_forever, name="ingest-judge",
                                              daemon=True)
        self._write_thread = threading.Thread(target=self._writer.run, name="ingest-write",
                                              daemon=True)
        self._judge_thread.start()
        self._write_thread.start()
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
        if self._judge_thread is not None:
            self._judge_thread.join(timeout)
        if self._write_thread is not None:
            self._writer.finish()  # after everything the judging thread produced
            self._write_thread.join(max(0.0, deadline - time.monotonic()))
        self._state = State.STOPPED
        self._publisher.status(force=True)
        # Alerts, rejections and the status must reach the broker before we leave: paho keeps
        # unsent publications only in memory.
        self._publisher.flush(deadline)
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
        return self._writer.up

    @property
    def state_restored(self) -> bool:
        """The alarm state was rebuilt from storage (False while the store has not answered)."""
        return not self._restore_pending and not self._restore_failed

    @property
    def alive(self) -> bool:
        """Both threads run (they never die on input)."""
        return all(t is not None and t.is_alive()
                   for t in (self._judge_thread, self._write_thread))

    @property
    def _thread_died(self) -> bool:
        """A thread started and ended before the stop: the worker cannot do its job, and its
        status must say so (the other thread would go on publishing "running")."""
        return not self._stop.is_set() and any(
            t is not None and t.ident is not None and not t.is_alive()
            for t in (self._judge_thread, self._write_thread))

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
            state=State.FAILED if self._state is State.RUNNING and self._thread_died else
            self._state,
            time=self.clock(),
            client_id=self.settings.ingest_client_id,
            broker_up=self._connected.is_set(),
            store_up=self.store_up,
            store_down_since=self._writer.down_at,
            received=c.received,
            stored=c.stored,
            rejected=c.rejected,
            duplicates=c.duplicates,
            alerts=c.alerts,
            backlog=self.backlog,
            max_backlog=self.max_backlog,
            write_latency_ms=self._writer.latency.summary(),
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
        self._publisher.status(force=True)

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
        goes on judging what the broker's in-flight window lets in. Nothing that goes wrong in
        a cycle ends it: every session's alarms depend on this one thread.
        """
        last_tick = time.monotonic()
        while True:
            try:
                if self._judge_cycle():
                    return
                if time.monotonic() - last_tick >= TICK_SECONDS:
                    last_tick = time.monotonic()
                    self._tick()
                self._publisher.status()
            except Exception:
                log.exception("judging cycle failed; judging goes on")
                self._stop.wait(TICK_SECONDS)  # a fault that repeats: logged once a tick

    def _judge_cycle(self) -> bool:
        """One batch judged (or the late restore, or nothing within a tick); True: stopped."""
        if self._restore_pending and self.store_up and not self._stop.is_set():
            # The store answers again: rebuild from it once everything judged meanwhile is
            # written (the one pause of judging, once per start; see the module docstring).
            if self._writer.wait_written(TICK_SECONDS):
                self._restore_late()
            return False
        batch = self._take_batch(timeout=TICK_SECONDS)
        if batch:
            self.max_judged = max(self.max_judged, len(batch))
            try:
                outcome = self.pipeline.process(batch)
            except Exception:  # the batch stays unacknowledged: redelivered after a reconnect
                log.exception("ingest cycle failed on %d messages; they stay with the "
                              "broker", len(batch))
                self._give_up(batch)
            else:
                self._publisher.alerts(outcome.alerts)
                self._writer.put(Judged(outcome, batch))
        elif self._stop.is_set():
            # The interval's rejection counts, not lost with the process.
            summaries = self.pipeline.limiter.flush(self.clock(), force=True)
            if summaries:
                outcome = Outcome(Batch(rejections=summaries), (), summaries)
                self._writer.put(Judged(outcome, []))
            return True
        return False

    def _tick(self) -> None:
        """The time-driven rules (silence, check-ins, ...): their alarms, published and stored."""
        try:
            ticked = self.pipeline.tick(self.clock())
            self._publisher.alerts(ticked.alerts)
            if len(ticked.batch):  # alarms, or the interval's rejection counts
                self._writer.put(Judged(ticked, []))
        except Exception:
            log.exception("time-driven rules failed")

    def _emit(self, alerts: Sequence[AlertEvent]) -> None:
        """Publish alert events at once and hand them to the writer (no message to ack)."""
        if alerts:
            self._publisher.alerts(alerts)
            self._writer.put(Judged(Outcome(Batch(alerts=list(alerts)), alerts, ()), []))

    def _restore_late(self) -> None:
        """The restore the start could not do, now that the store answers (judging thread)."""
        started = time.perf_counter()
        try:
            failures = self._restore()
        except StoreUnavailable as err:
            self._writer.unavailable(err)
            return
        except Exception:
            # Retrying would stop judging for good: judge on from the state built meanwhile
            # (alarms raised since the start stand; `state_restored` stays false).
            log.exception("rebuilding the alarm state from storage failed; judging goes on "
                          "without it")
            self._restore_pending = False
            self._restore_failed = True
            self._publisher.status(force=True)
            return
        self._restore_pending = False
        log.warning("store answered: alarm state rebuilt from storage in %.0f ms",
                    (time.perf_counter() - started) * 1000)
        self._emit(failures)
        self._publisher.status(force=True)

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

    # --- acknowledgement (write thread, once `StoreWriter` stored the messages) -------------

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

    def _restore(self) -> list[AlertEvent]:
        """Alarm state rebuilt from storage (`ingest.restore`); `StoreUnavailable` if it is down."""
        return restore(self.store, self.pipeline, self.clock())
