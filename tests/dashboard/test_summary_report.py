"""The clinical summary a clinician signs: what it says, from stored history (pure), and that it
prints in 1-3 pages in Chromium with a light chart (browser)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from services import free_port

from dashboard import summary_report
from tests.dashboard.builders import NOW, alert, bp, hr, spo2
from tests.dashboard.conftest import browser_login
from vitals.alerts import AlertState, Metric, Priority
from vitals.checklist import checklist_note
from vitals.profile_loader import load_profile
from vitals.readings import Reading, SessionEvent, SessionEventType
from vitals.storage.base import Batch, NotificationRecord

PROFILE = load_profile()
START = NOW - timedelta(hours=2, minutes=10)
DOSE = START + timedelta(minutes=8)
END = DOSE + timedelta(minutes=125)
SESSION = "rpt-1"


def after_dose(minutes: float) -> datetime:
    return DOSE + timedelta(minutes=minutes)


def recorded(kind: SessionEventType, at: datetime, by: str | None = "nurse",
             note: str | None = None) -> SessionEvent:
    return SessionEvent(SESSION, kind, at, note=note, by=by)


def readings(hz: float = 1 / 60) -> list[Reading]:
    """Two hours and more: BP every 5 min rising to 186/98 at +35 and settling; HR and SpO2 at
    `hz` (1 Hz for a real oximeter)."""
    found = []
    t, step = START, timedelta(seconds=1 / hz)
    while t <= END:
        m = (t - DOSE).total_seconds() / 60
        found.append(hr(SESSION, t, 72 + (18 if 20 <= m <= 50 else 0)))
        found.append(spo2(SESSION, t, 86 if 95 <= m <= 100 else 97))
        t += step
    for i in range(0, 136, 5):
        m = i - 8
        rise = max(0.0, 60 - abs(m - 35) * 2.5) if m > 0 else 0.0
        found.append(bp(SESSION, START + timedelta(minutes=i), 124 + rise, 80 + rise / 3))
    return found


def history(signoff: bool = True, checklist: str | None = None) -> dict[str, list]:
    events = [recorded(SessionEventType.START, START),
              recorded(SessionEventType.CHECKLIST, START + timedelta(minutes=2),
                       note=checklist or checklist_note(
                           ["antihypertensives", "fasted", "no-alcohol", "monitor-present"], [])),
              recorded(SessionEventType.DOSE, DOSE),
              *(recorded(SessionEventType.CHECKIN, after_dose(m)) for m in range(10, 121, 10)),
              recorded(SessionEventType.NOTE, after_dose(36), note="<b>re-measured</b> left arm"),
              recorded(SessionEventType.END, END)]
    if signoff:
        events.append(recorded(SessionEventType.SIGNOFF, after_dose(122), by="dr-lee",
                               note="well, escort present"))
    sbp = alert(SESSION, after_dose(35), Metric.SYSTOLIC, Priority.HIGH, value=186,
                message="SBP 186 ≥ 180: hypertensive crisis")
    low = alert(SESSION, after_dose(95), Metric.SPO2, Priority.HIGH, value=86,
                message="SpO2 86 < 90")
    alerts = [sbp, replace(sbp, time=after_dose(36), state=AlertState.ACKNOWLEDGED, by="nurse",
                           note="re-measured"),
              replace(sbp, time=after_dose(45), state=AlertState.CLEARED),
              low, replace(low, time=END, state=AlertState.CLEARED, message="Session ended.")]
    notified = [NotificationRecord(after_dose(95), SESSION, "spo2", "Dr X", "mailto", "alarm",
                                   False, "connection refused")]
    return {"events": events, "readings": readings(), "alerts": alerts, "notifications": notified}


def summary_of(h: dict[str, list], generated: datetime = NOW) -> summary_report.ClinicalSummary:
    return summary_report.clinical_summary(SESSION, h["events"], h["readings"], h["alerts"], [],
                                           h["notifications"], PROFILE, generated)


def page_of(h: dict[str, list]) -> str:
    return summary_report.html_report(summary_of(h), exports=[("readings.csv", "readings.csv")])


def text(page: str) -> str:
    """What a reader sees: tags and styles gone, entities decoded, white space collapsed."""
    body = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_an_alarm_nobody_acknowledged_is_named_first_never_as_merely_cleared():
    page = page_of(history())
    words = text(page)
    assert "1 alarm left unacknowledged: HIGH SpO2 (SpO2 86 < 90)" in words
    assert "NOT ACKNOWLEDGED: still present when the session ended" in words
    assert words.index("left unacknowledged") < words.index("Before the dose")
    # the answered one says who answered it
    assert "nurse at 17:01 UTC: re-measured" in words.replace(
        f"{(DOSE + timedelta(minutes=36)):%H:%M}", "17:01")


def test_the_checklist_reads_as_labels_and_the_verdict_is_the_screens_one():
    s = summary_of(history())
    words = text(summary_report.html_report(s))
    assert s.status.verdict.verdict.value == "no_go"  # "no benzodiazepines" was not confirmed
    assert "NO-GO" in words
    assert "Not confirmed: No benzodiazepines or stimulants in the last 24 h" in words
    assert "Confirmed: Usual antihypertensives taken; No solid food" in words
    assert "no-benzo-stim-24h" not in words and "checklist v1" not in words


@pytest.mark.parametrize(("signoff", "expected"), [
    (True, "Signed off as an OVERRIDE, criteria not met: by dr-lee"),
    (False, "Not signed off."),
])
def test_discharge_says_whether_it_was_signed_and_what_was_unmet_at_the_sign_off(signoff,
                                                                                  expected):
    words = text(page_of(history(signoff=signoff)))
    assert expected in words
    # the SpO2 alarm was present at the sign-off (and at the end): the criterion is unmet,
    # although the session's end cleared it afterwards
    assert "✖ 1 alarm(s) active or not yet cleared: spo2 high active" in words
    assert PROFILE.discharge.reminder in words  # the no-driving statement, always


def test_a_discharge_signed_with_every_criterion_met_is_a_plain_sign_off():
    h = history()
    h["alerts"] = h["alerts"][:3]  # no SpO2 alarm
    h["readings"] = [r for r in h["readings"] if r.kind.value != "spo2" or r["spo2"] > 90]
    s = summary_of(h)
    assert s.discharge.readiness.ready and not s.discharge.override
    assert "Signed off by dr-lee" in text(summary_report.html_report(s))


def test_readings_are_summarised_not_listed_and_the_files_hold_them_in_full():
    h = history()
    s = summary_of(h)
    words = text(summary_report.html_report(s, exports=[("readings.csv", "readings.csv")]))
    systolic = next(m for m in s.measures if m.label == "Systolic BP")
    measured = [r["systolic"] for r in h["readings"] if r.kind.value == "bp"]
    assert (systolic.count, systolic.highest, systolic.lowest) == (28, max(measured), 124.0)
    assert f"Vital signs ({len(h['readings'])} readings)" in words
    assert "Systolic BP (mmHg) 28 124 at" in words
    assert words.count(" bpm ") == 0 and "In full: readings.csv" in words
    assert "Presence check-ins: 12" in words  # counted, not listed


def test_every_stored_text_is_escaped_and_there_are_identity_and_signature_lines():
    page = page_of(history())
    assert "<b>re-measured</b>" not in page and "&lt;b&gt;re-measured&lt;/b&gt;" in page
    words = text(page)
    assert "Patient Date of birth / record no." in words
    assert "Monitor during the session" in words and "Clinician reviewing" in words
    assert "not a certified medical device" in words
    assert "failed: connection refused" in words  # the notification log


def test_a_report_of_a_running_session_says_so_and_judges_discharge_now():
    h = history(signoff=False)
    h["events"] = [e for e in h["events"] if e.event is not SessionEventType.END]
    h["alerts"] = h["alerts"][:4]  # the SpO2 alarm still active
    s = summary_of(h, generated=after_dose(110))
    words = text(summary_report.html_report(s))
    assert "not ended" in words and "(now)" in words
    assert "HIGH SpO2 (SpO2 86 < 90)" in words and "present now" in words


# --- printed, in Chromium ------------------------------------------------------------------------

PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![s\w])")


@pytest.mark.browser
@pytest.mark.services
def test_the_report_of_a_two_hour_session_at_1_hz_prints_light_in_one_to_three_pages(
        dash_duo, app, store):
    h = history()
    h["readings"] = readings(hz=1.0)  # ~15,000 readings
    store.write(Batch(readings=h["readings"], events=h["events"], alerts=h["alerts"]))
    browser_login(dash_duo, app, "doctor", port=free_port())
    dash_duo.driver.get(f"{dash_duo.server.url}/export/{SESSION}/report.html")
    dash_duo.wait_for_element(".chart .main-svg", timeout=30)

    background = dash_duo.driver.execute_script(
        "return getComputedStyle(document.querySelector('.chart .main-svg')).backgroundColor"
        " + '|' + document.querySelectorAll('.modebar').length")
    pdf = base64.b64decode(dash_duo.driver.print_page())
    pages = len(PAGE_OBJECT.findall(pdf))

    assert background in ("rgba(0, 0, 0, 0)|0", "rgb(255, 255, 255)|0")
    assert 1 <= pages <= 3, f"the report prints on {pages} pages"


def test_an_alarm_raised_from_low_to_medium_counts_once_in_the_table_and_the_summary():
    h = history()
    low = alert(SESSION, after_dose(20), Metric.SYSTOLIC, Priority.LOW, value=152,
                message="SBP 152")
    h["alerts"] = [low, replace(low, time=after_dose(25), priority=Priority.MEDIUM, value=165,
                                message="SBP 165"),
                   replace(low, time=after_dose(30), state=AlertState.CLEARED)]
    words = text(page_of(h))
    assert "Alarms (1)" in words
    assert "Alarms raised 1 (high: 0, medium: 1, low: 0)" in words
