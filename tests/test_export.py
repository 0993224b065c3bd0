"""`vitals export` on the embedded store: a stored session exports, an unknown one is an error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from vitals.cli import main
from vitals.readings import Reading
from vitals.storage.base import Batch, NotificationRecord
from vitals.storage.sqlite import SqliteStore
from vitals.vital_signs import Kind

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path))
    store = SqliteStore(tmp_path / "vitals.sqlite3")
    try:
        store.write(Batch(readings=[Reading("bed-1", Kind.HR, T0, {"bpm": 72})],
                          notifications=[NotificationRecord(
                              T0, "bed-1", "heart_rate", "Dr X", "mailto", "alarm", False,
                              "connection refused")]))
    finally:
        store.close()
    return tmp_path


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_exporting_an_unknown_session_says_no_such_session_and_exits_1(data_dir, fmt):
    result = CliRunner().invoke(main, ["export", "bed-2", "--format", fmt])

    assert result.exit_code == 1
    assert "no such session: 'bed-2'" in result.stderr
    assert result.stdout == ""  # not even a CSV header: a typo must not look like a session


@pytest.mark.parametrize(("fmt", "first"), [("json", "{"), ("csv", "time,session,kind")])
def test_a_stored_session_exports(data_dir, fmt, first):
    result = CliRunner().invoke(main, ["export", "bed-1", "--format", fmt])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(first) and "72" in result.stdout


def test_the_json_export_includes_the_notification_log(data_dir):
    result = CliRunner().invoke(main, ["export", "bed-1", "--format", "json"])

    assert json.loads(result.stdout)["notifications"] == [{
        "time": "2026-11-28T17:00:00Z", "metric": "heart_rate", "person": "Dr X",
        "channel": "mailto", "kind": "alarm", "delivered": False, "error": "connection refused"}]
