"""Dashboard fixtures: a real SqliteStore per test, logged-in clients, headless Chromium.

`pytest_setup_options` is dash[testing]'s hook for the webdriver options: Debian's Chromium,
headless, no sandbox (CI runs as root), and nothing that tries to reach the network.
"""

from __future__ import annotations

import json
import queue
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from services import free_port

from dashboard import app_context, auth
from dashboard.app import create_app
from dashboard.commands import Commands
from tests.dashboard.builders import NOW, alert, bp, event, hr, minutes, spo2
from vitals.alerts import Metric, Priority
from vitals.mqtt import make_client
from vitals.readings import SessionEventType
from vitals.settings import Settings
from vitals.storage.base import Batch

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1680,1000",
)

def pytest_setup_options() -> Any:
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for argument in CHROME_ARGS:
        options.add_argument(argument)
    return options


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Explicit settings, so no VITALS_* variable of the developer's shell leaks in."""
    return Settings(data_dir=tmp_path / "data", influx_url=None, profile=None,
                    stale_seconds=None)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    from vitals.storage.sqlite import SqliteStore

    opened = SqliteStore(tmp_path / "v.sqlite3")
    try:
        yield opened
    finally:
        opened.close()


PASSWORD = "correct-horse-battery"
SECRET = "test-secret-key"
# name -> role: one login per role.
LOGINS = {"nurse": "monitor", "doctor": "clinician", "boss": "admin"}


