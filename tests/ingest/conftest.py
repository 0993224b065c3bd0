"""Fixtures for ingest tests: a running worker, an MQTT test client, an embedded broker."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from services import wait_until

from ingest.service import build_engine
from ingest.worker import IngestWorker
from simulators import publisher
from simulators.scenarios import SCENARIOS
from simulators.timeline import session_messages
from vitals.alerts import Metric, Priority
from vitals.broker import EmbeddedBroker
from vitals.cli import main
from vitals.mqtt import make_client
from vitals.settings import Settings
from vitals.storage import Store, open_store
from vitals.vital_signs import Kind


@dataclass
class MqttProbe:
    """A test's own MQTT client: publishes and records what arrives on its subscriptions."""

    client: mqtt.Client
    received: list[tuple[str, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, topic: str, payload: bytes | str | dict, qos: int = 1) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        self.client.publish(topic, payload, qos=qos).wait_for_publish(10)

    def messages(self, suffix: str) -> list[dict]:
        with self.lock:
            return [document for topic, document in self.received if topic.endswith(suffix)]


@pytest.fixture
def probe_factory() -> Iterator[Callable[[Settings, list[str]], MqttProbe]]:
    probes: list[MqttProbe] = []

    def make(settings: Settings, subscriptions: list[str]) -> MqttProbe:
        client = make_client(settings.mqtt, f"probe-{uuid.uuid4().hex[:8]}")
        probe = MqttProbe(client)
        subscribed = threading.Event()

        def on_message(_c, _u, message: mqtt.MQTTMessage) -> None:
            with probe.lock:
                probe.received.append((message.topic, json.loads(message.payload)))

        client.on_message = on_message
        client.on_subscribe = lambda *_: subscribed.set()
        client.connect(settings.mqtt.host, settings.mqtt.port)
        client.loop_start()
        if subscriptions:
            client.subscribe([(topic, 1) for topic in subscriptions])
            assert subscribed.wait(10), "probe subscription not acknowledged"
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.client.disconnect()
        probe.client.loop_stop()


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture
def worker_factory() -> Iterator[Callable[[Settings], tuple[IngestWorker, Store]]]:
    """`worker_factory(settings)` -> a started worker and its store, stopped at teardown."""
    running: list[tuple[IngestWorker, Store]] = []

    def make(settings: Settings) -> tuple[IngestWorker, Store]:
        store = open_store(settings)
        worker = IngestWorker(settings, store, build_engine(settings))
        worker.start()
        running.append((worker, store))
        return worker, store

    yield make
    for worker, store in running:
        worker.stop()
        store.close()


# --- fault tests: own servers, counted readings, a watched status topic ---------------------------

def make_settings(broker_url: str, influx_url: str | None, database: str, data_dir,
                  **overrides: object) -> Settings:
    """Explicit settings (no VITALS_* from the shell), a unique client id unless given."""
    base: dict[str, object] = dict(
        mqtt_url=broker_url, influx_url=influx_url, influx_db=database, influx_token=None,
        influx_username=None, influx_password=None, influx_retention_policy=None,
        data_dir=data_dir, topic_prefix="vitals", stale_seconds=None, profile=None,
        ingest_client_id=f"vitals-ingest-{uuid.uuid4().hex[:8]}")
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


def hr_reading(n: int) -> dict:
    """The n-th heart rate of a stream: a distinct time each, plausible and unalarming."""
    return {"bpm": 60 + n % 30, "time": f"2026-11-28T17:{n // 6000 % 60:02d}:"
            f"{n // 100 % 60:02d}.{n % 100:02d}0000Z", "device": "ox-1"}


def publish_stream(probe: MqttProbe, session: str, numbers: range) -> None:
    for n in numbers:
        probe.publish(f"vitals/{session}/hr", hr_reading(n))


def stored_numbers(store: Store, session: str) -> list[float]:
    return [r.values["bpm"] for r in store.readings(session)]


@pytest.fixture
def ingest_factory() -> Iterator[Callable[..., tuple[IngestWorker, Store]]]:
    """`ingest_factory(settings, **worker_kwargs)` -> a started worker and its store; stopped at
    teardown unless the test stopped it."""
    running: list[tuple[IngestWorker, Store]] = []

    def make(settings: Settings, **kwargs: object) -> tuple[IngestWorker, Store]:
        store = open_store(settings)
        worker = IngestWorker(settings, store, build_engine(settings), **kwargs)  # type: ignore[arg-type]
        worker.start()
        running.append((worker, store))
        return worker, store

    yield make
    for worker, store in running:
        worker.stop(timeout=5)
        store.close()


# --- simulator scenarios: what `vitals export` says each raised -----------------------------------

@contextmanager
def scenarios_ingested(mosquitto, influxd, tmp_path_factory, scenarios: Sequence[str],
                       prefix: str, start: datetime, seed: int
                       ) -> Iterator[tuple[Settings, Store, dict[str, str]]]:
    """`scenarios` (one session each) published by the simulator as fast as the broker takes
    them, through a real ingest into a fresh InfluxDB database, until every reading is stored:
    (settings, store, {session: scenario}). The database is dropped afterwards."""
    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    settings = Settings(mqtt_url=mosquitto.url, influx_url=influxd.url, influx_db=database,
                        data_dir=tmp_path_factory.mktemp("data"),
                        ingest_client_id=f"ingest-{database}")
    store = open_store(settings)
    worker = IngestWorker(settings, store, build_engine(settings))
    worker.start()
    try:
        report = publisher.run(settings, scenarios=list(scenarios), sessions=len(scenarios),
                               speed=float("inf"), seed=seed, start=start,
                               session_prefix=prefix)
        for session, scenario in report.scenarios.items():
            expected = sum(1 for m in session_messages(scenario, session, start, seed)
                           if m.leaf in {kind.value for kind in Kind})
            wait_until(lambda s=session, n=expected: len(store.readings(s)) >= n, 90,
                       f"{expected} readings of {session}")
        assert worker.wait_idle(30)
        yield settings, store, dict(report.scenarios)
    finally:
        worker.stop()
        store.close()
        influxd.query(f'DROP DATABASE "{database}"')


def export(settings: Settings, session: str) -> dict:
    """The session as `vitals export` prints it (JSON), from the settings' store."""
    env = {"VITALS_INFLUX_URL": settings.influx_url, "VITALS_INFLUX_DB": settings.influx_db,
           "VITALS_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(main, ["export", session], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def raised(exported: dict) -> dict[Metric, set[Priority]]:
    by_metric: dict[Metric, set[Priority]] = {}
    for alert in exported["alerts"]:
        if alert["state"] == "active":
            by_metric.setdefault(Metric(alert["metric"]), set()).add(Priority(alert["priority"]))
    return by_metric


def escalated(exported: dict, metric: Metric) -> bool:
    return any(a["metric"] == metric and a["priority"] == "high" and
               a["message"].startswith("Unacknowledged") for a in exported["alerts"])


def assert_expected_alarms(name: str, exported: dict) -> None:
    """The scenario `name` raised exactly its expected alarms, at their declared priority
    (or escalated: nobody acknowledges in these tests)."""
    scenario = SCENARIOS[name]
    alarms = raised(exported)
    for metric, priority in scenario.expected_alarms:
        assert priority in alarms.get(metric, set()), (
            f"{name}: expected a {priority} {metric} alarm, got {alarms}")
    allowed = {metric for metric, _ in scenario.expected_alarms} | scenario.incidental_metrics
    assert set(alarms) <= allowed, f"{name}: unexpected alarms on {set(alarms) - allowed}"
    for metric, priorities in alarms.items():
        declared = max((p for m, p in scenario.expected_alarms if m is metric),
                       key=lambda p: p.rank, default=Priority.MEDIUM)
        worst = max(priorities, key=lambda p: p.rank)
        assert worst.rank <= declared.rank or escalated(exported, metric), (
            f"{name}: {metric} reached {worst}, declared at most {declared}")
