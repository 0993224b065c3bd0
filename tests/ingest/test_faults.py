"""The ingest under faults, against real Mosquitto and influxd: nothing lost, nothing doubled.

Each test that takes a service away owns it (`mosquitto_factory`, `influxd_factory`); the others
share the session's servers and isolate themselves with unique session and client ids.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from services import wait_until

from tests.ingest.conftest import (
    hr_reading,
    make_settings,
    publish_stream,
    stored_numbers,
)
from vitals.ingest_health import Condition, worker_health
from vitals.mqtt import status_topic
from vitals.storage import open_store
from vitals.timefmt import utcnow

ROOT = Path(__file__).resolve().parents[2]


def expected_numbers(numbers: range) -> list[float]:
    return [float(hr_reading(n)["bpm"]) for n in numbers]


def wait_stored(store, session: str, count: int, timeout: float = 30) -> None:
    wait_until(lambda: len(store.readings(session)) >= count, timeout,
               f"{count} readings of {session} stored")


def assert_stored_once_each(store, session: str, count: int) -> None:
    """Once `count` readings of `session` are stored: they are the stream's first `count`, each
    once, in order."""
    wait_stored(store, session, count)
    assert stored_numbers(store, session) == expected_numbers(range(count))


def drained_backlog(settings, ingest_factory, probe_factory, session: str, count: int):
    """A worker that found `count` readings queued for it by the broker while it was stopped,
    once it has stored them all, in order, each once."""
    first, _ = ingest_factory(settings)
    first.stop()  # the persistent session stays: the broker queues what follows
    publish_stream(probe_factory(settings, []), session, range(count))
    worker, store = ingest_factory(settings)
    assert_stored_once_each(store, session, count)
    return worker


def test_an_influxdb_outage_holds_readings_unacknowledged_within_the_brokers_window_then_stores_each_once(  # noqa: E501
        mosquitto_factory, influxd_factory, ingest_factory, probe_factory, session_id, tmp_path,
        caplog):
    caplog.set_level(logging.INFO, logger="ingest")
    broker = mosquitto_factory(["max_inflight_messages 50"])  # the window that bounds our memory
    influx = influxd_factory()
    settings = make_settings(broker.url, influx.url, "vitals", tmp_path)
    worker, store = ingest_factory(settings)
    probe = probe_factory(settings, [status_topic("vitals", settings.ingest_client_id)])
    publish_stream(probe, session_id, range(20))
    wait_stored(store, session_id, 20)

    influx.stop()
    publish_stream(probe, session_id, range(20, 320))
    # The broker sends at most its window unacknowledged; the rest waits with the broker.
    wait_until(lambda: worker.backlog == 50, 20, "the worker to hold a full window")
    wait_until(lambda: any(s["store"] == "down" and s["backlog"] > 0
                           for s in probe.messages("/status")), 10, "a status saying store down")

    assert worker.max_backlog == 50  # what we hold while the store is down: one window

    influx.start()
    assert_stored_once_each(store, session_id, 320)
    wait_until(lambda: worker.backlog == 0, 10, "the backlog to drain")
    records = [r for r in caplog.records if r.name.startswith("ingest.")]
    assert len([r for r in records if r.levelno >= logging.ERROR]) == 1, "one ERROR per outage"
    assert len([r for r in records if "store back" in r.getMessage()]) == 1
    wait_until(lambda: probe.messages("/status")[-1]["store"] == "up", 10, "store up again")


def test_readings_received_while_the_database_is_down_are_not_acknowledged_before_a_graceful_stop(
        mosquitto, influxd_factory, ingest_factory, probe_factory, session_id, tmp_path):
    influx = influxd_factory()
    settings = make_settings(mosquitto.url, influx.url, "vitals", tmp_path)
    first, store = ingest_factory(settings)
    probe = probe_factory(settings, [])
    influx.stop()
    publish_stream(probe, session_id, range(100))
    wait_until(lambda: first.backlog >= 100, 10, "all 100 taken in (and held)")
    first.stop()  # the store is still down: nothing it holds may have been acknowledged

    influx.start()
    second, store = ingest_factory(settings)
    assert_stored_once_each(store, session_id, 100)
    assert second.pipeline.counters.received == 100  # the broker redelivered every one


def test_a_graceful_stop_acknowledges_everything_it_took_and_the_next_worker_gets_the_rest(
        mosquitto, influxd, influx_db, ingest_factory, probe_factory, session_id, tmp_path):
    settings = make_settings(mosquitto.url, influxd.url, influx_db, tmp_path)
    first, _ = ingest_factory(settings)
    probe = probe_factory(settings, [])
    publish_stream(probe, session_id, range(150))
    first.stop()  # mid-stream: some taken and stored, the rest left with the broker
    publish_stream(probe, session_id, range(150, 300))  # while no worker runs

    second, store = ingest_factory(settings)
    assert_stored_once_each(store, session_id, 300)
    # Each message was processed by exactly one worker: what the first took, it acknowledged.
    assert first.pipeline.counters.received + second.pipeline.counters.received == 300
    assert second.pipeline.counters.duplicates == 0


def test_a_backlog_drains_holding_at_most_two_windows_even_when_the_broker_overshoots_its_own(
        mosquitto, influxd, influx_db, ingest_factory, probe_factory, session_id, tmp_path):
    # The test broker's window is 1000; Mosquitto 2.0 may send beyond it while acks flow. The
    # worker reads no more past twice its own `ingest_inflight`: that bounds its memory.
    settings = make_settings(mosquitto.url, influxd.url, influx_db, tmp_path, ingest_inflight=50)
    worker = drained_backlog(settings, ingest_factory, probe_factory, session_id, 2000)
    assert 0 < worker.max_backlog <= 2 * 50


def test_readings_survive_a_broker_restart_in_flight_and_while_the_worker_reconnects(
        mosquitto_factory, influxd, influx_db, ingest_factory, probe_factory, session_id,
        tmp_path):
    broker = mosquitto_factory()
    settings = make_settings(broker.url, influxd.url, influx_db, tmp_path)
    worker, store = ingest_factory(settings)
    before = probe_factory(settings, [])
    publish_stream(before, session_id, range(200))
    broker.restart()  # some of those are still queued or in flight to the worker
    after = probe_factory(settings, [])
    publish_stream(after, session_id, range(200, 300))  # likely before the worker reconnects

    assert_stored_once_each(store, session_id, 300)
    assert worker.alive


def test_the_same_reading_twice_is_stored_once(mosquitto, influxd, influx_db, ingest_factory,
                                              probe_factory, session_id, tmp_path):
    settings = make_settings(mosquitto.url, influxd.url, influx_db, tmp_path)
    worker, store = ingest_factory(settings)
    probe = probe_factory(settings, [])
    publish_stream(probe, session_id, range(3))
    publish_stream(probe, session_id, range(3))
    wait_until(lambda: worker.pipeline.counters.duplicates == 3, 10, "the duplicates seen")
    assert worker.wait_idle(10)
    assert stored_numbers(store, session_id) == expected_numbers(range(3))


# --- `vitals ingest` as a process: SIGTERM and SIGKILL -----------------------------------------

def ingest_process(settings, log_path: Path) -> subprocess.Popen:
    """`vitals ingest` on `settings` as a child process, its output appended to `log_path`."""
    env = dict(os.environ)
    env.update(VITALS_MQTT_URL=settings.mqtt_url, VITALS_INFLUX_URL=settings.influx_url,
               VITALS_INFLUX_DB=settings.influx_db,
               VITALS_INGEST_CLIENT_ID=settings.ingest_client_id,
               VITALS_DATA_DIR=str(settings.data_dir), PYTHONPATH=str(ROOT))
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "vitals", "ingest"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def last_status(probe) -> dict:
    """The newest status a probe on an ingest's status topic heard ({} before any)."""
    statuses = probe.messages("/status")
    return statuses[-1] if statuses else {}


