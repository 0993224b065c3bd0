"""Alarms panel, pipeline banner, sound level, checklist, verdict and discharge: pure builders,
and the shell's callbacks called inside their app against a real SqliteStore."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dashboard import auth, components, frames, ids, queries, session_chart, session_view
from dashboard.app import create_app, refresh_shell
from dashboard.pages import history
from tests.dashboard.builders import NOW, alert, bp, event, hr, minutes, spo2
from tests.dashboard.conftest import SECRET
from tests.dashboard.trees import classes_of, find, text_of
from vitals.alerts import AlertState, Metric, Priority
from vitals.checklist import GUIDELINES, checklist_findings, checklist_note
from vitals.readings import SessionEventType
from vitals.storage.base import Batch

# --- pipeline health --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("silent_s", "store_error", "extra", "expected"),
    [
        (None, None, None, None),
        (31, None, None, "No data from the ingest for 31 s, from any device of any session"),
        (None, "disk I/O error", None, "Cannot read the database: disk I/O error"),
        (None, None, "ingest reports the broker offline", "ingest reports the broker offline"),
    ],
)
def test_pipeline_problem_says_why_the_screen_cannot_be_trusted(silent_s, store_error, extra,
                                                                expected):
    problem = components.pipeline_problem(silent_s, store_error, extra)

    if expected is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(expected)


# --- ending a session ---

HIGH_SPO2 = alert("a", NOW, Metric.SPO2, Priority.HIGH)


@pytest.mark.parametrize(
    ("present", "may_end_with_alarms", "reason", "refused"),
    [
        pytest.param([], False, None, None, id="no alarm: any role, no reason needed"),
        pytest.param([HIGH_SPO2], False, "left", "Only a clinician or admin",
                     id="alarm present: not a monitor"),
        pytest.param([HIGH_SPO2], True, None, "Write the reason",
                     id="alarm present: a clinician needs a reason"),
        pytest.param([replace(HIGH_SPO2, state=AlertState.ACKNOWLEDGED)], False, "left",
                     "Only a clinician", id="an acknowledged alarm still present counts"),
        pytest.param([HIGH_SPO2], True, "transferred", None, id="a clinician with a reason"),
    ],
)
def test_who_may_end_a_session_with_alarms_present(present, may_end_with_alarms, reason,
                                                   refused):
    refusal = components.end_refusal(present, may_end_with_alarms, reason)

    assert refusal is None if refused is None else refused in (refusal or "")


# --- alarms -------------------------------------------------------------------------------------


def alarms(*events):
    rows = frames.alert_rows(list(events))
    rows.insert(0, "session", [e.session for e in events])
    return rows


@pytest.mark.parametrize(
    ("events", "level"),
    [
        ((), None),
        ((alert("a", NOW, Metric.SPO2, Priority.LOW),), None),  # low alarms are silent
        ((alert("a", NOW, Metric.HEART_RATE, Priority.MEDIUM),), "medium"),
        ((alert("a", NOW, Metric.HEART_RATE, Priority.MEDIUM),
          alert("b", NOW, Metric.SYSTOLIC, Priority.HIGH)), "high"),
        ((alert("b", NOW, Metric.SYSTOLIC, Priority.HIGH, AlertState.ACKNOWLEDGED),), None),
    ],
)
def test_the_tone_is_the_highest_unacknowledged_high_or_medium_alarm(events, level):
    assert components.sound_level(alarms(*events)) == level


def test_the_alarm_strip_heads_its_rows_with_the_count_and_the_highest_priority():
    acked = replace(alert("b", NOW, Metric.SYSTOLIC, Priority.HIGH, AlertState.ACKNOWLEDGED),
                    by="nurse")
    present = alarms(alert("a", NOW, Metric.SPO2, Priority.HIGH), acked,
                     alert("c", NOW, Metric.HEART_RATE, Priority.LOW))

    summary, rows = components.alarm_strip(present, can_ack=True)

    assert text_of(summary) == "▲ HIGH · 3 alarms (2 high, 1 low) · 2 unacknowledged"
    assert "alarms-summary--high" in classes_of(summary)
    assert "alarms-list" in classes_of(rows) and len(rows.children) == 3


def test_without_alarms_the_strip_says_so_and_has_no_headline():
    [line] = components.alarm_strip(alarms(), can_ack=True)

    assert text_of(line) == "✓ No alarms in any active session"


def test_an_acknowledged_alarm_shows_who_acknowledged_it_and_has_no_button():
    acked = replace(alert("a", NOW, Metric.SYSTOLIC, Priority.HIGH, AlertState.ACKNOWLEDGED,
                          message="SBP 186"), by="nurse", note="re-measured")

    [row] = components.alarms_panel(alarms(acked), can_ack=True)

    assert "acknowledged by nurse at 17:00:00 UTC — “re-measured”" in text_of(row)
    key = {"session": "a", "metric": "systolic", "rule": ""}
    assert find(row, {"type": ids.ACK_BUTTON, **key}) is None


def test_two_technical_alarms_of_a_session_are_two_rows_each_with_its_own_button():
    silent = alert("a", NOW, Metric.DATA, Priority.MEDIUM, message="No heart rate reading",
                   rule="data.stream_silent.hr")
    checkin = replace(alert("a", NOW, Metric.DATA, Priority.MEDIUM, message="No check-in",
                            rule="data.checkin_missed"), ended=NOW + minutes(2))

    rows = components.alarms_panel(alarms(silent, checkin), can_ack=True)

    assert [text_of(r).count("acknowledge to clear") for r in rows] == [0, 1]
    assert "ended at 17:02 UTC — acknowledge to clear" in text_of(rows[1])
    for row, rule in zip(rows, ("data.stream_silent.hr", "data.checkin_missed"), strict=True):
        assert find(row, {"type": ids.ACK_BUTTON, "session": "a", "metric": "data",
                          "rule": rule}) is not None


def test_an_alarm_stamped_ahead_of_the_clock_is_never_shown_since_a_time_to_come():
    # A demo at 30x stamps its readings, and so its alarms, ahead of the wall clock.
    [row] = components.alarms_panel(alarms(alert("a", NOW + minutes(40), Metric.SPO2,
                                                 Priority.HIGH)), can_ack=True, now=NOW)

    assert "since 17:00:00" in text_of(row) and "17:40" not in text_of(row)


def test_an_active_alarm_has_an_acknowledge_button_and_a_note_field():
    [row] = components.alarms_panel(alarms(alert("a", NOW, Metric.SPO2, Priority.HIGH)),
                                    can_ack=True)

    key = {"session": "a", "metric": "spo2", "rule": ""}
    assert find(row, {"type": ids.ACK_BUTTON, **key}) is not None
    assert find(row, {"type": ids.ACK_NOTE, **key}) is not None
    assert "▲ HIGH" in text_of(row)
    # A clock time: the panel is redrawn only when an alarm changes, so an age would freeze.
    assert "since 17:00:00" in text_of(row)


def test_the_acknowledge_shortcut_is_on_the_first_unacknowledged_alarms_button_only():
    acked = replace(alert("a", NOW, Metric.SYSTOLIC, Priority.HIGH, AlertState.ACKNOWLEDGED),
                    by="nurse")
    rows = components.alarms_panel(alarms(acked, alert("b", NOW, Metric.SPO2, Priority.HIGH),
                                          alert("c", NOW, Metric.SPO2, Priority.MEDIUM)),
                                   can_ack=True)

    def shortcut(session: str) -> str | None:
        [button] = [b for b in (find(row, {"type": ids.ACK_BUTTON, "session": session,
                                           "metric": "spo2", "rule": ""}) for row in rows)
                    if b is not None]
        return getattr(button, "aria-keyshortcuts", None)

    assert (shortcut("b"), shortcut("c")) == (components.SHORTCUT_ACK, None)
    assert components.SHORTCUT_ACK.upper() in components.SHORTCUTS_HINT


def test_alarms_list_by_priority_then_unacknowledged_first_then_newest_as_the_tiles(store):
    store.write(Batch(readings=[hr(s, NOW, 80) for s in "abc"], alerts=[
        alert("a", NOW - minutes(1), Metric.SPO2, Priority.LOW),
        alert("b", NOW - minutes(2), Metric.SYSTOLIC, Priority.HIGH),
        alert("c", NOW - minutes(5), Metric.SYSTOLIC, Priority.HIGH),
        alert("c", NOW - minutes(3), Metric.HEART_RATE, Priority.HIGH, AlertState.ACKNOWLEDGED),
        alert("a", NOW - minutes(4), Metric.HEART_RATE, Priority.MEDIUM),
        alert("b", NOW - minutes(9), Metric.DIASTOLIC, Priority.MEDIUM),
        alert("b", NOW - minutes(8), Metric.DIASTOLIC, Priority.MEDIUM, AlertState.CLEARED),
    ]))

    frame = queries.alarms_frame(queries.active(store, NOW))

    assert list(zip(frame["session"], frame["metric"], strict=True)) == [
        ("b", "systolic"), ("c", "systolic"), ("c", "heart_rate"), ("a", "heart_rate"),
        ("a", "spo2"),
    ]


def test_the_shell_shows_alarms_across_sessions_and_the_tone(store, in_app):
    store.write(Batch(readings=[hr("a", NOW, 80), hr("b", NOW, 80)], alerts=[
        alert("a", NOW - minutes(1), Metric.HEART_RATE, Priority.MEDIUM, message="HR 125"),
        alert("b", NOW - minutes(2), Metric.SYSTOLIC, Priority.HIGH, message="SBP 186"),
    ]))

    banner, panel, level, signature = refresh_shell(1, None)

    assert banner == []
    assert text_of(panel).index("SBP 186") < text_of(panel).index("HR 125")
    assert level == "high"
    from dash import no_update

    assert refresh_shell(2, signature)[1] is no_update


def test_the_shell_shows_a_red_banner_when_the_ingest_is_silent(store, in_app):
    store.write(Batch(readings=[hr("a", NOW - minutes(2), 80)]))

    banner, *_rest = refresh_shell(1, None)

    assert "No data from the ingest for 120 s" in text_of(banner)


def test_the_shell_shows_a_red_banner_when_the_store_cannot_be_read(store, in_app):
    store.close()

    banner, _panel, level, _sig = refresh_shell(1, None)

    assert "Cannot read the database" in text_of(banner)
    assert level == "medium"  # a technical alarm, never silence


def test_the_health_input_feeds_the_banner(store, settings, users):
    app = create_app(store, settings, clock=lambda: NOW, users_path=users, secret_key=SECRET,
                     health=lambda: "ingest status: offline since 16:58")
    with app.server.test_request_context("/"):
        auth.login_as("nurse")
        banner, *_rest = refresh_shell(1, None)

    assert "ingest status: offline since 16:58" in text_of(banner)


# --- checklist, verdict, discharge --------------------------------------------------------------


def test_a_checklist_with_everything_confirmed_and_no_contraindication_has_no_findings():
    note = checklist_note([i.key for i in GUIDELINES], [])

    assert len(note) <= 500
    assert checklist_findings(note) == ()


def test_a_checklist_names_what_is_not_confirmed_and_each_contraindication():
    note = checklist_note(["antihypertensives"], ["pregnancy", "psychosis"])

    findings = checklist_findings(note)

    assert "contraindication: Pregnancy" in findings
    assert "contraindication: Psychosis or mania" in findings
    assert "not confirmed: No alcohol" in findings
    assert "not confirmed: Usual antihypertensives taken" not in findings


def test_the_session_view_shows_verdict_reassessment_cue_and_discharge_reminder(store,
                                                                                 in_app):
    dose = NOW - minutes(20)
    store.write(Batch(
        readings=[bp("a", dose - minutes(5), 190, 112), hr("a", dose - minutes(5), 80),
                  spo2("a", dose - minutes(5), 98), hr("a", NOW, 82)],
        events=[event("a", dose - minutes(10), SessionEventType.START),
                event("a", dose, SessionEventType.DOSE),
                replace(event("a", dose - minutes(8), SessionEventType.CHECKLIST),
                        note=checklist_note(["no-alcohol"], []), by="nurse")],
    ))

    protocol, audit = session_view.refresh_protocol(1, "a")

    shown = text_of(protocol)
    assert "✖ NO-GO" in shown and "not confirmed: Usual antihypertensives taken" in shown
    assert "Checklist recorded by nurse" in shown
    assert "Reassess blood pressure about 40 min after the dose" in shown
    assert "No driving or operating machinery until after a full night's sleep." in shown
    assert "checklist" in text_of(audit)


def test_no_go_while_the_checklist_is_not_recorded_and_a_signed_override_is_never_green():
    from vitals.sessions import (
        Criterion,
        DischargeReadiness,
        PresessionVerdict,
        Verdict,
        protocol_verdict,
    )

    box = components.verdict_box(protocol_verdict(PresessionVerdict(Verdict.GO), None), None,
                                 None)
    assert "✓ GO" not in text_of(box)
    assert "… PENDING" in text_of(box) and "checklist not recorded yet" in text_of(box)

    unmet = DischargeReadiness(False, (Criterion("alarms", False, "2 alarm(s) active"),), "r")
    head = find(components.discharge_box(unmet, "by doctor at 17:44 UTC: family drives"),
                ids.DISCHARGE).children[0]
    assert "OVERRIDE, criteria not met" in text_of(head) and "family drives" in text_of(head)
    assert "ready" not in classes_of(head) and "override" in classes_of(head)


def test_the_session_chart_marks_the_40_minute_reassessment(store, in_app):
    dose = NOW - minutes(20)
    store.write(Batch(readings=[hr("a", NOW, 82)],
                      events=[event("a", dose, SessionEventType.DOSE)]))

    figure, _drawn = session_chart.draw("a")

    assert any(a.text == "reassess BP ~40 min" for a in figure.layout.annotations)
    assert any(s.type == "rect" and s.x0 == 35 and s.x1 == 45 for s in figure.layout.shapes)


# --- history ------------------------------------------------------------------------------------


def test_history_finds_sessions_by_id_and_by_date(store, in_app):
    store.write(Batch(readings=[hr("alpha-1", NOW - minutes(60 * 24 * 2), 70),
                                hr("alpha-2", NOW, 70), hr("beta-1", NOW, 70)]))

    by_id = text_of(history.refresh("ALPHA", None))
    by_date = text_of(history.refresh(None, "2026-11-26"))

    assert "alpha-1" in by_id and "alpha-2" in by_id and "beta-1" not in by_id
    assert "alpha-1" in by_date and "alpha-2" not in by_date


def test_history_offers_exports_to_clinicians_only(store, app):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    shown = {}
    for name in ("nurse", "doctor"):
        with app.server.test_request_context("/"):
            auth.login_as(name)
            shown[name] = str(history.refresh(None, None))

    assert "/export/a/fhir.json" not in shown["nurse"]
    assert "/export/a/fhir.json" in shown["doctor"]
    assert "/export/a/report.html" in shown["doctor"]


def test_while_the_store_cannot_be_read_the_banner_says_the_alarms_the_ingest_published(
        store, settings, users):
    published = [{"session": "chair-2", "metric": "systolic", "priority": "high",
                  "state": "active", "time": "2026-11-28T16:59:00Z",
                  "message": "Systolic 188 mmHg: at or above 180"}]
    app = create_app(store, settings, clock=lambda: NOW, users_path=users, secret_key=SECRET,
                     alarm_feed=lambda: published)
    store.close()
    with app.server.test_request_context("/"):
        auth.login_as("nurse")
        banner, _panel, level, _sig = refresh_shell(1, None)

    assert "Cannot read the database" in text_of(banner)
    assert "HIGH chair-2: Systolic 188 mmHg" in text_of(banner)
    assert level == "high"  # the alarm itself sounds, not only a technical tone
