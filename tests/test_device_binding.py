"""Issue #16 against the shipped Mosquitto config and ACL (`deploy/mosquitto/`), run for real:
what the broker cannot enforce, the ingest does (docs/threat-model.md).

- a session's start names its devices: a reading from another device account is refused with a
  reason and a technical alarm;
- a flood of invalid readings on one session does not hold up a crisis on another, and the store
  keeps a bounded sample and a count;
- with VITALS_ACTION_KEY, an ack the dashboard signed applies (and records its user); an
  unsigned one, even from the dashboard account, is refused with a reason and an alarm.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from datetime import timedelta

import pytest
from pydantic import SecretStr
from services import wait_until

from dashboard.commands import Commands
from dashboard.health import ingest_problem
from ingest.rejections import RejectionLimiter
from ingest.service import build_engine
from ingest.worker import IngestWorker
from tests.ingest.conftest import make_settings
from tests.test_mosquitto_config import ACCOUNTS, Client, ShippedMosquitto, ingest_url, url
from vitals.alerts import AlertState, Metric, Priority
from vitals.storage import open_store
from vitals.timefmt import rfc3339, utcnow

pytestmark = pytest.mark.services

KEY = SecretStr("test-action-key-" + "k" * 48)


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[ShippedMosquitto]:
    with ShippedMosquitto(tmp_path_factory.mktemp("shipped-mosquitto")) as server:
        yield server


@pytest.fixture
def ingest(broker, tmp_path):
    """An ingest on the `ingest` account, signed actions required, and its store."""
    settings = make_settings(ingest_url(broker), None, "vitals", tmp_path / "data",
                             action_key=KEY)
    store = open_store(settings)
    worker = IngestWorker(settings, store, build_engine(settings))
    try:
        yield worker, store
    finally:
        worker.stop(timeout=5)
        store.close()


@pytest.fixture
def commands(broker, tmp_path) -> Iterator[Commands]:
    signed = Commands(make_settings(url(broker, "dashboard"), None, "vitals",
                                    tmp_path / "dashboard", action_key=KEY))
    try:
        yield signed
    finally:
        signed.close()


@pytest.fixture
def account(broker) -> Iterator[Callable[..., Client]]:
    """`account(user, subscribe=None)` -> a Client logged in as `user` (its password from
    ACCOUNTS), closed after the test."""
    with ExitStack() as clients:
        yield lambda user, subscribe=None: clients.enter_context(
            closing(Client(broker, user, ACCOUNTS[user], subscribe=subscribe)))


def data_alarms(store, session: str) -> list[tuple[Priority, AlertState, str]]:
    return [(a.priority, a.state, a.message) for a in store.alerts(session)
            if a.metric is Metric.DATA]


def test_a_device_account_publishing_into_a_session_that_named_other_devices_is_refused(
        ingest, commands, account) -> None:
    worker, store = ingest
    session = f"bind-{uuid.uuid4().hex[:8]}"
    oximeter = account("oximeter-1")
    watcher = account("dashboard", subscribe=f"vitals/{session}/#")
    assert watcher.subscribed.wait(10)
    worker.start()
    commands.session_event(session, "start", by="nurse-a", devices=["oximeter-2"])
    wait_until(lambda: [e.event for e in store.events(session)] == ["start"], 10,
               "the start")
    oximeter.publish(f"vitals/{session}/hr", json.dumps(
        {"bpm": 75, "device": "oximeter-1", "time": rfc3339(utcnow())}))
    wait_until(lambda: f"vitals/{session}/rejected" in watcher.topics(), 10, "the rejection")
    [(_, rejection)] = [m for m in watcher.received if m[0].endswith("/rejected")]
    assert "oximeter-1" in json.loads(rejection)["reason"]
    wait_until(lambda: data_alarms(store, session), 10, "the technical alarm")
    [(priority, state, message)] = data_alarms(store, session)
    assert (priority, state) == (Priority.MEDIUM, AlertState.ACTIVE)
    assert "unbound device oximeter-1" in message
    assert store.readings(session) == []


def test_a_named_device_publishing_on_its_own_topic_is_stored_under_its_account(
        ingest, commands, account) -> None:
    worker, store = ingest
    session = f"own-{uuid.uuid4().hex[:8]}"
    oximeter = account("oximeter-1")
    worker.start()
    commands.session_event(session, "start", by="nurse-a", devices=["oximeter-1"])
    wait_until(lambda: store.events(session), 10, "the start")
    oximeter.publish(f"vitals/{session}/hr/oximeter-1", json.dumps(
        {"bpm": 75, "time": rfc3339(utcnow())}))  # no device in the payload: the topic's
    wait_until(lambda: store.readings(session), 10, "the reading")
    assert [r.device for r in store.readings(session)] == ["oximeter-1"]
    assert data_alarms(store, session) == []


def test_one_device_account_publishing_into_many_new_sessions_is_capped_and_shown(
        broker, tmp_path, account) -> None:
    settings = make_settings(ingest_url(broker), None, "vitals", tmp_path / "data",
                             ingest_new_sessions_per_minute=20)
    store = open_store(settings)
    worker = IngestWorker(settings, store, build_engine(settings))
    live = f"live-{uuid.uuid4().hex[:8]}"
    oximeter = account("oximeter-1")
    try:
        worker.start()
        oximeter.publish(f"vitals/{live}/hr/oximeter-1", json.dumps({"bpm": 75}))
        wait_until(lambda: store.readings(live), 10, "the live session's reading")
        for n in range(300):  # distinct sessions, as in the issue (90,000 of them)
            oximeter.mqtt.publish(f"vitals/s{n:06d}/hr", json.dumps({"bpm": 70}), qos=1)
        oximeter.publish(f"vitals/{live}/hr/oximeter-1", json.dumps({"bpm": 190}))
        wait_until(lambda: any(a.priority is Priority.HIGH for a in store.alerts(live)), 10,
                   "the live session still judged")
        wait_until(lambda: worker.pipeline.counters.received >= 302, 10, "every message")
        assert len([s for s in store.sessions() if s.session.startswith("s0")]) == 19
        status = worker.status()
        assert status["refused_sessions"] == 281
        problem = ingest_problem({"w": status}, utcnow())
        assert problem is not None and "281 new sessions" in problem
    finally:
        worker.stop(timeout=5)
        store.close()


def test_a_flood_of_invalid_readings_does_not_hold_up_a_crisis_on_another_session(
        ingest, account) -> None:
    worker, store = ingest
    worker.pipeline.limiter = RejectionLimiter(per_source=10, interval=timedelta(seconds=1))
    flooded, crisis = f"flood-{uuid.uuid4().hex[:8]}", f"crisis-{uuid.uuid4().hex[:8]}"
    flooder = account("oximeter-1")
    cuff = account("cuff-1")
    junk = json.dumps({"bpm": 999, "pad": "x" * 15_000})  # under max_packet_size
    worker.start()
    for _ in range(1500):
        flooder.mqtt.publish(f"vitals/{flooded}/hr", junk, qos=1)
    cuff.publish(f"vitals/{crisis}/bp", json.dumps(
        {"systolic": 200, "diastolic": 125, "device": "cuff-1", "time": rfc3339(utcnow())}))
    wait_until(lambda: any(a.priority is Priority.HIGH for a in store.alerts(crisis)), 30,
               "the crisis alarm during the flood")
    wait_until(lambda: worker.pipeline.counters.rejected >= 1500, 60, "the whole flood")
    wait_until(lambda: any(r.reason.endswith(")") and "more rejections" in r.reason
                           for r in store.rejections(limit=10_000)), 10, "the count")
    stored = [r for r in store.rejections(limit=10_000) if r.session == flooded]
    assert len(stored) <= 10 * 60  # ten a second at most, whatever the flood: a bound
    assert len(stored) < 1500 // 2
    counted = sum(int(r.reason.split()[0]) for r in stored if "more rejections" in r.reason)
    assert len([r for r in stored if "more rejections" not in r.reason]) + counted == 1500


def test_with_an_action_key_only_the_signed_ack_applies_and_records_its_user(
        ingest, commands, account) -> None:
    worker, store = ingest
    session = f"ack-{uuid.uuid4().hex[:8]}"
    cuff = account("cuff-1")
    dashboard_account = account("dashboard")
    worker.start()
    cuff.publish(f"vitals/{session}/bp", json.dumps(
        {"systolic": 200, "diastolic": 125, "device": "cuff-1", "time": rfc3339(utcnow())}))
    wait_until(lambda: store.alerts(session), 10, "the crisis alarm")
    # The dashboard's account, unsigned: what anyone holding its password could publish.
    dashboard_account.publish(f"vitals/{session}/ack", json.dumps(
        {"metric": "systolic", "by": "dr-nobody", "time": rfc3339(utcnow())}))
    wait_until(lambda: data_alarms(store, session), 10, "the unsigned-action alarm")
    assert "did not sign" in data_alarms(store, session)[0][2]
    assert any("unsigned" in r.reason for r in store.rejections(limit=10_000)
               if r.session == session)
    commands.acknowledge(session, "systolic", by="dr-who")
    wait_until(lambda: any(a.state is AlertState.ACKNOWLEDGED for a in store.alerts(session)
                           if a.metric is Metric.SYSTOLIC), 10, "the signed ack applied")
    [acked] = [a for a in store.alerts(session)
               if a.metric is Metric.SYSTOLIC and a.state is AlertState.ACKNOWLEDGED]
    assert acked.by == "dr-who"
