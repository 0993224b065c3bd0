"""Every simulator scenario, through real Mosquitto, the ingest and InfluxDB, raises its alarms.

The simulator publishes all scenarios at once as fast as the broker takes them (readings carry
their simulated times, so the alarms are those of real time); `vitals export` reads them back.
Nobody acknowledges, so medium alarms may escalate to high: that is asserted as escalation,
not as a rule crossing.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from services import wait_until

from ingest.worker import IngestWorker, build_engine
from simulators import publisher
from simulators.scenarios import SCENARIOS
from simulators.timeline import session_messages
from vitals.alerts import Metric, Priority
from vitals.cli import main
from vitals.settings import Settings
from vitals.storage import open_store

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SEED = 3


def export(settings, session: str) -> dict:
    env = {"VITALS_INFLUX_URL": settings.influx_url, "VITALS_INFLUX_DB": settings.influx_db,
           "VITALS_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(main, ["export", session], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


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
                           if m.leaf in ("bp", "hr", "spo2"))
            wait_until(lambda s=session, n=expected: len(store.readings(s)) >= n, 90,
                       f"{expected} readings of {session}")
        assert worker.wait_idle(30)
        yield {scenario: export(settings, session)
               for session, scenario in report.scenarios.items()}
    finally:
        worker.stop()
        store.close()
        influxd.query(f'DROP DATABASE "{database}"')


def raised(exported: dict) -> dict[Metric, set[Priority]]:
    by_metric: dict[Metric, set[Priority]] = {}
    for alert in exported["alerts"]:
        if alert["state"] == "active":
            by_metric.setdefault(Metric(alert["metric"]), set()).add(Priority(alert["priority"]))
    return by_metric


def escalated(exported: dict, metric: Metric) -> bool:
    return any(a["metric"] == metric and a["priority"] == "high" and
               a["message"].startswith("Unacknowledged") for a in exported["alerts"])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_raises_exactly_its_expected_alarms(simulated, name):
    scenario = SCENARIOS[name]
    alarms = raised(simulated[name])
    for metric, priority in scenario.expected_alarms:
        assert priority in alarms.get(metric, set()), (
            f"{name}: expected a {priority} {metric} alarm, got {alarms}")
    allowed = {metric for metric, _ in scenario.expected_alarms} | scenario.incidental_metrics
    assert set(alarms) <= allowed, f"{name}: unexpected alarms on {set(alarms) - allowed}"
    for metric, priorities in alarms.items():
        declared = max((p for m, p in scenario.expected_alarms if m is metric),
                       key=lambda p: p.rank, default=Priority.MEDIUM)
        worst = max(priorities, key=lambda p: p.rank)
        assert worst.rank <= declared.rank or escalated(simulated[name], metric), (
            f"{name}: {metric} reached {worst}, declared at most {declared}")


def test_the_normal_scenario_raises_nothing_at_all(simulated):
    assert simulated["normal"]["alerts"] == []


def test_every_scenario_session_ends_with_its_alarms_cleared(simulated):
    for name, exported in simulated.items():
        latest: dict[str, str] = {}
        for alert in exported["alerts"]:
            latest[alert["metric"]] = alert["state"]
        assert set(latest.values()) <= {"cleared"}, f"{name}: {latest}"
