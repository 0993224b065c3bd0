"""The ingest worker: MQTT in → pipeline → store → publish alerts and rejections → acknowledge.

Zero loss is the design rule:
- the broker keeps our session (`clean_session=False`, fixed client id) and we acknowledge a
  message only after the batch holding it is stored, so a crash, an outage of the database or a
  restart of the worker leaves unstored messages with the broker, which redelivers them;
- while the database is down we retry the same batch with backoff and take no more work: the
  broker is the buffer (its in-flight window bounds our memory);
- acknowledgements never cross a reconnect (a message id is only meaningful on its connection:
  acking an old id could acknowledge a different, unprocessed message).

Batches form naturally: one write takes everything that queued while the previous write ran, so
latency stays low at low load and writes grow large under load.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt

from ingest.pipeline import Inbound, Outcome, Pipeline
from vitals.engine import AlertEngine
from vitals.errors import BrokerUnavailable
from vitals.mqtt import alert_topic, input_subscriptions, make_client, rejected_topic
from vitals.profile import load_profile
from vitals.readings import Rejection
from vitals.settings import Settings
from vitals.storage import Store, StoreError, StoreUnavailable, open_store
from vitals.timefmt import rfc3339, utcnow

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 10.0
RESTORE_WINDOW = timedelta(hours=12)  # sessions older than this are not live any more


class IngestWorker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: AlertEngine,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = Pipeline(engine, settings.topic_prefix)
        self.clock = clock
        self._inbox: queue.Queue[Inbound] = queue.Queue()
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._generation = 0
        self._connected = threading.Event()
        self._store_down_since: float | None = None
        self._thread: threading.Thread | None = None
        self.client = make_client(
            settings.mqtt,
            settings.ingest_client_id,
            persistent=True,
            manual_ack=True,
            inflight=settings.ingest_inflight,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, connect_timeout: float = 10.0) -> None:
        """Rebuild alarm state from storage, connect, subscribe, start processing."""
        self._restore()
        endpoint = self.settings.mqtt
        try:
            self.client.connect(endpoint.host, endpoint.port, keepalive=30)
        except OSError as err:
            raise BrokerUnavailable(
                f"cannot reach the MQTT broker at {endpoint.host}:{endpoint.port} "
                f"(VITALS_MQTT_URL): {err}"
            ) from err
        self.client.loop_start()
        if not self._connected.wait(connect_timeout):
            self.client.loop_stop()
            raise BrokerUnavailable(
                f"the MQTT broker at {endpoint.host}:{endpoint.port} did not accept the "
                "connection (check VITALS_MQTT_URL credentials)"
            )
        self._thread = threading.Thread(target=self._process_forever, name="ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop consuming, store and acknowledge what was received, disconnect.

        The persistent session and its subscriptions stay with the broker (we never
        unsubscribe), so readings published while the worker is down arrive when it returns.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        self._stopped.set()
        c = self.pipeline.counters
        log.info("ingest stopped: received %d, readings %d, events %d, rejected %d, alerts %d",
                 c.received, c.readings, c.events, c.rejected, c.alerts)

    def wait_idle(self, timeout: float) -> bool:
        """True once everything received so far is processed (tests and the demo use this)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._inbox.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    # --- MQTT callbacks (network thread): only hand over, never block ----------------------

    def _on_connect(self, client: mqtt.Client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        filters = input_subscriptions(self.settings.topic_prefix, self.settings.ingest_share_group)
        # Renewed on every connect: harmless when the broker kept them, needed when it did not.
        client.subscribe([(f, 1) for f in filters])
        log.info("connected to %s:%s (session present: %s), subscribed to %s",
                 self.settings.mqtt.host, self.settings.mqtt.port,
                 flags.session_present, ", ".join(filters))
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.error("lost the MQTT broker (%s); reconnecting with backoff", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(Inbound(message.topic, message.payload, self.clock(), message.mid,
                                message.qos, self._generation))

    # --- processing thread -----------------------------------------------------------------

    def _process_forever(self) -> None:
        last_tick = time.monotonic()
        while True:
            batch = self._take_batch(timeout=TICK_SECONDS)
            if batch:
                self._handle(self.pipeline.process(batch), batch)
            elif self._stop.is_set():
                return
            if time.monotonic() - last_tick >= TICK_SECONDS:
                last_tick = time.monotonic()
                outcome = self.pipeline.tick(self.clock())
                if outcome.alerts:
                    self._handle(outcome, [])

    def _take_batch(self, timeout: float) -> list[Inbound]:
        try:
            first = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self.settings.ingest_batch_max:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _handle(self, outcome: Outcome, messages: list[Inbound]) -> None:
        # Alarms go out before the write: a monitor must not wait on the database.
        for alert in outcome.alerts:
            self._publish(alert_topic(self.settings.topic_prefix, alert.session), alert.to_json())
        stored = self._store(outcome)
        if stored:
            for rejection in outcome.rejections:
                self._publish(rejected_topic(self.settings.topic_prefix, rejection.session),
                              rejection_json(rejection))
            self._ack(messages)
        for _ in messages:
            self._inbox.task_done()

    def _store(self, outcome: Outcome) -> bool:
        delay = RETRY_MIN_SECONDS
        while True:
            try:
                self.store.write(outcome.batch)
            except StoreUnavailable as err:
                if self._store_down_since is None:
                    self._store_down_since = time.monotonic()
                    log.error("store unavailable, holding %d messages unacknowledged and "
                              "retrying: %s", len(outcome.batch), err)
                if self._stop.is_set():
                    log.error("stopping while the store is down: %d messages stay with the "
                              "broker for redelivery", len(outcome.batch))
                    return False
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            except StoreError:
                # Not retryable (e.g. a request the database refuses): keep it visible and keep
                # the messages with the broker rather than acknowledge what was not stored.
                log.exception("store refused a batch of %d; not acknowledging it",
                              len(outcome.batch))
                return False
            if self._store_down_since is not None:
                log.warning("store back after %.1f s", time.monotonic() - self._store_down_since)
                self._store_down_since = None
            self.pipeline.counters.stored_batches += 1
            return True

    def _ack(self, messages: list[Inbound]) -> None:
        generation = self._generation
        for message in messages:
            if message.qos > 0 and message.generation == generation:
                self.client.ack(message.mid, message.qos)

    def _publish(self, topic: str, document: dict[str, object]) -> None:
        import json

        self.client.publish(topic, json.dumps(document, ensure_ascii=False), qos=1)

    def _restore(self) -> None:
        """Rebuild active alarms, latches, baselines and session state from storage."""
        now = self.clock()
        engine = self.pipeline.engine
        restored = 0
        for summary in self.store.sessions(since=now - RESTORE_WINDOW):
            events = self.store.events(summary.session)
            if summary.ended is not None:
                # Its events are enough: an ended session must never alarm again.
                engine.restore(summary.session, events, [], [])
                continue
            engine.restore(
                summary.session,
                events,
                self.store.readings(summary.session, since=summary.first_time),
                self.store.alerts(summary.session),
            )
            restored += 1
        if restored:
            log.info("restored alarm state of %d live sessions from storage", restored)


def rejection_json(rejection: Rejection) -> dict[str, object]:
    return {"time": rfc3339(rejection.time), "topic": rejection.topic,
            "reason": rejection.reason, "payload": rejection.payload}


def build_engine(settings: Settings) -> AlertEngine:
    return AlertEngine(load_profile(settings.profile), stale_seconds=settings.stale_seconds)


def run_worker(settings: Settings) -> None:
    """`vitals ingest`: run until SIGTERM or SIGINT, then shut down gracefully."""
    store = open_store(settings)
    store.ping()
    worker = IngestWorker(settings, store, build_engine(settings))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker.start()
    log.info("ingest running; SIGTERM or Ctrl-C stops it gracefully")
    stop.wait()
    worker.stop()
    store.close()
