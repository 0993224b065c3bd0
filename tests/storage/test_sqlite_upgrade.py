"""An embedded store's data file made before a column was added still opens and keeps its data."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from services import wait_until

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import ObservationKind, ObservationRetraction, SessionEvent, SessionEventType
from vitals.storage.base import Batch
from vitals.storage.sqlite import SqliteStore

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
# The alert table as files made before `ended_us` have it.
OLD_ALERT_TABLE = """
CREATE TABLE alert (
    session TEXT NOT NULL, metric TEXT NOT NULL, rule TEXT NOT NULL, state TEXT NOT NULL,
    time_us INTEGER NOT NULL, priority TEXT NOT NULL, message TEXT NOT NULL, value REAL,
    "limit" REAL, by TEXT, note TEXT, PRIMARY KEY (session, metric, rule, state, time_us)
) WITHOUT ROWID;
INSERT INTO alert VALUES ('s1', 'data', 'data.stream_silent', 'active', 1796835540000000,
                          'medium', 'No heart rate reading', 30.0, 30.0, NULL, NULL);
"""


def test_a_data_file_without_the_ended_column_gets_it_and_keeps_its_alerts(tmp_path):
    path = tmp_path / "vitals.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_ALERT_TABLE)
    db.close()

    store = SqliteStore(path)
    try:
        latched = AlertEvent(T0, "s1", Metric.DATA, Priority.MEDIUM, AlertState.ACTIVE,
                             "No heart rate reading", rule="data.stream_silent.hr", ended=T0)
        store.write(Batch(alerts=[latched]))
        stored = store.alerts("s1")
    finally:
        store.close()
    assert sorted((a.rule, a.ended) for a in stored) == [("data.stream_silent", None),
                                                   ("data.stream_silent.hr", T0)]


def test_a_data_file_without_the_label_column_gets_it_and_keeps_its_events(tmp_path):
    path = tmp_path / "vitals.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE session_event (
                session TEXT NOT NULL, event TEXT NOT NULL, time_us INTEGER NOT NULL,
                time_inferred INTEGER NOT NULL, note TEXT, by TEXT,
                PRIMARY KEY (session, event, time_us)) WITHOUT ROWID;
            INSERT INTO session_event VALUES ('s1', 'start', 1796835540000000, 0, NULL, NULL);
        """)
    db.close()

    store = SqliteStore(path)
    try:
        store.write(Batch(events=[SessionEvent("s2", SessionEventType.START, T0,
                                               label="Chair 3")]))
        stored = [(e.session, e.label) for e in store.events("s1") + store.events("s2")]
    finally:
        store.close()
    assert stored == [("s1", None), ("s2", "Chair 3")]


def test_a_data_file_without_retractions_opens_keeps_its_observations_and_marks_new_ones(
        tmp_path):
    path = tmp_path / "vitals.sqlite3"
    with sqlite3.connect(path) as db:  # the observation table as files before issue 19 have it
        db.executescript("""
            CREATE TABLE observation (
                session TEXT NOT NULL, observation TEXT NOT NULL, by TEXT NOT NULL DEFAULT '',
                time_us INTEGER NOT NULL, severity TEXT NOT NULL, note TEXT,
                time_inferred INTEGER NOT NULL,
                PRIMARY KEY (session, observation, by, time_us)) WITHOUT ROWID;
            INSERT INTO observation VALUES ('s1', 'nausea', 'nurse-a', 1795885200000000, 'mild',
                                            NULL, 0);
        """)
    db.close()

    store = SqliteStore(path)
    try:
        store.write(Batch(retractions=[ObservationRetraction(
            "s1", T0 + timedelta(minutes=1), ObservationKind.NAUSEA, T0, "nurse-a")]))
        (observation,) = store.observations("s1")
    finally:
        store.close()
    assert (observation.by, observation.retracted_by, observation.retracted_at) == (
        "nurse-a", "nurse-a", T0 + timedelta(minutes=1))


def test_processes_opening_one_new_data_file_at_once_all_open_it(tmp_path):
    """Replicas on one data directory (two `vitals notify`) start together: none may fail
    with "database is locked" while another creates the schema (one start in six did, with
    two). Each process is imported and waiting before all open at one signal."""
    opening = ("import os, sys, time; from vitals.storage.sqlite import SqliteStore; "
               "open(sys.argv[2], 'w').close()\n"
               "while not os.path.exists(sys.argv[3]): time.sleep(0.001)\n"
               "SqliteStore(sys.argv[1]).close()")
    for attempt in range(5):
        path = tmp_path / f"data-{attempt}" / "vitals.sqlite3"
        ready = [tmp_path / f"ready-{attempt}-{n}" for n in range(6)]
        go = tmp_path / f"go-{attempt}"
        processes = [subprocess.Popen([sys.executable, "-c", opening, str(path), str(flag),
                                       str(go)], stderr=subprocess.PIPE, text=True)
                     for flag in ready]
        wait_until(lambda r=ready: all(flag.exists() for flag in r), 60, "every process ready")
        go.touch()
        failures = [err for p in processes if (err := p.communicate(timeout=60)[1]) or p.returncode]
        assert failures == []
        assert SqliteStore(path).sessions() == []
