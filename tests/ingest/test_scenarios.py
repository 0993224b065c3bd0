"""Every simulator scenario, through real Mosquitto, the ingest and InfluxDB, raises its alarms.

The simulator publishes all scenarios at once as fast as the broker takes them (readings carry
their simulated times, so the alarms are those of real time); `vitals export` reads them back.
Nobody acknowledges, so medium alarms may escalate to high: that is asserted as escalation,
not as a rule crossing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from services import wait_until

from ingest.worker import IngestWorker, build_engine
from simulators import publisher
from simulators.scenarios import SCENARIOS
from simulators.timeline import session_messages
from tests.ingest.conftest import assert_expected_alarms, export
from vitals.readings import Kind
from vitals.settings import Settings
from vitals.storage import open_store

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SEED = 3


@pytest.fixture(scope="module")
def simulated(mosquitto, influxd, tmp_path_factory):
    """All scenarios published once through the real path; {scenario: exported session}."""
    database = f"scenarios_{uuid.uuid4().hex[:8]}"
    settings = Settings(mqtt_url=mosquitto.url, influx_url=influxd.url, influx_db=database,
                        data_dir=tmp_path_factory.mktemp("data"),
                        ingest_client_id=f"ingest-{database}")
    store = open_store(settings)
    worker = IngestWorker(settings, store, build_engine(settings))
    worker.start()
    try:
        names = list(SCENARIOS)
        report = publisher.run(settings, scenarios=names, sessions=len(names),
                               speed=float("inf"), seed=SEED, start=START,
                               session_prefix="scn")
        for session, scenario in report.scenarios.items():
            expected = sum(1 for m in session_messages(scenario, session, START, SEED)
                           if m.leaf in {kind.value for kind in Kind})
            wait_until(lambda s=session, n=expected: len(store.readings(s)) >= n, 90,
                       f"{expected} readings of {session}")
        assert worker.wait_idle(30)
        yield {scenario: export(settings, session)
               for session, scenario in report.scenarios.items()}
    finally:
        worker.stop()
        store.close()
        influxd.query(f'DROP DATABASE "{database}"')


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
