"""The Grafana provisioning: valid files, queries that name only what the store writes, and
every query run against a real influxd holding points written by `InfluxStore`.

An InfluxQL typo does not fail in InfluxDB, it returns nothing: so each query must return rows,
and each column it selects must hold a value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from influxdb import InfluxDBClient
from services import InfluxServer

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import DeviceProblem, Reading, Rejection, SessionEvent, SessionEventType
from vitals.storage.base import Batch
from vitals.storage.influx import InfluxStore
from vitals.vital_signs import Kind

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "vitals.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "vitals.yaml"
COMPOSE = ROOT / "docker-compose.yml"
INFLUX_INIT = ROOT / "deploy" / "influxdb" / "init"

# The storage layer's schema (vitals/storage/influx_lines.py): measurement -> (tags, fields).
READING_FIELDS = {"time_inferred", "problems"}
SCHEMA: dict[str, tuple[set[str], set[str]]] = {
    "bp": ({"session", "device"},
           {"systolic", "diastolic", "pulse", "mean_arterial"} | READING_FIELDS),
    "hr": ({"session", "device"}, {"bpm"} | READING_FIELDS),
    "spo2": ({"session", "device"}, {"spo2", "pulse"} | READING_FIELDS),
    "rr": ({"session", "device"}, {"rate"} | READING_FIELDS),
    "session_event": ({"session", "event"}, {"note", "by", "time_inferred"}),
    "alert": ({"session", "metric", "state", "rule"},
              {"priority", "message", "value", "limit", "by", "note"}),
    "rejection": ({"session"}, {"topic", "reason", "payload"}),
}
TAG_VALUES = {"state": {s.value for s in AlertState}, "metric": {m.value for m in Metric},
              "event": {e.value for e in SessionEventType}}
GRAFANA_MACROS = {"timeFilter", "session"}
QUOTED = re.compile(r'"([^"]+)"')
FROM = re.compile(r'\bFROM\s+"([^"]+)"', re.I)
COMPARED = re.compile(r'"([^"]+)"\s*=\s*\'([^\']*)\'')
SELECTED = re.compile(r"^\s*SELECT\s+(.*?)\s+FROM\s", re.I)


def dashboard(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, InfluxQL) for every panel target, annotation and template variable."""
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["query"]
    for annotation in board["annotations"]["list"]:
        if annotation.get("query"):
            yield f"annotation {annotation['name']!r}", annotation["query"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']!r}", variable["query"]


ALL_QUERIES = [(path.name, where, q) for path in DASHBOARDS for where, q in
               queries(dashboard(path))]
QUERY_IDS = [f"{board}: {where}" for board, where, _q in ALL_QUERIES]


def selected_columns(query: str) -> list[str]:
    match = SELECTED.match(query)
    return QUOTED.findall(match.group(1)) if match else []


# -- files ----------------------------------------------------------------------------------------


def test_a_dashboard_ships_and_is_valid_json() -> None:
    assert DASHBOARDS
    for path in DASHBOARDS:
        board = dashboard(path)
        assert board["uid"] and board["title"] and board["panels"]


def test_dashboard_has_a_session_variable_and_alert_annotations() -> None:
    board = dashboard(GRAFANA / "dashboards" / "session-vitals.json")
    assert [v["name"] for v in board["templating"]["list"]] == ["session"]
    annotated = {FROM.search(a["query"]).group(1)  # type: ignore[union-attr]
                 for a in board["annotations"]["list"] if a.get("query")}
    assert "alert" in annotated
    titles = " ".join(p["title"] for p in board["panels"]).lower()
    for metric in ("blood pressure", "heart rate", "spo2"):
        assert metric in titles


def test_every_query_uses_the_provisioned_datasource() -> None:
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    for path in DASHBOARDS:
        board = dashboard(path)
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == uid
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
        for item in [*board["annotations"]["list"], *board["templating"]["list"]]:
            if item.get("query"):
                assert item["datasource"]["uid"] == uid


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_vital_sign_has_a_panel(path: Path) -> None:
    measured = {m for _where, query in queries(dashboard(path)) for m in FROM.findall(query)}
    assert {kind.value for kind in Kind} <= measured
    assert set(SCHEMA) >= {kind.value for kind in Kind}  # the schema table knows each too


def test_datasource_matches_the_compose_stack() -> None:
    source = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]
    compose = yaml.safe_load(COMPOSE.read_text())
    influx = compose["services"]["influxdb"]["environment"]
    grafana = compose["services"]["grafana"]
    assert source["type"] == "influxdb" and source["jsonData"]["version"] == "InfluxQL"
    assert source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["dbName"] == source["database"] == influx["INFLUXDB_DB"]
    assert source["user"] == influx["INFLUXDB_READ_USER"]  # read-only, never the writer
    password = source["secureJsonData"]["password"]
    assert password.startswith("$") and password.lstrip("${").rstrip("}") in grafana["environment"]
    volumes = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    provider_path = yaml.safe_load(PROVIDERS.read_text())["providers"][0]["options"]["path"]
    assert volumes[provider_path] == "./deploy/grafana/dashboards"
    assert volumes["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"


@pytest.mark.parametrize(("board", "where", "query"), ALL_QUERIES, ids=QUERY_IDS)
def test_query_names_only_the_stored_schema(board: str, where: str, query: str) -> None:
    assert set(re.findall(r"\$(\w+)", query)) <= GRAFANA_MACROS, where
    measurements = FROM.findall(query)
    if not measurements:  # SHOW TAG VALUES WITH KEY = "<tag>"
        (key,) = QUOTED.findall(query)
        assert any(key in tags for tags, _fields in SCHEMA.values()), where
        return
    for measurement in measurements:
        assert measurement in SCHEMA, f"{where}: unknown measurement {measurement!r}"
    known = set(measurements)
    for measurement in measurements:
        known |= SCHEMA[measurement][0] | SCHEMA[measurement][1]
    unknown = set(QUOTED.findall(query)) - known
    assert not unknown, f"{where}: {unknown} are not tags or fields of {measurements}"
    for key, value in COMPARED.findall(query):
        if key in TAG_VALUES:
            assert value in TAG_VALUES[key], f"{where}: {key} is never {value!r}"


# -- queries against real data --------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored() -> Iterator[tuple[InfluxDBClient, str, datetime]]:
    """A private influxd initialised like the compose stack, with one session of every kind."""
    server = InfluxServer()
    server.start()
    try:
        server.query('CREATE DATABASE "vitals"')
        for path in sorted(INFLUX_INIT.glob("*.iql")):
            for statement in filter(None, (s.strip() for s in path.read_text().split(";"))):
                server.query(statement)
        rp = re.search(r'CREATE RETENTION POLICY "(\w+)"',
                       (INFLUX_INIT / "01-retention.iql").read_text()).group(1)  # type: ignore
        store = InfluxStore(server.url, "vitals", retention_policy=rp)
        session = "s-grafana-1"
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        at = [t0 + timedelta(seconds=30 * i) for i in range(6)]
        store.write(Batch(
            readings=[
                Reading(session, Kind.BP, at[1], {"systolic": 182.0, "diastolic": 101.0,
                        "pulse": 88.0, "mean_arterial": 128.0}, device="cuff-1",
                        problems=(DeviceProblem.BODY_MOVEMENT,)),
                Reading(session, Kind.HR, at[1], {"bpm": 88.0}, device="oximeter-1"),
                Reading(session, Kind.SPO2, at[2], {"spo2": 96.0, "pulse": 87.0},
                        device="oximeter-1", time_inferred=True),
                Reading(session, Kind.RR, at[2], {"rate": 14.0}, device="capnograph-1"),
            ],
            events=[SessionEvent(session, SessionEventType.START, at[0], note="baseline taken",
                                 by="monitor-1"),
                    SessionEvent(session, SessionEventType.DOSE, at[1])],
            alerts=[
                AlertEvent(at[1], session, Metric.SYSTOLIC, Priority.HIGH, AlertState.ACTIVE,
                           "Systolic 182 mmHg >= 180", rule="systolic.crisis", value=182.0,
                           limit=180.0),
                AlertEvent(at[3], session, Metric.SYSTOLIC, Priority.HIGH,
                           AlertState.ACKNOWLEDGED, "Systolic 182 mmHg >= 180",
                           rule="systolic.crisis", by="dr-a", note="repeat in 5 min"),
            ],
            rejections=[Rejection(f"vitals/{session}/bp", "systolic: field required",
                                  '{"diastolic": 80}', at[4], session=session)],
        ))
        store.close()
        client = InfluxDBClient(host=server.host, port=server.port, database="vitals")
        try:
            yield client, session, t0
        finally:
            client.close()
    finally:
        server.cleanup()


def as_grafana_would(query: str, session: str, start: datetime) -> str:
    """Expand the macros the way Grafana does for InfluxQL (epoch milliseconds, regex value)."""
    begin = int((start - timedelta(minutes=5)).timestamp() * 1000)
    end = int((start + timedelta(hours=1)).timestamp() * 1000)
    return (query.replace("$timeFilter", f"time >= {begin}ms and time <= {end}ms")
            .replace("$session", re.escape(session)))


@pytest.mark.services
@pytest.mark.parametrize(("board", "where", "query"), ALL_QUERIES, ids=QUERY_IDS)
def test_query_returns_every_column_it_selects(
    stored: tuple[InfluxDBClient, str, datetime], board: str, where: str, query: str
) -> None:
    client, session, start = stored
    result = client.query(as_grafana_would(query, session, start), epoch="ms")
    rows = list(result.get_points())
    assert rows, f"{where}: no rows for {query}"
    if query.upper().startswith("SHOW TAG VALUES"):
        assert session in {row["value"] for row in rows}
        return
    for column in selected_columns(query):
        assert any(row.get(column) is not None for row in rows), (
            f"{where}: column {column!r} is empty for {query}")


@pytest.mark.services
def test_annotation_for_raised_alarms_finds_only_active_ones(
    stored: tuple[InfluxDBClient, str, datetime],
) -> None:
    client, session, start = stored
    board = dashboard(GRAFANA / "dashboards" / "session-vitals.json")
    (query,) = [a["query"] for a in board["annotations"]["list"]
                if a.get("query") and '"alert"' in a["query"]]
    rows = list(client.query(as_grafana_would(query, session, start)).get_points())
    assert [row["message"] for row in rows] == ["Systolic 182 mmHg >= 180"]

