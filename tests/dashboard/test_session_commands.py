"""What each protocol or audit button records, or why it refuses (pure: the form and what the
store said in, the event's note or the refusal out). The buttons end to end: test_commands.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dashboard import ids
from dashboard.session_commands import ACTIONS, Form, Known, Refused
from tests.dashboard.builders import NOW, alert
from vitals.alerts import Metric, Priority
from vitals.profile_loader import load_profile
from vitals.readings import SessionEventType
from vitals.sessions import PresessionVerdict, Verdict, session_status
from vitals.users import Role, User

NURSE, DOCTOR = User("nurse", Role.MONITOR), User("dr", Role.CLINICIAN)
ALARM = alert("s1", NOW, Metric.SPO2, Priority.HIGH, message="SpO2 86")
UNDOSED = session_status([], [], [], load_profile(), NOW)  # pending verdict, not ready


def no_go():
    return replace(UNDOSED, verdict=PresessionVerdict(Verdict.NO_GO, ("SBP 190",)))


@pytest.mark.parametrize(("button", "form", "known", "note"), [
    (ids.EVENT_START, Form(), Known(NURSE), None),
    (ids.NOTE_SUBMIT, Form(note="music on"), Known(NURSE), "music on"),
    (ids.CHECKLIST_SUBMIT, Form(guidelines=("fasted",)), Known(NURSE),
     "checklist v1; confirmed: fasted; not confirmed: antihypertensives,no-benzo-stim-24h,"
     "no-alcohol,monitor-present; contraindications: none"),
    (ids.END_CONFIRM_SUBMIT, Form(), Known(NURSE), None),  # nothing present: ends plainly
    (ids.OVERRIDE_SUBMIT, Form(reason="white-coat, re-measured"), Known(DOCTOR, status=no_go()),
     "white-coat, re-measured"),
    (ids.SIGNOFF_SUBMIT, Form(note="escort present"), Known(DOCTOR, status=UNDOSED),
     "escort present"),
])
def test_a_button_records_its_event_with_its_note(button, form, known, note):
    assert ACTIONS[button].text(form, known) == note


@pytest.mark.parametrize(("button", "form", "known", "says"), [
    (ids.NOTE_SUBMIT, Form(), Known(NURSE), "Type the note first"),
    (ids.END_CONFIRM_SUBMIT, Form(end_reason="done"), Known(NURSE, present=(ALARM,)),
     "can end a session with alarms present"),
    (ids.END_CONFIRM_SUBMIT, Form(), Known(DOCTOR, present=(ALARM,)),
     "Write the reason for ending"),
    (ids.OVERRIDE_SUBMIT, Form(), Known(DOCTOR, status=no_go()), "needs a written reason"),
    (ids.OVERRIDE_SUBMIT, Form(reason="x"), Known(DOCTOR, status=UNDOSED), "Nothing to override"),
    (ids.SIGNOFF_SUBMIT, Form(), Known(DOCTOR, status=UNDOSED), "not all met"),
])
def test_a_button_refuses_with_the_reason_and_what_to_do(button, form, known, says):
    with pytest.raises(Refused, match=says):
        ACTIONS[button].text(form, known)


def test_every_button_names_its_event_role_and_what_it_reads():
    table = {button: (a.event, a.role, a.reads_alarms, a.reads_status)
             for button, a in ACTIONS.items()}
    assert table[ids.END_CONFIRM_SUBMIT] == (SessionEventType.END, Role.MONITOR, True, False)
    assert table[ids.SIGNOFF_SUBMIT] == (SessionEventType.SIGNOFF, Role.CLINICIAN, False, True)
    assert {a.event for a in ACTIONS.values()} == {
        SessionEventType.START, SessionEventType.DOSE, SessionEventType.END,
        SessionEventType.NOTE, SessionEventType.CHECKLIST, SessionEventType.OVERRIDE,
        SessionEventType.SIGNOFF}


def test_blank_inputs_are_none_and_text_is_stripped():
    assert Form.typed("  ", None, None, " why ", "") == Form(None, (), (), "why", None)
