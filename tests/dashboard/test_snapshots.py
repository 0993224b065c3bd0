"""The live reader: one background read of the store for every browser's overview and shell,
never showing old values as current. Against a real SqliteStore."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from services import wait_until

from dashboard.app import refresh_shell
from dashboard.caches import TrendCache
from dashboard.pages import overview
from dashboard.snapshots import LiveReader
from tests.dashboard.builders import NOW, hr, minutes
from tests.dashboard.conftest import reread
from tests.dashboard.trees import text_of
from vitals.storage.base import Batch, StoreError

WAIT_S = 10.0


class Monotonic:
    """A clock for the snapshots' freshness that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reader(store) -> Iterator[LiveReader]:
    live = LiveReader(store, lambda: NOW, minutes(30), TrendCache())
    yield live
    live.close()


def sessions(reader: LiveReader) -> list[str]:
    return [s.session for s in reader.snapshot().live.sessions]


def test_a_snapshot_carries_the_time_it_was_read_and_the_active_sessions(store, reader):
    store.write(Batch(readings=[hr("a", NOW - minutes(1), 70), hr("old", NOW - minutes(40), 70)]))

    snapshot = reader.snapshot()

    assert snapshot.read_at == NOW
    assert [s.session for s in snapshot.live.sessions] == ["a"]
    assert [r.values["bpm"] for r in snapshot.trends["a"]] == [70]


def test_the_reader_reads_what_is_stored_later_on_its_own(store, reader):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    assert sessions(reader) == ["a"]

    store.write(Batch(readings=[hr("b", NOW, 80)]))

    wait_until(lambda: sorted(sessions(reader)) == ["a", "b"], WAIT_S,
               "the reader to read session b")
    assert reader.running


def test_a_failed_read_is_reported_not_hidden_behind_the_last_snapshot(store, reader):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    assert sessions(reader) == ["a"]

    store.close()

    wait_until(lambda: _fails(reader), WAIT_S, "the reader to report the failed read")


def test_an_outage_is_logged_once_not_at_every_read(store, reader, caplog):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    assert sessions(reader) == ["a"]
    failures: set[float] = set()

    store.close()

    def failed_three_times() -> bool:
        _fails(reader)  # a request keeps the reader from idling out
        if reader._failure is not None:
            failures.add(reader._failure[0])
        return len(failures) >= 3

    wait_until(failed_three_times, WAIT_S, "the reader to fail three reads")
    warnings = [r for r in caplog.records
                if r.name == "dashboard.snapshots" and r.levelname == "WARNING"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


def _fails(reader: LiveReader) -> bool:
    try:
        reader.snapshot()
    except StoreError:
        return True
    return False


def test_a_reader_that_falls_behind_is_reported_as_a_store_error(store):
    monotonic = Monotonic()
    # A period of an hour: after its first read, the thread reads nothing more (it is stuck).
    reader = LiveReader(store, lambda: NOW, minutes(30), TrendCache(), period_s=3600,
                        max_age_s=2.0, monotonic=monotonic)
    try:
        store.write(Batch(readings=[hr("a", NOW, 70)]))
        assert sessions(reader) == ["a"]

        monotonic.now += 1.9
        assert sessions(reader) == ["a"]  # 1.9 s old: still current enough
        monotonic.now += 0.2

        with pytest.raises(StoreError, match=r"2\.1 s behind"):
            reader.snapshot()
    finally:
        reader.close()


def test_after_a_pause_the_first_request_reads_the_store_itself(store):
    reader = LiveReader(store, lambda: NOW, minutes(30), TrendCache(), idle_s=0.1)
    try:
        store.write(Batch(readings=[hr("a", NOW, 70)]))
        assert sessions(reader) == ["a"]
        wait_until(lambda: not reader.running, WAIT_S, "the idle reader to stop")

        store.write(Batch(readings=[hr("b", NOW, 80)]))

        assert sorted(sessions(reader)) == ["a", "b"]  # never the snapshot from before the pause
    finally:
        reader.close()


def test_the_overview_and_the_shell_show_a_failed_read_as_the_database_problem(store, in_app):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    tiles, _status = overview.refresh(1)
    assert "cannot read" not in text_of(tiles)

    store.close()
    with pytest.raises(StoreError):
        reread(in_app)

    tiles, status = overview.refresh(2)
    banner, _panel, level, _sig = refresh_shell(2, None)
    assert "cannot read vitals from the database" in text_of(tiles)
    assert status.startswith("⚠ Not updating")
    assert "Cannot read the database" in text_of(banner)
    assert level == "medium"


def test_a_snapshot_read_while_no_reader_ran_is_not_served_later_as_current(store):
    monotonic = Monotonic()
    reader = LiveReader(store, lambda: NOW, minutes(30), TrendCache(), idle_s=0.1,
                        monotonic=monotonic)
    try:
        store.write(Batch(readings=[hr("a", NOW, 70)]))
        reader.refresh()  # with no reader running (a test, a benchmark): nobody keeps it fresh
        monotonic.now += 60
        store.write(Batch(readings=[hr("b", NOW, 80)]))

        assert sorted(sessions(reader)) == ["a", "b"]  # read now, not a minute-old snapshot
    finally:
        reader.close()
