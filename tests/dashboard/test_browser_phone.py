"""Phones and small screens (issue 19), in headless Chromium at 390x844, 1024x768 and 1280x800
with the demo's four sessions and their alarms: nothing is wider than the screen, Log out,
Acknowledge and check-in are in reach and thumb-sized, the alarm strip leaves the patients'
numbers in the first screen, and a value in alarm carries its alarm's colour."""

from __future__ import annotations

from typing import Any

import pytest
from services import free_port, wait_until

from dashboard import ids
from tests.dashboard.conftest import (
    DESAT,
    NORMAL,
    NOW,
    SPIKE,
    TACHY,
    alert,
    at_size,
    bp,
    browser_login,
    hr,
    open_demo,
)
from vitals.alerts import Metric, Priority
from vitals.storage.base import Batch

pytestmark = pytest.mark.browser

WAIT_S = 10
SIZES = [(390, 844), (1024, 768), (1280, 800), (1600, 1000), (1920, 1080)]
THUMB_PX = 44  # the smallest touch target (WCAG 2.5.5, Apple and Android guidelines)


def at(element_id: str) -> str:
    """The CSS selector of the element with this id."""
    return f"#{element_id}"


# What a person sees of the page: its width against the screen's, and where each control is.
LAYOUT_JS = """
const vw = document.documentElement.clientWidth, vh = window.innerHeight;
const box = el => { const r = el.getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,
          height: r.height}; };
const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const list = document.querySelector('.alarms-list');
return {
  scrollWidth: document.documentElement.scrollWidth, clientWidth: vw, innerHeight: vh,
  listOverflow: list ? list.scrollWidth - list.clientWidth : 0,
  controls: [...document.querySelectorAll('button, a, input, textarea')].filter(shown)
      .map(el => ({what: el.id || el.className || el.textContent.trim(), ...box(el)})),
  logout: box(document.querySelector('.logout-form button')),
  ack: box(document.querySelector('.ack-button')),
  checkin: [...document.querySelectorAll('.tile-checkin-button, .checkin-button')].map(box),
  numerals: [...document.querySelectorAll('.vital-value')].map(box),
  strip: document.querySelector('.alarms-bar').getBoundingClientRect().height,
};
"""


def layout(dash_duo: Any) -> dict[str, Any]:
    return dash_duo.driver.execute_script(LAYOUT_JS)


def assert_fits_and_in_reach(shown: dict[str, Any], first_screen: tuple[str, ...]) -> None:
    """No horizontal overflow; every control within the screen's width; Log out, Acknowledge
    and check-in at least thumb-sized, those named in `first_screen` in view without
    scrolling."""
    width = shown["clientWidth"]
    assert shown["scrollWidth"] <= width, "the page is wider than the screen"
    assert shown["listOverflow"] <= 0, "the alarm strip is wider than itself"
    beyond = [c["what"] for c in shown["controls"] if c["left"] < 0 or c["right"] > width + 0.5]
    assert beyond == [], "controls out of reach sideways"
    targets = {"Log out": shown["logout"], "Acknowledge": shown["ack"],
               "check-in": shown["checkin"][0]}
    for name, target in targets.items():
        assert target["height"] >= THUMB_PX and target["width"] >= THUMB_PX, name
    for name in first_screen:
        assert in_first_screen(targets[name], shown["innerHeight"]), (
            f"{name} not in the first screen")


def in_first_screen(box: dict[str, float], height: int) -> bool:
    """Whole within the screen's height (to the pixel: layouts place boxes at fractions)."""
    return box["height"] > 0 and box["top"] >= -1 and box["bottom"] <= height + 1


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_overview_with_the_demos_alarms_fits_the_screen_and_shows_numbers_first(
        dash_duo, store, app, width, height):
    open_demo(dash_duo, store, app, width, height)
    dash_duo.wait_for_element(at(ids.tile(NORMAL)), timeout=WAIT_S)

    shown = layout(dash_duo)

    assert_fits_and_in_reach(shown, first_screen=("Log out", "Acknowledge"))
    assert any(in_first_screen(n, height) for n in shown["numerals"]), (
        "no patient's number in the first screen")
    if width >= 1600:  # a desktop shows every session's numbers at once (the 4th was below)
        assert len(shown["numerals"]) == 12
        assert all(in_first_screen(n, height) for n in shown["numerals"]), (
            "a session's numbers below the fold")
    # The alarms never take more than their bounded share of the first screen.
    assert shown["strip"] <= 0.45 * height
    # A tile's check-in button is below its numbers: one scroll brings it whole into view.
    # Scrolled and measured again until it holds: a refresh may move the tiles in between.
    def scrolled_into_view() -> bool:
        dash_duo.driver.execute_script("document.querySelector('.tile-checkin-button')"
                                       ".scrollIntoView({block: 'end'});")
        return in_first_screen(layout(dash_duo)["checkin"][0], height)

    wait_until(scrolled_into_view, WAIT_S, "the check-in button scrolled whole into view")


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_session_page_fits_the_screen_with_check_in_and_acknowledge_in_reach(
        dash_duo, store, app, width, height):
    open_demo(dash_duo, store, app, width, height, path=f"/session/{SPIKE}")
    dash_duo.wait_for_element(at(ids.CHECKIN_BUTTON), timeout=WAIT_S)
    dash_duo.wait_for_contains_text(at(ids.SESSION_PROTOCOL), "Pre-session verdict",
                                    timeout=WAIT_S)

    assert_fits_and_in_reach(layout(dash_duo), first_screen=("Log out", "Acknowledge", "check-in"))


