"""Undo after an observation tap (issue 19): a retraction, never a deletion.

The tap and the Undo are driven through Dash's `/_dash-update-component` with a logged-in test
client; what they publish is heard on a real Mosquitto, parsed by the ingest's parser and
written to a real store, and the session's log then shows the observation struck through.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from dash import html
from services import free_port

from dashboard import frames, ids, reports, session_view, summary_report
from dashboard import observations as obs
from dashboard.app import create_app
from dashboard.figures import session_figure
from tests.dashboard.builders import NOW, event, minutes
from tests.dashboard.conftest import SECRET, browser_login, dash_id, login
from tests.dashboard.test_observations import _no_events, observation_click, seen
from tests.dashboard.trees import classes_of, text_of
from vitals.export import observation_json
from vitals.parser import parse
from vitals.profile_loader import load_profile
from vitals.readings import (
    Observation,
    ObservationKind,
    ObservationRetraction,
    SessionEventType,
    Severity,
)
from vitals.storage.base import Batch
from vitals.timefmt import utcnow

WAIT_S = 5
BROWSER_WAIT_S = 10


@pytest.mark.parametrize("tapped_ago_s, open_", [
    (0, True), (119, True), (120, True), (121, False), (-30, True)])
def test_undo_is_offered_for_two_minutes_after_the_tap(tapped_ago_s, open_):
    assert obs.undo_open(NOW - minutes(tapped_ago_s / 60), NOW) is open_


def test_a_retracted_observation_stays_in_the_log_struck_through_with_who_and_when():
    retracted = seen("s1", NOW - minutes(5), ObservationKind.VOMITING, Severity.SEVERE,
                     note="wrong chair")
    kept = seen("s1", NOW - minutes(3), ObservationKind.NAUSEA, Severity.MILD)
    table = obs.observations_table(frames.observation_rows([
        replace(retracted, retracted_by="doctor", retracted_at=NOW - minutes(4)), kept]))

    newest, struck = table.children[1].children
    assert "observation-row--retracted" in classes_of(struck)
    assert "entered in error by doctor at 16:56" in text_of(struck)
    assert "wrong chair" in text_of(struck)  # the note is kept
    what, severity = struck.children[2].children, struck.children[3].children
    assert [type(what), type(severity)] == [html.S, html.S]  # struck through, still legible
    assert [text_of(what), text_of(severity)] == ["Vomiting", "severe"]
    assert "observation-row--retracted" not in classes_of(newest)


@pytest.fixture
def mqtt_app(store, broker_settings, users, commands):
    return create_app(store, broker_settings, refresh_ms=500, clock=lambda: NOW,
                      users_path=users, secret_key=SECRET, commands=commands)


def undo_click(app: Any, client: Any, session_id: str, button: dict[str, str]) -> Any:
    (output,) = [k for k in app.callback_map
                 if k.startswith(f"{ids.OBSERVATION_FEEDBACK}.children@")]
    return client.post("/_dash-update-component", json={
        "output": output,
        "outputs": {"id": ids.OBSERVATION_FEEDBACK, "property": "children"},
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "state": [{"id": ids.SESSION_ID_STORE, "property": "data", "value": session_id}],
        "changedPropIds": [f"{dash_id(button)}.n_clicks"],
    })


def shown(response: Any) -> str:
    assert response.status_code == 200, response.data
    return json.dumps(response.get_json()["response"], ensure_ascii=False)


def undo_button(tap_response: Any) -> dict[str, str]:
    children = tap_response.get_json()["response"][ids.OBSERVATION_FEEDBACK]["children"]
    (button,) = [c for c in children if isinstance(c, dict) and c.get("type") == "Button"]
    return button["props"]["id"]


def test_tap_then_undo_publishes_a_retraction_and_the_log_shows_it_entered_in_error(
        mqtt_app, store, heard, session_id):
    client = mqtt_app.server.test_client()
    login(client, "nurse")
    tapped = observation_click(client, session_id, "vomiting", "severe")
    topic, tap = heard.get(timeout=WAIT_S)
    button = undo_button(tapped)
    assert button == ids.observation_undo(session_id, "vomiting", tap["time"])

    answer = shown(undo_click(mqtt_app, client, session_id, button))

    topic_again, retraction = heard.get(timeout=WAIT_S)
    assert topic_again == topic == f"vitals/{session_id}/observation"
    assert retraction["retract"] == {"observation": "vomiting", "time": tap["time"]}
    assert retraction["by"] == "nurse"
    assert "marked entered in error by nurse" in answer
    # What the ingest would store: the real parser, the real store.
    received = datetime.fromisoformat(retraction["time"])
    observed = parse(topic, json.dumps(tap).encode(), received)
    retracted = parse(topic, json.dumps(retraction).encode(), received)
    assert isinstance(retracted, ObservationRetraction)
    store.write(Batch(observations=[observed], retractions=[retracted]))  # type: ignore[list-item]
    with mqtt_app.server.test_request_context():
        log, _badge = session_view.refresh_presence(1, session_id)
    (row,) = log.children[1].children
    assert "observation-row--retracted" in classes_of(row)
    assert "entered in error by nurse" in text_of(row)


def test_undo_after_the_window_sends_nothing_and_says_to_add_a_note(mqtt_app, heard,
                                                                     session_id):
    client = mqtt_app.server.test_client()
    login(client, "nurse")
    old = ids.observation_undo(session_id, "nausea", (NOW - minutes(3)).isoformat())

    answer = shown(undo_click(mqtt_app, client, session_id, old))

    assert "Too late to undo" in answer
    assert heard.empty()


def test_undo_of_another_sessions_observation_is_refused(mqtt_app, heard, session_id):
    client = mqtt_app.server.test_client()
    login(client, "nurse")
    elsewhere = ids.observation_undo("other-session", "nausea", NOW.isoformat())

    answer = shown(undo_click(mqtt_app, client, session_id, elsewhere))

    assert "Only an observation recorded in this session" in answer
    assert heard.empty()


@pytest.mark.parametrize("time", ["yesterday", "2026-11-28T17:00:00"])
def test_undo_naming_no_real_moment_sends_nothing(mqtt_app, heard, session_id, time):
    client = mqtt_app.server.test_client()
    login(client, "nurse")
    button = ids.observation_undo(session_id, "nausea", time)

    assert "Cannot tell which observation" in shown(undo_click(mqtt_app, client, session_id,
                                                               button))
    assert heard.empty()


def test_nobody_logged_out_can_undo(mqtt_app, heard, session_id):
    client = mqtt_app.server.test_client()
    button = ids.observation_undo(session_id, "nausea", NOW.isoformat())

    assert undo_click(mqtt_app, client, session_id, button).status_code == 401
    assert heard.empty()


# --- the record and its exports: kept, marked --------------------------------------------------

def entered_in_error() -> list[Observation]:
    wrong = seen("s1", NOW - minutes(10), ObservationKind.RESPIRATORY_DEPRESSION, Severity.SEVERE)
    return [replace(wrong, retracted_by="doctor", retracted_at=NOW - minutes(9)),
            seen("s1", NOW - minutes(5), ObservationKind.NAUSEA, Severity.MILD)]


def test_the_report_strikes_a_retracted_observation_and_does_not_count_it_as_seen():
    summary = summary_report.clinical_summary("s1", [], [], [], entered_in_error(), [],
                                              load_profile(), NOW)

    page = summary_report.html_report(summary)

    assert "<td><s>Respiratory depression</s></td><td><s>severe</s></td>" in page
    assert "entered in error by doctor at 16:51" in page
    answers = dict(reports.rems_rows(summary.rems))
    assert answers["Respiratory depression (monitor's observation)"] == (
        "none recorded by the monitor")


def test_the_observations_csv_has_who_retracted_it_and_when():
    rows = list(csv.DictReader(io.StringIO(reports.observations_csv(entered_in_error()))))

    assert [(r["observation"], r["retracted_by"], r["retracted_at"]) for r in rows] == [
        ("respiratory_depression", "doctor", "2026-11-28T16:51:00Z"), ("nausea", "", "")]


def test_the_fhir_bundle_marks_a_retracted_observation_entered_in_error():
    bundle = reports.fhir_bundle("s1", [], NOW, entered_in_error())

    assert [e["resource"]["status"] for e in bundle["entry"]] == ["entered-in-error", "final"]


def test_the_json_export_keeps_a_retracted_observation_with_who_and_when():
    wrong, kept = (observation_json(o) for o in entered_in_error())

    assert (wrong["retracted_by"], wrong["retracted_at"]) == ("doctor", "2026-11-28T16:51:00Z")
    assert "retracted_by" not in kept


def test_a_retracted_observation_stays_on_the_chart_hollow_and_says_so():
    observed = frames.observation_rows(entered_in_error())
    fig = session_figure(frames.reading_rows([]), _no_events(), frames.alert_rows([]),
                         NOW - minutes(60), observations=observed)

    (trace,) = [t for t in fig.data if t.name == "Observations"]
    assert list(trace.marker.symbol) == ["diamond-open", "diamond"]
    assert trace.text[0].endswith("— entered in error")


@pytest.mark.browser
def test_in_the_browser_a_tap_offers_undo_and_undo_sends_the_retraction(
        dash_duo, store, broker_settings, users, commands, heard, session_id):
    from selenium.webdriver.common.by import By

    store.write(Batch(events=[event(session_id, utcnow() - minutes(10),
                                    SessionEventType.START)]))
    browser_login(dash_duo, create_app(store, broker_settings, refresh_ms=500, users_path=users,
                                       secret_key=SECRET, commands=commands), port=free_port())
    dash_duo.driver.get(f"{dash_duo.server.url}/session/{session_id}")
    dash_duo.wait_for_element(".observation-buttons", timeout=BROWSER_WAIT_S)

    dash_duo.driver.find_element(
        By.XPATH, "//div[contains(@class, 'observation-buttons')]//button[text()='Vomiting']"
    ).click()
    _topic, tap = heard.get(timeout=WAIT_S)
    feedback = f"#{ids.OBSERVATION_FEEDBACK}"
    dash_duo.wait_for_contains_text(feedback, "Vomiting (mild) recorded by nurse",
                                    timeout=BROWSER_WAIT_S)
    dash_duo.find_element(f"{feedback} .undo").click()

    _topic, retraction = heard.get(timeout=WAIT_S)
    assert retraction["retract"] == {"observation": "vomiting", "time": tap["time"]}
    dash_duo.wait_for_contains_text(feedback, "marked entered in error by nurse",
                                    timeout=BROWSER_WAIT_S)
    assert dash_duo.get_logs() == []
