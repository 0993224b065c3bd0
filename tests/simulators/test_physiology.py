"""The physiology model and the scenarios: the curve, determinism, and, per scenario, the property
that makes it raise (or never raise) its alarms under the default profile."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from simulators.physiology import (
    Baseline,
    DoseResponse,
    Noise,
    Patient,
    Physiology,
    Signal,
    bounded_gauss,
    dose_curve,
    expected,
)
from simulators.scenarios import SCENARIOS, get, help_text
from simulators.timeline import SimMessage, session_messages
from vitals.alerts import Metric, Priority
from vitals.sessions import Verdict

START = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
DOSE = START + timedelta(minutes=10)
NORMAL_SEEDS = range(51)
SCENARIO_SEEDS = range(8)
STREAM_STEP = timedelta(seconds=5)


@cache
def timeline(name: str, seed: int) -> tuple[SimMessage, ...]:
    return tuple(session_messages(name, "s-test", START, seed))


def values(messages: Sequence[SimMessage], leaf: str, field: str,
           after_dose: bool = False) -> list[float]:
    return [m.payload[field] for m in messages
            if m.leaf == leaf and field in m.payload and (not after_dose or m.time > DOSE)]


def baseline_bp(messages: Sequence[SimMessage]) -> tuple[float, float]:
    """The guidance's baseline: mean of the readings after start and before the dose."""
    before = [m.payload for m in messages if m.leaf == "bp" and m.time < DOSE]
    assert len(before) == 2
    return (sum(p["systolic"] for p in before) / 2, sum(p["diastolic"] for p in before) / 2)


def longest_run(messages: Sequence[SimMessage], leaf: str,
                condition: Callable[[dict[str, float]], bool]) -> timedelta:
    """The longest span of consecutive `leaf` samples that all meet `condition`."""
    best, first = timedelta(0), None
    for m in (m for m in messages if m.leaf == leaf):
        if condition(m.payload):
            first = first or m.time
            best = max(best, m.time - first)
        else:
            first = None
    return best


# --- the curve -------------------------------------------------------------------------------

def test_dose_curve_peaks_between_30_and_40_minutes() -> None:
    minutes = [m / 2 for m in range(0, 361)]
    peak = max(minutes, key=dose_curve)
    assert 30 <= peak <= 40
    assert dose_curve(peak) == pytest.approx(1.0)


@pytest.mark.parametrize("minutes", [-30.0, -0.5, 0.0])
def test_dose_curve_is_zero_before_the_dose(minutes: float) -> None:
    assert dose_curve(minutes) == 0.0


@pytest.mark.parametrize(
    ("minutes", "at_most"),
    [
        (90, 0.20),  # "back to baseline within about 90 minutes": nearly settled
        (105, 0.10),
        (120, 0.05),  # settled by the end of the default session
        (180, 0.01),
    ],
)
def test_dose_curve_settles_back_near_baseline_by_90_to_120_minutes(
    minutes: float, at_most: float
) -> None:
    assert dose_curve(minutes) <= at_most


def test_default_response_is_the_iv_series_mean_rise_at_40_minutes() -> None:
    physiology = Physiology(Baseline(120, 80, 70, 97))
    assert expected(physiology, Signal.SYSTOLIC, 40) - 120 == pytest.approx(16, abs=1)
    assert expected(physiology, Signal.DIASTOLIC, 40) - 80 == pytest.approx(11, abs=1)


def test_spo2_has_no_dose_response() -> None:
    physiology = Physiology(Baseline(120, 80, 70, 97), DoseResponse())
    assert expected(physiology, Signal.SPO2, 35) == 97


# --- noise and determinism -------------------------------------------------------------------

@pytest.mark.parametrize(("sd", "limit"), [(2.5, 5.0), (8.0, 1.0), (0.0, 3.0)])
def test_bounded_noise_never_exceeds_its_limit(sd: float, limit: float) -> None:
    rng = random.Random(7)
    assert all(abs(bounded_gauss(rng, sd, limit)) <= limit for _ in range(5000))


def test_cuff_noise_stays_below_the_iso_81060_2_ceiling() -> None:
    noise = Noise()
    assert noise.systolic_sd < 8 and noise.diastolic_sd < 8


def sample(seed: int) -> list[object]:
    patient = Patient(SCENARIOS["normal"].physiology, random.Random(seed))
    return [patient.blood_pressure(m) for m in range(-5, 120, 5)] + [
        patient.oximetry(m / 12) for m in range(0, 1200)
    ]


def test_same_seed_gives_the_same_values() -> None:
    assert sample(3) == sample(3)


def test_different_seeds_give_different_values() -> None:
    assert sample(3) != sample(4)


# --- scenarios as data -----------------------------------------------------------------------

