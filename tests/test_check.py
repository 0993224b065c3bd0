"""`vitals check` (`run_checks`) against real Mosquitto and influxd, running, stopped, or locked."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from services import InfluxServer, MosquittoServer, wait_until

from vitals.check import (
    CheckResult,
    check_broker,
    check_clock,
    check_configuration,
    check_database,
    check_ingest,
    format_checks,
    judge_ingest,
    run_checks,
    settings_from_environment,
)
from vitals.settings import Settings

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]
MQTT_USER, MQTT_PASSWORD = "ingest", "mqtt-test-password"
INFLUX_USER, INFLUX_PASSWORD = "vitals", "influx-test-password"


def settings_for(tmp_path: Path, **values: object) -> Settings:
    base: dict[str, object] = {
        "mqtt_url": "mqtt://127.0.0.1:1",
        "influx_url": None,
        "influx_token": None,
        "influx_username": None,
        "influx_password": None,
        "influx_retention_policy": None,
        "data_dir": tmp_path / "data",
        "profile": None,
        "ingest_client_id": "vitals-ingest-test",
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


class AuthInfluxServer(InfluxServer):
    """influxd with HTTP auth on, an admin, and a `vitals` user with ALL on database `vitals`."""

    def _environment(self) -> Mapping[str, str]:
        return {**super()._environment(), "INFLUXDB_HTTP_AUTH_ENABLED": "true"}

    def start(self) -> AuthInfluxServer:
        super().start()
        # With no user yet, influxd accepts exactly one statement unauthenticated: the admin.
        self.query("CREATE USER admin WITH PASSWORD 'admin-test-password' WITH ALL PRIVILEGES")
        for statement in ("CREATE DATABASE vitals",
                          f"CREATE USER {INFLUX_USER} WITH PASSWORD '{INFLUX_PASSWORD}'",
                          f"GRANT ALL ON vitals TO {INFLUX_USER}"):
            credentials = urllib.parse.urlencode({"u": "admin", "p": "admin-test-password"})
            data = urllib.parse.urlencode({"q": statement}).encode()
            # Read the whole answer: influxd cancels a statement whose client hung up early.
            with urllib.request.urlopen(f"{self.url}/query?{credentials}", data=data,
                                        timeout=10) as answer:
                assert b'"error"' not in answer.read(), statement
        # influxd applies a GRANT to its authorisation cache a moment later.
        try:
            wait_until(self._user_may_read, 10, "the grant to take effect")
        except TimeoutError as err:
            raise AssertionError(f"{err}: {self._last!r}") from err
        return self

    _last: object = None

    def _user_may_read(self) -> bool:
        query = urllib.parse.urlencode({"q": "SHOW MEASUREMENTS", "db": "vitals",
                                        "u": INFLUX_USER, "p": INFLUX_PASSWORD})
        try:
            with urllib.request.urlopen(f"{self.url}/query?{query}", timeout=10) as answer:
                self._last = answer.read()
                return b'"error"' not in self._last  # type: ignore[operator]
        except urllib.error.HTTPError as err:
            self._last = (err.code, err.read())
            return False


@pytest.fixture
def locked_broker(
    mosquitto_factory: Callable[..., MosquittoServer], tmp_path: Path
) -> MosquittoServer:
    """A broker that refuses anonymous clients and knows one user."""
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), MQTT_USER, MQTT_PASSWORD],
                   check=True, capture_output=True)
    return mosquitto_factory(["allow_anonymous false", f"password_file {passwd}"])


@pytest.fixture
def locked_influxd() -> Iterator[AuthInfluxServer]:
    with AuthInfluxServer() as server:
        yield server


# -- everything up ----------------------------------------------------------------------------


@pytest.fixture
def running_ingest(
    mosquitto_factory: Callable[..., MosquittoServer], influxd: InfluxServer, influx_db: str,
    tmp_path: Path,
) -> Iterator[Settings]:
    """A private broker (no other test's worker statuses) with a real `vitals ingest` on it."""
    broker = mosquitto_factory()
    settings = settings_for(tmp_path, mqtt_url=broker.url, influx_url=influxd.url,
                            influx_db=influx_db, ingest_client_id="vitals-ingest-check")
    env = {**os.environ, "VITALS_MQTT_URL": broker.url, "VITALS_INFLUX_URL": influxd.url,
           "VITALS_INFLUX_DB": influx_db, "VITALS_INGEST_CLIENT_ID": "vitals-ingest-check",
           "VITALS_DATA_DIR": str(tmp_path / "data")}
    worker = subprocess.Popen([sys.executable, "-m", "vitals", "ingest"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: check_ingest(settings).status == "ok", 30, "the ingest status")
        yield settings
    finally:
        worker.terminate()
        worker.wait(30)


def test_every_check_passes_against_running_services(running_ingest: Settings) -> None:
    results = run_checks(running_ingest)
    assert [r.name for r in results] == ["config", "broker", "ingest", "database", "clock",
                                         "profile"]
    assert all(r.ok and not r.warning for r in results), format_checks(results)
    text = format_checks(results)
    assert f"ok   broker    {running_ingest.mqtt_url} accepted the connection" in text
    assert (f"ok   database  {running_ingest.influx_url} database {running_ingest.influx_db} "
            "answered a read") in text
    assert "ok   ingest    1 worker: vitals-ingest-check running" in text


def test_ingest_that_dies_is_reported_offline_by_its_last_will(
    mosquitto_factory: Callable[..., MosquittoServer], influxd: InfluxServer, influx_db: str,
    tmp_path: Path,
) -> None:
    broker = mosquitto_factory()
    env = {**os.environ, "VITALS_MQTT_URL": broker.url, "VITALS_INFLUX_URL": influxd.url,
           "VITALS_INFLUX_DB": influx_db, "VITALS_INGEST_CLIENT_ID": "vitals-ingest-dies",
           "VITALS_DATA_DIR": str(tmp_path / "data")}
    settings = settings_for(tmp_path, mqtt_url=broker.url)
    worker = subprocess.Popen([sys.executable, "-m", "vitals", "ingest"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: check_ingest(settings).status == "ok", 30, "the ingest status")
    finally:
        worker.kill()  # no goodbye: the broker publishes the will
        worker.wait(30)
    wait_until(lambda: check_ingest(settings).status == "FAIL", 30, "the last will")
    result = check_ingest(settings)
    assert "vitals-ingest-dies offline" in result.detail
    assert "docker compose logs" in result.fix


def test_no_ingest_status_is_a_warning(
    mosquitto_factory: Callable[..., MosquittoServer], tmp_path: Path
) -> None:
    broker = mosquitto_factory()
    result = check_ingest(settings_for(tmp_path, mqtt_url=broker.url))
    assert result.ok and result.warning
    assert result.detail == "no ingest worker has reported a status"


NOW = datetime(2026, 11, 28, 17, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(("documents", "status", "words"), [
    ([{"client_id": "a", "state": "running", "time": "2026-11-28T17:04:58Z", "interval_s": 5,
       "store": "up"}], "ok", "a running 2 s ago"),
    ([{"client_id": "a", "state": "running", "time": "2026-11-28T17:04:00Z", "interval_s": 5,
       "store": "up"}], "FAIL", "no fresh status"),
    ([{"client_id": "a", "state": "running", "time": "2026-11-28T17:04:59Z", "interval_s": 5,
       "store": "down"}], "FAIL", "database down"),
    ([{"client_id": "a", "state": "offline", "broker": "down"}], "FAIL", "a offline"),
    ([{"client_id": "a", "state": "stopped", "time": "2026-11-28T17:00:00Z"}], "FAIL",
     "a stopped"),  # the only worker: nobody judges the alarms (the banner says so too)
    ([{"client_id": "a", "state": "stopped", "time": "2026-11-28T17:00:00Z"},
      {"client_id": "b", "state": "running", "time": "2026-11-28T17:04:59Z", "interval_s": 5}],
     "warn", "a stopped"),
    ([{"client_id": "a", "state": "running", "time": "2026-11-28T17:04:59Z", "interval_s": 5,
       "store": "up", "backlog": 812}], "ok", "backlog 812"),
    ([{"client_id": "b", "state": "running", "time": "2026-11-28T17:04:59Z", "interval_s": 5},
      {"client_id": "a", "state": "offline"}], "FAIL", "2 workers: a offline; b running"),
], ids=["fresh", "stale", "store down", "offline will", "only one, stopped", "one of two stopped",
        "backlog shown", "one of two"])
def test_judge_ingest(documents: list[dict[str, object]], status: str, words: str) -> None:
    result = judge_ingest(documents, NOW)
    assert result.status == status
    assert words in result.detail


def test_credentials_accepted_by_a_locked_broker_and_database(
    locked_broker: MosquittoServer, locked_influxd: AuthInfluxServer, tmp_path: Path
) -> None:
    settings = settings_for(
        tmp_path,
        mqtt_url=f"mqtt://{MQTT_USER}:{MQTT_PASSWORD}@127.0.0.1:{locked_broker.port}",
        influx_url=locked_influxd.url, influx_db="vitals",
        influx_username=INFLUX_USER, influx_password=INFLUX_PASSWORD,
    )
    results = by_name(run_checks(settings))
    assert results["broker"].ok
    assert results["broker"].detail.endswith(f"as {MQTT_USER}")
    assert results["database"].ok, results["database"].detail


def test_embedded_store_passes_without_influxdb(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    results = by_name(run_checks(settings_for(tmp_path, mqtt_url=mosquitto.url)))
    assert results["database"].ok
    assert "embedded store" in results["database"].detail
    assert results["clock"].ok and not results["clock"].warning


# -- broker ---------------------------------------------------------------------------------------


def test_stopped_broker_fails_with_a_hint_to_start_it(
    mosquitto_factory: Callable[..., MosquittoServer], tmp_path: Path
) -> None:
    broker = mosquitto_factory()
    broker.stop()
    result = check_broker(settings_for(tmp_path, mqtt_url=broker.url))
    assert not result.ok
    # Usually "unreachable"; rarely the kernel connects the socket to itself on a closed
    # loopback port and the "broker" answers nonsense. Either way: start Mosquitto.
    assert result.detail.startswith(f"mqtt://127.0.0.1:{broker.port} ")
    assert result.fix == "set VITALS_MQTT_URL or start Mosquitto"


def test_wrong_broker_password_fails_naming_the_user(
    locked_broker: MosquittoServer, tmp_path: Path
) -> None:
    url = f"mqtt://{MQTT_USER}:wrong@127.0.0.1:{locked_broker.port}"
    result = check_broker(settings_for(tmp_path, mqtt_url=url))
    assert not result.ok
    assert f"refused user {MQTT_USER!r}" in result.detail
    assert "VITALS_MQTT_URL" in result.fix


def test_anonymous_client_refused_by_a_locked_broker(
    locked_broker: MosquittoServer, tmp_path: Path
) -> None:
    result = check_broker(settings_for(tmp_path, mqtt_url=locked_broker.url))
    assert not result.ok
    assert "refused an anonymous client" in result.detail


# -- database -------------------------------------------------------------------------------------


def test_stopped_database_fails_and_skips_the_clock(
    mosquitto: MosquittoServer, influxd_factory: Callable[[], InfluxServer], tmp_path: Path
) -> None:
    server = influxd_factory()
    server.stop()
    results = by_name(run_checks(settings_for(tmp_path, mqtt_url=mosquitto.url,
                                              influx_url=server.url)))
    assert not results["database"].ok
    assert results["database"].detail.startswith(f"{server.url} unreachable")
    assert results["database"].fix == "set VITALS_INFLUX_URL or start InfluxDB"
    assert results["clock"].ok and results["clock"].warning
    assert results["clock"].detail.startswith("not checked")
    assert results["broker"].ok  # one failure does not hide the others


def test_wrong_database_password_fails_with_a_credentials_hint(
    locked_influxd: AuthInfluxServer, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, influx_url=locked_influxd.url, influx_db="vitals",
                            influx_username=INFLUX_USER, influx_password="wrong")
    result = check_database(settings)
    assert not result.ok
    assert "refused" in result.detail
    assert result.fix.startswith("check VITALS_INFLUX_USERNAME/VITALS_INFLUX_PASSWORD")


def test_missing_database_fails_with_a_hint_to_create_it(
    locked_influxd: AuthInfluxServer, tmp_path: Path
) -> None:
    # The `vitals` user may not CREATE DATABASE, so a wrong name is not silently created.
    settings = settings_for(tmp_path, influx_url=locked_influxd.url, influx_db="vital",
                            influx_username=INFLUX_USER, influx_password=INFLUX_PASSWORD)
    result = check_database(settings)
    assert not result.ok
    assert "create database 'vital'" in result.fix


def test_unwritable_data_dir_fails_for_the_embedded_store(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = check_database(settings_for(tmp_path, data_dir=blocker / "data"))
    assert not result.ok
    assert result.fix == "set VITALS_DATA_DIR to a writable folder"


# -- clock ----------------------------------------------------------------------------------------


def test_clock_agrees_with_a_local_database_server(influxd: InfluxServer, tmp_path: Path) -> None:
    result = check_clock(settings_for(tmp_path, influx_url=influxd.url))
    assert result.ok and not result.warning, result.detail


def test_clock_warns_when_the_tolerance_is_exceeded(influxd: InfluxServer, tmp_path: Path) -> None:
    # The same server with a negative tolerance: the comparison itself must be able to warn.
    result = check_clock(settings_for(tmp_path, influx_url=influxd.url), tolerance=-10)
    assert result.ok and result.warning
    assert "NTP" in result.fix


# -- configuration and profile --------------------------------------------------------------------


def test_username_without_password_fails(tmp_path: Path) -> None:
    result = check_configuration(settings_for(tmp_path, influx_url="http://127.0.0.1:1",
                                              influx_username="vitals"))
    assert not result.ok
    assert result.fix == "set VITALS_INFLUX_PASSWORD"


def test_bad_variable_is_a_failed_config_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_MQTT_URL", "http://broker:1883")
    settings, result = settings_from_environment()
    assert settings is None
    assert not result.ok
    assert result.detail.startswith("VITALS_MQTT_URL:")
    assert result.fix == "correct VITALS_MQTT_URL"


def test_broken_profile_fails_naming_the_file(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    profile = tmp_path / "clinic.toml"
    profile.write_text("this is = = not toml")
    results = by_name(run_checks(settings_for(tmp_path, mqtt_url=mosquitto.url, profile=profile)))
    assert not results["profile"].ok
    assert str(profile) in results["profile"].detail


def test_format_puts_one_line_per_check_with_the_fix_after_a_dash() -> None:
    text = format_checks([
        CheckResult("broker", True, "mqtt://127.0.0.1:1883 accepted the connection"),
        CheckResult("database", False, "http://db:8086 unreachable: refused",
                    "set VITALS_INFLUX_URL or start InfluxDB"),
        CheckResult("clock", True, "3 s behind", "enable NTP", warning=True),
    ])
    assert text.splitlines() == [
        "ok   broker    mqtt://127.0.0.1:1883 accepted the connection",
        "FAIL database  http://db:8086 unreachable: refused — set VITALS_INFLUX_URL or start "
        "InfluxDB",
        "warn clock     3 s behind — enable NTP",
    ]


def test_module_exits_1_when_a_service_is_down(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "VITALS_MQTT_URL": "mqtt://127.0.0.1:1", "VITALS_DATA_DIR": str(tmp_path / "d")}
    done = subprocess.run([sys.executable, "-m", "vitals.check"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "FAIL broker" in done.stdout
