"""A session's display label (issue 19): from its start to the tile, the alarms panel, the session
header, the report and the exports, with the session id beside it."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from dashboard import components, queries, reports, session_view, summary_report
from dashboard.tiles import tile_views
from tests.dashboard.builders import NOW, alert, event, hr, minutes, spo2
from tests.dashboard.conftest import reread
from tests.dashboard.test_callbacks import tiles
from tests.dashboard.trees import classes_of, text_of
from vitals.alerts import Metric, Priority
from vitals.profile_loader import load_profile
from vitals.readings import SessionEvent, SessionEventType
from vitals.sessions import display_name, session_label
from vitals.storage.base import Batch

LABEL = "Chair 3 · AB"
STARTED = NOW - minutes(30)


def labelled_start(session: str, at=STARTED, label: str | None = LABEL) -> SessionEvent:
    return SessionEvent(session, SessionEventType.START, at, label=label)


@pytest.mark.parametrize(("events", "label"), [
    ([], None),  # an implicit start (a reading) has no label
    ([labelled_start("a")], LABEL),
    ([labelled_start("a"), event("a", NOW - minutes(10), SessionEventType.DOSE)], LABEL),
    # The same id started again, without a label: the old one must not name the new patient.
    ([labelled_start("a", NOW - minutes(90)), event("a", NOW - minutes(60), SessionEventType.END),
      labelled_start("a", NOW - minutes(5), None)], None),
    ([labelled_start("a", NOW - minutes(90), "Room 1"), labelled_start("a", NOW, "Room 2")],
     "Room 2"),
    # Start pressed again while it runs, without a label: the session keeps its label.
    ([labelled_start("a", NOW - minutes(9)), labelled_start("a", NOW, None)], LABEL),
    # Ended, then started again with a new label.
    ([labelled_start("a", NOW - minutes(90)), event("a", NOW - minutes(60), SessionEventType.END),
      labelled_start("a", NOW - minutes(5), "Room 2")], "Room 2"),
])
def test_a_sessions_label_is_the_latest_its_starts_carried_since_it_began(events, label):
    assert session_label(events) == label


def test_plain_text_names_a_session_by_its_label_with_the_id():
    assert display_name("s1", LABEL) == "Chair 3 · AB (session s1)"
    assert display_name("s1", None) == "session s1"


def test_the_tile_shows_the_label_with_the_session_id_smaller_beside_it(store, in_app):
    store.write(Batch(readings=[hr("a", NOW, 70), hr("b", NOW, 72)], events=[labelled_start("a")]))
    reread(in_app)

    labelled, plain = tiles(in_app)

    head = labelled.children[0].children[0]
    assert text_of(head) == "Chair 3 · AB   a"
    [id_aside] = [c for c in head.children if "session-id" in classes_of(c)]
    assert text_of(id_aside) == "a"
    assert text_of(plain.children[0].children[0]) == "b"


def test_the_alarm_panel_row_names_the_session_by_its_label(store):
    store.write(Batch(readings=[spo2("a", NOW, 86)], events=[labelled_start("a")],
                      alerts=[alert("a", NOW - minutes(1), Metric.SPO2, Priority.HIGH,
                                    message="SpO2 86 %: below 88")]))

    frame = queries.alarms_frame(queries.active(store, NOW))
    [row] = components.alarms_panel(frame, can_ack=True, now=NOW)

    link = row.children[1]
    assert text_of(link) == "Chair 3 · AB   a" and link.href == "/session/a"
    assert "SpO2 86 %: below 88" in text_of(row)


def test_the_alarm_panel_is_redrawn_when_a_label_arrives():
    frame = queries.alarms_frame(queries.Live([], {}, {}, {"a": [
        alert("a", NOW, Metric.SPO2, Priority.HIGH)]}))
    labelled = frame.assign(label=LABEL)

    assert components.alarms_signature(frame) != components.alarms_signature(labelled)


def test_the_session_page_header_shows_the_label(store, in_app):
    store.write(Batch(readings=[hr("a", NOW, 70)], events=[labelled_start("a")]))

    header = session_view.refresh_view(1, "a")[0]

    title = header[0]
    assert "session-title" in classes_of(title) and text_of(title) == "Chair 3 · AB   a"


def _summary(store, session: str = "a"):
    return summary_report.clinical_summary(
        session, store.events(session), store.readings(session), store.alerts(session), [], [],
        load_profile(), NOW)


def test_the_report_header_and_title_name_the_label_and_the_session(store):
    store.write(Batch(readings=[hr("a", NOW, 70)], events=[labelled_start("a")]))

    page = summary_report.html_report(_summary(store))

    assert "<title>Chair 3 · AB · Session a — clinical summary</title>" in page
    assert "<strong>Chair 3 · AB</strong> · Session <strong>a</strong>" in page


def test_a_report_without_a_label_names_the_session_alone(store):
    store.write(Batch(readings=[hr("a", NOW, 70)],
                      events=[event("a", NOW, SessionEventType.START)]))

    page = summary_report.html_report(_summary(store))

    assert "<title>Session a — clinical summary</title>" in page


def test_the_fhir_export_shows_the_label_on_the_encounter_never_as_the_patient():
    bundle = reports.fhir_bundle("a", [hr("a", NOW, 70)], NOW, label=LABEL)

    [entry] = bundle["entry"]
    assert entry["resource"]["encounter"]["display"] == "session a, Chair 3 · AB"
    assert entry["resource"]["subject"]["display"] == "session a"
    assert bundle["identifier"]["value"] == "a"


def test_the_events_csv_has_the_starts_label():
    rows = list(csv.DictReader(io.StringIO(reports.events_csv(
        [labelled_start("a"), replace(event("a", NOW, SessionEventType.DOSE), by="nurse")]))))

    assert [(r["event"], r["label"]) for r in rows] == [("start", LABEL), ("dose", "")]


def test_a_tiles_label_is_part_of_its_layout(store, in_app):
    # The head is drawn only when the layout changes: a label arriving must redraw it.
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    reread(in_app)
    before = queries.overview_rows(queries.active(store, NOW), NOW)
    store.write(Batch(events=[labelled_start("a")]))
    after = queries.overview_rows(queries.active(store, NOW), NOW)

    assert tile_views(before).layout != tile_views(after).layout
