"""The ingest's publications (`ingest.publisher.Publisher`) over the real broker."""

from __future__ import annotations

import logging
import uuid

import pytest
from services import wait_until

from ingest.publisher import Publisher
from tests.dashboard.builders import NOW, alert
from vitals.alerts import Metric, Priority
from vitals.mqtt import make_client


def failing_label(failing_session: str):
    def label_of(session: str) -> str | None:
        if session == failing_session:
            raise LookupError("a session's state nobody foresaw")
        return None
    return label_of


@pytest.mark.parametrize("failure", ["text no UTF-8 encoder takes", "its label fails"])
def test_an_alarm_that_cannot_be_published_is_logged_and_the_next_alarm_still_goes_out(
        sqlite_settings, probe_factory, session_id, caplog, failure):
    """A publication that fails must never end the thread that publishes, which is the
    judging thread for alarms."""
    probe = probe_factory(sqlite_settings, [f"vitals/{session_id}/alert"])
    client = make_client(sqlite_settings.mqtt, f"publisher-{uuid.uuid4().hex[:8]}")
    client.connect(sqlite_settings.mqtt.host, sqlite_settings.mqtt.port)
    client.loop_start()
    try:
        if failure == "its label fails":
            bad_session = f"x-{session_id}"
            bad = alert(bad_session, NOW, Metric.HEART_RATE, Priority.HIGH)
            label_of = failing_label(bad_session)
            logged = f"could not build the alarm of {bad_session}"
        else:
            bad = alert(session_id, NOW, Metric.HEART_RATE, Priority.HIGH, message="HR \udc00")
            label_of = lambda _s: None  # noqa: E731
            logged = f"could not publish on vitals/{session_id}/alert"
        publisher = Publisher(client, "vitals", f"vitals/_ingest/{session_id}/status",
                              status=dict, status_interval=60, label_of=label_of)
        good = alert(session_id, NOW, Metric.SPO2, Priority.HIGH)
        with caplog.at_level(logging.ERROR, logger="ingest.publisher"):
            publisher.alerts([bad, good])
        wait_until(lambda: probe.messages("/alert"), 10, "the alarm after the failed one")
        assert [a["metric"] for a in probe.messages("/alert")] == ["spo2"]
        assert logged in caplog.text
    finally:
        client.loop_stop()
        client.disconnect()
