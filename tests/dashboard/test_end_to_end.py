"""The acknowledgement loop with the real ingest: a reading raises an alarm, the monitor clicks
acknowledge, the ingest stores who and why, and the dashboard stops the tone and shows the audit.
Real Mosquitto, real ingest worker, real SqliteStore; the click goes through Dash's endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from services import wait_until

from dashboard import auth
from dashboard.app import create_app, refresh_shell
from dashboard.commands import Commands
from dashboard.pages import session
from tests.dashboard.conftest import SECRET, login, text_of
from tests.dashboard.test_commands import ack_click
from vitals.alerts import AlertState
from vitals.mqtt import make_client
from vitals.settings import Settings
from vitals.storage import open_store
from vitals.timefmt import rfc3339, utcnow

WAIT_S = 10


@pytest.fixture
def pipeline(sqlite_settings: Settings) -> Iterator[Any]:
    """A running ingest worker on the session broker, writing to the test's SqliteStore."""
    from ingest.worker import IngestWorker, build_engine

    store = open_store(sqlite_settings)
    worker = IngestWorker(sqlite_settings, store, build_engine(sqlite_settings))
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        store.close()


@pytest.fixture
def dashboard_store(sqlite_settings: Settings, pipeline: Any) -> Iterator[Any]:
    store = open_store(sqlite_settings)  # the dashboard's own connection, read-only use
    try:
        yield store
    finally:
        store.close()


def publish(settings: Settings, topic: str, document: dict[str, Any]) -> None:
    client = make_client(settings.mqtt)
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(document), qos=1).wait_for_publish(WAIT_S)
    finally:
        client.disconnect()
        client.loop_stop()


def states(store: Any, session_id: str) -> list[str]:
    return [a.state.value for a in store.alerts(session_id)]


def test_an_acknowledged_alarm_stops_the_tone_and_shows_who_acknowledged_it(
        sqlite_settings, dashboard_store, users, session_id):
    commands = Commands(sqlite_settings)
    app = create_app(dashboard_store, sqlite_settings, users_path=users, secret_key=SECRET,
                     commands=commands)
    try:
        publish(sqlite_settings, f"vitals/{session_id}/bp",
                {"systolic": 186, "diastolic": 88, "time": rfc3339(utcnow())})
        wait_until(lambda: AlertState.ACTIVE.value in states(dashboard_store, session_id),
                   WAIT_S, "the ingest to raise the alarm")
        with app.server.test_request_context("/"):
            auth.login_as("nurse")
            _banner, _panel, level, _sig = refresh_shell(1, None)
        assert level == "high"

        client = app.server.test_client()
        login(client, "nurse")
        ack_click(client, session_id, "systolic", "re-measured, cuff repositioned")

        wait_until(lambda: AlertState.ACKNOWLEDGED.value in states(dashboard_store, session_id),
                   WAIT_S, "the ingest to store the acknowledgement")
        with app.server.test_request_context("/"):
            auth.login_as("nurse")
            _banner, panel, level, _sig = refresh_shell(2, None)
            *_head, table, _status, _stop = session.refresh(1, session_id)
        assert level is None
        assert "acknowledged by nurse" in text_of(panel)
        assert "re-measured, cuff repositioned" in text_of(table)
    finally:
        commands.close()
