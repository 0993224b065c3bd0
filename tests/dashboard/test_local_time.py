"""The clinic's clock (`VITALS_TIMEZONE`, issue 19): the screens and the report show local times
with the zone's abbreviation; the CSV and FHIR exports stay UTC."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard import (
    app_context,
    auth,
    components,
    ids,
    queries,
    session_view,
    summary_report,
    tiles,
)
from dashboard.app import create_app
from dashboard.pages import overview
from tests.dashboard.builders import NOW, alert, bp, event, hr, minutes, spo2
from tests.dashboard.conftest import SECRET, login
from tests.dashboard.trees import text_of
from vitals.alerts import Metric, Priority
from vitals.profile_loader import load_profile
from vitals.readings import SessionEvent, SessionEventType
from vitals.storage.base import Batch
from vitals.timefmt import zone_named

BERLIN = zone_named("Europe/Berlin")  # NOW, 17:00 UTC on 28 November, is 18:00 CET


@pytest.fixture
def berlin_app(store, settings, users) -> Iterator[Any]:
    dash_app = create_app(store, settings.model_copy(update={"timezone": "Europe/Berlin"}),
                          refresh_ms=500, clock=lambda: NOW, users_path=users,
                          secret_key=SECRET)
    yield dash_app
    app_context.context_of(dash_app.server).reader.close()


@pytest.fixture
def in_berlin(berlin_app) -> Iterator[Any]:
    with berlin_app.server.test_request_context("/"):
        auth.login_as("nurse")
        yield berlin_app


def test_a_tiles_latched_alarm_says_when_it_ended_on_the_clinics_clock():
    row = {"session": "a", "alarm_priority": "medium", "alarm_metric": "data",
           "alarm_message": "No heart rate reading", "alarm_count": 1,
           "alarm_ended": NOW + minutes(2)}

    view = tiles.tile_view(row, zone=BERLIN)

    assert "ended at 18:02 CET" in view.parts[ids.tile_alarm("a")].props["children"]


def test_the_alarm_panel_says_since_when_on_the_clinics_clock(store):
    store.write(Batch(readings=[spo2("a", NOW, 86)], alerts=[
        alert("a", NOW - minutes(1), Metric.SPO2, Priority.HIGH)]))

    [row] = components.alarms_panel(queries.alarms_frame(queries.active(store, NOW)), True, NOW,
                                    BERLIN)

    assert "since 17:59:00 CET" in text_of(row)


def test_the_overview_and_session_page_status_lines_are_on_the_clinics_clock(store, in_berlin):
    store.write(Batch(readings=[hr("a", NOW, 70)], alerts=[
        alert("a", NOW - minutes(3), Metric.HEART_RATE, Priority.MEDIUM)]))
    app_context.context_of(in_berlin.server).reader.refresh()

    _tiles, status = overview.refresh(1)
    _header, alerts_table, page_status, _stop = session_view.refresh(1, "a")

    assert "updated" in status and status.endswith("CET")
    assert page_status == "updated 18:00:00 CET"
    assert "17:57:00 CET" in text_of(alerts_table)


def test_the_report_shows_the_clinics_clock_across_the_fall_back_with_each_zone():
    # Berlin falls back at 01:00 UTC on 25 October: 00:30 and 01:30 UTC are both 02:30.
    start = datetime(2026, 10, 25, 0, 10, tzinfo=UTC)
    events = [SessionEvent("a", SessionEventType.START, start),
              SessionEvent("a", SessionEventType.DOSE, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
              SessionEvent("a", SessionEventType.NOTE, datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
                           note="calm", by="nurse")]
    summary = summary_report.clinical_summary(
        "a", events, [hr("a", start, 70)], [], [], [], load_profile(),
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC), BERLIN)

    page = summary_report.html_report(summary)

    assert "started 2026-10-25 02:10 CEST" in page
    assert "02:30:00 CEST" in page and "02:30:00 CET" in page
    assert "times on the clinic's clock (Europe/Berlin)" in page
    assert "generated 2026-10-25 03:00 CET" in page


def test_the_exports_stay_utc_while_the_report_is_on_the_clinics_clock(store, berlin_app):
    store.write(Batch(
        readings=[bp("a", NOW - minutes(50), 130.0, 85.0), hr("a", NOW - minutes(49), 72.0)],
        events=[replace(event("a", NOW - minutes(45), SessionEventType.DOSE), by="nurse")],
        alerts=[alert("a", NOW - minutes(40), Metric.HEART_RATE, Priority.MEDIUM)],
    ))
    client = berlin_app.server.test_client()
    login(client, "doctor")

    def rows(name: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(client.get(f"/export/a/{name}").text)))

    bundle = client.get("/export/a/fhir.json").get_json(force=True)
    report = client.get("/export/a/report.html").text

    assert [r["time"] for r in rows("readings.csv")] == ["2026-11-28T16:10:00Z",
                                                         "2026-11-28T16:11:00Z"]
    assert [r["time"] for r in rows("events.csv")] == ["2026-11-28T16:15:00Z"]
    assert [r["time"] for r in rows("alarms.csv")] == ["2026-11-28T16:20:00Z"]
    assert [e["resource"]["effectiveDateTime"] for e in bundle["entry"]] == [
        "2026-11-28T16:10:00Z", "2026-11-28T16:11:00Z"]
    assert bundle["timestamp"] == "2026-11-28T17:00:00Z"
    assert "130/85 mmHg at 17:10 CET" in report  # the report: local, with the zone
