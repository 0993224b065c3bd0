"""The shipped Mosquitto configuration (`deploy/mosquitto/`), run for real.

The test copies `mosquitto.conf` and `acl` into a temp dir, rewrites only the paths and the port,
writes a password file with `mosquitto_passwd -b`, and starts `mosquitto` on it. The broker the
other tests use allows anonymous clients; this one must not.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from services import HOST, MosquittoServer, wait_until

from ingest.worker import IngestWorker, build_engine
from tests.ingest.conftest import make_settings
from vitals.mqtt import status_topic
from vitals.settings import MqttEndpoint
from vitals.storage import open_store

pytestmark = pytest.mark.services

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"
ACCOUNTS = {"ingest": "ingest-pw", "dashboard": "dash-pw", "simulator": "sim-pw"}


class ShippedMosquitto(MosquittoServer):
    """`mosquitto` on the shipped configuration, paths and port rewritten into a temp dir."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory)
        (directory / "data").mkdir()
        (directory / "acl").write_text((DEPLOY / "acl").read_text())
        passwd = directory / "passwd"
        passwd.touch()
        for user, password in ACCOUNTS.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
        text = (DEPLOY / "mosquitto.conf").read_text()
        text = re.sub(r"(?m)^listener 1883$", f"listener {self.port} {HOST}", text)
        text = text.replace("/mosquitto/config/", f"{directory}/")
        text = text.replace("/mosquitto/data/", f"{directory}/data/")
        text = text.replace("log_dest stdout", f"log_dest file {self.log_path}")
        if os.geteuid() == 0:  # as root mosquitto would switch to user `mosquitto`: not our files
            text += "\nuser root\n"
        self.config_path.write_text(text)


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[ShippedMosquitto]:
    server = ShippedMosquitto(tmp_path_factory.mktemp("shipped-mosquitto"))
    try:
        yield server.start()
    finally:
        server.stop()


def ingest_url(broker: MosquittoServer) -> str:
    return f"mqtt://ingest:{ACCOUNTS['ingest']}@{HOST}:{broker.port}"


class Client:
    """A connected (or refused) MQTT client that records what it receives."""

    def __init__(self, broker: MosquittoServer, user: str | None, password: str | None = None,
                 subscribe: str | None = None) -> None:
        self.answer = threading.Event()
        self.refused: str | None = None
        self.received: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311)
        if user is not None:
            self.mqtt.username_pw_set(user, password)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.mqtt.on_subscribe = lambda *_: self.subscribed.set()
        self._subscribe = subscribe
        self.mqtt.connect(HOST, broker.port)
        self.mqtt.loop_start()
        assert self.answer.wait(10), "no CONNACK"

    def _on_connect(self, client, _u, _f, reason_code, _p) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            client.disconnect()
        elif self._subscribe:
            client.subscribe(self._subscribe, qos=1)
        self.answer.set()

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.mqtt.publish(topic, payload, qos=1).wait_for_publish(10)

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.received]

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


@pytest.mark.parametrize(("user", "password"), [(None, None), ("ingest", "wrong"),
                                                ("nobody", "x")])
def test_anonymous_and_wrong_credentials_are_refused(broker, user, password) -> None:
    client = Client(broker, user, password)
    try:
        assert client.refused is not None
    finally:
        client.close()


def test_a_device_can_publish_readings_but_not_alerts_rejections_or_the_pipeline_status(
        broker) -> None:
    session = f"acl-{uuid.uuid4().hex[:8]}"
    watcher = Client(broker, "dashboard", ACCOUNTS["dashboard"], subscribe="vitals/#")
    device = Client(broker, "simulator", ACCOUNTS["simulator"])
    try:
        assert watcher.subscribed.wait(10)
        forged = [f"vitals/{session}/alert", f"vitals/{session}/rejected",
                  status_topic("vitals", "vitals-ingest"), f"vitals/other-{session}/ack"]
        for topic in forged:
            device.publish(topic, json.dumps({"state": "forged"}))
        device.publish(f"vitals/{session}/hr", json.dumps({"bpm": 70}))
        # One client's messages are delivered in order: once the reading is here, any forged
        # message the broker had let through would already be here too.
        wait_until(lambda: f"vitals/{session}/hr" in watcher.topics(), 10, "the reading")
        assert not set(forged) & set(watcher.topics())
    finally:
        watcher.close()
        device.close()


def test_two_replicas_on_the_ingest_credential_each_judge_every_session_stored_once(
        broker, tmp_path) -> None:
    sessions = [f"acl-{uuid.uuid4().hex[:8]}-{n}" for n in range(4)]
    replicas = [make_settings(ingest_url(broker), None, "vitals", tmp_path / "data",
                              ingest_client_id=f"acl-replica-{n}-{sessions[0]}")
                for n in range(2)]
    device = Client(broker, "simulator", ACCOUNTS["simulator"])
    workers, stores = [], []
    try:
        for settings in replicas:
            stores.append(open_store(settings))
            workers.append(IngestWorker(settings, stores[-1], build_engine(settings)))
            workers[-1].start()
        for session in sessions:
            device.publish(f"vitals/{session}/hr", json.dumps(
                {"bpm": 150, "time": "2026-11-28T17:05:00Z"}))
        wait_until(lambda: all(w.pipeline.counters.alerts == len(sessions) for w in workers)
                   and all(w.backlog == 0 for w in workers), 10,
                   "both replicas judged every session and stored their outputs")
        for session in sessions:
            assert len(stores[0].alerts(session)) == 1, session
    finally:
        for worker in workers:
            worker.stop(timeout=5)
        for store in stores:
            store.close()
        device.close()


def test_the_ingest_credential_works_end_to_end_and_its_outputs_reach_the_dashboard(
        broker, tmp_path) -> None:
    session = f"acl-{uuid.uuid4().hex[:8]}"
    url = ingest_url(broker)
    assert MqttEndpoint.parse(url).username == "ingest"
    settings = make_settings(url, None, "vitals", tmp_path / "data")
    store = open_store(settings)
    worker = IngestWorker(settings, store, build_engine(settings))
    watcher = Client(broker, "dashboard", ACCOUNTS["dashboard"], subscribe="vitals/#")
    device = Client(broker, "simulator", ACCOUNTS["simulator"])
    try:
        assert watcher.subscribed.wait(10)
        worker.start()
        device.publish(f"vitals/{session}/hr", json.dumps({"bpm": 150}))  # alarms at once
        device.publish(f"vitals/{session}/spo2", json.dumps({"spo2": "high"}))  # refused
        wait_until(lambda: {f"vitals/{session}/alert", f"vitals/{session}/rejected"}
                   <= set(watcher.topics()), 10, "the ingest's alert and rejection")
        wait_until(lambda: status_topic("vitals", settings.ingest_client_id)
                   in watcher.topics(), 10, "the ingest's status")
        assert [r.values["bpm"] for r in store.readings(session)] == [150.0]
    finally:
        worker.stop(timeout=5)
        store.close()
        watcher.close()
        device.close()


def test_an_ingest_with_a_wrong_password_fails_at_start_naming_the_setting(broker,
                                                                           tmp_path) -> None:
    from vitals.errors import BrokerUnavailable

    settings = make_settings(f"mqtt://ingest:wrong@{HOST}:{broker.port}", None, "vitals",
                             tmp_path / "data")
    store = open_store(settings)
    worker = IngestWorker(settings, store, build_engine(settings))
    try:
        with pytest.raises(BrokerUnavailable, match="VITALS_MQTT_URL"):
            worker.start(connect_timeout=10)
    finally:
        store.close()

