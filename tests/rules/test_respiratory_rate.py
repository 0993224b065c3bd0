"""Respiratory rate, an optional vital sign: its limits (NEWS2's bands, sustained 15 s), its
stream's silence, and that a session without a capnograph neither waits for it nor alarms.

Each case feeds a rate every 5 s to the engine and names the alarm showing at the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitals.alerts import AlertState, Metric, Priority
from vitals.engine import AlertEngine
from vitals.profile_loader import load_profile
from vitals.readings import Reading
from vitals.sessions import Verdict, presession_verdict
from vitals.vital_signs import Kind

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
S = "s1"


@pytest.fixture(scope="module")
def profile():
    return load_profile()


def showing(engine: AlertEngine, rates: list[float], step_s: float = 5) -> dict:
    """Feeds `rates` (one per `step_s`, with a heart rate beside each), then {metric: priority}
    of the alarms active at the end."""
    latest: dict = {}
    for i, rate in enumerate(rates):
        now = T0 + timedelta(seconds=i * step_s)
        events = [*engine.on_reading(Reading(S, Kind.HR, now, {"bpm": 72}), now),
                  *engine.on_reading(Reading(S, Kind.RR, now, {"rate": rate}), now),
                  *engine.on_tick(now)]
        for event in events:
            latest[(event.metric, event.rule)] = event
    return {metric: e.priority for (metric, _), e in latest.items()
            if e.state is AlertState.ACTIVE}


@pytest.mark.parametrize(
    ("rates", "alarm"),
    [
        pytest.param([14] * 6, None, id="14/min: nothing"),
        pytest.param([14, 6, 6, 6, 6, 6], Priority.HIGH, id="6/min for 20 s: high"),
        pytest.param([14, 6, 6, 14, 14, 14], None, id="6/min for 5 s (under 15 s): nothing"),
        pytest.param([14, 8, 8, 8, 8, 8], None, id="8/min: at the limit, not below it"),
        pytest.param([14, 30, 30, 30, 30, 30], Priority.MEDIUM, id="30/min for 20 s: medium"),
        pytest.param([14, 24, 24, 24, 24, 24], None, id="24/min: at the limit, not above it"),
    ],
)
def test_respiratory_rate_limits(profile, rates, alarm):
    shown = showing(AlertEngine(profile), rates)

    assert shown.get(Metric.RESPIRATORY_RATE) == alarm


def test_a_silent_respiratory_rate_stream_is_a_medium_technical_alarm(profile):
    engine = AlertEngine(profile)
    showing(engine, [14] * 4)
    now = T0 + timedelta(seconds=60)
    events = [*engine.on_reading(Reading(S, Kind.HR, now, {"bpm": 72}), now),
              *engine.on_tick(now)]

    silent = [e for e in events if e.rule == "data.stream_silent.rr"]
    assert silent and silent[0].priority is Priority.MEDIUM
    assert "respiratory rate" in silent[0].message


def test_a_session_that_never_had_a_capnograph_raises_nothing_about_it(profile):
    engine = AlertEngine(profile)
    events = []
    for i in range(30):  # 5 minutes of heart rate, no respiratory rate at all
        now = T0 + timedelta(seconds=i * 10)
        events += [*engine.on_reading(Reading(S, Kind.HR, now, {"bpm": 72}), now),
                   *engine.on_tick(now)]

    assert not [e for e in events if e.metric is Metric.RESPIRATORY_RATE or "rr" in e.rule]


def test_the_pre_session_verdict_does_not_wait_for_an_optional_vital(profile):
    values = {Metric.SYSTOLIC: 120, Metric.DIASTOLIC: 80, Metric.HEART_RATE: 70, Metric.SPO2: 98}

    assert presession_verdict(values, profile).verdict is Verdict.GO
