"""Printing the session page, in headless Chromium with print media emulated: light, without
the shell's navigation, buttons and the other sessions' alarms, with this session's record."""

from __future__ import annotations

import pytest

from dashboard import ids
from tests.dashboard.conftest import DESAT, SPIKE, open_demo

pytestmark = pytest.mark.browser

WAIT_S = 10


def at(element_id: str) -> str:
    """The CSS selector of the element with this id."""
    return f"#{element_id}"

# Each element's display and the page's background, as the print media shows them.
PRINTED_JS = """
const shown = sel => { const el = document.querySelector(sel);
  return el !== null && el.getClientRects().length > 0; };
return {background: getComputedStyle(document.body).backgroundColor,
        text: getComputedStyle(document.body).color,
        nav: shown('.header .nav'), logout: shown('.logout-form button'),
        strip: shown('.alarms-bar'), checkin: shown('#' + arguments[0]),
        buttons: shown('.session-actions'), observe: shown('.observation-buttons'),
        header: shown('#' + arguments[1]), chart: shown('.js-plotly-plot'),
        verdict: shown('.verdict'), other: document.body.innerText.includes(arguments[2])};
"""


def test_the_printed_session_page_is_light_and_holds_only_this_sessions_record(
        dash_duo, store, app):
    open_demo(dash_duo, store, app, 1024, 768, path=f"/session/{SPIKE}")
    dash_duo.wait_for_element(".verdict", timeout=WAIT_S)
    dash_duo.wait_for_element(at(ids.SESSION_GRAPH) + " .main-svg", timeout=WAIT_S)

    dash_duo.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    printed = dash_duo.driver.execute_script(PRINTED_JS, ids.CHECKIN_BUTTON,
                                             ids.SESSION_HEADER, DESAT)

    assert (printed["background"], printed["text"]) == ("rgb(255, 255, 255)", "rgb(0, 0, 0)")
    assert not any(printed[part] for part in ("nav", "logout", "strip", "checkin", "buttons",
                                              "observe"))
    assert all(printed[part] for part in ("header", "chart", "verdict"))
    assert not printed["other"], "another session's alarm is printed"


def test_on_screen_the_same_page_keeps_its_controls(dash_duo, store, app):
    open_demo(dash_duo, store, app, 1024, 768, path=f"/session/{SPIKE}")
    dash_duo.wait_for_element(".verdict", timeout=WAIT_S)

    shown = dash_duo.driver.execute_script(PRINTED_JS, ids.CHECKIN_BUTTON, ids.SESSION_HEADER,
                                           DESAT)

    assert all(shown[part] for part in ("nav", "logout", "strip", "checkin", "buttons"))
    assert shown["other"]  # the strip lists every session's alarms on screen