@pytest.fixture(scope="session")
def users(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A users file with one login per role, all with PASSWORD (read-only: hashing is slow on
    purpose, so it is built once)."""
    from vitals.users import ensure_user

    path = tmp_path_factory.mktemp("users") / "users.sqlite3"
    for name, role in LOGINS.items():
        ensure_user(path, name, PASSWORD, role, method="pbkdf2:sha256:1000")
    return path


def dash_id(component_id: Any) -> str:
    """A component id as the Dash renderer writes it in a callback request (a pattern-matching
    id as sorted, compact JSON)."""
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return component_id


def csrf_token(client: Any, path: str = "/login") -> str:
    """The CSRF token the page at `path` carries in its form, as a browser would read it."""
    import re

    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, f"no CSRF token in {path}"
    return found.group(1)


def login(client: Any, name: str, password: str = PASSWORD, next_page: str = "/") -> Any:
    """Log a Flask test client in through the form, as a browser would (with its CSRF token)."""
    return client.post("/login", data={"username": name, "password": password,
                                       "next": next_page, "csrf_token": csrf_token(client)})


def logged_in(app: Any, name: str) -> Any:
    """A Flask test client of `app`, logged in as `name`."""
    client = app.server.test_client()
    login(client, name)
    return client


def browser_login(dash_duo: Any, app: Any, name: str = "nurse", port: int | None = None) -> None:
    """Start `app`, log in through the form in Chromium, and land on the overview."""
    dash_duo.start_server(app, navigate=False, port=port)
    browser_login_form(dash_duo, name, PASSWORD)


def browser_login_form(dash_duo: Any, name: str, password: str) -> None:
    """Log in through the form of the running app, and land on the overview."""
    from selenium.webdriver.common.by import By

    dash_duo.driver.get(dash_duo.server.url + "/login")
    dash_duo.driver.find_element(By.ID, "username").send_keys(name)
    dash_duo.driver.find_element(By.ID, "password").send_keys(password)
    dash_duo.driver.find_element(By.ID, "login-submit").click()
    dash_duo.wait_for_element("#react-entry-point", timeout=10)  # redirected: logged in


# --- a real broker, and what the dashboard published on it ---

MQTT_WAIT_S = 5


@pytest.fixture
def broker_settings(mosquitto, tmp_path) -> Settings:
    return Settings(mqtt_url=mosquitto.url, data_dir=tmp_path / "data", influx_url=None,
                    profile=None, stale_seconds=None)


@pytest.fixture
def commands(broker_settings) -> Iterator[Commands]:
    publisher = Commands(broker_settings)
    try:
        yield publisher
    finally:
        publisher.close()


@pytest.fixture
def heard(broker_settings, session_id) -> Iterator[queue.Queue[tuple[str, dict[str, Any]]]]:
    """(topic, payload) of everything published under the test's session."""
    messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    subscribed = queue.Queue()
    client = make_client(broker_settings.mqtt, f"test-listener-{uuid.uuid4().hex[:8]}")
    client.on_message = lambda _c, _u, m: messages.put((m.topic, json.loads(m.payload)))
    client.on_subscribe = lambda *_a: subscribed.put(True)
    client.on_connect = lambda c, *_a: c.subscribe(f"vitals/{session_id}/#", qos=1)
    client.connect(broker_settings.mqtt.host, broker_settings.mqtt.port)
    client.loop_start()
    subscribed.get(timeout=MQTT_WAIT_S)
    try:
        yield messages
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def app(store, settings, users) -> Iterator[Any]:
    dash_app = create_app(store, settings, refresh_ms=500, clock=lambda: NOW, users_path=users,
                          secret_key=SECRET)
    yield dash_app
    app_context.context_of(dash_app.server).reader.close()


def reread(app: Any) -> None:
    """The live snapshot read again now, after the test stored something: the overview and the
    shell show the newest snapshot, and the reader's own next read is up to 100 ms away."""
    app_context.context_of(app.server).reader.refresh()


@pytest.fixture
def in_app(app) -> Iterator[Any]:
    """A request context of `app`, which is where Dash runs callbacks and page layouts, with
    the monitor logged in."""
    with app.server.test_request_context("/"):
        auth.login_as("nurse")
        yield app


# --- the demo's sessions in Chromium, at a screen's size (the phone and print tests) ---

DEMO_WAIT_S = 10
NORMAL, SPIKE, TACHY, DESAT = (f"demo1705-0{n}-{name}" for n, name in enumerate(
    ("normal", "hypertensive-spike", "tachycardia", "desaturation"), start=1))


def demo_sessions() -> Batch:
    """The demo's four sessions (`vitals demo`) as they stand after its first minutes: the
    spike's systolic (high) and diastolic (low), the tachycardia and the desaturation alarms."""
    vitals = {NORMAL: (118, 76, 72, 98), SPIKE: (184, 96, 88, 97), TACHY: (128, 82, 132, 97),
              DESAT: (121, 78, 80, 85)}
    readings = [r for session, (systolic, diastolic, rate, saturation) in vitals.items()
                for r in (bp(session, NOW - minutes(1), systolic, diastolic),
                          hr(session, NOW, rate), spo2(session, NOW, saturation))]
    return Batch(
        readings=readings,
        events=[e for session in vitals for e in (
            event(session, NOW - minutes(30), SessionEventType.START),
            event(session, NOW - minutes(25), SessionEventType.DOSE))],
        alerts=[
            alert(SPIKE, NOW - minutes(1), Metric.SYSTOLIC, Priority.HIGH, value=184,
                  message="Systolic 184 mmHg: at or above 180 (hypertensive crisis range). "
                          "Re-measure now; call the clinician."),
            alert(SPIKE, NOW - minutes(1), Metric.DIASTOLIC, Priority.LOW, value=96,
                  message="Diastolic 96 mmHg: at or above 95 (elevated). Keep measuring at "
                          "the usual cadence."),
            alert(TACHY, NOW, Metric.HEART_RATE, Priority.HIGH, value=132,
                  message="Heart rate 132 /min (HR sensor): above 130 (severe tachycardia). "
                          "Check the patient now; call the clinician."),
            alert(DESAT, NOW, Metric.SPO2, Priority.HIGH, value=85,
                  message="SpO2 85 %: below 90 for 15 s (hypoxaemia). Check the airway and "
                          "the sensor now; call the clinician."),
        ])


def at_size(dash_duo: Any, width: int, height: int) -> None:
    """The page's viewport exactly this size (a window's size would include its frame)."""
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def open_demo(dash_duo: Any, store: Any, app: Any, width: int, height: int,
              path: str = "/") -> None:
    """The demo's sessions stored, the monitor logged in, the page at `path` open at this size
    with the alarm strip showing the demo's four alarms."""
    store.write(demo_sessions())
    browser_login(dash_duo, app, port=free_port())
    at_size(dash_duo, width, height)
    if path != "/":
        dash_duo.driver.get(dash_duo.server.url + path)
    dash_duo.wait_for_contains_text(".alarms-summary", "4 alarms (", timeout=DEMO_WAIT_S)
