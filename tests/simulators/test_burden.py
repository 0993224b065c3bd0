"""The alarm burden: a small drawn population through the real alarm engine (no services), its
figures internally consistent, a stricter profile noisier, and the report escaped."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulators.burden import (
    CRISIS_SYSTOLIC,
    RaisedAlarm,
    SessionBurden,
    _minutes_any_alarm,
    replay,
    replay_population,
    summarise,
    true_crisis_onset,
)
from simulators.burden_report import format_table, to_html
from simulators.physiology import DoseResponse, Noise
from simulators.population import SESSION_MINUTES, PopulationPatient, draw_population
from vitals.alerts import Metric, Priority
from vitals.profile import Profile
from vitals.profile_loader import load_profile

SEED = 1
SMALL = 12
ACK = timedelta(minutes=1)

STRICTER = """
[rules."systolic.elevated"]
threshold = 135

[rules."diastolic.elevated"]
threshold = 85

[rules."spo2.borderline"]
threshold = 96
"""


@cache
def default_profile() -> Profile:
    return load_profile()


@cache
def small_population() -> tuple[SessionBurden, ...]:
    return tuple(replay_population(SMALL, SEED, default_profile(), ack_after=ACK))


def crisis_patient(rise: float = 75.0) -> PopulationPatient:
    """A drawn patient given a rise that takes the true systolic well past 180."""
    patient = draw_population(1, SEED)[0]
    physiology = patient.physiology
    response = replace(physiology.response, systolic=rise)
    baseline = replace(physiology.baseline, systolic=125.0)
    return replace(patient, scenario=replace(
        patient.scenario, physiology=replace(physiology, baseline=baseline, response=response)))


def test_a_patient_whose_true_pressure_reaches_the_crisis_range_gets_a_high_alarm() -> None:
    patient = crisis_patient()
    burden = replay(patient, default_profile(), SEED, ACK)
    assert burden.true_crisis_minutes is not None
    assert burden.first_high_bp_minutes is not None
    delay = burden.crisis_delay_minutes
    assert delay is not None and 0 <= delay <= 5.5  # the cuff measures every 5 min
    assert any(a.priority is Priority.HIGH and a.metric is Metric.SYSTOLIC
               for a in burden.alarms)


def test_a_patient_below_the_crisis_range_has_no_true_crisis() -> None:
    patient = crisis_patient(rise=20.0)
    assert true_crisis_onset(patient) is None
    assert replay(patient, default_profile(), SEED, ACK).crisis_delay_minutes is None


def test_the_true_crisis_begins_when_the_noise_free_signal_reaches_180() -> None:
    patient = crisis_patient()
    onset = true_crisis_onset(patient)
    assert onset is not None
    from simulators.physiology import Signal, expected
    assert expected(patient.physiology, Signal.SYSTOLIC, onset) >= CRISIS_SYSTOLIC
    assert expected(patient.physiology, Signal.SYSTOLIC, onset - 0.25) < CRISIS_SYSTOLIC


def test_an_unacknowledged_medium_alarm_escalates_to_high_and_an_acknowledged_one_does_not(
) -> None:
    # True systolic plateau around 165-170: the medium urgency limit, never the crisis.
    patient = crisis_patient()
    physiology = patient.physiology
    quiet = replace(physiology, response=DoseResponse(systolic=45, diastolic=5, heart_rate=5),
                    noise=Noise(systolic_sd=1.0, systolic_limit=2.0), artefacts=(),
                    episodes=())
    patient = replace(patient, scenario=replace(patient.scenario, physiology=quiet,
                                                dropouts=(), device_faults=()))
    watched = replay(patient, default_profile(), SEED, ACK)
    alone = replay(patient, default_profile(), SEED, None)
    urgency = [(a.rule, a.priority) for a in watched.alarms if a.metric is Metric.SYSTOLIC]
    assert ("systolic.urgency", Priority.MEDIUM) in urgency
    assert ("systolic.urgency", Priority.HIGH) not in urgency
    assert ("systolic.urgency", Priority.HIGH) in [
        (a.rule, a.priority) for a in alone.alarms if a.metric is Metric.SYSTOLIC]


def test_the_figures_of_a_small_population_are_consistent() -> None:
    sessions = small_population()
    summary = summarise(sessions, profile="default", seed=SEED, ack_after=ACK)
    assert summary.patients == SMALL
    assert summary.alarms_per_session == pytest.approx(
        sum(row.alarms_per_session for row in summary.rows))
    assert 0 <= summary.share_with_high_alarm <= summary.share_with_any_alarm <= 1
    assert summary.share_with_high_alarm == pytest.approx(
        sum(count > 0 for count in summary.high_alarms_per_session) / SMALL)
    for row in summary.rows:
        assert 0 < row.share_of_sessions <= min(1.0, row.alarms_per_session)
        assert 0 <= row.minutes_per_session <= SESSION_MINUTES + 10
    for burden in sessions:
        for alarm in burden.alarms:
            assert -10 <= alarm.raised_minutes <= SESSION_MINUTES
            assert 0 <= alarm.minutes <= SESSION_MINUTES + 10 - alarm.raised_minutes
    assert 0 <= summary.minutes_in_alarm_per_session <= SESSION_MINUTES + 10


def test_a_stricter_profile_raises_more_alarms_than_the_default(tmp_path: Path) -> None:
    stricter_path = tmp_path / "stricter.toml"
    stricter_path.write_text(STRICTER)
    stricter = summarise(
        replay_population(SMALL, SEED, load_profile(stricter_path), ack_after=ACK),
        profile="stricter", seed=SEED, ack_after=ACK)
    default = summarise(small_population(), profile="default", seed=SEED, ack_after=ACK)
    assert stricter.alarms_per_session > default.alarms_per_session
    assert stricter.minutes_in_alarm_per_session > default.minutes_in_alarm_per_session


def test_replaying_in_two_processes_gives_the_same_sessions_as_in_one() -> None:
    assert replay_population(4, SEED, default_profile(), ack_after=ACK, jobs=2) == list(
        small_population()[:4]) == replay_population(4, SEED, default_profile(), ack_after=ACK)


def _alarm(begin: float, minutes: float) -> RaisedAlarm:
    return RaisedAlarm("r", Metric.SYSTOLIC, Priority.LOW, begin, minutes)


@pytest.mark.parametrize(("spans", "total"), [
    ([], 0.0),
    ([(10, 5)], 5.0),
    ([(10, 5), (20, 5)], 10.0),  # apart
    ([(10, 10), (15, 10)], 15.0),  # overlapping
    ([(10, 20), (12, 3)], 20.0),  # one inside another
])
def test_time_in_alarm_counts_overlapping_alarms_once(
    spans: list[tuple[float, float]], total: float
) -> None:
    burden = SessionBurden(1, tuple(_alarm(b, m) for b, m in spans))
    assert _minutes_any_alarm(burden) == pytest.approx(total)


def test_the_table_lists_every_rule_and_the_html_escapes_what_it_shows() -> None:
    summary = summarise(small_population(), profile="<b>clinic</b>.toml", seed=SEED,
                        ack_after=ACK)
    table = format_table(summary)
    for row in summary.rows:
        assert row.rule in table
    page = to_html(summary)
    assert "&lt;b&gt;clinic&lt;/b&gt;.toml" in page
    assert "<b>clinic</b>" not in page
    assert "plotly" in page.lower()


def test_vitals_profile_burden_prints_the_table_and_writes_the_html(tmp_path: Path) -> None:
    from vitals.cli import main

    page = tmp_path / "burden.html"
    result = CliRunner().invoke(main, ["profile", "burden", "--population", "3", "--seed", "1",
                                       "--jobs", "1", "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert "sessions with a high alarm" in result.output
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_vitals_profile_burden_names_a_missing_profile_file(tmp_path: Path) -> None:
    from vitals.cli import main

    result = CliRunner().invoke(main, ["profile", "burden", "--population", "1", "--profile",
                                       str(tmp_path / "missing.toml")])
    assert result.exit_code == 1
    assert "missing.toml" in result.output
