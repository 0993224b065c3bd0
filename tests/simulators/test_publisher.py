"""The publisher against a real Mosquitto: every message arrives exactly once, paced, stoppable."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from services import free_port

from simulators.publisher import PublishError, plan, run, session_ids
from simulators.timeline import SimMessage
from vitals.parser import parse
from vitals.settings import Settings

pytestmark = pytest.mark.services

START = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
WAIT = 30.0  # seconds: generous upper bound for a condition, never a sleep


@dataclass
class Subscriber:
    """A paho client collecting every message under one topic prefix."""

    client: mqtt.Client
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = WAIT) -> list[tuple[str, dict[str, Any]]]:
        with self.condition:
            self.condition.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


@pytest.fixture
def settings(mosquitto: Any, tmp_path: Path) -> Settings:
    # A topic prefix of its own, so no other test's subscriber sees these messages.
    return Settings(mqtt_url=mosquitto.url, data_dir=tmp_path,
                    topic_prefix=f"sim{uuid.uuid4().hex[:10]}")


@pytest.fixture
def subscriber(mosquitto: Any, settings: Settings) -> Iterator[Subscriber]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"test-sub-{uuid.uuid4().hex[:8]}")
    sub = Subscriber(client)
    subscribed = threading.Event()

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with sub.condition:
            sub.received.append((message.topic, json.loads(message.payload)))
            sub.condition.notify_all()

    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_connect = lambda c, *_args: c.subscribe(f"{settings.topic_prefix}/#", qos=1)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        assert subscribed.wait(WAIT), "the test subscriber never got its SUBACK"
        yield sub
    finally:
        client.disconnect()
        client.loop_stop()


def expected_messages(settings: Settings, scenarios: list[str], sessions: int, seed: int,
                      **options: Any) -> list[tuple[str, dict[str, Any]]]:
    _, messages = plan(scenarios, sessions, seed, START, **options)
    return [(f"{settings.topic_prefix}/{m.session}/{m.leaf}", m.payload) for m in messages]


def test_three_concurrent_sessions_arrive_exactly_and_completely(
    settings: Settings, subscriber: Subscriber
) -> None:
    scenarios = ["normal", "hypertensive-spike", "device-dropout"]
    report = run(settings, scenarios=scenarios, sessions=3, speed=float("inf"), seed=11,
                 start=START)

    expected = expected_messages(settings, scenarios, 3, 11)
    received = subscriber.wait_for(len(expected))
    assert report.sessions == ("sim-01-normal", "sim-02-hypertensive-spike",
                               "sim-03-device-dropout")
    assert report.total == report.planned == len(expected)
    assert not report.stopped
    for session in report.sessions:
        want = [m for m in expected if m[0].split("/")[1] == session]
        assert report.published[session] == len(want)
        # MQTT keeps one publisher's QoS 1 order per topic, hence per session and leaf.
        assert [m for m in received if m[0].split("/")[1] == session] == want
    assert len(received) == len(expected)


def test_pacing_compresses_session_time_by_speed_and_keeps_simulated_times(
    settings: Settings, subscriber: Subscriber
) -> None:
    # 3 minutes of session time at speed 360 take at least half a second of wall time.
    options = {"dose_after": timedelta(minutes=1), "session_length": timedelta(minutes=2),
               "stream_interval": timedelta(seconds=10)}
    began = time.monotonic()
    report = run(settings, scenarios=["normal"], sessions=1, speed=360, seed=2, start=START,
                 **options)
    elapsed = time.monotonic() - began

    expected = expected_messages(settings, ["normal"], 1, 2, **options)
    assert elapsed >= 0.5
    assert subscriber.wait_for(len(expected)) == expected
    assert report.total == len(expected)


def test_setting_stop_ends_the_run_promptly_with_every_sent_message_acknowledged(
    settings: Settings, subscriber: Subscriber
) -> None:
    stop = threading.Event()
    sent: list[SimMessage] = []

    def after_each(message: SimMessage) -> None:
        sent.append(message)
        if len(sent) == 3:
            stop.set()

    began = time.monotonic()
    # At speed 1 the whole session would take over two hours of wall time.
    report = run(settings, scenarios=["normal"], sessions=1, speed=1.0, seed=3, stop=stop,
                 on_published=after_each)

    assert time.monotonic() - began < 10
    assert report.stopped
    assert report.total == len(sent) == 3
    assert len(subscriber.wait_for(3)) == 3


def test_an_unreachable_broker_raises_an_error_naming_its_url(tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    settings = Settings(mqtt_url=url, data_dir=tmp_path)
    with pytest.raises(PublishError, match=url.replace(".", r"\.")):
        run(settings, scenarios=["normal"], sessions=1, speed=float("inf"), seed=0)


def test_session_ids_cycle_through_the_scenarios() -> None:
    assert session_ids(["normal", "tachycardia"], 3, "clinic") == [
        "clinic-01-normal", "clinic-02-tachycardia", "clinic-03-normal"]


def test_each_simulated_session_starts_with_its_own_room_and_chair_label() -> None:
    _, messages = plan(["normal"], 3, 0, START)
    starts = [parse(f"vitals/{m.session}/session", json.dumps(m.payload).encode(), m.time)
              for m in messages if m.leaf == "session" and m.payload["event"] == "start"]

    assert [s.label for s in starts] == [  # type: ignore[union-attr]
        "Room 1 · chair A", "Room 1 · chair B", "Room 2 · chair A"]


def test_an_unknown_scenario_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        plan(["nope"], 1, 0, START)


def test_no_message_is_lost_when_the_broker_restarts_mid_run(
    mosquitto_factory: Any, tmp_path: Path
) -> None:
    broker = mosquitto_factory()
    settings = Settings(mqtt_url=broker.url, data_dir=tmp_path, topic_prefix="simrestart")
    received: set[tuple[str, str]] = set()
    condition = threading.Condition()
    subscribed = threading.Event()
    # A persistent subscriber: the broker keeps its QoS 1 messages across the restart.
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-sub-restart",
                      clean_session=False)

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with condition:
            received.add((message.topic, message.payload.decode()))
            condition.notify_all()

    sub.on_message = on_message
    sub.on_subscribe = lambda *_args: subscribed.set()
    sub.on_connect = lambda c, *_args: c.subscribe("simrestart/#", qos=1)
    sub.reconnect_delay_set(1, 1)
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    options = {"session_length": timedelta(minutes=20), "stream_interval": timedelta(seconds=5)}
    sent: list[SimMessage] = []

    def restart_after_100(message: SimMessage) -> None:
        sent.append(message)
        if len(sent) == 100:
            broker.restart()

    try:
        assert subscribed.wait(WAIT)
        report = run(settings, scenarios=["normal"], sessions=1, speed=600, seed=4,
                     start=START, on_published=restart_after_100, **options)
        _, messages = plan(["normal"], 1, 4, START, **options)
        expected = {(f"simrestart/{m.session}/{m.leaf}",
                     json.dumps(m.payload, separators=(",", ":"))) for m in messages}
        with condition:
            condition.wait_for(lambda: len(received) >= len(expected), WAIT)
            assert received == expected
        assert report.total == report.planned == len(messages)
    finally:
        sub.disconnect()
        sub.loop_stop()