class IngestProcess:
    """`vitals ingest` as a child process on `settings`, its store, and a probe on its status."""

    def __init__(self, settings, probe_factory, log_path: Path) -> None:
        self.settings, self.log_path = settings, log_path
        self.store = open_store(settings)
        self.probe = probe_factory(settings, [status_topic("vitals", settings.ingest_client_id)])
        self.process: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        """A new process, once its status says it runs."""
        self.process = ingest_process(self.settings, self.log_path)
        self.wait_for("state", "running", 20)
        return self.process

    def status(self) -> dict:
        return last_status(self.probe)

    def wait_for(self, key: str, value: str, timeout: float) -> None:
        wait_until(lambda: self.status().get(key) == value, timeout, f"status {key} {value}")

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.store.close()


@pytest.fixture
def vitals_ingest(probe_factory, tmp_path) -> Iterator[Callable[..., IngestProcess]]:
    """`vitals_ingest(settings)` -> an IngestProcess, not started; killed and closed after."""
    made: list[IngestProcess] = []

    def make(settings) -> IngestProcess:
        made.append(IngestProcess(settings, probe_factory, tmp_path / "ingest.log"))
        return made[-1]

    yield make
    for ingest in made:
        ingest.close()


def test_vitals_ingest_stops_on_sigterm_promptly_with_exit_0_and_catches_up_after_restart(
        mosquitto, influxd, influx_db, vitals_ingest, session_id, tmp_path):
    ingest = vitals_ingest(make_settings(mosquitto.url, influxd.url, influx_db, tmp_path))
    process = ingest.start()
    publish_stream(ingest.probe, session_id, range(100))
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0, ingest.log_path.read_text()
    ingest.wait_for("state", "stopped", 5)
    stopped = ingest.status()
    publish_stream(ingest.probe, session_id, range(100, 200))  # while it is down

    process = ingest.start()
    assert_stored_once_each(ingest.store, session_id, 200)
    # What the first run received, it stored and acknowledged before exiting.
    assert stopped["stored"] == stopped["received"] and stopped["backlog"] == 0
    process.send_signal(signal.SIGINT)
    assert process.wait(10) == 0


