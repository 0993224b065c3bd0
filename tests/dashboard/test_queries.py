"""The overview's data from the live read (`dashboard/queries.py`), over a real SqliteStore."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd
import pytest

from dashboard import queries
from tests.dashboard.builders import NOW, alert, bp, event, hr, minutes, spo2
from vitals.alerts import AlertState, Metric, Priority
from vitals.readings import Reading, SessionEventType
from vitals.storage.base import Batch
from vitals.vital_signs import Kind


def overview(store: Any, now: datetime = NOW) -> list[dict[str, Any]]:
    """The overview's rows, as its refresh builds them from the live read."""
    return queries.overview_rows(queries.active(store, now), now)


def test_an_acknowledged_alarm_whose_condition_persists_is_the_tile_s_alarm(store):
    store.write(Batch(readings=[spo2("a", NOW, 86)], alerts=[
        alert("a", NOW - minutes(3), Metric.SPO2, Priority.HIGH, value=87),
        replace(alert("a", NOW - minutes(2), Metric.SPO2, Priority.HIGH,
                      AlertState.ACKNOWLEDGED, value=87), by="nurse"),
    ]))

    [row] = overview(store)

    assert (row["alarm_priority"], row["alarm_metric"], row["alarm_count"]) == ("high", "spo2", 1)
    assert row["alarm_acked_by"] == "nurse"
    assert (row["alarm_value"], row["alarm_now"]) == (87, 86)


def test_the_tile_s_alarm_is_the_most_urgent_present_one(store):
    store.write(Batch(readings=[hr("a", NOW, 80)], alerts=[
        alert("a", NOW - minutes(3), Metric.SYSTOLIC, Priority.HIGH),
        alert("a", NOW - minutes(1), Metric.SYSTOLIC, Priority.HIGH, AlertState.CLEARED),
        alert("a", NOW - minutes(2), Metric.HEART_RATE, Priority.LOW),
        alert("a", NOW - minutes(1), Metric.DATA, Priority.HIGH),
        alert("a", NOW - minutes(2), Metric.OBSERVATION, Priority.HIGH),
    ]))

    [row] = overview(store)

    # Clinical over technical at the same priority, although the technical one is newer.
    assert (row["alarm_metric"], row["alarm_count"]) == ("observation", 3)


def test_tiles_put_alarming_sessions_first_by_their_most_urgent_alarm_then_start_order(store):
    started = {"quiet": 40, "low": 35, "acked": 30, "data": 25, "late-high": 10, "high": 20}
    store.write(Batch(
        readings=[hr(s, NOW, 80) for s in started],
        events=[event(s, NOW - minutes(m), SessionEventType.START) for s, m in started.items()],
        alerts=[
            alert("low", NOW, Metric.SPO2, Priority.LOW),
            replace(alert("acked", NOW, Metric.SYSTOLIC, Priority.HIGH, AlertState.ACKNOWLEDGED),
                    by="nurse"),
            alert("data", NOW, Metric.DATA, Priority.HIGH),
            alert("late-high", NOW - minutes(5), Metric.HEART_RATE, Priority.HIGH),
            alert("high", NOW, Metric.SPO2, Priority.HIGH),
        ]))

    # As `alarm_urgency` ranks alarms: high before low, then clinical before technical, then
    # waiting before acknowledged; equals in the order they started (not by their alarm's
    # time: a re-raised alarm does not move a tile); no alarm last.
    assert [row["session"] for row in overview(store)] == [
        "high", "late-high", "acked", "data", "low", "quiet"]


def test_a_tile_s_row_has_the_priority_of_each_vital_in_alarm_but_not_technical_ones(store):
    store.write(Batch(readings=[hr("a", NOW, 80)], alerts=[
        alert("a", NOW, Metric.SYSTOLIC, Priority.LOW),
        alert("a", NOW, Metric.SPO2, Priority.HIGH),
        alert("a", NOW, Metric.DATA, Priority.MEDIUM),
        alert("a", NOW - minutes(2), Metric.HEART_RATE, Priority.MEDIUM),
        alert("a", NOW - minutes(1), Metric.HEART_RATE, Priority.MEDIUM, AlertState.CLEARED),
    ]))

    [row] = overview(store)

    assert row["alarm_levels"] == {"spo2": "high", "systolic": "low"}


