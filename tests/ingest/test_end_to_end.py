"""From MQTT to `vitals export`: every valid reading exactly, every malformed one refused.

Runs over the production path (real Mosquitto, real influxd) and the embedded default
(in-process broker, SQLite), with the same assertions.
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from services import wait_until

from vitals.cli import main
from vitals.parser import preview
from vitals.settings import Settings
from vitals.timefmt import rfc3339

# Its servers come through `request.getfixturevalue`, which collection cannot see.
pytestmark = pytest.mark.services

START = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)

MALFORMED = [
    ("bp", b'{"systolic": 300, "diastolic": 80}', "systolic"),
    ("bp", b'{"systolic": 120, "diastolic": 130}', "not below systolic"),
    ("hr", b'{"bpm": NaN}', "not a number"),
    ("hr", b"\xff\xfe", "not UTF-8"),
    ("spo2", b"{truncated", "not valid JSON"),
    ("temperature", b'{"celsius": 37}', "unknown reading kind"),
]


@pytest.fixture(params=["mosquitto+influxdb", "mosquitto+sqlite", "embedded+sqlite"])
def settings(request) -> Settings:
    broker, store = request.param.split("+")
    base: Settings = request.getfixturevalue(
        "influx_settings" if store == "influxdb" else "sqlite_settings")
    if broker == "embedded":
        base = base.model_copy(update={"mqtt_url": request.getfixturevalue("embedded_broker").url})
    return base


def session_documents(session: str, seed: int) -> list[tuple[str, dict]]:
    """A few minutes of one session: BP every 2 min, HR and SpO2 every 5 s, odd decimals."""
    rng = random.Random(seed)
    documents: list[tuple[str, dict]] = [("session", {"event": "start", "time": rfc3339(START)})]
    for second in range(0, 300, 5):
        at = rfc3339(START + timedelta(seconds=second, microseconds=rng.randrange(1_000_000)))
        documents.append(("hr", {"bpm": rng.randint(60, 90), "time": at, "device": "ox-1"}))
        documents.append(("spo2", {"spo2": rng.choice([96, 97, 98.5]), "pulse": 70,
                                   "time": at, "device": "ox-1"}))
        if second % 120 == 0:
            documents.append(("bp", {"systolic": rng.randint(110, 135),
                                     "diastolic": rng.randint(70, 85), "pulse": 72,
                                     "time": at, "device": "cuff-1"}))
    return documents


def wait_for_readings(store, session: str, count: int, timeout: float = 20) -> None:
    wait_until(lambda: len(store.readings(session)) >= count, timeout,
               f"{count} readings of {session} in the store")


def export_json(settings: Settings, session: str) -> dict:
    result = CliRunner().invoke(main, ["export", session, "--format", "json"],
                                env=cli_env(settings), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cli_env(settings: Settings) -> dict[str, str | None]:
    return {
        "VITALS_MQTT_URL": settings.mqtt_url,
        "VITALS_INFLUX_URL": settings.influx_url,
        "VITALS_INFLUX_DB": settings.influx_db,
        "VITALS_DATA_DIR": str(settings.data_dir),
    }


def test_every_reading_of_several_sessions_is_exported_exactly_with_malformed_ones_mixed_in(
        settings, worker_factory, probe_factory, session_id):
    sessions = [f"{session_id}-{n}" for n in range(3)]
    sent = {s: session_documents(s, seed=n) for n, s in enumerate(sessions)}
    worker, store = worker_factory(settings)
    probe = probe_factory(settings, ["vitals/+/rejected"])

    # Interleave the sessions and slip a malformed message in after every tenth valid one.
    order = [(s, leaf, doc) for n in range(max(map(len, sent.values())))
             for s in sessions for leaf, doc in sent[s][n:n + 1]]
    for i, (session, leaf, document) in enumerate(order):
        probe.publish(f"vitals/{session}/{leaf}", document)
        if i % 10 == 0:
            bad_leaf, bad_payload, _ = MALFORMED[(i // 10) % len(MALFORMED)]
            probe.publish(f"vitals/{session}/{bad_leaf}", bad_payload)

    for session in sessions:
        readings = [d for leaf, d in sent[session] if leaf != "session"]
        wait_for_readings(store, session, len(readings))
        exported = export_json(settings, session)
        assert exported["session"] == session
        expected = sorted(({"kind": leaf, **doc} for leaf, doc in sent[session]
                           if leaf != "session"), key=lambda d: (d["time"], d["kind"]))
        got = sorted(exported["readings"], key=lambda d: (d["time"], d["kind"]))
        assert got == expected
        assert [e["event"] for e in exported["events"]] == ["start"]

    bad_count = len(range(0, len(order), 10))
    wait_until(lambda: len(probe.messages("/rejected")) >= bad_count, 10, "every rejection")
    rejections = probe.messages("/rejected")
    assert len(rejections) == bad_count
    for rejection in rejections:
        assert set(rejection) == {"time", "topic", "reason", "payload"}
        expected_words = next(words for leaf, payload, words in MALFORMED
                              if rejection["topic"].endswith("/" + leaf)
                              and rejection["payload"] == preview(payload))
        assert expected_words in rejection["reason"]
    assert worker.pipeline.counters.rejected == bad_count


def test_csv_export_has_a_header_and_one_row_per_reading(settings, worker_factory, probe_factory,
                                                         session_id):
    _, store = worker_factory(settings)
    probe = probe_factory(settings, [])
    probe.publish(f"vitals/{session_id}/bp", {"systolic": 128, "diastolic": 84, "pulse": 76,
                                              "time": "2026-11-28T17:05:00Z", "device": "cuff-1"})
    probe.publish(f"vitals/{session_id}/hr", {"bpm": 76.5, "time": "2026-11-28T17:05:01.5Z"})
    wait_for_readings(store, session_id, 2)

    result = CliRunner().invoke(main, ["export", session_id, "--format", "csv"],
                                env=cli_env(settings), catch_exceptions=False)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["time"], r["kind"], r["systolic"], r["diastolic"], r["pulse"], r["bpm"])
            for r in rows] == [
        ("2026-11-28T17:05:00Z", "bp", "128", "84", "76", ""),
        ("2026-11-28T17:05:01.500000Z", "hr", "", "", "", "76.5"),
    ]
