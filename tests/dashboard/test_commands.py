"""What the dashboard publishes over MQTT (a real Mosquitto), through its real callbacks.

A paho subscriber listens on the session's topics; the callbacks are driven through Flask's
`/_dash-update-component`, as the browser drives them, with a logged-in test client.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dashboard import ids
from dashboard.app import create_app
from dashboard.commands import CommandFailed, Commands
from tests.dashboard.builders import NOW, alert, bp, event, hr, minutes, spo2
from tests.dashboard.conftest import SECRET, dash_id, logged_in, login
from vitals.alerts import Metric, Priority
from vitals.readings import SessionEventType
from vitals.settings import Settings
from vitals.storage.base import Batch

WAIT_S = 5


@pytest.fixture
def app(store, broker_settings, users, commands):
    return create_app(store, broker_settings, refresh_ms=500, clock=lambda: NOW,
                      users_path=users, secret_key=SECRET, commands=commands)


def update(client: Any, output: dict[str, str], inputs: list[Any], state: list[Any],
           changed: str) -> Any:
    """POST one callback as the Dash renderer does."""
    body = {
        "output": f"{dash_id(output['id'])}.{output['property']}",
        "outputs": output,
        "inputs": inputs,
        "state": state,
        "changedPropIds": [changed],
    }
    return client.post("/_dash-update-component", json=body)


def ack_click(client: Any, session: str, metric: str, note: str | None, rule: str = "") -> Any:
    key = {"session": session, "metric": metric, "rule": rule}
    button = {"type": ids.ACK_BUTTON, **key}
    note_id = {"type": ids.ACK_NOTE, **key}
    return update(
        client, {"id": ids.ACK_FEEDBACK, "property": "children"},
        [[{"id": button, "property": "n_clicks", "value": 1}]],
        [[{"id": note_id, "property": "value", "value": note}]],
        f"{dash_id(button)}.n_clicks",
    )


def session_click(client: Any, session: str, button: str, note: str | None = None,
                  reason: str | None = None, guidelines: list[str] | None = None,
                  contraindications: list[str] | None = None,
                  end_reason: str | None = None, label: str | None = None) -> Any:
    buttons = (ids.EVENT_START, ids.EVENT_DOSE, ids.END_CONFIRM_SUBMIT, ids.NOTE_SUBMIT,
               ids.CHECKLIST_SUBMIT, ids.OVERRIDE_SUBMIT, ids.SIGNOFF_SUBMIT)
    inputs = [{"id": b, "property": "n_clicks", "value": 1 if b == button else 0}
              for b in buttons]
    state = [
        {"id": ids.SESSION_ID_STORE, "property": "data", "value": session},
        {"id": ids.NOTE_TEXT, "property": "value", "value": note},
        {"id": ids.CHECKLIST_GUIDELINES, "property": "value", "value": guidelines or []},
        {"id": ids.CHECKLIST_CONTRAINDICATIONS, "property": "value",
         "value": contraindications or []},
        {"id": ids.OVERRIDE_REASON, "property": "value", "value": reason},
        {"id": ids.END_REASON, "property": "value", "value": end_reason},
        {"id": ids.START_LABEL, "property": "value", "value": label},
    ]
    return update(client, {"id": ids.SESSION_FEEDBACK, "property": "children"}, inputs, state,
                  f"{button}.n_clicks")


def feedback(response: Any) -> str:
    assert response.status_code == 200, response.data
    return json.dumps(response.get_json()["response"], ensure_ascii=False)


def test_acknowledging_publishes_the_users_name_and_note_at_qos_1(app, heard, session_id):
    client = logged_in(app, "nurse")

    shown = feedback(ack_click(client, session_id, "systolic", "re-measured, cuff loose"))

    topic, payload = heard.get(timeout=WAIT_S)
    assert topic == f"vitals/{session_id}/ack"
    assert {k: payload[k] for k in ("metric", "by", "note")} == {
        "metric": "systolic", "by": "nurse", "note": "re-measured, cuff loose"}
    assert payload["time"].endswith("Z")
    assert "acknowledged by nurse" in shown


def test_acknowledging_a_technical_alarm_names_its_rule(app, heard, session_id):
    client = logged_in(app, "nurse")

    ack_click(client, session_id, "data", "probe refitted", rule="data.stream_silent.hr")

    _topic, payload = heard.get(timeout=WAIT_S)
    assert (payload["metric"], payload["rule"], payload["note"]) == (
        "data", "data.stream_silent.hr", "probe refitted")


def test_an_acknowledgement_without_a_note_has_no_note(app, heard, session_id):
    client = logged_in(app, "nurse")

    ack_click(client, session_id, "spo2", "   ")

    _topic, payload = heard.get(timeout=WAIT_S)
    assert "note" not in payload and payload["metric"] == "spo2"


@pytest.mark.parametrize(
    ("button", "event"),
    [(ids.EVENT_START, "start"), (ids.EVENT_DOSE, "dose"), (ids.END_CONFIRM_SUBMIT, "end")],
)
def test_protocol_buttons_publish_session_events_with_the_user(app, heard, session_id, button,
                                                               event):
    client = logged_in(app, "nurse")

    session_click(client, session_id, button)

    topic, payload = heard.get(timeout=WAIT_S)
    assert topic == f"vitals/{session_id}/session"
    assert (payload["event"], payload["by"]) == (event, "nurse")


def test_starting_publishes_the_typed_label_trimmed(app, heard, session_id):
    client = app.server.test_client()
    login(client, "nurse")

    session_click(client, session_id, ids.EVENT_START, label="  Chair 3 · AB ")

    _topic, payload = heard.get(timeout=WAIT_S)
    assert (payload["event"], payload["label"]) == ("start", "Chair 3 · AB")


def test_a_label_the_ingest_would_refuse_is_refused_before_sending(app, heard, session_id):
    client = app.server.test_client()
    login(client, "nurse")

    shown = feedback(session_click(client, session_id, ids.EVENT_START, label="x" * 41))

    assert "Not started: label is 41 characters; the limit is 40" in shown
    assert heard.empty()


def test_a_monitor_cannot_end_a_session_with_an_alarm_present(app, store, heard, session_id):
    store.write(Batch(readings=[spo2(session_id, NOW, 86)], alerts=[
        alert(session_id, NOW - minutes(1), Metric.SPO2, Priority.HIGH, value=86)]))
    client = logged_in(app, "nurse")

    shown = feedback(session_click(client, session_id, ids.END_CONFIRM_SUBMIT,
                                   end_reason="patient left"))

    assert "Not ended: 1 alarm(s) present" in shown and "clinician" in shown
    assert heard.empty()


def test_a_clinician_ends_a_session_with_alarms_present_only_with_a_reason(app, store, heard,
                                                                          session_id):
    store.write(Batch(readings=[spo2(session_id, NOW, 86)], alerts=[
        alert(session_id, NOW - minutes(1), Metric.SPO2, Priority.HIGH, value=86)]))
    client = logged_in(app, "doctor")

    refused = feedback(session_click(client, session_id, ids.END_CONFIRM_SUBMIT, end_reason=" "))
    assert "Write the reason" in refused and heard.empty()

    session_click(client, session_id, ids.END_CONFIRM_SUBMIT,
                  end_reason="transferred to the emergency department")

    _topic, payload = heard.get(timeout=WAIT_S)
    assert (payload["event"], payload["by"]) == ("end", "doctor")
    assert payload["note"] == ("transferred to the emergency department "
                               "[alarms present at the end: spo2 high active]")


def test_a_note_is_published_as_a_note_event(app, heard, session_id):
    client = logged_in(app, "nurse")

    session_click(client, session_id, ids.NOTE_SUBMIT, note="patient anxious, music on")

    _topic, payload = heard.get(timeout=WAIT_S)
    assert (payload["event"], payload["note"]) == ("note", "patient anxious, music on")


def test_the_checklist_is_published_with_its_answers_as_text(app, heard, session_id):
    client = logged_in(app, "nurse")

    session_click(client, session_id, ids.CHECKLIST_SUBMIT,
                  guidelines=["antihypertensives", "no-alcohol"],
                  contraindications=["pregnancy"])

    _topic, payload = heard.get(timeout=WAIT_S)
    assert payload["event"] == "checklist"
    assert "confirmed: antihypertensives,no-alcohol" in payload["note"]
    assert "contraindications: pregnancy" in payload["note"]


@pytest.mark.parametrize(("user", "reason", "refusal"), [
    pytest.param("nurse", "ok", "Only a clinician", id="a monitor cannot override"),
    pytest.param("doctor", "  ", "needs a written reason", id="an override needs a reason"),
])
def test_an_override_of_a_no_go_verdict_is_refused_and_nothing_published(
        app, store, heard, session_id, user, reason, refusal):
    store.write(Batch(readings=[bp(session_id, NOW - minutes(5), 190, 115)]))
    client = logged_in(app, user)

    shown = feedback(session_click(client, session_id, ids.OVERRIDE_SUBMIT, reason=reason))

    assert refusal in shown
    assert heard.empty()


def test_a_clinician_overrides_a_no_go_verdict_with_a_reason(app, store, heard, session_id):
    store.write(Batch(readings=[bp(session_id, NOW - minutes(5), 190, 115),
                                hr(session_id, NOW, 80), spo2(session_id, NOW, 98)]))
    client = logged_in(app, "doctor")

    session_click(client, session_id, ids.OVERRIDE_SUBMIT, reason="white-coat; re-measured 150")

    _topic, payload = heard.get(timeout=WAIT_S)
    assert (payload["event"], payload["by"], payload["note"]) == (
        "override", "doctor", "white-coat; re-measured 150")


def test_a_monitor_cannot_sign_off_discharge(app, heard, session_id):
    client = logged_in(app, "nurse")

    shown = feedback(session_click(client, session_id, ids.SIGNOFF_SUBMIT, note="fine"))

    assert "Only a clinician" in shown
    assert heard.empty()


def test_a_clinician_signs_off_a_session_that_meets_the_discharge_criteria(
        app, store, heard, session_id):
    dose = NOW - minutes(130)
    store.write(Batch(
        readings=[bp(session_id, NOW - minutes(25), 130, 82), bp(session_id, NOW - minutes(5),
                                                                   128, 80),
                  hr(session_id, NOW, 72), spo2(session_id, NOW, 97)],
        events=[event(session_id, dose - minutes(10), SessionEventType.START),
                event(session_id, dose, SessionEventType.DOSE)],
    ))
    client = logged_in(app, "doctor")

    session_click(client, session_id, ids.SIGNOFF_SUBMIT)

    _topic, payload = heard.get(timeout=WAIT_S)
    assert (payload["event"], payload["by"]) == ("signoff", "doctor")


def test_signing_off_with_unmet_criteria_needs_a_reason(app, store, heard, session_id):
    store.write(Batch(readings=[hr(session_id, NOW, 72)],
                      alerts=[alert(session_id, NOW, Metric.HEART_RATE, Priority.MEDIUM)]))
    client = logged_in(app, "doctor")

    shown = feedback(session_click(client, session_id, ids.SIGNOFF_SUBMIT))

    assert "not all met" in shown
    assert heard.empty()


def test_an_unreachable_broker_is_a_clear_error_and_nothing_pretends_to_be_sent(tmp_path):
    from services import free_port

    settings = Settings(mqtt_url=f"mqtt://127.0.0.1:{free_port()}", data_dir=tmp_path)
    publisher = Commands(settings, connect_timeout=0.5)
    try:
        with pytest.raises(CommandFailed, match=r"cannot reach the MQTT broker .* nothing"):
            publisher.acknowledge("a", "systolic", "nurse")
    finally:
        publisher.close()


def test_the_ack_callback_shows_the_broker_error(store, users, tmp_path):
    from services import free_port

    settings = Settings(mqtt_url=f"mqtt://127.0.0.1:{free_port()}", data_dir=tmp_path)
    publisher = Commands(settings, connect_timeout=0.5)
    try:
        app = create_app(store, settings, users_path=users, secret_key=SECRET,
                         commands=publisher)
        client = logged_in(app, "nurse")

        shown = feedback(ack_click(client, "a", "systolic", None))

        assert "Acknowledgement NOT sent" in shown
    finally:
        publisher.close()


def test_an_unreachable_broker_shows_in_the_pipeline_banner(tmp_path):
    from services import free_port, wait_until

    settings = Settings(mqtt_url=f"mqtt://127.0.0.1:{free_port()}", data_dir=tmp_path)
    publisher = Commands(settings, connect_timeout=0.2)
    try:
        assert publisher.problem() is None  # never started: nothing to report
        publisher.start()
        wait_until(lambda: publisher.problem() is not None, 5, "the broker problem")
        assert "Cannot reach the MQTT broker" in publisher.problem()
    finally:
        publisher.close()


def test_a_reachable_broker_is_no_problem(commands, session_id):
    commands.start()

    commands.session_event(session_id, SessionEventType.NOTE, "nurse", "connected?")

    assert commands.problem() is None


def test_clinicians_download_each_export_with_its_content(store, broker_settings, users):
    import csv
    import io

    store.write(Batch(
        readings=[bp("a", NOW - minutes(50), 130.0, 85.0), hr("a", NOW - minutes(49), 72.0),
                  spo2("a", NOW - minutes(49), 97.0)],
        events=[event("a", NOW - minutes(45), SessionEventType.DOSE)],
    ))
    app = create_app(store, broker_settings, clock=lambda: NOW, users_path=users,
                     secret_key=SECRET)
    client = logged_in(app, "doctor")

    rows = list(csv.DictReader(io.StringIO(client.get("/export/a/readings.csv").text)))
    bundle = client.get("/export/a/fhir.json").get_json(force=True)
    report = client.get("/export/a/report.html").text

    assert [r["kind"] for r in rows] == ["bp", "hr", "spo2"]
    assert [e["resource"]["code"]["coding"][0]["code"] for e in bundle["entry"]] == [
        "85354-9", "8867-4", "59408-5"]
    assert "130/85 mmHg" in report and "Plotly" in report
