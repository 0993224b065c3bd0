"""Respiratory rate end to end (issue 15): the simulator's capnograph through real Mosquitto, the
ingest and InfluxDB, to the alarm, the overview's tile, the session chart and the CSV and FHIR
exports. The vital sign was added as one row of `vitals.vital_signs.VITAL_SIGNS` and its rules;
this is the proof that everything else derived from them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from dashboard import figures, frames, ids, queries, reports, tiles
from tests.ingest.conftest import scenarios_ingested
from vitals.alerts import AlertState, Metric, Priority
from vitals.vital_signs import Kind

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SEED = 5

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def breathing(mosquitto, influxd, tmp_path_factory):
    """The `slow-breathing` scenario and `normal` (no capnograph), stored; (store, sessions)."""
    with scenarios_ingested(mosquitto, influxd, tmp_path_factory, ["slow-breathing", "normal"],
                            "rr", START, SEED) as (_settings, store, scenarios):
        yield store, {scenario: session for session, scenario in scenarios.items()}


def test_slow_breathing_raises_the_high_respiratory_rate_alarm_and_clears_it(breathing):
    store, sessions = breathing
    alerts = [a for a in store.alerts(sessions["slow-breathing"])
              if a.metric is Metric.RESPIRATORY_RATE]

    raised = [a for a in alerts if a.state is AlertState.ACTIVE]
    assert raised and raised[0].priority is Priority.HIGH
    assert raised[0].value is not None and raised[0].value < 8
    assert "Respiratory rate" in raised[0].message and "capnograph" in raised[0].message
    assert alerts[-1].state is AlertState.CLEARED


def test_a_session_without_a_capnograph_has_no_respiratory_rate_and_no_alarm_for_it(breathing):
    store, sessions = breathing
    normal = sessions["normal"]

    assert not [r for r in store.readings(normal) if r.kind is Kind.RR]
    assert not [a for a in store.alerts(normal)
                if a.metric is Metric.RESPIRATORY_RATE or "respiratory" in a.message.lower()]


def test_the_tile_shows_respiratory_rate_only_where_the_session_has_it(breathing):
    store, sessions = breathing
    live = store.live(START)
    rows = {row["session"]: row for row in queries.overview_rows(live, live_now(store, sessions))}

    with_rr = tiles.tile_view(rows[sessions["slow-breathing"]])
    without = tiles.tile_view(rows[sessions["normal"]])

    assert Kind.RR in with_rr.vitals and Kind.RR not in without.vitals
    value = with_rr.parts[ids.tile_value(sessions["slow-breathing"], "rr")].props["children"]
    assert value == f"{rows[sessions['slow-breathing']]['respiratory_rate']:.0f}"


def test_the_session_chart_draws_a_respiratory_rate_panel_with_its_limits(breathing):
    store, sessions = breathing
    readings = frames.reading_rows(frames.thin(store.readings(sessions["slow-breathing"])))
    origin, label = frames.session_origin(frames.event_rows([]), readings)
    fig = figures.session_figure(readings, frames.event_rows([]), frames.alert_rows([]), origin,
                                 label)

    titles = [a.text for a in fig.layout.annotations]
    assert "Respiratory rate (/min)" in titles
    trace = next(t for t in fig.data if t.name == "Respiratory rate")
    assert min(trace.y) < 8 < max(trace.y)
    assert {"RR 8"} <= {a.text for a in fig.layout.annotations}


def test_the_csv_and_fhir_exports_carry_respiratory_rate_with_its_unit_and_loinc(breathing):
    store, sessions = breathing
    readings = store.readings(sessions["slow-breathing"])
    rates = [r["rate"] for r in readings if r.kind is Kind.RR]

    rows = list(csv.DictReader(io.StringIO(reports.readings_csv(readings))))
    assert [float(r["rate (/min)"]) for r in rows if r["kind"] == "rr"] == rates

    bundle = reports.fhir_bundle(sessions["slow-breathing"], readings, START)
    coded = [e["resource"] for e in bundle["entry"]
             if e["resource"]["code"]["coding"][0]["code"] == "9279-1"]
    assert len(coded) == len(rates)
    assert coded[0]["valueQuantity"]["code"] == "/min"
    assert "http://hl7.org/fhir/StructureDefinition/resprate" in coded[0]["meta"]["profile"]


def live_now(store, sessions) -> datetime:
    """The newest reading's time: the sessions are simulated in the past."""
    return max(r.time for s in sessions.values() for r in store.readings(s))
