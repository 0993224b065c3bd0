"""The loops with the real ingest: a reading raises an alarm, the monitor clicks acknowledge, the
ingest stores who and why, and the dashboard stops the tone and shows the audit; an observation
tapped and a check-in come back from the store into the log and the countdown.
Real Mosquitto, real ingest worker, real SqliteStore; the clicks go through Dash's endpoint (and,
once, through Chromium)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from services import free_port, wait_until

from dashboard import app_context, auth, session_view
from dashboard.app import create_app, refresh_shell
from dashboard.commands import Commands
from tests.dashboard.conftest import SECRET, browser_login, logged_in
from tests.dashboard.test_commands import ack_click
from tests.dashboard.test_observations import checkin_click, observation_click
from tests.dashboard.trees import text_of
from vitals.alerts import AlertState
from vitals.mqtt import make_client
from vitals.settings import Settings
from vitals.storage import open_store
from vitals.timefmt import rfc3339, utcnow

WAIT_S = 10


@pytest.fixture
def pipeline(sqlite_settings: Settings) -> Iterator[Any]:
    """A running ingest worker on the session broker, writing to the test's SqliteStore."""
    from ingest.service import build_engine
    from ingest.worker import IngestWorker

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


@pytest.fixture
def app(sqlite_settings: Settings, dashboard_store: Any, users: Any) -> Iterator[Any]:
    """The dashboard on the test's store, publishing its commands on the session broker."""
    commands = Commands(sqlite_settings)
    dash_app = create_app(dashboard_store, sqlite_settings, users_path=users, secret_key=SECRET,
                          commands=commands)
    try:
        yield dash_app
    finally:
        app_context.context_of(dash_app.server).reader.close()
        commands.close()


def states(store: Any, session_id: str) -> list[str]:
    return [a.state.value for a in store.alerts(session_id)]


def test_an_acknowledged_alarm_stops_the_tone_and_shows_who_acknowledged_it(
        sqlite_settings, dashboard_store, app, session_id):
    publish(sqlite_settings, f"vitals/{session_id}/bp",
            {"systolic": 186, "diastolic": 88, "time": rfc3339(utcnow())})
    wait_until(lambda: AlertState.ACTIVE.value in states(dashboard_store, session_id),
               WAIT_S, "the ingest to raise the alarm")
    with app.server.test_request_context("/"):
        auth.login_as("nurse")
        _banner, _panel, level, _sig = refresh_shell(1, None)
    assert level == "high"

    client = logged_in(app, "nurse")
    ack_click(client, session_id, "systolic", "re-measured, cuff repositioned")

    wait_until(lambda: AlertState.ACKNOWLEDGED.value in states(dashboard_store, session_id),
               WAIT_S, "the ingest to store the acknowledgement")

    def shell() -> tuple[Any, ...]:
        with app.server.test_request_context("/"):
            auth.login_as("nurse")
            return refresh_shell(2, None)

    # The shell shows the live reader's newest snapshot, read in the background.
    wait_until(lambda: shell()[2] is None, WAIT_S, "the live reader to see it")
    _banner, panel, level, _sig = shell()
    with app.server.test_request_context("/"):
        auth.login_as("nurse")
        *_head, table, _status, _stop = session_view.refresh(1, session_id)
    assert level is None
    assert "acknowledged by nurse" in text_of(panel)
    assert "re-measured, cuff repositioned" in text_of(table)


def test_a_tapped_observation_and_a_checkin_are_stored_by_the_ingest_and_shown(
        dashboard_store, app, session_id):
    client = logged_in(app, "nurse")

    sent = [observation_click(client, session_id, "vomiting", "severe", "turned on side"),
            checkin_click(client, session_id)]
    assert [r.status_code for r in sent] == [200, 200], [r.data for r in sent]

    wait_until(lambda: dashboard_store.observations(session_id), WAIT_S,
               "the ingest to store the observation")
    wait_until(lambda: any(e.event.value == "checkin"
                           for e in dashboard_store.events(session_id)),
               WAIT_S, "the ingest to store the check-in")
    with app.server.test_request_context("/"):
        auth.login_as("nurse")
        log, badge = session_view.refresh_presence(1, session_id)
        _protocol, trail = session_view.refresh_protocol(1, session_id)
    assert "Vomiting severe nurse turned on side" in text_of(log)
    assert "Last check-in just now (nurse)" in text_of(badge)
    assert "checkin nurse" in text_of(trail)


@pytest.mark.browser
def test_a_monitor_taps_an_observation_and_sees_it_in_the_log(
        dash_duo, sqlite_settings, dashboard_store, users, session_id):
    publish(sqlite_settings, f"vitals/{session_id}/hr", {"bpm": 72, "time": rfc3339(utcnow())})
    wait_until(lambda: dashboard_store.readings(session_id), WAIT_S, "the first reading")
    commands = Commands(sqlite_settings)
    try:
        browser_login(dash_duo, create_app(dashboard_store, sqlite_settings, refresh_ms=300,
                                           users_path=users, secret_key=SECRET,
                                           commands=commands), port=free_port())
        dash_duo.driver.get(f"{dash_duo.server.url}/session/{session_id}")
        dash_duo.wait_for_contains_text("#observation-log", "No observations", timeout=WAIT_S)

        dash_duo.driver.find_element(
            By.CSS_SELECTOR, "#observation-severity input[value='moderate']").click()
        dash_duo.driver.find_element(
            By.XPATH, "//button[contains(@class, 'observation-button') and .='Nausea']").click()

        dash_duo.wait_for_contains_text("#observation-feedback", "Nausea (moderate) recorded",
                                        timeout=WAIT_S)
        dash_duo.wait_for_contains_text("#observation-log", "Nausea", timeout=WAIT_S)
        assert "moderate" in dash_duo.find_element("#observation-log").text
        dash_duo.find_element("#checkin-button").click()
        dash_duo.wait_for_contains_text("#checkin-status", "Last check-in just now (nurse)",
                                        timeout=WAIT_S)
        assert dash_duo.get_logs() == []
    finally:
        commands.close()
