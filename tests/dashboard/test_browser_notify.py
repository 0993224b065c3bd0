"""In headless Chromium: the session page says who was notified of its alarm, and a failure."""

from __future__ import annotations

import pytest
from services import free_port

from dashboard import ids
from dashboard.app import create_app
from tests.dashboard.builders import alert, bp, event, minutes
from tests.dashboard.conftest import SECRET, browser_login
from vitals.alerts import Metric, Priority
from vitals.readings import SessionEventType
from vitals.storage.base import Batch, NotificationRecord
from vitals.timefmt import utcnow

pytestmark = pytest.mark.browser
WAIT_S = 10


def test_the_session_page_shows_who_was_notified_of_its_alarm_and_a_failed_delivery(
        dash_duo, store, settings, users):
    now = utcnow()
    store.write(Batch(
        readings=[bp("bed-1", now - minutes(1), 186, 96)],
        # Ended, so the page stops polling once drawn: no callback runs into the teardown.
        events=[event("bed-1", now, SessionEventType.END)],
        alerts=[alert("bed-1", now - minutes(1), Metric.SYSTOLIC, Priority.HIGH,
                      message="Systolic 186 mmHg")],
        notifications=[
            NotificationRecord(now, "bed-1", "systolic", "Nurse A", "ntfys", "alarm", True),
            NotificationRecord(now, "bed-1", "systolic", "Dr X", "mailto", "alarm", False,
                               "connection refused")]))
    browser_login(dash_duo, create_app(store, settings, refresh_ms=500, users_path=users,
                                       secret_key=SECRET), port=free_port())

    dash_duo.driver.get(dash_duo.server.url + "/session/bed-1")

    group = f"#{ids.notification_group('bed-1', 'systolic')}"
    dash_duo.wait_for_contains_text(group, "✖ failed: connection refused", timeout=WAIT_S)
    # Waited for, not read once: the first refreshes may redraw the list under the driver.
    dash_duo.wait_for_contains_text(group, "Nurse A by ntfys", timeout=WAIT_S)
    dash_duo.wait_for_style_to_equal(f"{group} .notified-failed", "font-weight", "700",
                                     timeout=WAIT_S)
    assert dash_duo.get_logs() == []
