"""End to end in headless Chromium: login, the overview updates itself and shows alarms as text,
an alarm is acknowledged over MQTT, and blocked sound is announced."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from services import free_port, wait_until

from dashboard import app_context, ids
from dashboard.app import create_app
from tests.dashboard.builders import alert, bp, event, hr, minutes, spo2
from tests.dashboard.conftest import MQTT_WAIT_S, SECRET, browser_login, browser_login_form
from vitals.alerts import AlertState, Metric, Priority
from vitals.readings import Reading, SessionEventType
from vitals.storage.base import Batch
from vitals.timefmt import utcnow
from vitals.vital_signs import SIGNS, Kind

pytestmark = pytest.mark.browser

# The README's screenshot is refreshed only when asked (VITALS_SCREENSHOTS=1): a test run must
# not modify tracked files.
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot-overview.png"
WAIT_S = 10


def at(element_id: str) -> str:
    """The CSS selector of the element with this id."""
    return f"#{element_id}"


def test_pages_need_a_login_and_the_login_form_says_decision_support_only(
        dash_duo, store, settings, users):
    dash_duo.start_server(create_app(store, settings, users_path=users, secret_key=SECRET),
                          navigate=False, port=free_port())

    dash_duo.driver.get(dash_duo.server.url + "/")

    dash_duo.wait_for_element("#login-submit", timeout=WAIT_S)
    assert "/login?next=/" in dash_duo.driver.current_url
    assert "not a certified medical device" in dash_duo.find_element("#disclaimer").text


def test_a_new_reading_appears_on_the_overview_without_reload(dash_duo, store, settings,
                                                              users):
    now = utcnow()
    store.write(Batch(readings=[bp("bed-1", now - minutes(1), 121, 79), hr("bed-1", now, 72)]))
    browser_login(dash_duo, create_app(store, settings, refresh_ms=300, users_path=users,
                                       secret_key=SECRET), port=free_port())
    dash_duo.wait_for_text_to_equal(at(ids.tile_value("bed-1", "bp")), "121/79", timeout=WAIT_S)

    store.write(Batch(readings=[bp("bed-1", utcnow(), 164, 102)]))

    dash_duo.wait_for_text_to_equal(at(ids.tile_value("bed-1", "bp")), "164/102", timeout=WAIT_S)
    assert dash_duo.get_logs() == []


def test_an_alarm_raised_and_cleared_on_a_shown_tile_changes_its_text_class_and_role(
        dash_duo, store, settings, users):
    # The tiles stay on screen: a refresh sets the parts that changed in place.
    now = utcnow()
    store.write(Batch(readings=[bp("bed-2", now, 150, 95), hr("bed-2", now, 80)]))
    browser_login(dash_duo, create_app(store, settings, refresh_ms=300, users_path=users,
                                       secret_key=SECRET), port=free_port())
    dash_duo.wait_for_text_to_equal(at(ids.tile_alarm("bed-2")), "✓ No active alarm",
                                    timeout=WAIT_S)

    store.write(Batch(alerts=[alert("bed-2", utcnow(), Metric.SYSTOLIC, Priority.HIGH,
                                    value=186, message="Systolic 186 mmHg: at or above 180.")]))

    # The headline carries the metric's latest value beside the one that raised it.
    dash_duo.wait_for_text_to_equal(at(ids.tile_alarm("bed-2")),
                                    "▲ HIGH — Systolic 186 mmHg: at or above 180. — now 150",
                                    timeout=WAIT_S)
    dash_duo.wait_for_contains_class(at(ids.tile("bed-2")), "tile--high", timeout=WAIT_S)
    assert dash_duo.find_element(at(ids.tile_alarm("bed-2"))).get_attribute("role") == "alert"

    store.write(Batch(alerts=[alert("bed-2", utcnow(), Metric.SYSTOLIC, Priority.HIGH,
                                    state=AlertState.CLEARED, value=150)]))

    dash_duo.wait_for_text_to_equal(at(ids.tile_alarm("bed-2")), "✓ No active alarm",
                                    timeout=WAIT_S)
    wait_until(lambda: "tile--high" not in dash_duo.find_element(at(ids.tile("bed-2")))
               .get_attribute("class"), WAIT_S, "the tile's alarm class gone")
    assert dash_duo.find_element(at(ids.tile_alarm("bed-2"))).get_attribute("role") is None
    assert dash_duo.get_logs() == []


def test_an_acknowledged_alarm_stays_on_its_tile_and_panel_silenced_until_it_clears(
        dash_duo, store, settings, users):
    # SpO2 stays at 85-87 % after the acknowledgement: the alarm is silenced, not gone.
    now = utcnow()
    store.write(Batch(
        readings=[spo2("bed-3", now - minutes(m / 6), 85 + m % 3) for m in range(6)],
        alerts=[
            alert("bed-3", now - minutes(1), Metric.SPO2, Priority.HIGH, value=86,
                  message="SpO2 86 %: below 90 for 15 s."),
            replace(alert("bed-3", now - minutes(0.5), Metric.SPO2, Priority.HIGH,
                          AlertState.ACKNOWLEDGED, value=86,
                          message="SpO2 86 %: below 90 for 15 s."), by="nurse"),
        ],
    ))
    browser_login(dash_duo, create_app(store, settings, refresh_ms=300, users_path=users,
                                       secret_key=SECRET), port=free_port())

    dash_duo.wait_for_contains_text(at(ids.tile_alarm("bed-3")), "▲ HIGH — SpO2 86 %",
                                    timeout=WAIT_S)
    assert "acknowledged by nurse, silenced" in dash_duo.find_element(
        at(ids.tile_alarm("bed-3"))).text
    dash_duo.wait_for_contains_class(at(ids.tile("bed-3")), "tile--acked", timeout=WAIT_S)
    assert dash_duo.find_element(at(ids.tile_alarm("bed-3"))).get_attribute("role") is None
    row = dash_duo.wait_for_element(f"#{ids.alarm_row('bed-3', 'spo2')}", timeout=WAIT_S)
    assert "alarm--acked" in row.get_attribute("class")
    assert dash_duo.driver.execute_script("return window.vitalsSound.state().level") is None

    store.write(Batch(alerts=[alert("bed-3", utcnow(), Metric.SPO2, Priority.HIGH,
                                    AlertState.CLEARED, value=95)]))

    dash_duo.wait_for_text_to_equal(at(ids.tile_alarm("bed-3")), "✓ No active alarm",
                                    timeout=WAIT_S)
    assert dash_duo.get_logs() == []


def test_two_technical_alarms_show_apart_and_a_latched_one_says_when_it_ended(
        dash_duo, store, settings, users):
    # The HR stream is silent; the missed check-in ended (a monitor checked in) but nobody
    # acknowledged it: two alarms of one session, each with its own row and button.
    now = utcnow()
    ended = now - minutes(0.2)
    store.write(Batch(
        readings=[bp("bed-4", now, 121, 79)],
        alerts=[
            alert("bed-4", now - minutes(2), Metric.DATA, Priority.MEDIUM,
                  message="No heart rate reading for 30 s.", rule="data.stream_silent.hr"),
            alert("bed-4", now - minutes(1), Metric.DATA, Priority.MEDIUM,
                  message="No presence check-in for 17 min.", rule="data.checkin_missed"),
            replace(alert("bed-4", ended, Metric.DATA, Priority.MEDIUM,
                          message="No presence check-in for 17 min.",
                          rule="data.checkin_missed"), ended=ended),
        ],
    ))
    browser_login(dash_duo, create_app(store, settings, refresh_ms=300, users_path=users,
                                       secret_key=SECRET), port=free_port())

    said = f"ended at {ended:%H:%M} UTC — acknowledge to clear"
    dash_duo.wait_for_contains_text(at(ids.tile_alarm("bed-4")), said, timeout=WAIT_S)
    assert "(+1 more)" in dash_duo.find_element(at(ids.tile_alarm("bed-4"))).text
    silent = dash_duo.wait_for_element(
        at(ids.alarm_row("bed-4", "data", "data.stream_silent.hr")), timeout=WAIT_S)
    checkin = dash_duo.find_element(at(ids.alarm_row("bed-4", "data", "data.checkin_missed")))
    assert "No heart rate reading" in silent.text and "acknowledge to clear" not in silent.text
    assert "No presence check-in" in checkin.text and said in checkin.text
    assert len(dash_duo.find_elements(".ack-button")) == 2
    assert dash_duo.get_logs() == []


def test_one_stopped_oximeter_raises_no_pipeline_banner(dash_duo, store, settings, users):
    # Its cuff is on cadence: the pipeline delivers; the silent oximeter is the session's own
    # technical alarm (the ingest raises it), not the red banner.
    now = utcnow()
    store.write(Batch(readings=[bp("bed-5", now - minutes(3), 128, 82),
                                spo2("bed-5", now - minutes(2), 97, pulse=72)]))
    browser_login(dash_duo, create_app(store, settings, refresh_ms=300, users_path=users,
                                       secret_key=SECRET), port=free_port())

    dash_duo.wait_for_contains_text(at(ids.tile("bed-5")), "no SpO2 for 2 min", timeout=WAIT_S)
    # The banner and the panel come from one refresh: once the panel is drawn, so is the banner.
    dash_duo.wait_for_contains_text(at(ids.ALARMS_PANEL), "No alarms", timeout=WAIT_S)
    assert dash_duo.driver.find_elements("css selector", ".pipeline-banner") == []

    assert dash_duo.get_logs() == []


def test_an_active_high_alarm_shows_its_text_on_the_overview(dash_duo, store, settings, users,
                                                             tmp_path):
    now = utcnow()
    store.write(Batch(
        readings=[
            bp("room-A", now - minutes(3), 186, 112), hr("room-A", now, 104),
            spo2("room-A", now, 97),
            bp("room-B", now - minutes(4), 132, 84), hr("room-B", now, 76),
            spo2("room-B", now, 93),
            bp("room-C", now - minutes(17), 128, 82), hr("room-C", now - minutes(2), 68),
            spo2("room-C", now - minutes(2), 98),
            *[hr("room-A", now - minutes(m), 80 + 24 * (1 - m / 30)) for m in range(1, 30)],
            *[bp("room-A", now - minutes(m), 186 - 2 * m, 112 - m) for m in range(10, 30, 10)],
            *[hr("room-B", now - minutes(m), 76 + (m % 4)) for m in range(1, 30)],
        ],
        events=[event("room-A", now - minutes(41), SessionEventType.DOSE),
                event("room-B", now - minutes(12), SessionEventType.DOSE)],
        alerts=[
            alert("room-A", now - minutes(3), Metric.SYSTOLIC, Priority.HIGH, value=186,
                  message="Systolic 186 mmHg: at or above 180 (hypertensive crisis range). "
                          "Re-measure now; call the clinician."),
            alert("room-B", now - minutes(1), Metric.SPO2, Priority.LOW, value=93,
                  message="SpO2 93 %: 93-94, watch breathing."),
        ],
    ))
    browser_login(dash_duo, create_app(store, settings, refresh_ms=500, users_path=users,
                                       secret_key=SECRET), port=free_port())

    dash_duo.wait_for_contains_text(at(ids.tile_alarm("room-A")), "▲ HIGH — Systolic 186 mmHg",
                                    timeout=WAIT_S)
    dash_duo.wait_for_contains_text(at(ids.tile("room-C")), "no BP for 17 min", timeout=WAIT_S)
    # Tiles re-render on every refresh: wait on the class rather than hold a stale element.
    dash_duo.wait_for_contains_class(at(ids.tile("room-A")), "tile--high", timeout=WAIT_S)

    dash_duo.driver.set_window_size(1680, 1000)
    dash_duo.wait_for_element(".tile-trend .main-svg", timeout=WAIT_S)
    shot = DOCS_SCREENSHOT if os.environ.get("VITALS_SCREENSHOTS") else tmp_path / "overview.png"
    assert dash_duo.driver.save_screenshot(str(shot))
    assert dash_duo.get_logs() == []


def test_a_monitor_acknowledges_an_alarm_and_the_ack_goes_out_over_mqtt(
        dash_duo, store, broker_settings, users, commands, heard, session_id):
    now = utcnow()
    store.write(Batch(
        readings=[bp(session_id, now - minutes(1), 186, 112), hr(session_id, now, 90)],
        alerts=[alert(session_id, now - minutes(1), Metric.SYSTOLIC, Priority.HIGH, value=186,
                      message="Systolic 186 mmHg: at or above 180.")],
    ))
    browser_login(dash_duo, create_app(store, broker_settings, refresh_ms=500, users_path=users,
                                       secret_key=SECRET, commands=commands), port=free_port())
    dash_duo.wait_for_contains_text(at(ids.tile_alarm(session_id)), "▲ HIGH", timeout=WAIT_S)
    row = f"#alarm-{session_id}-systolic"
    dash_duo.wait_for_element(row, timeout=WAIT_S)
    # A reloaded wall screen has had no click yet: sound is blocked, and the screen says so.
    dash_duo.driver.get(dash_duo.server.url + "/")
    dash_duo.wait_for_element(row, timeout=WAIT_S)
    warning = dash_duo.wait_for_element("#sound-warning", timeout=WAIT_S)
    wait_until(warning.is_displayed, WAIT_S, "the blocked-sound warning")
    assert "click to enable" in warning.text

    dash_duo.find_element(f"{row} input").send_keys("re-measured")
    dash_duo.find_element(f"{row} .ack-button").click()

    topic, payload = heard.get(timeout=MQTT_WAIT_S)
    assert topic == f"vitals/{session_id}/ack"
    assert (payload["metric"], payload["by"], payload["note"]) == (
        "systolic", "nurse", "re-measured")
    dash_duo.wait_for_contains_text("#ack-feedback", "acknowledged by nurse", timeout=WAIT_S)
    # The click was a user gesture: sound is enabled, the warning goes.
    wait_until(lambda: not warning.is_displayed(), WAIT_S, "the warning to go")
    assert dash_duo.driver.execute_script("return window.vitalsSound.state().level") == "high"

    dash_duo.find_element("#sound-pause").click()

    dash_duo.wait_for_contains_text("#sound-status", "Audio paused — 1:5", timeout=WAIT_S)
    assert dash_duo.driver.execute_script("return window.vitalsSound.state().paused") is True
    assert dash_duo.get_logs() == []


def test_an_admin_adds_a_login_who_then_logs_in(dash_duo, store, settings, users, tmp_path):
    users_file = shutil.copy(users, tmp_path / "users.sqlite3")
    browser_login(dash_duo, create_app(store, settings, refresh_ms=500, users_path=users_file,
                                       secret_key=SECRET), name="boss", port=free_port())
    dash_duo.find_element("#header a[href='/users']").click()
    dash_duo.wait_for_contains_text("#users-table", "nurse", timeout=WAIT_S)

    dash_duo.find_element("#new-user-name").send_keys("carol")
    dash_duo.find_element("#new-user-role input[value='clinician']").click()
    dash_duo.find_element("#new-user-password").send_keys("carols-password")
    dash_duo.find_element("#new-user-password-again").send_keys("carols-password")
    dash_duo.find_element("#new-user-submit").click()

    dash_duo.wait_for_contains_text("#users-feedback", "'carol' added (clinician)",
                                    timeout=WAIT_S)
    dash_duo.wait_for_contains_text("#users-table", "carol", timeout=WAIT_S)
    assert dash_duo.find_element("#new-user-password").get_attribute("value") == ""
    dash_duo.find_element("#logout-button").click()
    dash_duo.wait_for_element("#login-submit", timeout=WAIT_S)

    browser_login_form(dash_duo, "carol", "carols-password")

    dash_duo.wait_for_contains_text("#user-badge", "carol (clinician)", timeout=WAIT_S)
    assert dash_duo.find_elements("#header a[href='/users']") == []
    # A poll in flight when the admin logged out is refused (401): that is the logout working.
    assert [entry for entry in dash_duo.get_logs()
            if not ("_dash-update-component" in entry["message"] and "401" in entry["message"])
            ] == []


def test_ending_a_session_asks_first_and_lists_its_unacknowledged_alarm(
        dash_duo, store, broker_settings, users, commands, heard, session_id):
    now = utcnow()
    store.write(Batch(
        readings=[spo2(session_id, now, 86)],
        alerts=[alert(session_id, now - minutes(1), Metric.SPO2, Priority.HIGH, value=86,
                      message="SpO2 86 %: below 90 for 15 s.")],
    ))
    browser_login(dash_duo, create_app(store, broker_settings, refresh_ms=500, users_path=users,
                                       secret_key=SECRET, commands=commands), port=free_port())
    dash_duo.driver.get(f"{dash_duo.server.url}/session/{session_id}")
    # The page's callbacks answer (the alarm is drawn) before the click: a click on a button
    # whose callbacks Dash has not wired yet is lost.
    dash_duo.wait_for_contains_text(at(ids.SESSION_ALERTS), "SpO2 86", timeout=WAIT_S)

    dash_duo.wait_for_element(at(ids.EVENT_END), timeout=WAIT_S).click()

    dash_duo.wait_for_contains_text(at(ids.END_CONFIRM_TEXT), "1 alarm(s) present, 1 not "
                                    "acknowledged", timeout=WAIT_S)
    assert "SpO2 86 %: below 90 for 15 s. — NOT acknowledged" in dash_duo.find_element(
        at(ids.END_CONFIRM_TEXT)).text
    # A monitor confirms: refused (only a clinician or admin may end with alarms present).
    dash_duo.find_element(at(ids.END_REASON)).send_keys("patient left")
    dash_duo.find_element(at(ids.END_CONFIRM_SUBMIT)).click()
    dash_duo.wait_for_contains_text(at(ids.SESSION_FEEDBACK), "Not ended", timeout=WAIT_S)
    assert heard.empty()  # nothing was ended, by the first click or the confirmation
    assert dash_duo.get_logs() == []


def test_a_clinician_opens_the_alarm_burden_from_the_nav_and_sees_it_once_computed(
        dash_duo, store, settings, users):
    app = create_app(store, settings, refresh_ms=500, users_path=users, secret_key=SECRET,
                     burden_patients=3)
    try:
        browser_login(dash_duo, app, name="doctor", port=free_port())
        dash_duo.find_element("#header a[href='/burden']").click()
        dash_duo.wait_for_contains_text(at(ids.BURDEN_REPORT), "Computing", timeout=WAIT_S)

        dash_duo.wait_for_contains_text(at(ids.BURDEN_REPORT), "3 (1)", timeout=120)
        assert "default.toml" in dash_duo.find_element(at(ids.BURDEN_REPORT)).text
        dash_duo.wait_for_element(f"{at(ids.BURDEN_REPORT)} .js-plotly-plot", timeout=WAIT_S)
        assert dash_duo.get_logs() == []
    finally:
        app_context.context_of(app.server).burden.close()


def test_a_respiratory_rate_joins_its_tile_in_the_registrys_colour_once_the_session_has_one(
        dash_duo, store, settings, users):
    store.write(Batch(readings=[hr("bed-2", utcnow(), 70)]))
    browser_login(dash_duo, create_app(store, settings, refresh_ms=300, users_path=users,
                                       secret_key=SECRET), port=free_port())
    dash_duo.wait_for_text_to_equal(at(ids.tile_value("bed-2", "hr")), "70", timeout=WAIT_S)
    assert not dash_duo.driver.find_elements("css selector", at(ids.tile_value("bed-2", "rr")))

    store.write(Batch(readings=[Reading("bed-2", Kind.RR, utcnow(), {"rate": 6.0}, "capno-1")]))

    dash_duo.wait_for_text_to_equal(at(ids.tile_value("bed-2", "rr")), "6", timeout=WAIT_S)
    colour = dash_duo.driver.execute_script(
        "return getComputedStyle(arguments[0]).color",
        dash_duo.find_element(at(ids.tile_value("bed-2", "rr"))))
    red, green, blue = (int(SIGNS[Kind.RR].measures[0].colour[i:i + 2], 16) for i in (1, 3, 5))
    assert colour == f"rgb({red}, {green}, {blue})"
    assert dash_duo.get_logs() == []
