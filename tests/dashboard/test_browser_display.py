"""In headless Chromium, how the screen shows what it shows: night mode dims all but the
alarms and stays on across reloads; keys acknowledge and pause or resume the audio, and the
alarm tone vibrates a phone too."""

from __future__ import annotations

import pytest
from services import free_port, wait_until

from dashboard import app_context, ids
from dashboard.app import create_app
from tests.dashboard.builders import alert, hr
from tests.dashboard.conftest import MQTT_WAIT_S, SECRET, browser_login
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


def press(dash_duo, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(dash_duo.driver).send_keys(key).perform()


def sound(dash_duo) -> dict:
    return dash_duo.driver.execute_script("return window.vitalsSound.state()")


def test_keys_acknowledge_the_top_alarm_and_pause_then_resume_the_audio_which_vibrates_too(
        dash_duo, store, broker_settings, users, commands, heard, session_id):
    now = utcnow()
    store.write(Batch(
        readings=[hr(session_id, now, 150)],
        alerts=[alert(session_id, now, Metric.HEART_RATE, Priority.HIGH,
                      message="HR 150 /min: at or above 140.")]))
    app = create_app(store, broker_settings, refresh_ms=300, users_path=users,
                     secret_key=SECRET, commands=commands)
    try:
        browser_login(dash_duo, app, port=free_port())
        dash_duo.wait_for_element(f"#{ids.alarm_row(session_id, 'heart_rate')}",
                                  timeout=WAIT_S)
        assert "A acknowledges the top alarm" in dash_duo.find_element(
            f"#{ids.SHORTCUTS_HINT}").text
        # A phone's vibration, recorded: each burst of the high tone vibrates in its rhythm,
        # once the page has had a tap (browsers allow no vibration before).
        dash_duo.find_element(f"#{ids.SHORTCUTS_HINT}").click()
        dash_duo.driver.execute_script(
            "window.vibrated = []; Navigator.prototype.vibrate = function (rhythm) {"
            " window.vibrated.push(rhythm); return true; };")
        wait_until(lambda: dash_duo.driver.execute_script("return window.vibrated.length"),
                   WAIT_S, "a vibration with the high tone")
        assert dash_duo.driver.execute_script("return window.vibrated[0]") == [120, 80] * 5
        assert sound(dash_duo)["vibrations"] >= 1

        press(dash_duo, "a")

        topic, payload = heard.get(timeout=MQTT_WAIT_S)
        assert topic == f"vitals/{session_id}/ack"
        assert (payload["metric"], payload["by"]) == ("heart_rate", "nurse")
        dash_duo.wait_for_contains_text(f"#{ids.ACK_FEEDBACK}", "acknowledged by nurse",
                                        timeout=WAIT_S)

        press(dash_duo, "p")
        dash_duo.wait_for_contains_text(f"#{ids.SOUND_STATUS}", "Audio paused", timeout=WAIT_S)
        resume = dash_duo.find_element(f"#{ids.SOUND_RESUME_BUTTON}")
        wait_until(resume.is_displayed, WAIT_S, "the resume control")
        assert sound(dash_duo)["paused"] is True

        press(dash_duo, "p")  # while paused: resumes
        wait_until(lambda: not resume.is_displayed(), WAIT_S, "the resume control to go")
        assert sound(dash_duo)["paused"] is False
        assert "Audio paused" not in dash_duo.find_element(f"#{ids.SOUND_STATUS}").text
    finally:
        app_context.context_of(app.server).reader.close()


def test_keys_do_nothing_while_a_note_is_typed(dash_duo, two_beds_one_alarming):
    browser_login(dash_duo, two_beds_one_alarming, port=free_port())
    note = dash_duo.wait_for_element(f"#{ids.alarm_row('bed-2', 'heart_rate')} input",
                                     timeout=WAIT_S)

    note.send_keys("pa")

    assert note.get_attribute("value") == "pa"
    assert sound(dash_duo)["paused"] is False
    assert dash_duo.find_element(f"#{ids.ACK_FEEDBACK}").text == ""
