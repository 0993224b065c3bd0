"""Exports, pure: FHIR R4 Bundle codes and structure, the REMS summary, CSV round trip, HTML."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

from dashboard import reports
from tests.dashboard.builders import NOW, alert, bp, event, hr, minutes, spo2
from vitals.alerts import AlertState, Metric, Priority
from vitals.export import csv_cell
from vitals.readings import Observation, ObservationKind, SessionEventType, Severity
from vitals.storage.base import NotificationRecord

UCUM = "http://unitsofmeasure.org"


def bundle_of(*readings):
    return reports.fhir_bundle("s1", list(readings), NOW)


def test_the_fhir_export_is_a_collection_bundle_of_observations():
    bundle = bundle_of(bp("s1", NOW, 128, 84), hr("s1", NOW, 76), spo2("s1", NOW, 97))

    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    assert bundle["timestamp"] == "2026-11-28T17:00:00Z"
    assert len(bundle["entry"]) == 3
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        resource = entry["resource"]
        assert resource["resourceType"] == "Observation"
        assert resource["status"] == "final"
        assert resource["category"][0]["coding"][0] == {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs", "display": "Vital Signs"}
        assert resource["subject"]["identifier"]["value"] == "s1"
        assert resource["encounter"]["identifier"]["value"] == "s1"
        assert resource["effectiveDateTime"] == "2026-11-28T17:00:00Z"
    assert len({e["fullUrl"] for e in bundle["entry"]}) == 3
    json.dumps(bundle)  # serialisable as is


@pytest.mark.parametrize(
    ("reading", "code", "value", "unit"),
    [
        (hr("s1", NOW, 76), "8867-4", 76, "/min"),
        (spo2("s1", NOW, 97, pulse=75), "59408-5", 97, "%"),
    ],
)
def test_single_value_observations_carry_their_loinc_code_and_ucum_unit(reading, code, value,
                                                                        unit):
    [entry] = bundle_of(reading)["entry"]
    resource = entry["resource"]

    assert resource["code"]["coding"][0] == {
        "system": "http://loinc.org", "code": code, "display": resource["code"]["coding"][0]
        ["display"]}
    assert resource["valueQuantity"] == {"value": value, "unit": unit, "system": UCUM,
                                         "code": unit}


@pytest.mark.parametrize(
    ("component", "code", "value"),
    [(0, "8480-6", 128), (1, "8462-4", 84)],
)
def test_blood_pressure_is_a_panel_with_systolic_and_diastolic_components(component, code,
                                                                           value):
    [entry] = bundle_of(bp("s1", NOW, 128, 84))["entry"]
    resource = entry["resource"]

    assert resource["code"]["coding"][0]["code"] == "85354-9"
    assert "valueQuantity" not in resource
    part = resource["component"][component]
    assert part["code"]["coding"][0]["code"] == code
    assert part["valueQuantity"] == {"value": value, "unit": "mm[Hg]", "system": UCUM,
                                     "code": "mm[Hg]"}


def test_the_same_reading_exports_with_the_same_entry_id():
    first = bundle_of(hr("s1", NOW, 70))["entry"][0]["fullUrl"]
    again = bundle_of(hr("s1", NOW, 70))["entry"][0]["fullUrl"]

    assert first == again


DOSE = NOW - minutes(150)


def rems(readings, alerts=(), end=True):
    events = [event("s1", DOSE - minutes(15), SessionEventType.START),
              event("s1", DOSE, SessionEventType.DOSE)]
    if end:
        events.append(event("s1", DOSE + minutes(125), SessionEventType.END))
    return reports.rems_summary("s1", events, readings, list(alerts))


def test_rems_summary_picks_the_bp_before_dosing_near_40_minutes_and_before_the_end():
    summary = rems([
        bp("s1", DOSE - minutes(12), 120, 78),
        bp("s1", DOSE - minutes(2), 124, 80),  # the last before the dose
        bp("s1", DOSE + minutes(30), 150, 92),
        bp("s1", DOSE + minutes(42), 158, 96),  # closest to +40
        bp("s1", DOSE + minutes(50), 150, 90),
        bp("s1", DOSE + minutes(120), 130, 82),  # the last before the end
        bp("s1", DOSE + minutes(130), 128, 80),  # after the end: not part of the session
    ])

    assert (summary.bp_before_dose.systolic, summary.bp_before_dose.diastolic) == (124, 80)
    assert (summary.bp_near_40.systolic, summary.bp_near_40.minutes_from_dose) == (158, 42)
    assert summary.bp_before_end.systolic == 130
    assert summary.duration_minutes == 125
    assert summary.duration_met is True


def test_rems_summary_has_no_40_minute_bp_when_none_was_taken_near_it():
    summary = rems([bp("s1", DOSE - minutes(2), 124, 80), bp("s1", DOSE + minutes(60), 140, 88)])

    assert summary.bp_near_40 is None
    assert ("Blood pressure approximately 40 minutes after dosing", "not measured") in \
        reports.rems_rows(summary)


@pytest.mark.parametrize(
    ("alerts", "in_range"),
    [
        ((), True),
        ((alert("s1", DOSE + minutes(40), Metric.SYSTOLIC, Priority.MEDIUM),), False),
        # A technical alarm is about the data, not the patient's vitals.
        ((alert("s1", DOSE + minutes(40), Metric.DATA, Priority.LOW),), True),
        # Before the dose the verdict, not the monitoring summary, speaks.
        ((alert("s1", DOSE - minutes(5), Metric.SYSTOLIC, Priority.LOW),), True),
    ],
)
def test_rems_summary_says_whether_vitals_stayed_in_range(alerts, in_range):
    assert rems([bp("s1", DOSE - minutes(2), 124, 80)], alerts).vitals_in_range is in_range


def test_rems_summary_without_an_end_runs_to_the_last_reading():
    summary = rems([bp("s1", DOSE + minutes(90), 124, 80)], end=False)

    assert summary.duration_minutes == 90
    assert summary.duration_met is False


def test_csv_export_round_trips_the_readings_with_each_unit_in_its_header():
    text = reports.readings_csv([bp("s1", NOW, 128.0, 84.0), spo2("s1", NOW + minutes(1), 96.5)])

    rows = list(csv.DictReader(io.StringIO(text)))

    assert [(r["time"], r["kind"], r["systolic (mmHg)"], r["diastolic (mmHg)"], r["spo2 (%)"])
            for r in rows] == [
        ("2026-11-28T17:00:00Z", "bp", "128", "84", ""),
        ("2026-11-28T17:01:00Z", "spo2", "", "", "96.5"),
    ]
    assert {"pulse (/min)", "bpm (/min)", "mean_arterial (mmHg)"} <= set(rows[0])


def test_the_alarms_csv_has_every_alert_event_in_order_and_the_events_csv_the_protocol():
    raised = alert("s1", NOW, Metric.SYSTOLIC, Priority.HIGH, message="=SBP 186", value=186.0)
    acked = replace(raised, time=NOW + minutes(1), state=AlertState.ACKNOWLEDGED, by="nurse")
    rows = list(csv.DictReader(io.StringIO(reports.alarms_csv([acked, raised]))))
    assert [(r["state"], r["priority"], r["value"], r["by"]) for r in rows] == [
        ("active", "high", "186", ""), ("acknowledged", "high", "186", "nurse")]
    assert rows[0]["message"] == "'=SBP 186"  # never a formula

    events = [event("s1", NOW + minutes(5), SessionEventType.END),
              event("s1", NOW, SessionEventType.DOSE)]
    assert [r["event"] for r in csv.DictReader(io.StringIO(reports.events_csv(events)))] == [
        "dose", "end"]


@pytest.mark.parametrize(("cell", "written"), [
    ("=HYPERLINK(\"http://evil\",\"x\")", "'=HYPERLINK(\"http://evil\",\"x\")"),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("re-measured = fine", "re-measured = fine"),  # only the first character matters
    ("", ""),
    (None, ""),
    (-12.5, "-12.5"),  # a number stays a number, sign and all
    (118.0, "118"),
])
def test_a_csv_cell_never_starts_a_spreadsheet_formula(cell, written):
    assert csv_cell(cell) == written


def test_csv_exports_neutralise_formulas_in_text_and_keep_numbers():
    reading = replace(bp("s1", NOW, 128.0, 84.0), device="-cuff-1", session="-s1")
    [row] = csv.DictReader(io.StringIO(reports.readings_csv([reading])))
    assert (row["session"], row["device"], row["systolic (mmHg)"]) == ("'-s1", "'-cuff-1", "128")

    noted = Observation("s1", NOW, ObservationKind.NAUSEA, Severity.MILD,
                        note='=HYPERLINK("http://evil","help")', by="@nurse")
    [row] = csv.DictReader(io.StringIO(reports.observations_csv([noted])))
    assert (row["note"], row["by"]) == ("'=HYPERLINK(\"http://evil\",\"help\")", "'@nurse")


NOTIFICATIONS = [
    NotificationRecord(NOW, "s1", "systolic", "Nurse A", "ntfys", "alarm", True),
    NotificationRecord(NOW, "s1", "systolic", "Dr X", "mailto", "alarm", False,
                       "=cmd|connection refused"),
]


def test_the_notifications_csv_has_a_row_per_delivery_with_its_error_as_text():
    rows = list(csv.DictReader(io.StringIO(reports.notifications_csv(NOTIFICATIONS))))
    assert [(r["person"], r["channel"], r["delivered"]) for r in rows] == [
        ("Nurse A", "ntfys", "true"), ("Dr X", "mailto", "false")]
    assert rows[1]["error"] == "'=cmd|connection refused"  # never a formula