def test_vitals_ingest_killed_with_sigkill_is_reported_offline_and_loses_nothing(
        mosquitto, influxd_factory, vitals_ingest, session_id, tmp_path):
    influx = influxd_factory()
    ingest = vitals_ingest(
        make_settings(mosquitto.url, influx.url, f"db_{uuid.uuid4().hex[:6]}", tmp_path))
    process = ingest.start()
    publish_stream(ingest.probe, session_id, range(50))
    wait_stored(ingest.store, session_id, 50)
    influx.stop()
    publish_stream(ingest.probe, session_id, range(50, 150))
    # The worker has taken messages it could not store: now it dies holding them.
    ingest.wait_for("store", "down", 20)
    process.kill()
    process.wait()
    ingest.wait_for("state", "offline", 10)  # the last will

    influx.start()
    process = ingest.start()
    assert_stored_once_each(ingest.store, session_id, 150)
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0


def test_alarms_are_still_raised_while_the_database_is_down(
        mosquitto, influxd_factory, ingest_factory, probe_factory, session_id, tmp_path):
    influx = influxd_factory()
    settings = make_settings(mosquitto.url, influx.url, "vitals", tmp_path)
    worker, store = ingest_factory(settings)
    probe = probe_factory(settings, [f"vitals/{session_id}/alert"])
    influx.stop()
    probe.publish(f"vitals/{session_id}/hr", hr_reading(0))  # normal: stored later
    probe.publish(f"vitals/{session_id}/hr", {"bpm": 150, "device": "ox-1"})
    wait_until(lambda: any(a["metric"] == "heart_rate" for a in probe.messages("/alert")), 10,
               "the heart rate alarm, with the database down")
    assert not worker.store_up

    influx.start()
    wait_stored(store, session_id, 2)
    wait_until(lambda: len(store.alerts(session_id)) >= 1, 10, "the alarm stored afterwards")


def test_our_own_alarms_coming_back_take_no_place_in_the_window_while_the_database_is_down(
        mosquitto, influxd_factory, ingest_factory, probe_factory, session_id, tmp_path):
    """The worker subscribes to the whole prefix, so its alarms, rejections and status come
    back to it: acknowledged on arrival (nothing to judge or store), they never count in what
    it holds unacknowledged, which during an outage is the window newer readings wait for."""
    influx = influxd_factory()
    settings = make_settings(mosquitto.url, influx.url, "vitals", tmp_path)
    worker, store = ingest_factory(settings)
    probe = probe_factory(settings, [f"vitals/{session_id}/alert"])
    influx.stop()
    probe.publish(f"vitals/{session_id}/hr", hr_reading(0))
    probe.publish(f"vitals/{session_id}/hr", {"bpm": 150, "device": "ox-1"})
    wait_until(lambda: any(a["metric"] == "heart_rate" for a in probe.messages("/alert")), 10,
               "the heart rate alarm, with the database down")
    # Absence can only be observed over a while: the alarm has reached the broker, and comes
    # back to the worker within milliseconds; held, it would make the backlog 3.
    assert not threading.Event().wait(1.0)
    assert worker.backlog == 2
    assert worker.max_backlog == 2

    influx.start()
    wait_stored(store, session_id, 2)
    wait_until(lambda: worker.backlog == 0, 10, "the two readings acknowledged")


