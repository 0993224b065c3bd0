"""Heart rate from ranked sources (issue 17): the profile's `metrics.heart_rate.sources` order is
the rank (HR stream, then the oximeter's pulse, then the cuff's). A lower-ranked source is
judged only while every higher-ranked one is stale by its stream's staleness limit, so it
neither raises, clears nor masks an alarm of a fresh higher-ranked source.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlarmKey, AlertEvent, AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile import Profile, source_label
from vitals.profile_loader import ProfileError, load_profile
from vitals.readings import Reading
from vitals.vital_signs import Kind

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
S = "s1"
QUIET = 86_400.0


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def hr(bpm: float, seconds: float) -> Reading:
    return Reading(S, Kind.HR, at(seconds), {"bpm": bpm})


def oximeter(pulse: float, seconds: float) -> Reading:
    return Reading(S, Kind.SPO2, at(seconds), {"spo2": 97, "pulse": pulse})


def cuff(pulse: float, seconds: float) -> Reading:
    return Reading(S, Kind.BP, at(seconds), {"systolic": 120, "diastolic": 80, "pulse": pulse})


def feed(engine: AlertEngine, *readings: Reading) -> list[AlertEvent]:
    out: list[AlertEvent] = []
    for reading in readings:
        out += engine.on_reading(reading, reading.time)
    return [e for e in out if e.metric is Metric.HEART_RATE]


def states(events: list[AlertEvent]) -> list[tuple[AlertState, Priority]]:
    return [(e.state, e.priority) for e in events]


# (what happens, readings in order, the heart-rate events expected as (state, priority))
CASES = [
    ("a cuff pulse of 135 while the HR stream is fresh at 80 raises nothing",
     [hr(80, 0), cuff(135, 10)], []),
    ("an oximeter pulse of 135 while the HR stream is fresh at 80 raises nothing",
     [hr(80, 0), oximeter(135, 10)], []),
    ("two oximeter pulses of 70 do not clear an alarm the fresh HR stream raised",
     [hr(135, 0), oximeter(70, 5), oximeter(70, 10)],
     [(AlertState.ACTIVE, Priority.HIGH)]),
    ("two cuff pulses of 70 do not clear a low alarm the fresh HR stream raised",
     [hr(110, 0), cuff(70, 5), cuff(70, 10)],
     [(AlertState.ACTIVE, Priority.LOW)]),
    ("two oximeter pulses of 70 clear a low alarm once the HR stream is silent",
     [hr(110, 0), oximeter(70, 40), oximeter(70, 45)],
     [(AlertState.ACTIVE, Priority.LOW), (AlertState.CLEARED, Priority.LOW)]),
    ("the HR stream silent: the oximeter pulse is judged",
     [hr(80, 0), oximeter(135, 31)], [(AlertState.ACTIVE, Priority.HIGH)]),
    ("the HR stream 30 s old is still fresh (stale after its 30 s limit)",
     [hr(80, 0), oximeter(135, 30)], []),
    ("no HR stream at all: the oximeter pulse is judged",
     [oximeter(135, 0)], [(AlertState.ACTIVE, Priority.HIGH)]),
    ("the oximeter fresh, the HR stream silent: the cuff pulse is not judged",
     [hr(80, 0), oximeter(80, 35), cuff(135, 40)], []),
    ("both continuous streams silent: the cuff pulse is judged",
     [hr(80, 0), oximeter(80, 1), cuff(135, 40)], [(AlertState.ACTIVE, Priority.HIGH)]),
    ("an oximeter without a pulse field does not mask the cuff",
     [Reading(S, Kind.SPO2, at(0), {"spo2": 97}), cuff(135, 1)],
     [(AlertState.ACTIVE, Priority.HIGH)]),
    ("an oximeter pulse does not mask a fresh HR stream's alarm from clearing by itself",
     [hr(110, 0), oximeter(110, 1), hr(90, 2), oximeter(110, 3), hr(90, 4)],
     [(AlertState.ACTIVE, Priority.LOW), (AlertState.CLEARED, Priority.LOW)]),
]


@pytest.mark.parametrize(("readings", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_lower_ranked_source_counts_only_while_the_higher_ones_are_stale(
        profile, readings, expected):
    events = feed(AlertEngine(profile, stale_seconds=None), *readings)
    assert states(events) == expected


def test_an_alarm_from_the_hr_stream_is_still_showing_after_oximeter_pulses(profile):
    engine = AlertEngine(profile)
    feed(engine, hr(135, 0), oximeter(70, 5), oximeter(70, 10))
    [showing] = [e for e in engine.active(S) if e.metric is Metric.HEART_RATE]
    assert showing.value == 135
    state = engine.state(S)
    assert state is not None and state.alarms[AlarmKey(Metric.HEART_RATE)].condition_present


def test_freshness_follows_the_stale_seconds_override(profile):
    # VITALS_STALE_SECONDS=10: the HR stream is stale after 10 s, as its technical alarm says.
    events = feed(AlertEngine(profile, stale_seconds=10), hr(80, 0), cuff(135, 11))
    assert states(events) == [(AlertState.ACTIVE, Priority.HIGH)]


@pytest.mark.parametrize(("reading", "words"), [
    (hr(135, 0), "Heart rate 135 /min (HR sensor)"),
    (oximeter(135, 0), "Heart rate 135 /min (oximeter)"),
    (cuff(135, 0), "Heart rate 135 /min (cuff)"),
])
def test_the_alarm_message_says_the_source_of_the_value(profile, reading, words):
    [raised] = feed(AlertEngine(profile, stale_seconds=QUIET), reading)
    assert raised.message.startswith(words)
    assert raised.value == 135


def test_the_cleared_message_says_the_source_of_the_value(profile):
    events = feed(AlertEngine(profile, stale_seconds=QUIET), hr(110, 0), hr(90, 1), hr(90, 2))
    assert events[-1].state is AlertState.CLEARED
    assert events[-1].message.startswith("Heart rate 90 /min (HR sensor): back inside")


def test_the_profile_order_is_the_rank(profile):
    # A clinic that trusts its cuff's pulse above the HR stream lists it first.
    cuff_first = load_profile(overrides={"metrics": {"heart_rate": {
        "sources": ["bp.pulse", "hr.bpm", "spo2.pulse"]}}})
    events = feed(AlertEngine(cuff_first, stale_seconds=QUIET), cuff(80, 0), hr(135, 10))
    assert events == []
    events = feed(AlertEngine(profile, stale_seconds=QUIET), cuff(80, 0), hr(135, 10))
    assert states(events) == [(AlertState.ACTIVE, Priority.HIGH)]


@pytest.mark.parametrize(("source", "label"), [
    ("hr.bpm", "HR sensor"), ("spo2.pulse", "oximeter"), ("bp.pulse", "cuff"),
])
def test_each_source_has_a_device_label(source, label):
    assert source_label(source) == label


# HR from every source in turn; each split is a worker restart from the stored history.
SOURCE_STORY = [
    hr(80, 0), cuff(135, 10), hr(135, 20), oximeter(70, 25), oximeter(70, 30), hr(134, 40),
    oximeter(136, 75), cuff(60, 80), oximeter(70, 85), oximeter(70, 90), cuff(135, 130),
    hr(80, 140), cuff(70, 150),
]


@pytest.mark.parametrize("split", range(1, len(SOURCE_STORY)))
def test_a_restart_restores_which_source_is_judged(profile, split):
    before = AlertEngine(profile, stale_seconds=None)
    alerts: list[AlertEvent] = []
    for reading in SOURCE_STORY[:split]:
        alerts += before.on_reading(reading, reading.time)
    after = AlertEngine(profile, stale_seconds=None)
    after.restore(S, [], SOURCE_STORY[:split], alerts)
    assert after.active() == before.active()
    assert feed(after, *SOURCE_STORY[split:]) == feed(before, *SOURCE_STORY[split:])


def test_a_source_listed_twice_is_refused_at_load():
    with pytest.raises(ProfileError, match="each source once"):
        load_profile(overrides={"metrics": {"heart_rate": {
            "sources": ["hr.bpm", "bp.pulse", "hr.bpm"]}}})
