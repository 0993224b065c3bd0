"""Every simulator scenario, through real Mosquitto, the ingest and InfluxDB, raises its alarms.

The simulator publishes all scenarios at once as fast as the broker takes them (readings carry
their simulated times, so the alarms are those of real time); `vitals export` reads them back.
Nobody acknowledges, so medium alarms may escalate to high: that is asserted as escalation,
not as a rule crossing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulators.scenarios import SCENARIOS
from tests.ingest.conftest import assert_expected_alarms, export, scenarios_ingested

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SEED = 3


@pytest.fixture(scope="module")
def simulated(mosquitto, influxd, tmp_path_factory):
    """All scenarios published once through the real path; {scenario: exported session}."""
    with scenarios_ingested(mosquitto, influxd, tmp_path_factory, list(SCENARIOS), "scn",
                            START, SEED) as (settings, _store, scenarios):
        yield {scenario: export(settings, session) for session, scenario in scenarios.items()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_raises_exactly_its_expected_alarms(simulated, name):
    assert_expected_alarms(name, simulated[name])


def test_the_normal_scenario_raises_nothing_at_all(simulated):
    assert simulated["normal"]["alerts"] == []


def test_every_scenario_session_ends_with_its_alarms_cleared(simulated):
    for name, exported in simulated.items():
        latest: dict[str, str] = {}
        for alert in exported["alerts"]:
            latest[alert["metric"]] = alert["state"]
        assert set(latest.values()) <= {"cleared"}, f"{name}: {latest}"