def test_overview_lists_active_sessions_but_not_ended_or_long_silent_ones(store):
    store.write(Batch(
        readings=[hr("live", NOW - minutes(1), 80), hr("ended", NOW - minutes(1), 80),
                  hr("silent", NOW - minutes(45), 80)],
        events=[event("ended", NOW - minutes(30), SessionEventType.START),
                event("ended", NOW - minutes(0.5), SessionEventType.END)],
    ))

    assert [row["session"] for row in overview(store)] == ["live"]


def test_overview_row_carries_latest_values_ages_and_minutes_since_dose(store):
    store.write(Batch(
        readings=[bp("a", NOW - minutes(20), 120, 80), bp("a", NOW - minutes(2), 150, 95),
                  hr("a", NOW - minutes(0.25), 88), spo2("a", NOW - minutes(0.1), 97)],
        events=[event("a", NOW - minutes(42), SessionEventType.DOSE)],
    ))

    [row] = overview(store)

    assert set(row) == set(queries.OVERVIEW_COLUMNS)
    assert (row["systolic"], row["diastolic"], row["heart_rate"], row["spo2"]) == (150, 95, 88, 97)
    assert row["bp_age_s"] == pytest.approx(120)
    assert row["since_dose_min"] == pytest.approx(42)
    assert not row["bp_stale"] and not row["hr_stale"] and not row["spo2_stale"]


@pytest.mark.parametrize(
    ("bp_age_min", "hr_age_s", "bp_stale", "hr_stale"),
    [
        (14.9, 29, False, False),
        (15.1, 31, True, True),  # BP > 1.5 x 10 min cadence, HR stream > 30 s
    ],
)
def test_values_older_than_the_guidance_expects_are_stale(
    store, bp_age_min, hr_age_s, bp_stale, hr_stale
):
    store.write(Batch(readings=[bp("a", NOW - minutes(bp_age_min), 120, 80),
                                hr("a", NOW - minutes(hr_age_s / 60), 70)]))

    [row] = overview(store)

    assert (bool(row["bp_stale"]), bool(row["hr_stale"])) == (bp_stale, hr_stale)
    assert bool(row["spo2_stale"])  # never measured counts as stale


def test_a_reading_stamped_in_the_future_has_age_zero_not_negative(store):
    store.write(Batch(readings=[hr("a", NOW + minutes(1), 70)]))

    [row] = overview(store)

    assert row["hr_age_s"] == 0 and not row["hr_stale"]


def test_heart_rate_falls_back_to_the_oximeter_pulse_without_an_hr_stream(store):
    store.write(Batch(readings=[spo2("a", NOW, 96, pulse=77)]))

    assert overview(store)[0]["heart_rate"] == 77


def cuff_pulse(at: datetime, pulse: float) -> Reading:
    return Reading("a", Kind.BP, at, {"systolic": 120, "diastolic": 80, "pulse": pulse})


SECONDS = pd.Timedelta(seconds=1)
# (what the tile shows, readings, HR value, its source) -- the profile's rank, as the rules
HEART_RATE_SHOWN = [
    ("the fresh HR stream, above a newer oximeter pulse",
     [hr("a", NOW - 5 * SECONDS, 80), spo2("a", NOW, 96, pulse=90)], 80, "HR sensor"),
    ("the oximeter pulse once the HR stream is stale",
     [hr("a", NOW - 40 * SECONDS, 80), spo2("a", NOW, 96, pulse=77)], 77, "oximeter"),
    ("the cuff pulse above nothing fresher",
     [spo2("a", NOW - 40 * SECONDS, 96), cuff_pulse(NOW - 60 * SECONDS, 66)], 66, "cuff"),
    ("the fresh oximeter pulse, above a newer cuff pulse",
     [spo2("a", NOW - 5 * SECONDS, 96, pulse=71), cuff_pulse(NOW, 66)], 71, "oximeter"),
    ("every source stale: the newest value",
     [hr("a", NOW - 90 * SECONDS, 80), spo2("a", NOW - 60 * SECONDS, 96, pulse=77)], 77,
     "oximeter"),
]


@pytest.mark.parametrize(("readings", "value", "source"), [c[1:] for c in HEART_RATE_SHOWN],
                         ids=[c[0] for c in HEART_RATE_SHOWN])
def test_the_tile_s_heart_rate_is_the_highest_ranked_fresh_source_and_says_which(
        store, readings, value, source):
    store.write(Batch(readings=readings))

    [row] = overview(store)

    assert (row["heart_rate"], row["hr_source"]) == (value, source)


