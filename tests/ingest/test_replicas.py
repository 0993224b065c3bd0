"""Identical ingest replicas: each takes every message and judges every session, and what they
store collapses into one record. Real Mosquitto and InfluxDB; `vitals ingest` as processes where
one is killed.
"""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from services import wait_until

from ingest.worker import IngestWorker
from simulators import publisher
from simulators.scenarios import SCENARIOS
from simulators.timeline import session_messages
from tests.ingest.conftest import assert_expected_alarms, export, make_settings
from tests.ingest.test_faults import ingest_process, last_status
from vitals.mqtt import status_topic
from vitals.settings import Settings
from vitals.storage import open_store
from vitals.timefmt import rfc3339, utcnow
from vitals.vital_signs import Kind

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SEED = 3
READING_LEAVES = tuple(kind.value for kind in Kind)


def replica_settings(mosquitto, influxd, database: str, tmp_path, name: str) -> Settings:
    return make_settings(mosquitto.url, influxd.url, database, tmp_path / "data",
                         ingest_client_id=f"{name}-{uuid.uuid4().hex[:8]}")


def expected_readings(scenario: str, session: str, **timeline) -> int:
    return sum(1 for m in session_messages(scenario, session, START, SEED, **timeline)
               if m.leaf in READING_LEAVES)


def idle(*workers: IngestWorker) -> bool:
    return all(w.backlog == 0 for w in workers)


def test_two_replicas_raise_exactly_each_scenarios_alarms_and_agree_event_for_event(
        mosquitto, influxd, influx_db, tmp_path, ingest_factory):
    workers = [ingest_factory(replica_settings(mosquitto, influxd, influx_db, tmp_path, name))[0]
               for name in ("replica-a", "replica-b")]
    settings = workers[0].settings
    names = list(SCENARIOS)
    report = publisher.run(settings, scenarios=names, sessions=len(names), speed=float("inf"),
                           seed=SEED, start=START, session_prefix="rep")
    total = sum(expected_readings(scenario, session)
                for session, scenario in report.scenarios.items())
    wait_until(lambda: all(w.pipeline.counters.readings >= total for w in workers)
               and idle(*workers), 120, "both replicas took and stored every reading")
    stored_alerts = 0
    for session, scenario in report.scenarios.items():
        exported = export(settings, session)
        assert len(exported["readings"]) == expected_readings(scenario, session), session
        assert_expected_alarms(scenario, exported)
        stored_alerts += len(exported["alerts"])
    # Both replicas emitted the same events (deterministic identities), so the store holds each
    # once: as many as either replica raised, not twice as many.
    assert [w.pipeline.counters.alerts for w in workers] == [stored_alerts] * 2


def test_with_one_replica_killed_mid_session_the_crisis_still_alarms_and_nothing_is_doubled(
        mosquitto, influxd, influx_db, tmp_path, probe_factory):
    settings = [replica_settings(mosquitto, influxd, influx_db, tmp_path, name)
                for name in ("kill-a", "kill-b")]
    session = f"kill-{uuid.uuid4().hex[:8]}"
    probe = probe_factory(settings[0], [f"vitals/{session}/alert", *(
        status_topic("vitals", s.ingest_client_id) for s in settings)])
    logs = [tmp_path / f"ingest-{n}.log" for n in range(2)]
    processes = [ingest_process(s, log) for s, log in zip(settings, logs, strict=True)]
    store = open_store(settings[0])
    # The readings' times near the wall clock: no BP gap falls due while the test runs.
    started = utcnow().replace(microsecond=0) - timedelta(minutes=13)

    def at(minutes: float) -> str:
        return rfc3339(started + timedelta(minutes=minutes))

    def status_of(n: int) -> dict:
        mine = [m for m in probe.messages("/status")
                if m.get("client_id") == settings[n].ingest_client_id]
        return mine[-1] if mine else {}

    try:
        wait_until(lambda: all(status_of(n).get("state") == "running" for n in range(2)), 30,
                   "both replicas running")
        probe.publish(f"vitals/{session}/session", {"event": "start", "time": at(0)})
        probe.publish(f"vitals/{session}/bp", {"systolic": 118, "diastolic": 76, "time": at(1)})
        probe.publish(f"vitals/{session}/session", {"event": "dose", "time": at(2)})
        wait_until(lambda: len(store.readings(session)) == 1, 20, "the baseline stored")
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait()
        wait_until(lambda: status_of(0).get("state") == "offline", 15, "the killed one's will")
        probe.publish(f"vitals/{session}/bp", {"systolic": 186, "diastolic": 88, "time": at(8)})
        wait_until(lambda: any(a["metric"] == "systolic" and a["priority"] == "high"
                               for a in probe.messages("/alert")), 10,
                   "the crisis alarm from the surviving replica")
        probe.publish(f"vitals/{session}/bp", {"systolic": 130, "diastolic": 80, "time": at(12)})

        processes[0] = ingest_process(settings[0], logs[0])  # back: its session kept the backlog
        wait_until(lambda: status_of(0).get("state") == "running"
                   and status_of(0).get("backlog") == 0
                   and status_of(0).get("received", 0) >= 2, 30,
                   "the returned replica caught up")
        exported = export(settings[0], session)
        readings = [(r["kind"], r["time"]) for r in exported["readings"]]
        assert sorted(readings) == sorted(set(readings)) and len(readings) == 3
        events = Counter((a["metric"], a["rule"], a["state"], a["time"])
                         for a in exported["alerts"])
        assert max(events.values()) == 1, events
        # The returned replica restored what the survivor stored and judged nothing again.
        assert [(a["metric"], a["priority"], a["state"]) for a in exported["alerts"]] == [
            ("systolic", "high", "active")], exported["alerts"]
    finally:
        for process in processes:
            process.kill()
            process.wait()
        store.close()


