"""The drawn population against the published figures (`../shared/clinical-guidance.md`), one row
per statistic with its source, and the parameter file's shape. Seeded, pure, no MQTT."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from simulators.physiology import Patient, Signal, dose_curve, expected, settle_shape
from simulators.population import (
    PARAMETERS_PATH,
    PopulationPatient,
    PopulationStatistics,
    draw_population,
    load_parameters,
    statistics,
)
from simulators.timeline import session_messages

POPULATION = 1_000
SEED = 1

# (statistic, lowest accepted, highest accepted, the published figure and its source)
PUBLISHED = [
    ("mean_peak_rise_systolic", 14.0, 18.0,
     "IV ketamine series, 2,342 infusions: mean peak rise +16 mmHg systolic"),
    ("mean_peak_rise_diastolic", 9.5, 12.5,
     "IV ketamine series, 2,342 infusions: mean peak rise +11 mmHg diastolic"),
    ("mean_peak_minutes", 30.0, 45.0,
     "IV series: peak at about 40 min; other series 30-40 min; esketamine label about 40 min"),
    ("share_large_risers", 0.08, 0.19,
     "Esketamine label: 8-19 % rose >= 40 systolic and/or >= 25 diastolic within 1.5 h"),
    ("share_severe", 0.005, 0.02,
     "IV series: severe hypertension (> 180/110) in about 1 % of sessions"),
    ("median_back_to_baseline_minutes", 45.0, 95.0,
     "Other series: back to baseline within about 90 min"),
    ("p99_back_to_baseline_minutes", 120.0, 260.0,
     "Esketamine label: rises can last about 4 h (the slowest still raised after 2 h)"),
]


@cache
def population() -> tuple[PopulationPatient, ...]:
    return tuple(draw_population(POPULATION, SEED))


@cache
def published_statistics() -> PopulationStatistics:
    return statistics(population())


@pytest.mark.parametrize(("name", "low", "high", "source"), PUBLISHED,
                         ids=[row[0] for row in PUBLISHED])
def test_a_population_of_1000_reproduces_the_published_figure(
    name: str, low: float, high: float, source: str
) -> None:
    value = getattr(published_statistics(), name)
    assert low <= value <= high, f"{name} = {value:.3g}, outside {low}-{high} ({source})"


def test_the_same_seed_draws_the_same_population_and_another_seed_another() -> None:
    assert draw_population(20, 5) == draw_population(20, 5)
    assert draw_population(20, 5) != draw_population(20, 6)


def test_a_patient_is_the_same_in_a_small_population_as_in_a_large_one() -> None:
    assert draw_population(3, SEED) == list(population()[:3])


def test_patients_differ_in_baseline_response_timing_and_noise() -> None:
    patients = population()[:50]
    for attribute in ("baseline.systolic", "response.systolic", "response.peak_minutes",
                      "response.shape", "noise.systolic_sd"):
        section, field = attribute.split(".")
        values = {getattr(getattr(p.physiology, section), field) for p in patients}
        assert len(values) == len(patients), attribute


def test_baselines_are_drawn_below_the_pre_session_no_go_limits() -> None:
    baselines = [p.physiology.baseline for p in population()]
    assert max(b.systolic for b in baselines) < 160
    assert max(b.diastolic for b in baselines) < 100
    assert min(b.spo2 for b in baselines) >= 95


def test_the_population_has_device_faults_dropouts_artefacts_and_true_desaturations() -> None:
    patients = population()
    assert 0.3 < sum(bool(p.scenario.device_faults) for p in patients) / POPULATION < 0.5
    assert 0.2 < sum(bool(p.scenario.dropouts) for p in patients) / POPULATION < 0.35
    assert 0.8 < sum(bool(p.physiology.artefacts) for p in patients) / POPULATION < 0.95
    assert 0.01 < sum(bool(p.physiology.episodes) for p in patients) / POPULATION < 0.04


def test_an_artefact_changes_the_measured_spo2_but_not_the_true_signal() -> None:
    patient = next(p for p in population() if p.physiology.artefacts)
    spell = patient.physiology.artefacts[0]
    middle = spell.start_minutes + spell.duration_minutes / 2
    true_value = expected(patient.physiology, Signal.SPO2, middle)
    assert true_value == patient.physiology.baseline.spo2
    measured = Patient(patient.physiology, random.Random(0)).oximetry(middle).spo2
    assert measured <= true_value + spell.change + 1.5  # the noise is clipped at 1 %


def test_every_drawn_patient_plays_as_a_session_timeline() -> None:
    start = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    for patient in population()[:5]:
        messages = session_messages(patient.scenario, f"pop-{patient.number}", start, 0)
        assert messages[0].payload["event"] == "start"
        assert messages[-1].payload["event"] == "end"


@pytest.mark.parametrize(("peak", "settled"), [(35.0, 90.0), (40.0, 95.0), (25.0, 200.0)])
def test_settle_shape_puts_the_curve_at_a_tenth_of_its_peak_when_settled(
    peak: float, settled: float
) -> None:
    shape = settle_shape(peak, settled)
    assert dose_curve(settled, peak, shape) == pytest.approx(0.1)
    assert dose_curve(peak, peak, shape) == pytest.approx(1.0)


def test_settle_shape_refuses_settling_before_the_peak() -> None:
    with pytest.raises(ValueError, match="after the peak"):
        settle_shape(40.0, 30.0)


def test_every_parameter_names_a_source_listed_in_the_file() -> None:
    parameters = load_parameters()
    for section in ("baseline", "response", "spo2", "noise", "devices"):
        for name, parameter in getattr(parameters, section).items():
            assert parameter.source in parameters.sources, f"{section}.{name}"
            assert parameter.note, f"{section}.{name} says nothing about its value"


def test_a_parameter_file_missing_a_parameter_names_it(tmp_path: Path) -> None:
    text = PARAMETERS_PATH.read_text()
    start = text.index("[devices.dropout_minutes]")
    broken = tmp_path / "population.toml"
    broken.write_text(text[:start])
    with pytest.raises(ValueError, match="dropout_minutes"):
        load_parameters(broken)


def test_the_publisher_plans_one_session_per_drawn_patient_as_the_burden_replays_it() -> None:
    from simulators.publisher import plan, room_label
    from simulators.timeline import session_seed

    start = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    patients = draw_population(3, SEED)
    chosen, messages = plan([p.scenario for p in patients], 3, SEED, start)
    assert list(chosen) == ["sim-01-population", "sim-02-population", "sim-03-population"]
    second = [m for m in messages if m.session == "sim-02-population"]
    # The publisher's start also names the chair; the alarms the burden replays are the same.
    assert second == session_messages(patients[1].scenario, "sim-02-population", start,
                                      session_seed(SEED, 1), label=room_label(1))
