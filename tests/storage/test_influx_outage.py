"""InfluxDB going away and coming back: the store says so, and keeps what it acknowledged.

Each test owns its influxd (`influxd_factory`), so stopping it disturbs no other test.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from services import InfluxServer

from vitals.readings import Reading
from vitals.storage.base import Batch, StoreError, StoreUnavailable
from vitals.storage.influx import InfluxStore
from vitals.vital_signs import Kind

pytestmark = pytest.mark.services

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


@pytest.fixture
def server(influxd_factory: Callable[[], InfluxServer]) -> InfluxServer:
    """An influxd of this test's own, to stop, freeze or restart."""
    return influxd_factory()


def reading(second: int) -> Reading:
    return Reading("s1", Kind.HR, T0.replace(second=second), {"bpm": 70 + second}, device="ox-1")


def test_write_raises_store_unavailable_while_influxd_is_down_and_succeeds_after_restart(
    server: InfluxServer,
) -> None:
    store = InfluxStore(server.url, "vitals", timeout=2)
    store.write(Batch(readings=[reading(0)]))

    server.stop()
    with pytest.raises(StoreUnavailable):
        store.write(Batch(readings=[reading(1)]))

    server.start()
    store.write(Batch(readings=[reading(1)]))
    assert store.readings("s1") == [reading(0), reading(1)]


def test_ping_raises_store_unavailable_while_influxd_is_down_and_answers_after_restart(
    server: InfluxServer,
) -> None:
    store = InfluxStore(server.url, "vitals", timeout=2)
    store.ping()

    server.stop()
    with pytest.raises(StoreUnavailable):
        store.ping()

    server.start()
    store.ping()


def test_a_store_opened_while_influxd_is_down_creates_its_database_once_it_is_back(
    server: InfluxServer,
) -> None:
    server.stop()
    store = InfluxStore(server.url, "late", timeout=2)  # opening does no I/O
    with pytest.raises(StoreUnavailable):
        store.readings("s1")

    server.start()
    store.write(Batch(readings=[reading(0)]))
    assert store.readings("s1") == [reading(0)]


def test_a_write_that_times_out_raises_store_unavailable(server: InfluxServer) -> None:
    store = InfluxStore(server.url, "vitals", timeout=0.3)
    store.ping()
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)  # alive and listening, but answering nothing
    try:
        with pytest.raises(StoreUnavailable):
            store.write(Batch(readings=[reading(0)]))
    finally:
        os.kill(server.pid, signal.SIGCONT)
    store.write(Batch(readings=[reading(0)]))
    assert store.readings("s1") == [reading(0)]


def test_a_write_influxd_refuses_raises_store_error_not_store_unavailable(
    server: InfluxServer,
) -> None:
    store = InfluxStore(server.url, "vitals", timeout=2)
    store.ping()  # creates the database
    server.query('DROP DATABASE "vitals"')  # now every write is a 404 "database not found"

    with pytest.raises(StoreError) as raised:
        store.write(Batch(readings=[reading(0)]))
    assert not isinstance(raised.value, StoreUnavailable)


def test_an_empty_batch_needs_no_server() -> None:
    InfluxStore("http://127.0.0.1:9", "vitals", timeout=0.5).write(Batch())


def test_a_query_influxd_refuses_raises_store_error_naming_its_reason(server: InfluxServer) -> None:
    store = InfluxStore(server.url, "vitals", timeout=2)
    store.ping()
    server.query('DROP DATABASE "vitals"')  # a query now answers 200 with an error inside

    with pytest.raises(StoreError, match="database not found") as raised:
        store.events("s1")
    assert not isinstance(raised.value, StoreUnavailable)
    # Several statements in one request: influxd 1.6 then says only "not executed".
    with pytest.raises(StoreError, match="refused query") as raised:
        store.readings("s1")
    assert not isinstance(raised.value, StoreUnavailable)
