"""The notifier for real: Mosquitto, Apprise json:// to a loopback HTTP server, e-mail to a
loopback aiosmtpd server, two `vitals notify` processes sharing one ledger."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from services import HOST, free_port, wait_until

from notify.roster import Role, Roster
from notify.worker import Notifier, ledger_path
from tests.notify.rosters import on_call, person, roster_toml
from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.mqtt import NOTIFY_LEVEL, alert_topic, make_client, status_topic
from vitals.readings import Reading
from vitals.settings import Settings
from vitals.storage.base import Batch
from vitals.storage.sqlite import SqliteStore
from vitals.timefmt import utcnow
from vitals.vital_signs import Kind

pytestmark = pytest.mark.services


class Webhook:
    """A loopback HTTP server recording the JSON bodies Apprise's json:// posts to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, json.loads(body), time.time()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"json://{HOST}:{self.server.server_port}/{path}"

    def to(self, path: str) -> list[dict]:
        return [body for p, body, _at in list(self.received) if p == f"/{path}"]

    def first_at(self, path: str) -> float:
        """When the first post to `path` arrived (wall clock, seconds)."""
        return min(at for p, _body, at in list(self.received) if p == f"/{path}")


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, _server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname=HOST, port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def roster_for(webhook: Webhook, smtp_port: int | None = None, high: float = 1.5) -> Roster:
    """Nurse A (monitor) and Dr X (clinician, also by e-mail through `smtp_port` if given)."""
    mail = ((f"mailto://{HOST}:{smtp_port}?from=vitals@example.org&to=drx@example.org"
             "&mode=insecure"),) if smtp_port else ()
    return on_call(person("Nurse A", Role.MONITOR, webhook.url("nurse")),
                   person("Dr X", Role.CLINICIAN, webhook.url("doctor"), *mail), high=high)


