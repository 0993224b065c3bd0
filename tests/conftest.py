"""Shared fixtures: real Mosquitto and influxd servers, a fresh database per test, settings.

Session-scoped servers start only when a test asks for them; factories give a test its own server
to stop and restart. Every server is stopped at teardown, whatever the test did.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from vitals.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))

from services import InfluxServer, MosquittoServer

# Fixtures that start a real server: a test using any of them (directly or through another
# fixture) is marked `services`, so `-m "not services"` selects the tests that need none.
SERVER_FIXTURES = frozenset({"mosquitto", "influxd", "mosquitto_factory", "influxd_factory"})


def pytest_configure(config: pytest.Config) -> None:
    # CI's timeout and `kill` send SIGTERM: turn it into the interrupt pytest already handles,
    # so every fixture's teardown runs and no server outlives the run (they run in their own
    # process groups, so no signal reaches them otherwise).
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(autouse=True)
def _no_vitals_variables_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A VITALS_* variable in the developer's shell must reach neither a test nor its children."""
    for name in [n for n in os.environ if n.startswith("VITALS_")]:
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _persistent_sessions_forgotten(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test on the run's broker, the persistent sessions its clients left are forgotten
    (`MosquittoServer.forget_departed_sessions`): the next tests' traffic is not queued for
    them. Torn down last, after the test's own fixtures stopped its workers."""
    yield
    if "mosquitto" in request.fixturenames:
        request.getfixturevalue("mosquitto").forget_departed_sessions()


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoServer]:
    """One broker for the whole run. Isolate tests with unique session ids / client ids."""
    with MosquittoServer() as server:
        yield server


@pytest.fixture(scope="session")
def influxd() -> Iterator[InfluxServer]:
    """One influxd for the whole run; use `influx_db` for a database of your own."""
    with InfluxServer() as server:
        yield server


@pytest.fixture
def mosquitto_factory() -> Iterator[Callable[..., MosquittoServer]]:
    """`mosquitto_factory(extra_config=())` -> a started broker this test may stop/restart."""
    with ExitStack() as servers:
        yield lambda extra_config=(): servers.enter_context(MosquittoServer(extra_config))


@pytest.fixture
def influxd_factory() -> Iterator[Callable[[], InfluxServer]]:
    """`influxd_factory()` -> a started influxd this test may stop/restart."""
    with ExitStack() as servers:
        yield lambda: servers.enter_context(InfluxServer())


@pytest.fixture
def influx_db(influxd: InfluxServer) -> Iterator[str]:
    """The name of a fresh database on the session influxd, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    influxd.query(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        if influxd.running:
            influxd.query(f'DROP DATABASE "{name}"')


@pytest.fixture
def session_id() -> str:
    """A session id no other test uses (valid per the contract: A-Z a-z 0-9 _ -)."""
    return f"s-{uuid.uuid4().hex[:12]}"


def _settings(mosquitto: MosquittoServer, tmp_path: Path, **overrides: object) -> Settings:
    # A unique client id, so no test inherits another test's persistent MQTT session.
    base: dict[str, object] = {
        "mqtt_url": mosquitto.url,
        "data_dir": tmp_path / "data",
        "ingest_client_id": f"vitals-ingest-{uuid.uuid4().hex[:8]}",
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def sqlite_settings(mosquitto: MosquittoServer, tmp_path: Path) -> Settings:
    """Settings for the embedded store in `tmp_path/data`, with the session broker."""
    return _settings(mosquitto, tmp_path)


@pytest.fixture
def influx_settings(
    mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> Settings:
    """Settings for the session influxd (a fresh database), with the session broker."""
    return _settings(mosquitto, tmp_path, influx_url=influxd.url, influx_db=influx_db)
