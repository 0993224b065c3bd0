"""The session chart of a long session: drawn whole (thinned) once, then extended by each poll
with only what is new; in Chromium, the chart and the verdict of 2 h at 1 Hz both show."""

from __future__ import annotations

from datetime import timedelta

import dash
import pytest
from dash._utils import to_json
from services import free_port, wait_until

from dashboard import ids, session_chart
from tests.dashboard.builders import NOW, bp, event, hr, minutes, spo2
from tests.dashboard.conftest import browser_login
from vitals.readings import SessionEventType
from vitals.storage.base import Batch


def two_hours(name: str, end=NOW) -> Batch:
    """A live session of 2 h: HR and SpO2 at 1 Hz, BP every 5 minutes, dosed at 10 min."""
    start = end - timedelta(hours=2)
    readings = []
    for second in range(2 * 3600):
        at = start + timedelta(seconds=second)
        readings += [hr(name, at, 70 + second % 9), spo2(name, at, 97)]
        if second % 300 == 0:
            readings.append(bp(name, at, 125, 80))
    return Batch(readings=readings, events=[event(name, start, SessionEventType.START),
                                            event(name, start + minutes(10),
                                                  SessionEventType.DOSE)])


def test_a_poll_sends_only_the_new_readings_not_the_history(store, in_app):
    store.write(two_hours("long"))
    figure, drawn = session_chart.draw("long")
    store.write(Batch(readings=[hr("long", NOW + timedelta(seconds=1), 91),
                                spo2("long", NOW + timedelta(seconds=1), 93)]))

    patch, extended = session_chart.extend_chart(1, "long", drawn)

    assert len(to_json(patch)) < 1000 < len(to_json(figure)) // 20
    assert extended["appended"] == 2
    assert session_chart.extend_chart(2, "long", extended) == (dash.no_update,) * 2


def test_a_new_alarm_or_event_draws_the_chart_whole_again(store, in_app):
    store.write(two_hours("long"))
    _figure, drawn = session_chart.draw("long")
    store.write(Batch(events=[event("long", NOW, SessionEventType.NOTE)]))

    figure, redrawn = session_chart.extend_chart(1, "long", drawn)

    assert "NOTE" in [a.text for a in figure.layout.annotations]
    assert redrawn["appended"] == 0


@pytest.mark.browser
def test_a_2_hour_session_shows_chart_and_verdict_and_polls_stay_small(dash_duo, store, app):
    store.write(two_hours("long"))
    browser_login(dash_duo, app, port=free_port())

    dash_duo.driver.get(dash_duo.server.url + "/session/long")

    # Generous bounds, waited for: the speed target is benchmarks/session_page.py's.
    dash_duo.wait_for_element(f"#{ids.SESSION_PROTOCOL} .verdict", timeout=30)
    dash_duo.wait_for_element(f"#{ids.SESSION_GRAPH} .scatterlayer path.js-line", timeout=30)
    # Then the polls: each response small, not the growing whole history (~70 KB here).
    dash_duo.driver.execute_script("performance.clearResourceTimings();")

    def responses() -> list[int]:
        return dash_duo.driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('_dash-update-component'))"
            ".map(e => e.encodedBodySize);")

    wait_until(lambda: len(responses()) >= 6, 30, "six refreshes")
    assert max(responses()) < 20_000
    assert dash_duo.get_logs() == []
