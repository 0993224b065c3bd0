"""In headless Chromium, how the screen shows what it shows: night mode dims all but the
alarms and stays on across reloads."""

from __future__ import annotations

import pytest
from services import free_port, wait_until

from dashboard import app_context, ids
from dashboard.app import create_app
from tests.dashboard.conftest import SECRET, alert, browser_login, hr
from vitals.alerts import Metric, Priority
from vitals.storage.base import Batch
from vitals.timefmt import utcnow

pytestmark = pytest.mark.browser

WAIT_S = 10

# How much an element is dimmed, all its ancestors included: the product of their opacities and
# every filter on the way up.
DIMMING = """
const dimming = [];
let opacity = 1;
for (let e = document.getElementById(arguments[0]); e; e = e.parentElement) {
    const style = getComputedStyle(e);
    opacity *= parseFloat(style.opacity);
    if (style.filter !== 'none') { dimming.push(style.filter); }
}
return {opacity: opacity, filters: dimming};
"""


@pytest.fixture
def two_beds_one_alarming(store, settings, users):
    now = utcnow()
    store.write(Batch(
        readings=[hr("bed-1", now, 70), hr("bed-2", now, 150)],
        alerts=[alert("bed-2", now, Metric.HEART_RATE, Priority.HIGH,
                      message="HR 150 /min: at or above 140.")]))
    app = create_app(store, settings, refresh_ms=300, users_path=users, secret_key=SECRET)
    yield app
    app_context.context_of(app.server).reader.close()


def test_night_mode_dims_the_quiet_tiles_but_never_an_alarm_and_survives_a_reload(
        dash_duo, two_beds_one_alarming):
    browser_login(dash_duo, two_beds_one_alarming, port=free_port())
    dash_duo.wait_for_element(f"#{ids.tile_alarm('bed-2')}", timeout=WAIT_S)
    row = f"#{ids.alarm_row('bed-2', 'heart_rate')}"
    dash_duo.wait_for_element(row, timeout=WAIT_S)
    day_fill = dash_duo.find_element(f"#{ids.tile_alarm('bed-2')}").value_of_css_property(
        "background-color")

    dash_duo.find_element(f"#{ids.NIGHT_TOGGLE}").click()
    dash_duo.wait_for_text_to_equal(f"#{ids.NIGHT_TOGGLE}", "☀ Day mode", timeout=WAIT_S)

    def dimming(element_id: str) -> dict:
        return dash_duo.driver.execute_script(DIMMING, element_id)

    assert dimming(ids.tile("bed-1"))["filters"] == ["brightness(0.5)"]
    for alarming in (ids.tile("bed-2"), ids.tile_alarm("bed-2"),
                     ids.alarm_row("bed-2", "heart_rate")):
        assert dimming(alarming) == {"opacity": 1, "filters": []}, alarming
    assert dash_duo.find_element(f"#{ids.tile_alarm('bed-2')}").value_of_css_property(
        "background-color") == day_fill

    dash_duo.driver.refresh()  # kept in the browser
    dash_duo.wait_for_element(f"#{ids.tile('bed-1')}", timeout=WAIT_S)
    dash_duo.wait_for_text_to_equal(f"#{ids.NIGHT_TOGGLE}", "☀ Day mode", timeout=WAIT_S)
    wait_until(lambda: dimming(ids.tile("bed-1"))["filters"] == ["brightness(0.5)"], WAIT_S,
               "the quiet tile dimmed after the reload")

    dash_duo.find_element(f"#{ids.NIGHT_TOGGLE}").click()
    dash_duo.wait_for_text_to_equal(f"#{ids.NIGHT_TOGGLE}", "☾ Night mode", timeout=WAIT_S)
    assert dimming(ids.tile("bed-1"))["filters"] == []
    assert dash_duo.get_logs() == []