def test_tiles_put_the_alarming_sessions_first_and_colour_the_value_in_alarm(
        dash_duo, store, app):
    open_demo(dash_duo, store, app, 390, 844)
    dash_duo.wait_for_element(at(ids.tile(NORMAL)), timeout=WAIT_S)

    # Highest priority first, the three high ones in start order (then id), the quiet one last.
    order = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('.tile-session')].map(t => t.textContent);")
    assert order == [SPIKE, TACHY, DESAT, NORMAL]
    colour = dash_duo.driver.execute_script("""
        const probe = document.createElement('div');
        probe.style.color = 'var(--high)'; document.body.appendChild(probe);
        const high = getComputedStyle(probe).color; probe.remove();
        const of = id => getComputedStyle(document.getElementById(id)).color;
        return {high: high, spo2: of(arguments[0]), normal: of(arguments[1])};
    """, ids.tile_value(DESAT, "spo2"), ids.tile_value(NORMAL, "spo2"))
    # An SpO2 of 85 no longer stays the ordinary SpO2 blue: it is in the high alarm's red.
    assert colour["spo2"] == colour["high"] != colour["normal"]
    assert "vital--alarm-high" in dash_duo.find_element(
        at(ids.tile_vital(DESAT, "spo2"))).get_attribute("class")
    assert "vital--alarm" not in dash_duo.find_element(
        at(ids.tile_vital(DESAT, "hr"))).get_attribute("class")


def test_the_alarm_strip_stays_bounded_with_its_count_and_expands_to_every_alarm(
        dash_duo, store, app):
    # Twelve sessions in alarm: far more rows than a first screen holds.
    sessions = [f"room-{n:02d}" for n in range(12)]
    store.write(Batch(
        readings=[r for s in sessions for r in (bp(s, NOW, 150, 90), hr(s, NOW, 125))],
        alerts=[alert(s, NOW, Metric.HEART_RATE, Priority.MEDIUM if n else Priority.HIGH,
                      value=125, message="Heart rate 125 /min: above 120.")
                for n, s in enumerate(sessions)]))
    browser_login(dash_duo, app, port=free_port())
    at_size(dash_duo, 1280, 800)
    dash_duo.wait_for_contains_text(".alarms-summary", "12 alarms (", timeout=WAIT_S)

    summary = dash_duo.find_element(".alarms-summary").text
    assert summary.startswith("▲ HIGH") and "1 high, 11 medium" in summary
    strip = layout(dash_duo)
    assert strip["strip"] <= 0.45 * 800
    assert any(in_first_screen(n, 800) for n in strip["numerals"])
    # The most urgent alarm is the first row, in view with its Acknowledge.
    first = dash_duo.find_element(".alarms-list .alarm")
    assert "room-00" in first.text and "HIGH" in first.text
    assert in_first_screen(strip["ack"], 800)

    dash_duo.find_element(at(ids.ALARMS_EXPAND)).click()

    wait_until(lambda: dash_duo.driver.execute_script(
        "const l = document.querySelector('.alarms-list');"
        "return l.scrollHeight <= l.clientHeight;"), WAIT_S, "every alarm row shown")
    button = dash_duo.find_element(at(ids.ALARMS_EXPAND))
    assert button.text == "Show fewer alarms" and button.get_attribute("aria-expanded") == "true"
    assert len(dash_duo.find_elements(".alarms-list .alarm")) == 12
    assert dash_duo.get_logs() == []