def test_a_backlog_is_judged_a_window_at_a_time_so_the_next_is_judged_while_one_is_written(
        mosquitto, influxd, influx_db, ingest_factory, probe_factory, session_id, tmp_path):
    """The worker holds up to two windows: judging one window at a time (not everything held)
    leaves the next to judge while the writer stores the last, rather than each waiting for
    the other in turn."""
    settings = make_settings(mosquitto.url, influxd.url, influx_db, tmp_path, ingest_inflight=50)
    worker = drained_backlog(settings, ingest_factory, probe_factory, session_id, 1000)
    assert 0 < worker.max_judged <= 50


def test_a_worker_whose_judging_thread_ended_says_failed_never_running(
        sqlite_settings, ingest_factory, probe_factory, session_id, monkeypatch):
    """Neither thread ends on a failed cycle; if one ends anyway (here a fault injected as
    `SystemExit`, which nothing catches), the writing thread goes on publishing the status, and
    it must say `failed`: "running" would hide that no alarm is judged any more."""
    worker, _store = ingest_factory(sqlite_settings, status_interval=0.5)
    probe = probe_factory(sqlite_settings, [worker.status_topic])

    def fault(_batch):
        raise SystemExit("a fault nobody foresaw")

    monkeypatch.setattr(worker.pipeline, "process", fault)
    probe.publish(f"vitals/{session_id}/hr", {"bpm": 72, "device": "ox-1"})
    wait_until(lambda: not worker.alive, 10, "the judging thread to end")
    wait_until(lambda: any(d.get("state") == "failed" for d in probe.messages("/status")), 10,
               "a failed status")
    assert worker_health(probe.messages("/status")[-1], utcnow()).condition is Condition.FAILED


def test_a_judging_cycle_that_raises_is_logged_and_judging_goes_on(
        sqlite_settings, ingest_factory, probe_factory, session_id, monkeypatch, caplog):
    """A fault outside the batch's own guard (here: taking the next batch, once)."""
    worker, _store = ingest_factory(sqlite_settings)
    probe = probe_factory(sqlite_settings, [f"vitals/{session_id}/alert"])
    take_batch, faults = worker._take_batch, [RuntimeError("once")]

    def take_batch_failing_once(timeout: float):
        if faults:
            raise faults.pop()
        return take_batch(timeout)

    with caplog.at_level(logging.ERROR, logger="ingest.worker"):
        monkeypatch.setattr(worker, "_take_batch", take_batch_failing_once)
        wait_until(lambda: not faults, 10, "the injected fault")
        probe.publish(f"vitals/{session_id}/hr", {"bpm": 150, "device": "ox-1"})
        wait_until(lambda: probe.messages("/alert"), 10, "the alarm after the failed cycle")
    assert "judging cycle failed; judging goes on" in caplog.text
    assert worker.alive


def test_a_late_restore_that_raises_is_logged_and_judging_goes_on_without_it(
        mosquitto, influxd_factory, ingest_factory, probe_factory, session_id, tmp_path,
        monkeypatch, caplog):
    """The store down at the start: the state is rebuilt once it answers. If that rebuild
    fails for another reason than the store (here a fault injected once it answers), waiting
    for it would stop judging for good: the worker judges on, saying the state is not
    restored."""
    influx = influxd_factory()
    settings = make_settings(mosquitto.url, influx.url, "vitals", tmp_path)
    influx.stop()
    worker, _store = ingest_factory(settings, status_interval=0.5)
    probe = probe_factory(settings, [f"vitals/{session_id}/alert", worker.status_topic])

    def restore_failing():
        raise RuntimeError("a stored value nobody foresaw")

    monkeypatch.setattr(worker, "_restore", restore_failing)
    with caplog.at_level(logging.ERROR, logger="ingest.worker"):
        influx.start()
        wait_until(lambda: "rebuilding the alarm state from storage failed" in caplog.text, 30,
                   "the late restore to fail")
    probe.publish(f"vitals/{session_id}/hr", {"bpm": 150, "device": "ox-1"})
    wait_until(lambda: probe.messages("/alert"), 10, "the alarm after the failed restore")
    wait_until(lambda: (probe.messages("/status") or [{}])[-1].get("state_restored") is False
               and probe.messages("/status")[-1].get("store") == "up", 10,
               "the status: store up, state not restored")
    assert worker.alive