def test_overview_row_names_the_highest_active_alarm_and_counts_them(store):
    store.write(Batch(readings=[hr("a", NOW, 80)], alerts=[
        alert("a", NOW - minutes(2), Metric.HEART_RATE, Priority.LOW, message="HR low"),
        alert("a", NOW - minutes(3), Metric.SYSTOLIC, Priority.HIGH, message="SBP high"),
    ]))

    [row] = overview(store)

    assert (row["alarm_priority"], row["alarm_message"], row["alarm_count"]) == (
        "high", "SBP high", 2)


def test_minutes_since_dose_follow_a_session_whose_clock_runs_ahead_of_the_wall_clock(tmp_path):
    """A time-compressed simulation stamps readings ahead of now: its dose is 30 min ago for it."""
    from datetime import UTC, datetime, timedelta

    from vitals.readings import Reading, SessionEvent, SessionEventType
    from vitals.storage.base import Batch
    from vitals.storage.sqlite import SqliteStore
    from vitals.vital_signs import Kind

    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    store = SqliteStore(tmp_path / "v.sqlite3")
    store.write(Batch(
        readings=[Reading("fast", Kind.HR, now + timedelta(minutes=30), {"bpm": 80.0})],
        events=[SessionEvent("fast", SessionEventType.START, now),
                SessionEvent("fast", SessionEventType.DOSE, now)],
    ))
    [row] = overview(store, now)
    assert row["since_dose_min"] == 30


# --- the pipeline's silence (the red banner) ---


@pytest.mark.parametrize(
    ("readings", "silent_s"),
    [
        pytest.param([bp("a", NOW - minutes(4), 120, 80), spo2("a", NOW - minutes(2), 97)],
                     None, id="one oximeter silent, its cuff on cadence: the session's alarm"),
        pytest.param([spo2("a", NOW - minutes(2), 97), hr("b", NOW - minutes(0.1), 70)],
                     None, id="one session silent, another delivering"),
        pytest.param([bp("a", NOW - minutes(16), 120, 80), spo2("a", NOW - minutes(2), 97),
                      hr("b", NOW - minutes(1), 70)],
                     60, id="every stream of every session overdue: the pipeline"),
        pytest.param([], None, id="no readings: nothing expected"),
    ],
)
def test_the_pipeline_is_silent_only_when_every_stream_of_every_session_is_overdue(
        store, readings, silent_s):
    store.write(Batch(readings=readings))

    assert queries.pipeline_silence(queries.active(store, NOW), NOW, 30) == (
        None if silent_s is None else pytest.approx(silent_s))


def test_an_ended_session_stays_on_the_overview_while_an_alarm_after_its_end_is_present(store):
    store.write(Batch(
        readings=[spo2("a", NOW - minutes(0.5), 86)],
        events=[event("a", NOW - minutes(30), SessionEventType.START),
                event("a", NOW - minutes(1), SessionEventType.END)],
        alerts=[alert("a", NOW - minutes(0.5), Metric.DATA, Priority.MEDIUM,
                      rule="data.after_end", message="Readings after the session ended")],
    ))

    [row] = overview(store)
    assert (row["session"], row["alarm_message"]) == ("a", "Readings after the session ended")

    store.write(Batch(alerts=[alert("a", NOW, Metric.DATA, Priority.MEDIUM, AlertState.CLEARED,
                                    rule="data.after_end")]))
    assert overview(store) == []


@pytest.mark.parametrize(("limit", "shown", "hidden"), [
    # The alarming sessions first (high before low), then the most recently active.
    (2, {"high", "low"}, 3),
    (3, {"high", "low", "newest"}, 2),
    (5, {"high", "low", "newest", "older", "oldest"}, 0),
    (9, {"high", "low", "newest", "older", "oldest"}, 0),
])
def test_the_overview_keeps_the_most_urgent_sessions_when_there_are_too_many(
        store, limit, shown, hidden):
    store.write(Batch(
        readings=[hr("oldest", NOW - minutes(5), 80), hr("older", NOW - minutes(4), 80),
                  hr("newest", NOW, 80), hr("low", NOW - minutes(6), 80),
                  hr("high", NOW - minutes(7), 80)],
        alerts=[alert("low", NOW - minutes(6), Metric.HEART_RATE, Priority.LOW),
                alert("high", NOW - minutes(7), Metric.HEART_RATE, Priority.HIGH)],
    ))

    live, left_out = queries.most_urgent(queries.active(store, NOW), limit)

    assert ({s.session for s in live.sessions}, left_out) == (shown, hidden)
    assert set(live.latest) == shown and set(live.alerts) <= shown