def test_every_scenario_has_a_one_line_description_shown_in_help() -> None:
    text = help_text()
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name
        assert scenario.description and "\n" not in scenario.description
        assert name in text and scenario.description in text


def test_unknown_scenario_error_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="hypertensive-spike"):
        get("no-such-scenario")


def test_the_normal_scenario_expects_no_alarm_and_every_other_expects_one() -> None:
    assert SCENARIOS["normal"].expected_alarms == frozenset()
    for name, scenario in SCENARIOS.items():
        if name != "normal":
            assert scenario.expected_alarms, name


@pytest.mark.parametrize(
    ("name", "alarms"),
    [
        ("hypertensive-spike", {(Metric.SYSTOLIC, Priority.HIGH)}),
        ("diastolic-surge", {(Metric.DIASTOLIC, Priority.HIGH)}),
        ("baseline-rise", {(Metric.SYSTOLIC, Priority.MEDIUM)}),
        ("tachycardia", {(Metric.HEART_RATE, Priority.HIGH)}),
        ("bradycardia", {(Metric.HEART_RATE, Priority.HIGH)}),
        ("desaturation", {(Metric.SPO2, Priority.HIGH)}),
        ("cuff-error", {(Metric.DATA, Priority.LOW)}),
        ("device-dropout", {(Metric.DATA, Priority.MEDIUM)}),
        ("elevated-baseline", {(Metric.SYSTOLIC, Priority.MEDIUM),
                               (Metric.DIASTOLIC, Priority.MEDIUM)}),
    ],
)
def test_scenario_declares_the_alarms_the_guidance_implies(
    name: str, alarms: set[tuple[Metric, Priority]]
) -> None:
    assert SCENARIOS[name].expected_alarms == alarms


def pre_session(baseline: Baseline) -> Verdict:
    """The guidance's pre-session table, applied to the noiseless baseline."""
    s, d, hr, spo2 = baseline.systolic, baseline.diastolic, baseline.heart_rate, baseline.spo2
    if s >= 160 or d >= 100 or hr > 110 or hr < 45 or spo2 < 92:
        return Verdict.NO_GO
    if s >= 140 or d >= 90 or hr > 100 or hr < 50 or spo2 < 95:
        return Verdict.CAUTION
    return Verdict.GO


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_pre_session_verdict_matches_its_baseline(name: str) -> None:
    scenario = SCENARIOS[name]
    assert scenario.pre_session is pre_session(scenario.physiology.baseline)


# --- the property that makes each scenario raise its alarm -------------------------------------

@pytest.mark.parametrize("seed", NORMAL_SEEDS)
def test_normal_never_crosses_any_limit(seed: int) -> None:
    messages = timeline("normal", seed)
    base_sys, base_dia = baseline_bp(messages)
    systolic = values(messages, "bp", "systolic")
    diastolic = values(messages, "bp", "diastolic")
    assert max(systolic) < min(150, base_sys + 20)
    assert max(diastolic) < min(95, base_dia + 15)
    rates = values(messages, "hr", "bpm") + values(messages, "bp", "pulse")
    assert min(rates) >= 50 and max(rates) <= 100
    assert min(values(messages, "spo2", "spo2")) >= 95
    assert not any("problems" in m.payload for m in messages)


def systolic_crisis(messages: Sequence[SimMessage]) -> bool:
    return max(values(messages, "bp", "systolic", after_dose=True)) >= 180


def diastolic_crisis(messages: Sequence[SimMessage]) -> bool:
    return max(values(messages, "bp", "diastolic", after_dose=True)) >= 110


def rise_without_reaching_160(messages: Sequence[SimMessage]) -> bool:
    base_sys, _ = baseline_bp(messages)
    systolic = values(messages, "bp", "systolic", after_dose=True)
    return max(systolic) >= base_sys + 40 and max(systolic) < 160


def sustained_tachycardia(messages: Sequence[SimMessage]) -> bool:
    return longest_run(messages, "hr", lambda p: p["bpm"] > 130) >= timedelta(minutes=5)


def bradycardia_below_45(messages: Sequence[SimMessage]) -> bool:
    return longest_run(messages, "hr", lambda p: p["bpm"] < 45) >= timedelta(minutes=2)


def desaturation_for_15_seconds(messages: Sequence[SimMessage]) -> bool:
    return longest_run(messages, "spo2", lambda p: p["spo2"] < 90) >= timedelta(seconds=30)


def slow_breathing_for_15_seconds(messages: Sequence[SimMessage]) -> bool:
    return longest_run(messages, "rr", lambda p: p["rate"] < 8) >= timedelta(seconds=30)


