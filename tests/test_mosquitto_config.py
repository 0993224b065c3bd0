"""The shipped Mosquitto configuration (`deploy/mosquitto/`), run for real.

The test copies `mosquitto.conf` and `acl` into a temp dir, rewrites only the paths and the port,
writes a password file with `mosquitto_passwd -b`, and starts `mosquitto` on it. The broker the
other tests use allows anonymous clients; this one must not.

A publish the ACL denies is acknowledged and dropped silently, so every account publishes every
topic its role's code publishes, and each must reach a subscriber with the `ingest` account
(what the ingest would see); and no account may publish a topic only another role publishes.
The device accounts are the sample blocks of the ACL, as docs/operations.md tells users to add.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from services import HOST, MosquittoServer, free_port, make_certs, wait_until

from bridges.ble import FORWARDED, gatt_topic
from dashboard.commands import COMMAND_LEAVES, Commands
from ingest.service import build_engine
from ingest.worker import IngestWorker
from notify.worker import NOTIFY_LEAVES
from simulators import publisher
from simulators.timeline import TOPIC_LEAVES
from tests.ingest.conftest import make_settings
from vitals import gatt
from vitals.alerts import AlertState, Metric, Priority
from vitals.mqtt import (
    NOTIFY_LEVEL,
    alert_topic,
    make_client,
    reading_topic,
    rejected_topic,
    status_topic,
)
from vitals.readings import SESSION_LEAF, ObservationKind, SessionEventType, Severity
from vitals.settings import MqttEndpoint, Settings
from vitals.storage import open_store
from vitals.vital_signs import Kind

pytestmark = pytest.mark.services

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"
PREFIX = "vitals"
SESSION = "acl-s1"  # every topic below names it; each publish carries a payload of its own
START_OF_DEMO = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


def sample_device_blocks(acl: str) -> dict[str, list[str]]:
    """The commented device blocks of the shipped ACL: account name -> its `topic` lines."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in acl.splitlines():
        if user := re.fullmatch(r"# user (\S+)", line):
            current = blocks.setdefault(user.group(1), [])
        elif current is not None and re.fullmatch(r"# (topic|pattern) .+", line):
            current.append(line.removeprefix("# "))
        else:
            current = None
    return blocks


SAMPLE_DEVICES = sample_device_blocks((DEPLOY / "acl").read_text())

# What each account's code publishes. Devices are not ours: a cuff and an oximeter send what the
# contract (docs/mqtt.md) gives their kind; the bridge what `vitals bridge ble` sends.
PUBLISHES: dict[str, list[str]] = {
    "ingest": [alert_topic(PREFIX, SESSION), rejected_topic(PREFIX, SESSION),
               rejected_topic(PREFIX, None), status_topic(PREFIX, "vitals-ingest-1")],
    "dashboard": [reading_topic(PREFIX, SESSION, leaf) for leaf in COMMAND_LEAVES],
    "simulator": [reading_topic(PREFIX, SESSION, leaf) for leaf in TOPIC_LEAVES],
    "notify": [status_topic(PREFIX, "vitals-notify", NOTIFY_LEVEL),
               *[reading_topic(PREFIX, SESSION, leaf) for leaf in NOTIFY_LEAVES]],
    "health": [],
    # Each also on its own topics, which end in its account name (the ACL's `pattern` lines):
    # no account can publish under another's name (REFUSED below: e.g. the bridge may write
    # gatt/2a35 but not gatt/2a35/cuff-1).
    "cuff-1": [reading_topic(PREFIX, SESSION, Kind.BP),
               gatt_topic(PREFIX, SESSION, gatt.BLOOD_PRESSURE),
               f"{reading_topic(PREFIX, SESSION, Kind.BP)}/cuff-1",
               f"{gatt_topic(PREFIX, SESSION, gatt.BLOOD_PRESSURE)}/cuff-1"],
    "oximeter-1": [reading_topic(PREFIX, SESSION, Kind.HR),
                   reading_topic(PREFIX, SESSION, Kind.SPO2),
                   gatt_topic(PREFIX, SESSION, gatt.PLX_SPOT_CHECK),
                   gatt_topic(PREFIX, SESSION, gatt.PLX_CONTINUOUS),
                   f"{reading_topic(PREFIX, SESSION, Kind.HR)}/oximeter-1",
                   f"{reading_topic(PREFIX, SESSION, Kind.SPO2)}/oximeter-1",
                   f"{gatt_topic(PREFIX, SESSION, gatt.PLX_SPOT_CHECK)}/oximeter-1",
                   f"{gatt_topic(PREFIX, SESSION, gatt.PLX_CONTINUOUS)}/oximeter-1"],
    "ble-bridge-1": [gatt_topic(PREFIX, SESSION, uuid16) for uuid16 in sorted(FORWARDED)],
}
ACCOUNTS = {user: f"{user}-pw" for user in PUBLISHES}
EVERY_TOPIC = sorted({topic for topics in PUBLISHES.values() for topic in topics})
ALLOWED = [(user, topic) for user, topics in PUBLISHES.items() for topic in topics]
REFUSED = [(user, topic) for user, topics in PUBLISHES.items() for topic in EVERY_TOPIC
           if topic not in topics]