def test_vitals_ingest_started_with_the_database_down_alarms_at_once_and_restores_later(
        mosquitto, influxd_factory, probe_factory, tmp_path):
    influx = influxd_factory()
    settings = make_settings(mosquitto.url, influx.url, f"db_{uuid.uuid4().hex[:6]}", tmp_path,
                             ingest_client_id=f"late-db-{uuid.uuid4().hex[:8]}")
    session = f"late-{uuid.uuid4().hex[:8]}"
    store = open_store(settings)
    probe = probe_factory(settings, [f"vitals/{session}/alert",
                                     status_topic("vitals", settings.ingest_client_id)])
    log_path = tmp_path / "ingest.log"
    started = utcnow().replace(microsecond=0) - timedelta(minutes=30)

    def at(minutes: float) -> str:
        return rfc3339(started + timedelta(minutes=minutes))

    def alerts(metric: str) -> list[dict]:
        return [a for a in probe.messages("/alert") if a["metric"] == metric]

    # An earlier run judged and stored the session: baseline 100/62, and a high HR alarm that
    # nobody acknowledged, latched after its condition ended.
    process = ingest_process(settings, log_path)
    try:
        wait_until(lambda: last_status(probe).get("state") == "running", 30, "ingest running")
        probe.publish(f"vitals/{session}/session", {"event": "start", "time": at(0)})
        probe.publish(f"vitals/{session}/bp", {"systolic": 100, "diastolic": 62, "time": at(1)})
        probe.publish(f"vitals/{session}/session", {"event": "dose", "time": at(2)})
        for minute, bpm in ((3, 140), (4, 80), (5, 79)):
            probe.publish(f"vitals/{session}/hr", {"bpm": bpm, "time": at(minute)})
        wait_until(lambda: len(store.readings(session)) == 4 and store.alerts(session), 20,
                   "the first run stored the session")
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        influx.stop()

        process = ingest_process(settings, log_path)
        wait_until(lambda: last_status(probe).get("state") == "running", 30,
                   "ingest running without its database")
        assert (last_status(probe)["store"], last_status(probe)["state_restored"]) == (
            "down", False)
        probe.publish(f"vitals/{session}/bp", {"systolic": 188, "diastolic": 70, "time": at(20)})
        wait_until(lambda: alerts("systolic"), 5, "the crisis alarm within 5 s, database down")

        influx.start()
        wait_until(lambda: last_status(probe).get("state_restored") is True
                   and last_status(probe).get("backlog") == 0, 30,
                   "the store back, the state rebuilt and everything written")
        assert len(store.readings(session)) == 5
        keys = [(a.metric, a.rule, a.state, a.time) for a in store.alerts(session)]
        assert len(keys) == len(set(keys))

        # Rebuilt from the record: the HR latch holds (a new high HR raises nothing new), and
        # the baseline is the stored one (diastolic 88 is a rise of 26 over 62; over the gap's
        # own first readings it would be none).
        probe.publish(f"vitals/{session}/hr", {"bpm": 145, "time": at(31)})
        probe.publish(f"vitals/{session}/bp", {"systolic": 130, "diastolic": 88, "time": at(32)})
        wait_until(lambda: alerts("diastolic"), 10, "the rise over the restored baseline")
        assert [a["state"] for a in alerts("heart_rate")] == ["active"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        log_text = log_path.read_text()
        assert "starting without the stored alarm state" in log_text
        assert "alarm state rebuilt from storage" in log_text
    finally:
        process.kill()
        process.wait()
        store.close()