def flagged_cuff_readings(messages: Sequence[SimMessage]) -> bool:
    problems = {p for m in messages if m.leaf == "bp" for p in m.payload.get("problems", [])}
    return problems == {"cuff_loose", "body_movement"}


def oximeter_gap_over_30_seconds(messages: Sequence[SimMessage]) -> bool:
    times = [m.time for m in messages if m.leaf == "hr"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return max(gaps) >= timedelta(minutes=3) and times[-1] > DOSE + timedelta(minutes=60)


def medium_band_throughout(messages: Sequence[SimMessage]) -> bool:
    systolic = values(messages, "bp", "systolic")
    diastolic = values(messages, "bp", "diastolic", after_dose=True)
    return (all(160 <= s < 180 for s in systolic) and max(diastolic) >= 100
            and max(diastolic) < 110)


def respiratory_depression_observed_with_quiet_vitals(messages: Sequence[SimMessage]) -> bool:
    observed = {(m.payload["observation"], m.payload["severity"])
                for m in messages if m.leaf == "observation"}
    base_sys, base_dia = baseline_bp(messages)
    quiet = (max(values(messages, "bp", "systolic")) < min(150, base_sys + 20)
             and max(values(messages, "bp", "diastolic")) < min(95, base_dia + 15)
             and min(values(messages, "spo2", "spo2")) >= 95)
    return ("respiratory_depression", "moderate") in observed and quiet


PROPERTIES: dict[str, Callable[[Sequence[SimMessage]], bool]] = {
    "hypertensive-spike": systolic_crisis,
    "diastolic-surge": diastolic_crisis,
    "baseline-rise": rise_without_reaching_160,
    "tachycardia": sustained_tachycardia,
    "bradycardia": bradycardia_below_45,
    "desaturation": desaturation_for_15_seconds,
    "slow-breathing": slow_breathing_for_15_seconds,
    "cuff-error": flagged_cuff_readings,
    "device-dropout": oximeter_gap_over_30_seconds,
    "elevated-baseline": medium_band_throughout,
    "respiratory-depression": respiratory_depression_observed_with_quiet_vitals,
}


def test_every_alarming_scenario_has_a_property_test() -> None:
    assert set(PROPERTIES) == set(SCENARIOS) - {"normal"}


@pytest.mark.parametrize("seed", SCENARIO_SEEDS)
@pytest.mark.parametrize("name", list(PROPERTIES))
def test_scenario_crosses_the_limit_of_its_expected_alarm(name: str, seed: int) -> None:
    assert PROPERTIES[name](timeline(name, seed))


@pytest.mark.parametrize("seed", SCENARIO_SEEDS)
def test_hypertensive_spike_stays_below_the_diastolic_crisis_limit(seed: int) -> None:
    assert not diastolic_crisis(timeline("hypertensive-spike", seed))


@pytest.mark.parametrize("seed", SCENARIO_SEEDS)
@pytest.mark.parametrize("name", ["cuff-error", "device-dropout"])
def test_technical_scenarios_keep_the_physiology_quiet(name: str, seed: int) -> None:
    messages = timeline(name, seed)
    base_sys, base_dia = baseline_bp(messages)
    assert max(values(messages, "bp", "systolic")) < min(150, base_sys + 20)
    assert max(values(messages, "bp", "diastolic")) < min(95, base_dia + 15)
    assert 50 <= min(values(messages, "hr", "bpm")) <= max(values(messages, "hr", "bpm")) <= 100
    assert min(values(messages, "spo2", "spo2")) >= 95


# --- the declared alarms, judged by the real alert engine under the default profile -----------

@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_alert_engine_raises_the_declared_alarms_and_nothing_for_normal(name: str) -> None:
    # Imported here: a broken engine fails this test, not the model's tests above.
    import json

    from vitals.alerts import AlertState
    from vitals.engine import AlertEngine
    from vitals.parser import parse
    from vitals.profile_loader import load_profile
    from vitals.readings import Observation, Reading, SessionEvent

    engine = AlertEngine(load_profile())
    raised: set[tuple[Metric, Priority]] = set()
    for message in timeline(name, 0):
        parsed = parse(f"vitals/s-test/{message.leaf}", json.dumps(message.payload).encode(),
                       message.time)
        if isinstance(parsed, SessionEvent):
            events = engine.on_event(parsed)
        elif isinstance(parsed, Observation):
            events = engine.on_observation(parsed)
        else:
            assert isinstance(parsed, Reading), parsed
            events = engine.on_reading(parsed, parsed.time)
        events += engine.on_tick(message.time)  # simulated time: no wall-clock offset
        raised |= {(e.metric, e.priority) for e in events if e.state is AlertState.ACTIVE}

    if name == "normal":
        assert raised == set()
    else:
        assert SCENARIOS[name].expected_alarms <= raised