class ShippedMosquitto(MosquittoServer):
    """`mosquitto` on the shipped configuration, paths and port rewritten into a temp dir, with
    the ACL's sample device blocks added as the docs say (uncommented)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory)
        (directory / "data").mkdir()
        devices = [f"user {user}\n" + "".join(f"{line}\n" for line in lines)
                   for user, lines in SAMPLE_DEVICES.items()]
        (directory / "acl").write_text("\n".join([(DEPLOY / "acl").read_text(), *devices]))
        passwd = directory / "passwd"
        passwd.touch()
        for user, password in ACCOUNTS.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
        text = (DEPLOY / "mosquitto.conf").read_text()
        text = re.sub(r"(?m)^listener 1883$", f"listener {self.port} {HOST}", text)
        # The TLS listener, on a certificate of a throwaway CA (made as mosquitto-init does).
        self.tls_port = free_port()
        make_certs(directory / "certs")
        text = re.sub(r"(?m)^listener 8883$", f"listener {self.tls_port} {HOST}", text)
        text = text.replace("/mosquitto/config/", f"{directory}/")
        text = text.replace("/mosquitto/data/", f"{directory}/data/")
        text = text.replace("log_dest stdout", f"log_dest file {self.log_path}")
        if os.geteuid() == 0:  # as root mosquitto would switch to user `mosquitto`: not our files
            text += "\nuser root\n"
        self.config_path.write_text(text)


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[ShippedMosquitto]:
    with ShippedMosquitto(tmp_path_factory.mktemp("shipped-mosquitto")) as server:
        yield server


def url(broker: MosquittoServer, user: str) -> str:
    return f"mqtt://{user}:{ACCOUNTS[user]}@{HOST}:{broker.port}"


def ingest_url(broker: MosquittoServer) -> str:
    return url(broker, "ingest")


class Client:
    """A connected (or refused) MQTT client that records what it receives."""

    def __init__(self, broker: MosquittoServer, user: str | None, password: str | None = None,
                 subscribe: str | None = None) -> None:
        self.answer = threading.Event()
        self.refused: str | None = None
        self.received: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.disconnected = threading.Event()
        self.mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311)
        if user is not None:
            self.mqtt.username_pw_set(user, password)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.mqtt.on_subscribe = lambda *_: self.subscribed.set()
        self.mqtt.on_disconnect = lambda *_: self.disconnected.set()
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


@pytest.fixture(scope="module")
def watcher(broker) -> Iterator[Client]:
    """What the ingest sees: the `ingest` account subscribed to everything under the prefix."""
    client = Client(broker, "ingest", ACCOUNTS["ingest"], subscribe=f"{PREFIX}/#")
    try:
        assert client.subscribed.wait(10)
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def accounts(broker) -> Iterator[dict[str, Client]]:
    """One connected publisher per account, for the whole module."""
    clients = {user: Client(broker, user, password) for user, password in ACCOUNTS.items()}
    try:
        assert not [user for user, c in clients.items() if c.refused], "an account was refused"
        yield clients
    finally:
        for client in clients.values():
            client.close()


def seen_after_marker(watcher: Client, topic: str, payload: str) -> bool:
    """Whether `payload` on `topic`, just acknowledged to its publisher, reached the watcher.

    Mosquitto routes a QoS 1 publish to its subscribers before it acknowledges it, and delivers
    to one subscriber in order: a marker the watcher publishes afterwards arrives after anything
    the refused publish could have become.
    """
    marker = uuid.uuid4().hex
    watcher.publish(alert_topic(PREFIX, "acl-marker"), marker)
    wait_until(lambda: (alert_topic(PREFIX, "acl-marker"), marker.encode()) in watcher.received,
               10, "the marker")
    return (topic, payload.encode()) in watcher.received


def test_the_acl_ships_a_sample_block_for_each_kind_of_device() -> None:
    assert set(SAMPLE_DEVICES) == {"cuff-1", "oximeter-1", "capnograph-1", "ble-bridge-1"}
    assert all(SAMPLE_DEVICES.values())


@pytest.mark.parametrize(("user", "topic"), ALLOWED)
def test_each_account_can_publish_every_topic_its_code_publishes(
        accounts, watcher, user, topic) -> None:
    payload = json.dumps({"probe": uuid.uuid4().hex})
    accounts[user].publish(topic, payload)
    wait_until(lambda: (topic, payload.encode()) in watcher.received, 10,
               f"{user}'s publish on {topic}")


@pytest.mark.parametrize(("user", "topic"), REFUSED)
def test_no_account_can_publish_a_topic_only_another_role_publishes(
        accounts, watcher, user, topic) -> None:
    payload = json.dumps({"forged": uuid.uuid4().hex})
    accounts[user].publish(topic, payload)
    assert not seen_after_marker(watcher, topic, payload), f"{user} published on {topic}"


@pytest.mark.parametrize(("user", "password"), [(None, None), ("ingest", "wrong"),
                                                ("nobody", "x")])
def test_anonymous_and_wrong_credentials_are_refused(broker, user, password) -> None:
    client = Client(broker, user, password)
    try:
        assert client.refused is not None
    finally:
        client.close()


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


def test_an_observation_the_dashboard_records_reaches_the_ingest_and_raises_its_alarm(
        broker, tmp_path) -> None:
    session = f"acl-{uuid.uuid4().hex[:8]}"
    settings = make_settings(ingest_url(broker), None, "vitals", tmp_path / "data")
    store = open_store(settings)
    worker = IngestWorker(settings, store, build_engine(settings))
    commands = Commands(make_settings(url(broker, "dashboard"), None, "vitals",
                                      tmp_path / "dashboard"))
    try:
        worker.start()
        commands.observation(session, ObservationKind.RESPIRATORY_DEPRESSION, Severity.MODERATE,
                             by="nurse-a", note="shallow, slow breathing")
        wait_until(lambda: [(a.metric, a.priority, a.state) for a in store.alerts(session)]
                   == [(Metric.OBSERVATION, Priority.HIGH, AlertState.ACTIVE)], 10,
                   "the high observation alarm")
    finally:
        commands.close()
        worker.stop(timeout=5)
        store.close()


def test_vitals_simulate_with_the_simulator_account_delivers_every_message(
        broker, watcher, tmp_path) -> None:
    prefix = f"acl{uuid.uuid4().hex[:6]}"
    report = publisher.run(
        make_settings(url(broker, "simulator"), None, "vitals", tmp_path / "data"),
        # Between them, the two publish on every leaf (observations; respiratory rate).
        scenarios=["respiratory-depression", "slow-breathing"], sessions=2, speed=float("inf"),
        seed=0,
        session_prefix=prefix, session_length=timedelta(minutes=30),
        stream_interval=timedelta(seconds=30))
    sessions = set(report.sessions)
    # The broker acknowledges what its ACL drops too: count what the ingest account receives.
    wait_until(lambda: sum(t.split("/")[1] in sessions for t in watcher.topics())
               == report.planned, 10, "every message of the simulated sessions")
    leaves = {t.split("/")[2] for t in watcher.topics() if t.split("/")[1] in sessions}
    assert leaves == set(TOPIC_LEAVES)


def conf_value(key: str) -> int:
    [value] = re.findall(rf"(?m)^{key} (\d+)$", (DEPLOY / "mosquitto.conf").read_text())
    return int(value)


def publish_packet_bytes(topic: str, payload: bytes) -> int:
    """The size of a QoS 1 PUBLISH: fixed header, remaining length, topic, packet id, payload."""
    remaining = 2 + len(topic.encode()) + 2 + len(payload)
    length_bytes = 1 + (remaining >= 128) + (remaining >= 16_384) + (remaining >= 2_097_152)
    return 1 + length_bytes + remaining


def payload_for_packet(topic: str, size: int) -> bytes:
    """A payload that makes the QoS 1 PUBLISH on `topic` exactly `size` bytes."""
    payload = b"x" * (size - publish_packet_bytes(topic, b""))
    while publish_packet_bytes(topic, payload) > size:  # the length field grew by a byte
        payload = payload[:-1]
    assert publish_packet_bytes(topic, payload) == size
    return payload


# Mosquitto 2.0.11 compares the packet without its fixed header (1 byte and a length of 1 to 4)
# with the limit: a whole packet of the limit passes and 5 bytes more are too many, either way.
@pytest.mark.parametrize(("extra_bytes", "delivered"), [(0, True), (5, False)])
def test_a_publish_larger_than_max_packet_size_is_refused_and_its_sender_disconnected(
        broker, watcher, extra_bytes, delivered) -> None:
    topic = reading_topic(PREFIX, f"acl-{uuid.uuid4().hex[:8]}", Kind.BP)
    payload = payload_for_packet(topic, conf_value("max_packet_size") + extra_bytes)
    device = Client(broker, "cuff-1", ACCOUNTS["cuff-1"])
    try:
        device.mqtt.publish(topic, payload, qos=1)
        if delivered:
            wait_until(lambda: (topic, payload) in watcher.received, 10, "the largest packet")
        else:
            assert device.disconnected.wait(10), "the broker kept the sender of an oversized packet"
            assert not seen_after_marker(watcher, topic, payload.decode())
    finally:
        device.close()
    # ... and the account's normal readings still pass.
    reading = json.dumps({"systolic": 120, "diastolic": 80, "probe": uuid.uuid4().hex})
    device = Client(broker, "cuff-1", ACCOUNTS["cuff-1"])
    try:
        device.publish(topic, reading)
        wait_until(lambda: (topic, reading.encode()) in watcher.received, 10, "a reading")
    finally:
        device.close()


def test_max_queued_bytes_holds_max_queued_messages_of_readings() -> None:
    # The message count stays the limit an outage meets first; the bytes bound large messages.
    _, messages = publisher.plan(["normal", "cuff-error"], 2, 0, START_OF_DEMO)
    largest = max(len(reading_topic(PREFIX, m.session, m.leaf)) + len(json.dumps(m.payload))
                  for m in messages if m.leaf in {kind.value for kind in Kind})
    assert largest * conf_value("max_queued_messages") <= conf_value("max_queued_bytes")
    assert conf_value("max_queued_bytes") > 0


def test_the_largest_note_the_dashboard_publishes_fits_max_packet_size(
        broker, watcher, tmp_path) -> None:
    session = f"acl-{uuid.uuid4().hex[:8]}"
    commands = Commands(make_settings(url(broker, "dashboard"), None, "vitals",
                                      tmp_path / "dashboard"))
    try:  # JSON-escaped, a character outside the BMP takes 12 bytes
        commands.session_event(session, SessionEventType.NOTE, "x" * 64, "\U0001F600" * 600)
        topic = reading_topic(PREFIX, session, SESSION_LEAF)
        wait_until(lambda: topic in watcher.topics(), 10, "the note")
        [payload] = [p for t, p in watcher.received if t == topic]
        assert publish_packet_bytes(topic, payload) > 6_000  # the note was not cut short
    finally:
        commands.close()


def test_the_largest_rejection_the_ingest_publishes_fits_max_packet_size(
        broker, watcher, tmp_path) -> None:
    # Hostile input at the limit: a topic as long as fits, in 3-byte characters, naming no valid
    # session, and a payload of control characters (each JSON-escaped to 6 bytes).
    topic = f"{PREFIX}/{'€' * 400}/hr"
    payload = b"\x01" * (conf_value("max_packet_size") - publish_packet_bytes(topic, b"") - 8)
    settings = make_settings(ingest_url(broker), None, "vitals", tmp_path / "data")
    store = open_store(settings)
    worker = IngestWorker(settings, store, build_engine(settings))
    device = Client(broker, "simulator", ACCOUNTS["simulator"])
    rejected = rejected_topic(PREFIX, None)
    before = watcher.topics().count(rejected)
    try:
        worker.start()
        device.publish(topic, payload)
        wait_until(lambda: watcher.topics().count(rejected) > before, 10, "the rejection")
        size = max(publish_packet_bytes(rejected, p) for t, p in watcher.received
                   if t == rejected)
        assert size <= conf_value("max_packet_size") // 2, size  # a margin for longer reasons
    finally:
        worker.stop(timeout=5)
        store.close()
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



def test_the_notifier_account_reads_alert_events_and_its_failed_delivery_alarms_the_session(
        broker, watcher, tmp_path) -> None:
    from services import free_port

    from notify.roster import parse_roster
    from notify.worker import Notifier
    from vitals.alerts import AlertEvent
    from vitals.timefmt import utcnow

    session = f"acl-{uuid.uuid4().hex[:8]}"
    settings = make_settings(url(broker, "notify"), None, "vitals", tmp_path / "data",
                             notify_client_id=f"notify-{session}")
    notifier = Notifier(settings, parse_roster(  # nothing listens on that port: it fails
        f'[[person]]\nname = "A"\nrole = "monitor"\nurls = ["json://{HOST}:{free_port()}/x"]'))
    ingest_settings = make_settings(ingest_url(broker), None, "vitals", tmp_path / "ingest")
    store = open_store(ingest_settings)
    worker = IngestWorker(ingest_settings, store, build_engine(ingest_settings))
    ingest = Client(broker, "ingest", ACCOUNTS["ingest"])
    try:
        worker.start()
        notifier.start()
        wait_until(lambda: status_topic(PREFIX, settings.notify_client_id, NOTIFY_LEVEL)
                   in watcher.topics(), 10, "the notifier's status")
        event = AlertEvent(utcnow(), session, Metric.HEART_RATE, Priority.HIGH,
                           AlertState.ACTIVE, "HR 150", "heart_rate.high")
        ingest.publish(alert_topic(PREFIX, session), json.dumps(event.to_json()))
        wait_until(lambda: notifier.ledger.deliveries(session), 10, "the alert, to the notifier")
        # Its delivery report passed the ACL, and the ingest made the failure an alarm.
        wait_until(lambda: any(a.rule.startswith("data.notify_failed.")
                               for a in store.alerts(session)), 10,
                   "the technical alarm of the failed delivery")
        [alarm] = [a for a in store.alerts(session) if a.metric is Metric.DATA]
        assert alarm.message.startswith("Could not notify A by json: ")
    finally:
        notifier.stop()
        worker.stop(timeout=5)
        store.close()
        ingest.close()


def tls_settings(broker: ShippedMosquitto, ca_file: Path | None) -> Settings:
    return Settings(mqtt_url=f"mqtts://dashboard:{ACCOUNTS['dashboard']}@{HOST}:{broker.tls_port}",
                    mqtt_ca_file=ca_file, influx_url=None, profile=None, stale_seconds=None)


def test_the_tls_listener_takes_mqtts_with_the_ca_file_setting(broker, watcher) -> None:
    settings = tls_settings(broker, broker.directory / "certs" / "ca.crt")
    connected = threading.Event()
    client = make_client(settings.mqtt, f"t-tls-{uuid.uuid4().hex[:8]}")

    def on_connect(_c, _u, _f, code, _p) -> None:
        if not code.is_failure:
            connected.set()

    client.on_connect = on_connect
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    try:
        assert connected.wait(10), "no CONNACK over TLS"
        topic = reading_topic(PREFIX, f"tls-{uuid.uuid4().hex[:6]}", sorted(COMMAND_LEAVES)[0])
        client.publish(topic, '{"event": "checkin"}', qos=1).wait_for_publish(10)
        wait_until(lambda: topic in watcher.topics(), 10, "the message sent over TLS")
    finally:
        client.disconnect()
        client.loop_stop()


def test_mqtts_without_the_ca_file_refuses_the_private_certificate(broker) -> None:
    settings = tls_settings(broker, None)  # the system's CAs: they never signed the test CA
    client = make_client(settings.mqtt, f"t-tls-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect(settings.mqtt.host, settings.mqtt.port)
