"""In headless Chromium: the wall (`/wall`) shows every session's tile and the alarms panel
without navigation, its heartbeat advances, it says "NOT UPDATING" while the dashboard is
stopped, and it recovers by itself when a new dashboard process answers again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from services import HOST, free_port, wait_until

from dashboard import app_context, ids
from dashboard.app import create_app
from dashboard.pages import wall
from tests.dashboard.builders import alert, bp, hr, spo2
from tests.dashboard.conftest import PASSWORD, SECRET, browser_login
from vitals.alerts import Metric, Priority
from vitals.storage.base import Batch
from vitals.storage.sqlite import SqliteStore
from vitals.timefmt import utcnow

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 10
START_S = 30  # a new `vitals dashboard` process: imports and first read


def text(dash_duo, element_id: str) -> str:
    return dash_duo.find_element(f"#{element_id}").text


def store_sessions(store, beds: list[str], alarming: str,
                   values: tuple[float, float, float, float]) -> None:
    """Readings of every bed now (systolic, diastolic, heart rate, SpO2), and a high heart-rate
    alarm of one."""
    now = utcnow()
    systolic, diastolic, bpm, saturation = values
    store.write(Batch(
        readings=[r for bed in beds for r in (bp(bed, now, systolic, diastolic),
                                              hr(bed, now, bpm), spo2(bed, now, saturation))],
        alerts=[alert(alarming, now, Metric.HEART_RATE, Priority.HIGH,
                      message="HR 150 /min: at or above 140.")]))


def test_the_wall_shows_every_sessions_tile_and_the_alarms_panel_without_navigation(
        dash_duo, store, settings, users):
    beds = [f"bed-{n}" for n in range(1, 6)]
    store_sessions(store, beds, "bed-3", (120, 80, 70, 97))
    app = create_app(store, settings, refresh_ms=300, users_path=users, secret_key=SECRET)
    try:
        _shows_every_tile_and_the_panel(dash_duo, app, beds)
    finally:
        app_context.context_of(app.server).reader.close()


def _shows_every_tile_and_the_panel(dash_duo, app, beds: list[str]) -> None:
    browser_login(dash_duo, app, port=free_port())
    dash_duo.driver.get(dash_duo.server.url + wall.PATH)

    for bed in beds:
        dash_duo.wait_for_text_to_equal(f"#{ids.tile_value(bed, 'bp')}", "120/80",
                                        timeout=WAIT_S)
    dash_duo.wait_for_contains_text(f"#{ids.ALARMS_PANEL}", "HR 150 /min", timeout=WAIT_S)
    assert not dash_duo.find_element(f"#{ids.HEADER}").is_displayed()
    # Five tiles: three columns, two rows, the whole grid on screen.
    style = dash_duo.find_element(f"#{ids.WALL_TILES}").get_attribute("style")
    assert "--wall-columns: 3" in style and "--wall-rows: 2" in style
    in_view = dash_duo.driver.execute_script("""
        return [...document.querySelectorAll('#wall-tiles > .tile')].map(t => {
            const box = t.getBoundingClientRect();
            return box.bottom <= window.innerHeight && box.right <= window.innerWidth;
        });""")
    assert in_view == [True] * 5
    assert dash_duo.driver.execute_script(NUMERALS_INSIDE) == []
    # The numerals grow with the tile: larger than on the overview's tiles.
    size = dash_duo.driver.execute_script(
        "return parseFloat(getComputedStyle(document.getElementById(arguments[0])).fontSize)",
        ids.tile_value("bed-1", "hr"))
    assert size > 3.4 * 16
    # The heartbeat: a clock that advances and the age of the last update.
    dash_duo.wait_for_contains_text(f"#{ids.WALL_AGE}", "updated", timeout=WAIT_S)
    first = text(dash_duo, ids.WALL_CLOCK)
    wait_until(lambda: text(dash_duo, ids.WALL_CLOCK) != first, WAIT_S, "the clock to advance")
    assert dash_duo.get_logs() == []


# Whether every numeral on the wall shows whole, inside its tile and not cut.
NUMERALS_INSIDE = """
return [...document.querySelectorAll('#wall-tiles .vital-value')].filter(value => {
    const tile = value.closest('.tile').getBoundingClientRect();
    const box = value.getBoundingClientRect();
    return box.top < tile.top || box.bottom > tile.bottom || box.left < tile.left
        || box.right > tile.right || value.scrollWidth > value.clientWidth + 1;
}).map(value => value.id);
"""


def test_a_crowded_wall_of_48_sessions_shows_every_numeral_whole_on_a_1080p_screen(
        dash_duo, store, settings, users):
    beds = [f"bed-{n:02d}" for n in range(1, 49)]  # queries.MAX_TILES
    store_sessions(store, beds, "bed-01", (188, 112, 150, 100))  # the widest numerals
    app = create_app(store, settings, refresh_ms=500, users_path=users, secret_key=SECRET)
    try:
        browser_login(dash_duo, app, port=free_port())
        dash_duo.driver.set_window_size(1920, 1080)
        dash_duo.driver.get(dash_duo.server.url + wall.PATH)
        dash_duo.wait_for_text_to_equal(f"#{ids.tile_value('bed-48', 'bp')}", "188/112",
                                        timeout=WAIT_S * 2)
        assert dash_duo.driver.execute_script(NUMERALS_INSIDE) == []
        alarm = dash_duo.find_element(f"#{ids.tile_alarm('bed-01')}")
        assert alarm.is_displayed() and "HIGH" in alarm.text
    finally:
        app_context.context_of(app.server).reader.close()


def _age_s(dash_duo) -> int:
    found = re.search(r"(\d+) s ago", text(dash_duo, ids.WALL_AGE))
    return int(found.group(1)) if found else -1


class Dashboard:
    """`vitals dashboard` in its own process (waitress, as deployed), stopped and started again
    on the same port and data directory: a real restart."""

    def __init__(self, data_dir: Path, mqtt_url: str) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(data_dir),
                    "VITALS_MQTT_URL": mqtt_url, "VITALS_DATA_DIR": str(data_dir),
                    "VITALS_DASHBOARD_SECRET_KEY": SECRET * 3,
                    "VITALS_DASHBOARD_WATCHDOG_SECONDS": "2"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vitals", "dashboard", "--host", HOST, "--port",
             str(self.port)], env=self.env, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/login", timeout=2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture
def dashboard_process(mosquitto, tmp_path, users) -> Iterator[Dashboard]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "users.sqlite3").write_bytes(users.read_bytes())
    served = Dashboard(data_dir, mosquitto.url)
    try:
        yield served
    finally:
        served.stop()


def test_the_wall_says_not_updating_while_the_dashboard_is_stopped_and_recovers_after(
        dash_duo, dashboard_process):
    from selenium.webdriver.common.by import By

    stored = SqliteStore(Path(dashboard_process.env["VITALS_DATA_DIR"]) / "vitals.sqlite3")
    try:
        stored.write(Batch(readings=[hr("bed-1", utcnow(), 72)]))
    finally:
        stored.close()
    dashboard_process.start()
    driver = dash_duo.driver

    wait_until(dashboard_process.answers, START_S, "the dashboard to answer")
    driver.get(dashboard_process.url + "/login?next=" + wall.PATH)
    driver.find_element(By.ID, "username").send_keys("nurse")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    dash_duo.wait_for_text_to_equal(f"#{ids.tile_value('bed-1', 'hr')}", "72", timeout=WAIT_S)
    dash_duo.wait_for_contains_text(f"#{ids.WALL_AGE}", "updated", timeout=WAIT_S)

    dashboard_process.stop()

    dash_duo.wait_for_contains_text(f"#{ids.WALL_AGE}", "NOT UPDATING", timeout=WAIT_S)
    heartbeat = dash_duo.find_element(f"#{ids.WALL_HEARTBEAT}")
    assert "wall-heartbeat--stale" in heartbeat.get_attribute("class")
    stopped_for = _age_s(dash_duo)
    wait_until(lambda: _age_s(dash_duo) > stopped_for, WAIT_S, "the age to advance")
    assert "NOT UPDATING" in text(dash_duo, ids.WALL_AGE)

    dashboard_process.start()

    wait_until(lambda: text(dash_duo, ids.WALL_AGE).startswith("updated"), START_S,
               "the wall to update again")
    assert "wall-heartbeat--stale" not in heartbeat.get_attribute("class")
    dash_duo.wait_for_text_to_equal(f"#{ids.tile_value('bed-1', 'hr')}", "72", timeout=WAIT_S)


# The network fails the wall's tile refreshes alone (as a proxy timing them out would), while
# the shell's go through: set in the page, in front of everything that wraps `fetch`.
FAIL_TILE_REFRESHES = """
const through = window.fetch;
window.failTiles = true;
window.fetch = function (url, options) {
    const body = options && typeof options.body === 'string' ? options.body : '';
    if (window.failTiles && body.indexOf('"wall-interval"') !== -1) {
        return Promise.reject(new TypeError('Failed to fetch'));
    }
    return through.apply(this, arguments);
};
"""


def test_the_wall_says_not_updating_when_its_tiles_fail_while_the_shell_still_answers(
        dash_duo, store, settings, users):
    store.write(Batch(readings=[hr("bed-1", utcnow(), 72)]))
    app = create_app(store, settings.model_copy(update={"dashboard_watchdog_seconds": 2}),
                     refresh_ms=300, users_path=users, secret_key=SECRET)
    try:
        browser_login(dash_duo, app, port=free_port())
        dash_duo.driver.get(dash_duo.server.url + wall.PATH)
        dash_duo.wait_for_contains_text(f"#{ids.WALL_AGE}", "updated", timeout=WAIT_S)

        dash_duo.driver.execute_script(FAIL_TILE_REFRESHES)

        dash_duo.wait_for_contains_text(f"#{ids.WALL_AGE}", "NOT UPDATING", timeout=WAIT_S)
        assert dash_duo.driver.execute_script("return window.vitalsWatchdog.state().stale") \
            is False  # the shell still answers: only the wall can tell

        dash_duo.driver.execute_script("window.failTiles = false;")

        dash_duo.wait_for_contains_text(f"#{ids.WALL_AGE}", "updated", timeout=WAIT_S)
    finally:
        app_context.context_of(app.server).reader.close()
