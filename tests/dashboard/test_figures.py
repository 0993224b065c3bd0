"""Pure rendering: frames in, figures and components out (no store, no clock)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from dashboard import figures, frames, ids, tables, texts, tiles
from tests.dashboard.builders import NOW, alert, bp, event, hr, minutes, spo2
from tests.dashboard.trees import classes_of, find, text_of
from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import Reading, SessionEventType
from vitals.vital_signs import VITAL_SIGNS, Kind


def overview_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "session": "s1", "since_dose_min": 42.7,
        "systolic": 150.0, "diastolic": 95.0, "bp_age_s": 120.0, "bp_stale": False,
        "heart_rate": 88.0, "hr_age_s": 3.0, "hr_stale": False,
        "spo2": 97.0, "spo2_age_s": 2.0, "spo2_stale": False,
        "alarm_priority": None, "alarm_metric": None, "alarm_message": None, "alarm_count": 0,
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-30, "just now"),  # simulated clocks run slightly ahead: never "-30 s ago"
        (0, "just now"),
        (4.9, "just now"),
        (12, "12 s ago"),
        (125, "2 min ago"),
        (3900, "1 h 05 min ago"),
        (None, ""),
    ],
)
def test_age_text_says_how_long_ago_in_words(seconds, text):
    assert texts.age_text(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(720, "no BP for 12 min"), (None, "no BP yet"), (float("nan"), "no BP yet")],
)
def test_stale_text_says_for_how_long_nothing_came(seconds, text):
    assert texts.stale_text("BP", seconds) == text


@pytest.mark.parametrize(
    ("priority", "prefix"), [("high", "▲ HIGH — "), ("medium", "◆ MEDIUM — "), ("low", "● LOW — ")]
)
def test_alarm_text_pairs_the_priority_word_with_the_message(priority, prefix):
    assert texts.alarm_text(priority, "Systolic 186 mmHg") == prefix + "Systolic 186 mmHg"


def test_tile_shows_big_numbers_dose_time_and_links_to_the_session():
    tile = tiles.tile(overview_row())

    assert tile.href == "/session/s1"
    assert text_of(find(tile, "tile-s1-bp")) == "150/95"
    assert text_of(find(tile, "tile-s1-hr")) == "88"
    assert text_of(find(tile, "tile-s1-spo2")) == "97"
    assert "Dose +42 min" in text_of(tile)
    assert "No active alarm" in text_of(tile)
    assert "tile--alarm" not in classes_of(tile)


@pytest.mark.parametrize("source", ["HR sensor", "oximeter", "cuff"])
def test_the_tile_says_which_device_its_heart_rate_came_from(source):
    tile = tiles.tile(overview_row(hr_source=source))

    assert text_of(find(tile, "tile-s1-hr-age")) == f"just now · {source}"


def test_stale_value_is_greyed_and_says_how_long_it_has_been_missing():
    tile = tiles.tile(overview_row(bp_age_s=720.0, bp_stale=True))

    stale = [c for c in tile.children[2].children if "vital--stale" in classes_of(c)]
    assert len(stale) == 1 and "vital--bp" in classes_of(stale[0])
    assert "no BP for 12 min" in text_of(stale[0])


def test_never_measured_value_shows_a_dash_and_no_yet():
    tile = tiles.tile(overview_row(spo2=None, spo2_age_s=None, spo2_stale=True))

    assert text_of(find(tile, "tile-s1-spo2")) == "—"
    assert "no SpO2 yet" in text_of(tile)


@pytest.mark.parametrize("priority", ["high", "medium", "low"])
def test_alarm_colour_class_always_comes_with_its_text(priority):
    tile = tiles.tile(overview_row(alarm_priority=priority, alarm_metric="systolic",
                                     alarm_message="Systolic 186 mmHg", alarm_count=1))

    assert f"tile--{priority}" in classes_of(tile)
    alarm = find(tile, "tile-s1-alarm")
    assert text_of(alarm) == texts.alarm_text(priority, "Systolic 186 mmHg")
    assert alarm.role == "alert"


def test_an_alarm_acknowledged_while_its_condition_persists_stays_on_the_tile_silenced():
    tile = tiles.tile(overview_row(alarm_priority="high", alarm_metric="spo2",
                                     alarm_message="SpO2 86 %: below 90.", alarm_count=1,
                                     alarm_acked_by="nurse", alarm_value=86.0, alarm_now=86.0))

    alarm = find(tile, "tile-s1-alarm")
    assert text_of(alarm).startswith("▲ HIGH — SpO2 86 %: below 90.")
    assert "acknowledged by nurse, silenced" in text_of(alarm)
    assert "tile--high" in classes_of(tile) and "tile--acked" in classes_of(tile)  # no flashing
    assert getattr(alarm, "role", None) is None  # seen: not announced again


@pytest.mark.parametrize(
    ("value", "now", "says_now"),
    [(179.0, 193.0, "now 193"), (186.0, 186.0, None), (None, None, None)],
)
def test_the_tile_headline_carries_the_metric_s_current_value(value, now, says_now):
    tile = tiles.tile(overview_row(alarm_priority="high", alarm_metric="systolic",
                                     alarm_message="Systolic x", alarm_count=1,
                                     alarm_value=value, alarm_now=now))

    text = text_of(find(tile, "tile-s1-alarm"))
    assert (says_now in text) if says_now else ("now" not in text)


@pytest.mark.parametrize(
    ("levels", "marked"),
    [
        ({}, {}),  # no alarm: every value in its vital sign's own colour
        ({"spo2": "high"}, {"spo2": "high"}),  # an SpO2 of 85 no longer stays ordinary blue
        ({"diastolic": "low"}, {"bp": "low"}),  # either measure marks the blood pressure
        ({"systolic": "high", "diastolic": "low"}, {"bp": "high"}),  # its most urgent alarm
        ({"heart_rate": "medium", "spo2": "low"}, {"hr": "medium", "spo2": "low"}),
    ],
)
def test_a_value_in_alarm_carries_its_alarms_priority_on_the_tile(levels, marked):
    tile = tiles.tile(overview_row(alarm_priority="high", alarm_message="x", alarm_count=1,
                                   alarm_levels=levels))

    for kind in ("bp", "hr", "spo2"):
        classes = find(tile, ids.tile_vital("s1", kind)).className.split()
        expected = ({"vital--alarm", f"vital--alarm-{marked[kind]}"} if kind in marked
                    else set())
        assert {c for c in classes if c.startswith("vital--alarm")} == expected, kind


def test_tile_counts_further_active_alarms():
    tile = tiles.tile(overview_row(alarm_priority="high", alarm_message="x", alarm_count=3))

    assert "(+2 more)" in text_of(find(tile, "tile-s1-alarm"))


def test_no_active_sessions_shows_the_empty_state_with_a_hint():
    shown = tiles.tiles([])

    assert "No active sessions" in text_of(shown)
    assert "vitals simulate" in text_of(shown)


def test_session_figure_plots_each_vital_against_minutes_since_dose():
    readings = frames.reading_rows([
        bp("a", NOW + minutes(10), 150, 95), hr("a", NOW + minutes(5), 80),
        spo2("a", NOW + minutes(6), 97),
    ])
    events = pd.DataFrame({"time": pd.to_datetime([NOW], utc=True), "event": ["dose"],
                           "note": [None], "by": [None]})
    alerts = frames.alert_rows([alert("a", NOW + minutes(10), Metric.SYSTOLIC, Priority.MEDIUM,
                                       value=150)])

    fig = figures.session_figure(readings, events, alerts, pd.Timestamp(NOW), "dose")

    by_name = {trace.name: trace for trace in fig.data}
    assert list(by_name["Systolic"].x) == [10] and list(by_name["Systolic"].y) == [150]
    assert list(by_name["Diastolic"].y) == [95]
    assert list(by_name["Heart rate (HR sensor)"].x) == [5]
    assert list(by_name["SpO2"].x) == [6]
    assert list(by_name["medium alarm"].y) == [150]
    assert {a.text for a in fig.layout.annotations} >= {"DOSE", "SBP 180", "DBP 110", "SpO2 90",
                                                         "HR 120"}
    assert fig.layout.xaxis3.title.text == "minutes since dose"
    assert "HR 100" not in {a.text for a in fig.layout.annotations}  # low limits go unlabelled


def test_session_figure_without_readings_still_draws_the_limits_of_every_required_vital():
    empty = frames.reading_rows([])
    fig = figures.session_figure(empty, frames.alert_rows([]).iloc[0:0], frames.alert_rows([]),
                                 None)

    required = {s.kind.value for s in VITAL_SIGNS if not s.optional}
    assert not fig.data
    assert len([s for s in fig.layout.shapes if s.type == "line"]) == len(
        [limit for limit in figures.default_limits() if limit.panel in required])


def test_alerts_table_lists_events_newest_first_with_priority_words():
    alerts = frames.alert_rows([
        alert("a", NOW, Metric.SYSTOLIC, Priority.HIGH, message="first"),
        alert("a", NOW + minutes(2), Metric.SYSTOLIC, Priority.HIGH, AlertState.CLEARED,
              message="second"),
    ])

    table = tables.alerts_table(alerts, pd.Timestamp(NOW))

    rows = table.children[1].children
    assert [text_of(r.children[7]) for r in rows] == ["second", "first"]
    assert text_of(rows[0].children[2]) == "▲ HIGH"
    assert text_of(rows[0].children[1]) == "+2"


def test_alerts_table_shows_who_acknowledged_and_their_note():
    acked = AlertEvent(NOW, "a", Metric.SYSTOLIC, Priority.HIGH, AlertState.ACKNOWLEDGED,
                       "SBP 186", by="nurse", note="re-measured, cuff loose")

    table = tables.alerts_table(frames.alert_rows([acked]), pd.Timestamp(NOW))

    [row] = table.children[1].children
    assert [text_of(c) for c in row.children[-3:]] == ["SBP 186", "nurse",
                                                        "re-measured, cuff loose"]


def test_history_table_links_every_session():
    frame = pd.DataFrame({
        "session": ["b", "a"], "first_time": pd.to_datetime([NOW, NOW], utc=True),
        "last_time": pd.to_datetime([NOW, NOW], utc=True), "started": [pd.NaT, pd.NaT],
        "dosed": [pd.NaT, pd.NaT], "ended": pd.to_datetime([None, NOW], utc=True),
        "status": ["active", "ended"],
    })

    table = tables.history_table(frame)

    links = [row.children[0].children for row in table.children[1].children]
    assert [link.href for link in links] == ["/session/b", "/session/a"]


def test_dose_event_builder_matches_the_events_frame(store):
    # Guards the shape the session figure relies on against drift in `events_frame`.
    from vitals.storage.base import Batch

    store.write(Batch(readings=[hr("a", NOW, 70)],
                      events=[event("a", NOW, SessionEventType.DOSE)]))

    assert list(frames.events_frame(store, "a").columns) == list(frames.EVENT_COLUMNS)


def test_limit_lines_come_from_the_profile_in_force():
    from vitals.profile_loader import load_profile

    limits = figures.limits_from_profile(load_profile(None))

    assert {(lim.label, lim.priority) for lim in limits} >= {
        ("SBP 180", "high"), ("SBP 160", "medium"), ("DBP 110", "high"), ("DBP 100", "medium"),
        ("HR 120", "medium"), ("HR 100", "low"), ("HR 50", "medium"),
        ("SpO2 92", "medium"), ("SpO2 90", "high"),
    }


def test_without_limits_given_the_default_profiles_are_drawn():
    from vitals.profile_loader import load_profile

    assert figures.default_limits() == figures.limits_from_profile(load_profile(None))


def test_sparkline_puts_every_vital_on_one_time_axis_in_seconds():
    from datetime import UTC, datetime, timedelta

    from vitals.readings import Reading
    from vitals.vital_signs import Kind

    t0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    trend = [Reading("s1", Kind.HR, t0, {"bpm": 60.0}),
             Reading("s1", Kind.BP, t0 + timedelta(seconds=90),
                     {"systolic": 120.0, "diastolic": 80.0}),
             Reading("s1", Kind.HR, t0 + timedelta(seconds=120), {"bpm": 80.0})]

    traces = tiles.sparkline(trend)["data"]

    assert [t["x"] for t in traces] == [[90], [0, 120]]  # BP then HR, aligned in time


def test_the_session_chart_draws_each_heart_rate_source_named_by_its_device():
    readings = frames.reading_rows([
        hr("a", NOW + minutes(1), 80), spo2("a", NOW + minutes(2), 97, pulse=78),
        Reading("a", Kind.BP, NOW + minutes(3), {"systolic": 120, "diastolic": 80, "pulse": 75}),
    ])
    events = frames.event_rows([])

    fig = figures.session_figure(readings, events, frames.alert_rows([]), pd.Timestamp(NOW))

    by_name = {trace.name: trace for trace in fig.data}
    assert list(by_name["Heart rate (HR sensor)"].y) == [80]
    assert list(by_name["Heart rate (oximeter)"].y) == [78]
    assert list(by_name["Heart rate (cuff)"].y) == [75]
    assert "(oximeter)" in by_name["Heart rate (oximeter)"].hovertemplate