class Alerts:
    """Publishes alert events as the ingest does (its replicas: `copies` times each)."""

    def __init__(self, settings: Settings) -> None:
        self.client = make_client(settings.mqtt)
        self.client.connect(settings.mqtt.host, settings.mqtt.port)
        self.client.loop_start()
        self.prefix = settings.topic_prefix

    def publish(self, event: AlertEvent, copies: int = 1) -> None:
        for _ in range(copies):
            self.client.publish(alert_topic(self.prefix, event.session),
                                json.dumps(event.to_json()), qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def crisis(session: str) -> AlertEvent:
    return AlertEvent(utcnow(), session, Metric.SYSTOLIC, Priority.HIGH, AlertState.ACTIVE,
                      "Systolic 186 mmHg: hypertensive crisis", "systolic.crisis", 186.0, 180.0)


@pytest.fixture
def store(tmp_path) -> Iterator[SqliteStore]:
    """The record the notifier audits its deliveries into (the ingest's store)."""
    record = SqliteStore(tmp_path / "vitals.sqlite3")
    yield record
    record.close()


def store_as_the_ingest_does(store: SqliteStore, alert: AlertEvent) -> None:
    """`alert` and the crisis reading that raised it, written as the ingest writes them."""
    reading = Reading(alert.session, Kind.BP, alert.time, {"systolic": 186.0, "diastolic": 96.0})
    store.write(Batch(readings=[reading], alerts=[alert]))


@pytest.fixture
def settings(mosquitto, tmp_path) -> Settings:
    """A notifier of its own (client id) on the session broker, its data in tmp_path/data."""
    return settings_for(mosquitto, tmp_path)


def settings_for(mosquitto, tmp_path: Path, **extra) -> Settings:
    return Settings(mqtt_url=mosquitto.url, data_dir=tmp_path / "data",
                    notify_client_id=f"notify-{uuid.uuid4().hex[:8]}", **extra)


def test_crisis_escalates_until_acknowledged_then_all_clear(
        mosquitto, tmp_path, store, session_id, webhook, smtp) -> None:
    inbox, smtp_port = smtp
    settings = settings_for(mosquitto, tmp_path, dashboard_url="https://vitals.example.org")
    notifier = Notifier(settings, roster_for(webhook, smtp_port), store)
    alerts = Alerts(settings)
    try:
        notifier.start()
        active = crisis(session_id)
        alerts.publish(active, copies=2)  # two ingest replicas
        wait_until(lambda: webhook.to("nurse"), 2, "the monitor notified within 2 s")
        wait_until(lambda: webhook.to("doctor") and inbox.messages, 5,
                   "the clinician notified by webhook and e-mail after the delay")
        # Not before the delay (1.5 s from the alarm), however slow the machine is.
        assert webhook.first_at("doctor") >= active.time.timestamp() + 1.5
        [nurse] = webhook.to("nurse")  # the replicas' copies were collapsed
        assert "hypertensive crisis" in nurse["message"]
        assert (f"https://vitals.example.org/session/{session_id}?alarm=systolic"
                in nurse["message"])
        assert inbox.messages[0][0] == ["drx@example.org"]
        assert notifier.next_due() is not None  # repeating to the clinician until acknowledged
        alerts.publish(AlertEvent(active.time + timedelta(seconds=3), session_id, active.metric,
                                  active.priority, AlertState.ACKNOWLEDGED, active.message,
                                  active.rule, by="nurse-a"))
        # Once the notifier has taken the acknowledgement nothing escalates; a repeat that fell
        # due before it arrived was still owed.
        wait_until(lambda: notifier.next_due() is None, 5, "the escalation stopped by the ack")
        doctor_count = len(webhook.to("doctor"))
        alerts.publish(AlertEvent(active.time + timedelta(seconds=4), session_id, active.metric,
                                  active.priority, AlertState.CLEARED, "Systolic back in range",
                                  active.rule))
        wait_until(lambda: any("All clear" in m["title"] for m in webhook.to("nurse")), 5,
                   "all clear to the monitor")
        wait_until(lambda: any("All clear" in m["title"] for m in webhook.to("doctor")), 5,
                   "all clear to the clinician")
        # Nothing after the acknowledgement but the all clear.
        assert len(webhook.to("doctor")) <= doctor_count + 1
        records = notifier.ledger.deliveries(session_id)
        assert {(r.person, r.channel) for r in records} >= {
            ("Nurse A", "json"), ("Dr X", "json"), ("Dr X", "mailto")}
        assert all(r.delivered for r in records)
        stored = store.notifications(session_id)  # the audit in the record, as the ledger has it
        assert [(r.person, r.channel, r.kind, r.delivered) for r in stored] == [
            (r.person, r.channel, r.kind, r.delivered) for r in records]
    finally:
        alerts.close()
        notifier.stop()


def test_a_failed_delivery_is_recorded_with_its_error(settings, session_id, webhook) -> None:
    closed = free_port()
    roster = on_call(person("Dr Y", Role.MONITOR, f"json://{HOST}:{closed}/nobody",
                            webhook.url("ok")))
    notifier = Notifier(settings, roster)
    alerts = Alerts(settings)
    try:
        notifier.start()
        alerts.publish(crisis(session_id))
        wait_until(lambda: len(notifier.ledger.deliveries(session_id)) == 2, 10, "both channels")
        failed, delivered = sorted(notifier.ledger.deliveries(session_id),
                                   key=lambda r: r.delivered)
        assert (failed.person, failed.delivered) == ("Dr Y", False)
        assert failed.error
        assert delivered.delivered and webhook.to("ok")
    finally:
        alerts.close()
        notifier.stop()


def retained_status(settings: Settings) -> dict:
    """The notifier's retained status document as a newly subscribing client gets it."""
    received: list[dict] = []
    client = make_client(settings.mqtt)
    client.on_message = lambda _c, _u, m: received.append(json.loads(m.payload))
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    try:
        client.subscribe(status_topic(settings.topic_prefix, settings.notify_client_id,
                                      NOTIFY_LEVEL), qos=1)
        wait_until(lambda: received, 5, "the retained status")
        return received[-1]
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_notification_that_fails_to_go_out_never_stops_the_next(
        settings, session_id, webhook, monkeypatch, caplog) -> None:
    """The notifier has one thread: a failure it did not foresee in one delivery (here the
    shared ledger locked by a replica at the first claim, injected) must not end it, or no
    later alarm would reach anybody."""
    notifier = Notifier(settings, roster_for(webhook))
    claim, faults = notifier.ledger.claim, [sqlite3.OperationalError("database is locked")]

    def claim_failing_once(*args, **kwargs):
        if faults:
            raise faults.pop()
        return claim(*args, **kwargs)

    monkeypatch.setattr(notifier.ledger, "claim", claim_failing_once)
    alerts = Alerts(settings)
    try:
        notifier.start()
        with caplog.at_level(logging.ERROR, logger="notify.worker"):
            alerts.publish(crisis(session_id))
            wait_until(lambda: webhook.to("doctor"), 10, "the clinician, after the failed claim")
        assert not webhook.to("nurse")  # the one whose claim failed
        assert f"could not notify Nurse A of {session_id}'s systolic alarm" in caplog.text
        # On the banner, as a failed delivery is (its retained status's `failures`).
        failure = "could not notify Nurse A by the notifier: OperationalError: database is locked"
        wait_until(lambda: failure in retained_status(settings).get("failures", []), 10,
                   "the failure in the notifier's status")
    finally:
        alerts.close()
        notifier.stop()


def test_a_restarted_notifier_keeps_escalating_and_tells_nobody_twice(
        settings, store, session_id, webhook) -> None:
    roster = roster_for(webhook, high=4.0)
    alerts = Alerts(settings)
    first = Notifier(settings, roster, store)
    try:
        first.start()
        active = crisis(session_id)  # the clinician falls due 4 s after this
        store_as_the_ingest_does(store, active)
        alerts.publish(active)
        wait_until(lambda: webhook.to("nurse"), 30, "the monitor notified")
    finally:
        first.stop()
    if utcnow() - active.time >= timedelta(seconds=4):
        pytest.fail("the first notifier outlived the escalation delay: the machine is too "
                    "loaded for this test's premise (the clinician told after the restart)")
    assert webhook.to("doctor") == []
    second = Notifier(settings, roster, store)  # the same data directory: the same ledger
    try:
        second.start()
        # No event comes again: only the rebuilt escalation can tell the clinician.
        wait_until(lambda: webhook.to("doctor"), 30, "the clinician, after the restart")
        assert len(webhook.to("nurse")) == 1  # her step was claimed before the restart
        alerts.publish(active)  # an ingest replica's late copy changes nothing
        alerts.publish(AlertEvent(utcnow(), session_id, Metric.SYSTOLIC, Priority.HIGH,
                                  AlertState.ACKNOWLEDGED, "", "systolic.crisis", by="x"))
        wait_until(lambda: second.next_due() is None, 30, "the escalation stopped")
        assert len(webhook.to("nurse")) == 1
    finally:
        alerts.close()
        second.stop()


def test_an_alarm_raised_while_no_notifier_ran_reaches_the_monitor_too(
        settings, store, session_id, webhook) -> None:
    # Stored while the notifier was down for longer than the first escalation delay.
    active = replace(crisis(session_id), time=utcnow() - timedelta(seconds=90))
    store_as_the_ingest_does(store, active)
    notifier = Notifier(settings, roster_for(webhook, high=60), store)
    try:
        notifier.start()
        wait_until(lambda: webhook.to("nurse") and webhook.to("doctor"), 30,
                   "the monitor and the clinician the alarm has escalated to")
        assert len(webhook.to("nurse")) == len(webhook.to("doctor")) == 1
    finally:
        notifier.stop()


def test_two_notifier_processes_send_each_notification_once(
        mosquitto, settings, tmp_path, session_id, webhook) -> None:
    roster = tmp_path / "roster.toml"
    roster.write_text(roster_toml(roster_for(webhook, high=1.0)))
    environment = {**os.environ, "VITALS_MQTT_URL": mosquitto.url,
                   "VITALS_DATA_DIR": str(tmp_path / "data"), "VITALS_NOTIFY_ROSTER": str(roster)}
    processes = [subprocess.Popen(
        [sys.executable, "-m", "vitals", "notify", "--client-id",
         f"notify-{n}-{uuid.uuid4().hex[:6]}"],
        env=environment, stderr=subprocess.PIPE, text=True) for n in range(2)]
    alerts = Alerts(settings)
    try:
        for process in processes:  # each logs once it is subscribed
            seen = [process.stderr.readline()]
            while "people on the roster" not in seen[-1]:
                assert seen[-1], f"a notifier exited: {''.join(seen)}"
                seen.append(process.stderr.readline())
        alerts.publish(crisis(session_id), copies=2)
        wait_until(lambda: len(webhook.to("doctor")) >= 2, 10, "the clinician told twice")
        alerts.publish(AlertEvent(utcnow(), session_id, Metric.SYSTOLIC, Priority.HIGH,
                                  AlertState.ACKNOWLEDGED, "", "systolic.crisis", by="x"))
        marker = crisis(f"{session_id}-marker")
        alerts.publish(marker)
        wait_until(lambda: any(marker.session in m["title"] for m in webhook.to("nurse")), 10,
                   "the marker")
        ours = [m for m in webhook.to("nurse") if m["title"].endswith(session_id)]
        assert len(ours) == 1
        messages = [m["message"] for m in webhook.to("doctor") if m["title"].endswith(session_id)]
        assert len(messages) == len(set(messages))  # each escalation step once
    finally:
        alerts.close()
        for process in processes:
            process.terminate()
            process.wait(10)
            process.stderr.close()
    assert ledger_path(Settings(data_dir=tmp_path / "data")).exists()


def test_vitals_notify_with_a_wrong_roster_is_one_line_naming_the_key(tmp_path) -> None:
    roster = tmp_path / "roster.toml"
    roster.write_text("[[person]]\nname = 'A'\nrole = 'boss'\nurls = ['json://x']\n")
    result = subprocess.run([sys.executable, "-m", "vitals", "notify", "--roster", str(roster)],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "VITALS_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "person.0.role" in line and str(roster) in line


@contextmanager
def chain(mosquitto, tmp_path: Path, webhook: Webhook,
          high: float) -> Iterator[tuple[Settings, SqliteStore, Notifier, Alerts]]:
    """A real ingest and notifier on one store and broker, started; a client to publish with."""
    from ingest.service import build_engine
    from ingest.worker import IngestWorker
    from tests.ingest.conftest import make_settings

    settings = make_settings(mosquitto.url, None, "vitals", tmp_path / "data",
                             notify_client_id=f"notify-{uuid.uuid4().hex[:8]}")
    store = SqliteStore(settings.sqlite_path)
    worker = IngestWorker(settings, store, build_engine(settings))
    notifier = Notifier(settings, roster_for(webhook, high=high), store)
    cuff = Alerts(settings)
    try:
        worker.start()
        notifier.start()
        yield settings, store, notifier, cuff
    finally:
        cuff.close()
        notifier.stop()
        worker.stop(timeout=5)
        store.close()


def publish(cuff: Alerts, topic: str, document: dict) -> None:
    cuff.client.publish(topic, json.dumps(document), qos=1).wait_for_publish(10)


def test_the_whole_chain_from_a_crisis_reading_to_the_dashboards_acknowledgement(
        mosquitto, tmp_path, session_id, webhook) -> None:
    """A cuff's crisis reading → the ingest's alarm → the monitor notified within 2 s → the
    clinician after the delay → acknowledged on the dashboard → no more escalation."""
    from dashboard.commands import Commands

    session = session_id
    with chain(mosquitto, tmp_path, webhook, high=1.0) as (settings, store, notifier, cuff):
        commands = Commands(settings)
        try:
            commands.start()
            publish(cuff, f"vitals/{session}/bp",
                    {"systolic": 190, "diastolic": 95, "device": "cuff-1"})
            wait_until(lambda: webhook.to("nurse"), 2, "the monitor notified within 2 s")
            wait_until(lambda: webhook.to("doctor"), 5, "the clinician after the delay")
            commands.acknowledge(session, "systolic", by="nurse-a", note="re-measured")
            wait_until(lambda: any(a.state is AlertState.ACKNOWLEDGED
                                   for a in store.alerts(session)), 10, "the acknowledgement")
            # The acknowledgement reached the notifier: nothing more is due for any alarm.
            wait_until(lambda: notifier.next_due() is None, 5, "the escalation stopped")
            messages = [m["message"] for m in webhook.to("doctor")]
            assert len(messages) == len(set(messages))
        finally:
            commands.close()


def test_a_started_sessions_label_reaches_the_notification_title(mosquitto, tmp_path,
                                                                 session_id, webhook) -> None:
    """A start with a label → the ingest's alarm carries it → the monitor's message names
    the chair beside the session id."""
    session = session_id
    with chain(mosquitto, tmp_path, webhook, high=60) as (_settings, _store, _notifier, cuff):
        publish(cuff, f"vitals/{session}/session", {"event": "start", "label": " Chair 3 · AB "})
        publish(cuff, f"vitals/{session}/bp",
                {"systolic": 190, "diastolic": 95, "device": "cuff-1"})
        wait_until(lambda: webhook.to("nurse"), 10, "the monitor notified")
        [message] = webhook.to("nurse")
        assert message["title"] == f"HIGH alarm, Chair 3 · AB (session {session})"
