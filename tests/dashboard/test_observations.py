"""The monitor's observation log and presence check-ins (issue 8), dashboard side.

Pure parts (the check-in countdown, the log table, the chart markers, the report rows) are
called directly; the buttons are driven through Dash's `/_dash-update-component` with a logged-in
test client and what they publish is heard on a real Mosquitto.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import pytest

from dashboard import auth, frames, ids, reports, session_chart, session_view, summary_report
from dashboard import observations as obs
from dashboard.app import create_app
from dashboard.commands import CommandFailed
from dashboard.figures import session_figure
from dashboard.pages import overview
from tests.dashboard.builders import NOW, bp, hr, minutes
from tests.dashboard.conftest import SECRET, dash_id, login
from tests.dashboard.test_commands import feedback
from tests.dashboard.trees import classes_of, find, text_of
from vitals.profile_loader import load_profile
from vitals.readings import Observation, ObservationKind, SessionEvent, SessionEventType, Severity
from vitals.storage.base import Batch

WAIT_S = 5
POLICY = obs.CheckinPolicy(interval_minutes=15, grace_minutes=5)
FROM_START = obs.CheckinPolicy(interval_minutes=15, grace_minutes=5, required_from_start=True)


def seen(session_id: str, at: datetime, kind: ObservationKind, severity: Severity,
         by: str | None = "nurse", note: str | None = None) -> Observation:
    return Observation(session_id, at, kind, severity, note=note, by=by)


def checkin(session_id: str, at: datetime, by: str = "nurse") -> SessionEvent:
    return SessionEvent(session_id, SessionEventType.CHECKIN, at, by=by)


def start(session_id: str, at: datetime) -> SessionEvent:
    return SessionEvent(session_id, SessionEventType.START, at)


# --- the check-in countdown (pure) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_min_ago", "start_min_ago", "policy", "state", "next_in_s"),
    [
        (1, None, POLICY, "fresh", 14 * 60),  # just checked in
        (12.5, None, POLICY, "fresh", 150),  # more than 2 min left
        (13, None, POLICY, "due", 120),  # the last 2 minutes: yellow
        (14.9, None, POLICY, "due", 6),
        (15, None, POLICY, "overdue", 0),  # the deadline itself: red
        (18, None, POLICY, "overdue", -180),
        (None, 20, POLICY, "waiting", None),  # no check-in yet, not required from the start
        (None, None, FROM_START, "waiting", None),  # required, but no start to count from
        (None, 5, FROM_START, "fresh", 10 * 60),  # required: the countdown runs from the start
        (None, 16, FROM_START, "overdue", -60),
        (2, 30, FROM_START, "fresh", 13 * 60),  # a check-in resets the countdown
    ],
)
def test_checkin_countdown_states(last_min_ago, start_min_ago, policy, state, next_in_s):
    last = None if last_min_ago is None else NOW - minutes(last_min_ago)
    reference = None if start_min_ago is None else NOW - minutes(start_min_ago)

    status = obs.checkin_status(last, reference, NOW, policy)

    assert status.state.value == state
    assert status.next_in_s == (None if next_in_s is None else pytest.approx(next_in_s))


@pytest.mark.parametrize(
    ("last_min_ago", "alarm_in_s", "text"),
    [
        (18, 120, "⚠ Last check-in 18 min ago (nurse) · check-in OVERDUE by 3:00 · alarm in 2:00"),
        (21, 0, "⚠ Last check-in 21 min ago (nurse) · check-in OVERDUE by 6:00 · alarm now"),
    ],
)
def test_an_overdue_checkin_counts_down_to_the_missed_checkin_alarm(last_min_ago, alarm_in_s,
                                                                    text):
    status = obs.checkin_status(NOW - minutes(last_min_ago), None, NOW, POLICY)

    assert status.alarm_in_s == pytest.approx(alarm_in_s)
    assert obs.checkin_text(status, "nurse") == text


@pytest.mark.parametrize(
    ("last_min_ago", "text"),
    [
        (0.2, "✓ Last check-in just now (nurse) · next in 14:48"),
        (14, "◆ Last check-in 14 min ago (nurse) · check in now (due in 1:00)"),
        (None, "No check-in yet · check in to start the presence timer"),
    ],
)
def test_checkin_text_says_when_the_last_was_and_when_the_next_is_due(last_min_ago, text):
    last = None if last_min_ago is None else NOW - minutes(last_min_ago)

    assert obs.checkin_text(obs.checkin_status(last, None, NOW, POLICY), "nurse") == text


def test_the_checkin_badge_is_coloured_by_its_state_and_overdue_is_an_alert():
    badge = obs.checkin_badge(obs.checkin_status(NOW - minutes(20), None, NOW, POLICY))

    assert "checkin--overdue" in classes_of(badge)
    assert badge.role == "alert"


def test_the_checkin_interval_comes_from_the_profile_else_15_minutes():
    from vitals.profile_loader import load_profile

    profile = load_profile(None)

    policy = obs.checkin_policy(profile)

    assert policy.interval_minutes == profile.checkin.interval_minutes
    assert policy.grace_minutes == profile.checkin.grace_minutes
    assert obs.checkin_policy(None) == obs.CheckinPolicy(15.0, 0.0, False)


# --- the log, the chart, the reports (pure) ----------------------------------------------------


def log_frame(session_id: str = "s1") -> Any:
    return frames.observation_rows([
        seen(session_id, NOW - minutes(30), ObservationKind.NAUSEA, Severity.MILD),
        seen(session_id, NOW - minutes(10), ObservationKind.SEDATION, Severity.SEVERE,
             by="doctor", note="hard to rouse"),
    ])


def test_the_observation_log_lists_who_when_what_severity_and_note_newest_first():
    table = obs.observations_table(log_frame(), origin=NOW - minutes(40))

    rows = table.children[1].children
    assert [text_of(r) for r in rows] == [
        "16:50:00 UTC +30 Sedation severe doctor hard to rouse",
        "16:30:00 UTC +10 Nausea mild nurse ",
    ]
    assert "observation-row--severe" in classes_of(rows[0])


def test_an_empty_observation_log_says_so():
    assert "No observations" in text_of(obs.observations_table(log_frame().iloc[0:0]))


def test_every_observation_kind_has_a_one_tap_button():
    controls = obs.observation_controls()

    for kind in ObservationKind:
        assert find(controls, ids.observation_button(kind.value)) is not None
    assert text_of(find(controls, ids.observation_button("respiratory_depression"))) == \
        "Respiratory depression"


def test_observations_are_markers_on_the_session_timeline():
    dose = NOW - minutes(40)
    empty = frames.reading_rows([])

    fig = session_figure(empty, _no_events(), frames.alert_rows([]), dose,
                         observations=log_frame())

    [trace] = [t for t in fig.data if t.name == "Observations"]
    assert list(trace.x) == [10.0, 30.0]
    assert list(trace.text) == ["Nausea (mild) by nurse",
                                "Sedation (severe) by doctor: hard to rouse"]


def _no_events() -> Any:
    import pandas as pd

    frame = pd.DataFrame(columns=list(frames.EVENT_COLUMNS))
    frame["time"] = pd.Series([], dtype="datetime64[us, UTC]")
    return frame


def rems_observations(dose: datetime) -> list[Observation]:
    return [
        seen("s1", dose + minutes(20), ObservationKind.DISSOCIATION, Severity.MILD),
        seen("s1", dose + minutes(35), ObservationKind.DISSOCIATION, Severity.MODERATE),
        seen("s1", dose + minutes(50), ObservationKind.SEDATION, Severity.NONE),
        seen("s1", dose + minutes(55), ObservationKind.NAUSEA, Severity.MILD),
    ]


def test_the_rems_summary_answers_sedation_dissociation_and_respiratory_depression():
    dose = NOW - minutes(120)
    events = [SessionEvent("s1", SessionEventType.DOSE, dose)]

    summary = reports.rems_summary("s1", events, [], [], observations=rems_observations(dose))
    rows = dict(reports.rems_rows(summary))

    assert rows["Dissociation (monitor's observation)"] == (
        "yes — moderate at worst; first recorded 15:20 UTC (dose +20 min) by nurse; 2 entries")
    assert rows["Sedation (monitor's observation)"] == "no (checked by nurse at 15:50 UTC)"
    assert rows["Respiratory depression (monitor's observation)"] == \
        "none recorded by the monitor"
    assert rows["Other observations"] == "Nausea (1)"


def test_the_html_report_lists_the_observations():
    dose = NOW - minutes(120)
    observed = rems_observations(dose)
    summary = summary_report.clinical_summary("s1", [], [], [], observed, [], load_profile(), NOW)

    page = summary_report.html_report(summary)

    assert f"<h2>Observations by the monitor ({len(observed)})</h2>" in page
    assert "<td>Dissociation</td><td>moderate</td><td>nurse</td>" in page


def test_the_observations_csv_has_one_row_per_observation_in_time_order():
    observed = rems_observations(NOW - minutes(120))[::-1]

    rows = list(csv.DictReader(io.StringIO(reports.observations_csv(observed))))

    assert [(r["observation"], r["severity"], r["by"]) for r in rows] == [
        ("dissociation", "mild", "nurse"), ("dissociation", "moderate", "nurse"),
        ("sedation", "none", "nurse"), ("nausea", "mild", "nurse")]
    assert rows[0]["time"] == "2026-11-28T15:20:00Z"


def test_the_fhir_bundle_carries_the_observations_as_exam_observations_with_severity():
    observed = [seen("s1", NOW - minutes(5), ObservationKind.NAUSEA, Severity.MODERATE,
                     note="bowl"),
                seen("s1", NOW - minutes(3), ObservationKind.SEDATION, Severity.NONE)]

    bundle = reports.fhir_bundle("s1", [], NOW, observed)

    nausea, sedation = (e["resource"] for e in bundle["entry"])
    assert nausea["category"][0]["coding"][0]["code"] == "exam"
    assert nausea["code"]["text"] == "Nausea"
    assert nausea["valueCodeableConcept"]["coding"][0]["code"] == "6736007"  # moderate
    assert (nausea["performer"], nausea["note"]) == ([{"display": "nurse"}], [{"text": "bowl"}])
    assert sedation["valueBoolean"] is False
    assert bundle == reports.fhir_bundle("s1", [], NOW, observed[::-1])  # stable ids and order


# --- the views, from a real store --------------------------------------------------------------


def test_the_session_view_shows_the_log_markers_and_checkin_from_the_store(store, in_app):
    store.write(Batch(
        readings=[hr("s1", NOW - minutes(1), 80)],
        events=[start("s1", NOW - minutes(60)), checkin("s1", NOW - minutes(14), by="doctor")],
        observations=[seen("s1", NOW - minutes(5), ObservationKind.VOMITING, Severity.MODERATE,
                           note="bag given")],
    ))

    log, badge = session_view.refresh_presence(1, "s1")
    figure, _drawn = session_chart.draw("s1")

    assert "Vomiting moderate nurse bag given" in text_of(log)
    assert "checkin--due" in classes_of(badge)
    assert "Last check-in 14 min ago (doctor)" in text_of(badge)
    [trace] = [t for t in figure.data if t.name == "Observations"]
    assert list(trace.text) == ["Vomiting (moderate) by nurse: bag given"]
    # Check-ins stay off the chart (one every 15 min would bury the protocol lines).
    labels = [a.text for a in figure.layout.annotations]
    assert "START" in labels and "CHECKIN" not in labels


def test_checkins_are_in_the_audit_trail(store, in_app):
    store.write(Batch(events=[start("s1", NOW - minutes(30)), checkin("s1", NOW - minutes(3))]))

    _protocol, trail = session_view.refresh_protocol(1, "s1")

    assert "checkin nurse" in text_of(trail)


def test_an_ended_session_expects_no_checkins(store, in_app):
    store.write(Batch(events=[start("s1", NOW - minutes(90)), checkin("s1", NOW - minutes(60)),
                              SessionEvent("s1", SessionEventType.END, NOW - minutes(50))]))

    _log, badge = session_view.refresh_presence(1, "s1")

    assert "checkin--inactive" in classes_of(badge)


def test_the_overview_tile_shows_an_overdue_checkin_and_has_a_checkin_button(store, in_app):
    store.write(Batch(readings=[bp("s1", NOW - minutes(1), 120, 80)],
                      events=[checkin("s1", NOW - minutes(17))]))

    [cell], _status = overview.refresh(1)

    shown = find(cell, ids.tile_checkin_status("s1"))
    assert "checkin--overdue" in classes_of(shown)
    assert "OVERDUE by 2:00" in text_of(shown)
    assert find(cell, {"type": ids.TILE_CHECKIN, "session": "s1"}) is not None


# --- what the buttons publish (real Mosquitto) -------------------------------------------------


@pytest.fixture
def mqtt_app(store, broker_settings, users, commands):
    return create_app(store, broker_settings, refresh_ms=500, clock=lambda: NOW,
                      users_path=users, secret_key=SECRET, commands=commands)


def observation_click(client: Any, session_id: str, kind: str, severity: str | None,
                      note: str | None = None) -> Any:
    buttons = [ids.observation_button(k.value) for k in ObservationKind]
    outputs = [{"id": ids.OBSERVATION_FEEDBACK, "property": "children"},
               {"id": ids.OBSERVATION_NOTE, "property": "value"}]
    body = {
        "output": f"..{ids.OBSERVATION_FEEDBACK}.children...{ids.OBSERVATION_NOTE}.value..",
        "outputs": outputs,
        "inputs": [[{"id": b, "property": "n_clicks", "value": 1 if b["observation"] == kind
                     else 0} for b in buttons]],
        "state": [{"id": ids.OBSERVATION_SEVERITY, "property": "value", "value": severity},
                  {"id": ids.OBSERVATION_NOTE, "property": "value", "value": note},
                  {"id": ids.SESSION_ID_STORE, "property": "data", "value": session_id}],
        "changedPropIds": [f"{dash_id(ids.observation_button(kind))}.n_clicks"],
    }
    return client.post("/_dash-update-component", json=body)


def checkin_click(client: Any, session_id: str) -> Any:
    return client.post("/_dash-update-component", json={
        "output": f"{ids.CHECKIN_FEEDBACK}.children",
        "outputs": {"id": ids.CHECKIN_FEEDBACK, "property": "children"},
        "inputs": [{"id": ids.CHECKIN_BUTTON, "property": "n_clicks", "value": 1}],
        "state": [{"id": ids.SESSION_ID_STORE, "property": "data", "value": session_id}],
        "changedPropIds": [f"{ids.CHECKIN_BUTTON}.n_clicks"],
    })


def tile_checkin_click(client: Any, session_id: str) -> Any:
    button = {"type": ids.TILE_CHECKIN, "session": session_id}
    return client.post("/_dash-update-component", json={
        "output": f"{ids.OVERVIEW_FEEDBACK}.children",
        "outputs": {"id": ids.OVERVIEW_FEEDBACK, "property": "children"},
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "state": [],
        "changedPropIds": [f"{dash_id(button)}.n_clicks"],
    })


def test_tapping_an_observation_publishes_it_with_severity_note_and_user(mqtt_app, heard,
                                                                          session_id):
    client = mqtt_app.server.test_client()
    login(client, "nurse")

    response = observation_click(client, session_id, "nausea", "moderate", " asked for a bowl ")

    topic, payload = heard.get(timeout=WAIT_S)
    assert topic == f"vitals/{session_id}/observation"
    assert {k: payload[k] for k in ("observation", "severity", "by", "note")} == {
        "observation": "nausea", "severity": "moderate", "by": "nurse",
        "note": "asked for a bowl"}
    assert payload["time"].endswith("Z")
    shown = response.get_json()["response"]
    assert "Nausea (moderate) recorded by nurse" in shown[ids.OBSERVATION_FEEDBACK]["children"][0]
    assert shown[ids.OBSERVATION_NOTE]["value"] == ""  # the note is cleared once sent


def test_an_observation_without_a_note_or_severity_is_mild_and_has_no_note(mqtt_app, heard,
                                                                          session_id):
    client = mqtt_app.server.test_client()
    login(client, "doctor")

    observation_click(client, session_id, "respiratory_depression", None, "  ")

    _topic, payload = heard.get(timeout=WAIT_S)
    assert (payload["observation"], payload["severity"], payload["by"]) == (
        "respiratory_depression", "mild", "doctor")
    assert "note" not in payload


def test_the_checkin_button_publishes_a_checkin_event_with_the_user(mqtt_app, heard, session_id):
    client = mqtt_app.server.test_client()
    login(client, "nurse")

    shown = feedback(checkin_click(client, session_id))

    topic, payload = heard.get(timeout=WAIT_S)
    assert topic == f"vitals/{session_id}/session"
    assert (payload["event"], payload["by"]) == ("checkin", "nurse")
    assert "nurse checked in" in shown


def test_a_tiles_checkin_button_checks_in_for_its_session(mqtt_app, heard, session_id):
    client = mqtt_app.server.test_client()
    login(client, "boss")

    tile_checkin_click(client, session_id)

    topic, payload = heard.get(timeout=WAIT_S)
    assert (topic, payload["event"], payload["by"]) == (
        f"vitals/{session_id}/session", "checkin", "boss")


def test_nobody_logged_out_can_record_an_observation_or_check_in(mqtt_app, heard, session_id):
    client = mqtt_app.server.test_client()

    responses = [observation_click(client, session_id, "nausea", "mild"),
                 checkin_click(client, session_id)]

    assert [r.status_code for r in responses] == [401, 401]
    assert heard.empty()


def test_an_unknown_observation_is_refused_and_nothing_is_sent(commands, heard, session_id):
    with pytest.raises(CommandFailed, match="unknown observation"):
        commands.observation(session_id, "hiccups", "mild", "nurse")
    with pytest.raises(CommandFailed, match="unknown observation or severity"):
        commands.observation(session_id, "nausea", "extreme", "nurse")

    commands.observation(session_id, "nausea", "severe", "nurse")  # a marker after the refusals

    _topic, payload = heard.get(timeout=WAIT_S)
    assert (payload["observation"], payload["severity"]) == ("nausea", "severe")


def test_clinicians_download_the_observations_csv_and_monitors_cannot(store, app):
    store.write(Batch(observations=[seen("s1", NOW - minutes(5), ObservationKind.ANXIETY,
                                         Severity.MILD, note="music on")]))
    doctor, nurse = app.server.test_client(), app.server.test_client()
    login(doctor, "doctor")
    login(nurse, "nurse")

    rows = list(csv.DictReader(io.StringIO(doctor.get("/export/s1/observations.csv").text)))
    report = doctor.get("/export/s1/report.html").text

    assert [(r["observation"], r["note"]) for r in rows] == [("anxiety", "music on")]
    assert "<td>Anxiety</td><td>mild</td><td>nurse</td><td>music on</td>" in report
    assert nurse.get("/export/s1/observations.csv").status_code == 403


def test_the_history_links_the_observations_export_for_clinicians(store, app):
    from dashboard.pages import history

    store.write(Batch(readings=[hr("s1", NOW - timedelta(minutes=5), 70)]))
    with app.server.test_request_context("/"):
        auth.login_as("doctor")
        table = history.refresh(None, None)

    [link] = [a for a in table.children[1].children[0].children[-1].children
              if a.href.endswith("observations.csv")]
    assert link.href == "/export/s1/observations.csv"
