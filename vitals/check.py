"""`vitals check`: is this installation configured and are its services there? One line per check.

Checks, in order: `config` (the settings and their consistency), `broker` (connect with the
configured credentials, read the CONNACK), `ingest` (the workers' retained status documents),
`database` (ping and one bounded read with the configured credentials), `clock` (this machine
against the database server's HTTP `Date`), `profile` (the alert profile loads). Every check is
read-only: nothing is published or written (the embedded store's file is created if missing, as
any role would). Each result names what to fix:

    ok   broker    mqtt://127.0.0.1:1883 accepted the connection as ingest
    FAIL database  http://127.0.0.1:8086 unreachable: ... — set VITALS_INFLUX_URL or start InfluxDB
    warn clock     this machine is 7.2 s behind the database server — enable time synchronisation

A check that needs an earlier one (the clock needs the database) reports `warn ... not checked`
instead of failing twice for one cause. `run_checks` never raises for a service problem.
`python -m vitals.check` runs them from the environment (the compose healthchecks use it).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final

import paho.mqtt.client as mqtt
import requests
from pydantic import ValidationError

from vitals.ingest_health import Condition, workers_health
from vitals.mqtt import make_client, status_subscription
from vitals.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS: Final = 5.0
CLOCK_TOLERANCE_SECONDS: Final = 5.0
DEFAULT_INGEST_CLIENT_ID: Final = "vitals-ingest"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: `ok` False fails `vitals check`; a warning is ok but worth a look."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False

    @property
    def status(self) -> str:
        if not self.ok:
            return "FAIL"
        return "warn" if self.warning else "ok"


def _ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def _warn(name: str, detail: str, fix: str = "") -> CheckResult:
    return CheckResult(name, True, detail, fix, warning=True)


def _fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, False, detail, fix)


# -- configuration --------------------------------------------------------------------------------


def settings_from_environment() -> tuple[Settings | None, CheckResult]:
    """Parse the `VITALS_*` variables; a bad value is a failed `config` check, not an exception."""
    try:
        settings = Settings()
    except ValidationError as err:
        first = err.errors()[0]
        variable = "VITALS_" + "_".join(str(p) for p in first["loc"]).upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        return None, _fail("config", f"{variable}: {message}", f"correct {variable}")
    return settings, check_configuration(settings)


def check_configuration(settings: Settings) -> CheckResult:
    """The settings are consistent (they parsed already): say what this installation uses."""
    endpoint = settings.mqtt
    broker = f"{'mqtts' if endpoint.tls else 'mqtt'}://{endpoint.host}:{endpoint.port}"
    if endpoint.username:
        broker += f" as {endpoint.username}"
    store = (
        f"InfluxDB {settings.influx_url} database {settings.influx_db}"
        if settings.influx_url
        else f"embedded store {settings.sqlite_path}"
    )
    detail = f"store {store}; broker {broker}"
    if settings.influx_url and settings.influx_token and settings.influx_username:
        return _warn("config", detail + "; both a token and a username are set",
                     "set VITALS_INFLUX_TOKEN (2.x/3.x) or VITALS_INFLUX_USERNAME/PASSWORD (1.x), "
                     "not both: the token wins")
    if settings.influx_username and settings.influx_password is None:
        return _fail("config", detail + "; VITALS_INFLUX_USERNAME is set without a password",
                     "set VITALS_INFLUX_PASSWORD")
    return _ok("config", detail)


# -- broker ---------------------------------------------------------------------------------------


def check_broker(settings: Settings, timeout: float = TIMEOUT_SECONDS) -> CheckResult:
    """Connect with the configured credentials and read the CONNACK; publish nothing."""
    endpoint = settings.mqtt
    where = f"{'mqtts' if endpoint.tls else 'mqtt'}://{endpoint.host}:{endpoint.port}"
    fix_reach = "set VITALS_MQTT_URL or start Mosquitto"
    # A throwaway client id: reusing the ingest's id would disconnect a running ingest.
    client = make_client(endpoint, f"vitals-check-{os.getpid()}-{threading.get_ident()}")
    answered = threading.Event()
    reason: list[mqtt.ReasonCode] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, code: mqtt.ReasonCode,
                   _p: object) -> None:
        reason.append(code)
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=max(5, int(timeout) * 2))
    except OSError as err:  # refused, no route, unknown host, TLS handshake
        return _fail("broker", f"{where} unreachable: {err}", fix_reach)
    deadline = time.monotonic() + timeout
    try:
        while not answered.is_set() and time.monotonic() < deadline:
            status = client.loop(timeout=0.1)
            if status not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN) and not answered.is_set():
                return _fail("broker", f"{where} closed the connection before answering "
                             f"({mqtt.error_string(status)})", fix_reach)
    finally:
        client.disconnect()
    if not reason:
        return _fail("broker", f"{where} did not answer within {timeout:g} s",
                     "check VITALS_MQTT_URL (host, port, mqtt:// or mqtts://) and the firewall")
    answer = reason[0]
    if answer.is_failure:
        user = f"user {endpoint.username!r}" if endpoint.username else "an anonymous client"
        return _fail("broker", f"{where} refused {user}: {answer}",
                     "check the user and password in VITALS_MQTT_URL against the broker's "
                     "password file (docs/operations.md, 'Accounts and passwords')")
    who = f" as {endpoint.username}" if endpoint.username else " (anonymous)"
    return _ok("broker", f"{where} accepted the connection{who}")


# -- ingest workers ------------------------------------------------------------------------------


def check_ingest(settings: Settings, timeout: float = TIMEOUT_SECONDS,
                 now: datetime | None = None) -> CheckResult:
    """Read the ingest workers' retained status documents (`<prefix>/_ingest/<id>/status`).

    A worker publishes its status every few seconds and the broker publishes its `offline` last
    will when it dies, so: running and fresh is ok, stopped is a warning, offline, stale, or
    running without its database fails.
    """
    endpoint = settings.mqtt
    where = f"{'mqtts' if endpoint.tls else 'mqtt'}://{endpoint.host}:{endpoint.port}"
    client = make_client(endpoint, f"vitals-check-{os.getpid()}-{threading.get_ident()}")
    documents: dict[str, dict[str, object]] = {}
    acked: set[int] = set()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            document = json.loads(message.payload)
        except ValueError:
            document = {"state": "unreadable"}
        if isinstance(document, dict):
            documents[message.topic] = document

    def on_subscribe(_c: mqtt.Client, _u: object, mid: int, _codes: object,
                     _p: object) -> None:
        acked.add(mid)

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=max(5, int(timeout) * 2))
    except OSError as err:
        return _warn("ingest", f"not checked: {where} unreachable ({err})",
                     "fix the broker check first")
    try:
        client.subscribe(status_subscription(settings.topic_prefix), qos=0)
        # The broker sends the retained statuses while handling that SUBSCRIBE, so the SUBACK of
        # a second one, on the same connection, comes after all of them.
        _result, marker = client.subscribe(f"{settings.topic_prefix}/_check/none", qos=0)
        deadline = time.monotonic() + timeout
        while marker not in acked and time.monotonic() < deadline:
            if client.loop(timeout=0.1) not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
                break
    finally:
        client.disconnect()
    if marker not in acked:
        return _warn("ingest", f"not checked: {where} did not answer the subscription",
                     "check that this MQTT user may read the ingest status topics")
    return judge_ingest(documents.values(), now or datetime.now(UTC))


def judge_ingest(documents: Iterable[Mapping[str, object]], now: datetime) -> CheckResult:
    """The verdict on a set of ingest status documents (pure), each worker read by
    `vitals.ingest_health.worker_health` as the dashboard's pipeline banner reads it."""
    workers = workers_health(documents, now)
    if not workers:
        return _warn("ingest", "no ingest worker has reported a status",
                     "start `vitals ingest` (docker compose ps ingest-1 ingest-2)")
    failed, warned, parts = [], [], []
    for worker in workers:
        text = f"{worker.name} {worker.state}"
        if worker.age_s is not None:
            text += f" {worker.age_s:.0f} s ago"
        if worker.store_down:
            text += ", database down"
            failed.append(worker.name)
        elif worker.condition is Condition.SILENT:
            text += ", no fresh status"
            failed.append(worker.name)
        elif worker.condition is Condition.BROKER_LOST:
            text += ", MQTT broker lost"
            failed.append(worker.name)
        elif worker.condition is Condition.STOPPED:
            warned.append(worker.name)
        elif not worker.judging:
            failed.append(worker.name)
        if worker.backlog:
            text += f", backlog {worker.backlog}"
        parts.append(text)
    detail = f"{len(workers)} worker{'s' if len(workers) != 1 else ''}: " + "; ".join(parts)
    if len(warned) == len(workers):  # every worker stopped: nobody judges the alarms
        return _fail("ingest", detail + " (no worker is running)",
                     f"start {', '.join(warned)} again: no ingest judges the alarms")
    if failed:
        return _fail("ingest", detail, f"look at the logs of {', '.join(failed)} "
                     "(docker compose logs); a worker removed for good leaves its last status "
                     "retained on the broker")
    if warned:
        return _warn("ingest", detail, f"{', '.join(warned)} stopped: start it again unless it "
                     "was retired on purpose")
    return _ok("ingest", detail)


# -- database -------------------------------------------------------------------------------------


def check_database(settings: Settings) -> CheckResult:
    """Ping the store and run one bounded read, which needs the credentials and the database."""
    from vitals.storage import StoreError, StoreUnavailable, open_store

    if not settings.influx_url:
        where = str(settings.sqlite_path)
        try:
            store = open_store(settings)
            try:
                store.ping()
            finally:
                store.close()
        except StoreError as err:
            return _fail("database", f"embedded store {where}: {err}",
                         "set VITALS_DATA_DIR to a writable folder")
        return _ok("database", f"embedded store {where} opens")

    from vitals.storage.influx import InfluxStore

    where = settings.influx_url
    try:
        store = InfluxStore.from_settings(settings)
    except ValueError as err:
        return _fail("database", str(err), "set VITALS_INFLUX_URL to http(s)://host:port")
    try:
        store.ping()
        # Read-only, and cheap whatever the history: one recent time range, one row at most.
        store.rejections(since=datetime.now(UTC) - timedelta(minutes=1), limit=1)
    except StoreUnavailable as err:
        return _fail("database", f"{where} unreachable: {_cause(err)}",
                     "set VITALS_INFLUX_URL or start InfluxDB")
    except StoreError as err:
        text = str(err)
        code = getattr(err.__cause__, "code", None)  # the HTTP status, from the influxdb client
        if code == 401:
            fix = ("check VITALS_INFLUX_USERNAME/VITALS_INFLUX_PASSWORD (1.x) or "
                   "VITALS_INFLUX_TOKEN (2.x/3.x)")
        elif code == 403 or "database not found" in text:
            fix = (f"correct VITALS_INFLUX_DB, or create database {settings.influx_db!r} and "
                   "grant the user access to it (1.x), or create the bucket and its DBRP mapping "
                   "(2.x/3.x)")
        else:
            fix = "see docs/operations.md, 'InfluxDB'"
        return _fail("database", f"{where} refused: {_cause(err)}", fix)
    finally:
        store.close()
    return _ok("database", f"{where} database {settings.influx_db} answered a read")


def _cause(err: BaseException) -> str:
    # The store's message repeats the URL and setting; the root cause is what a person needs.
    cause = err.__cause__ or err
    return str(cause).strip().splitlines()[0][:300] if str(cause).strip() else repr(cause)


# -- clock ----------------------------------------------------------------------------------------


def check_clock(settings: Settings, timeout: float = TIMEOUT_SECONDS,
                tolerance: float = CLOCK_TOLERANCE_SECONDS) -> CheckResult:
    """Compare this machine's clock with the database server's HTTP `Date` header."""
    if not settings.influx_url:
        return _ok("clock", "embedded store: timestamps come from this machine's clock only")
    url = settings.influx_url.rstrip("/") + "/ping"
    try:
        before = time.time()
        response = requests.get(url, timeout=timeout)
        after = time.time()
    except requests.RequestException as err:
        return _warn("clock", f"not checked: {url} unreachable ({type(err).__name__})",
                     "fix the database check first")
    header = response.headers.get("Date")
    if not header:
        return _warn("clock", f"not checked: {url} sent no Date header")
    try:
        server = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return _warn("clock", f"not checked: unreadable Date header {header!r}")
    # The header has 1 s resolution and was stamped somewhere during the request.
    local = (before + after) / 2
    offset = local - server
    if abs(offset) > tolerance + (after - before) / 2 + 1:
        direction = "ahead of" if offset > 0 else "behind"
        return _warn("clock", f"this machine is {abs(offset):.1f} s {direction} the database "
                     "server", "enable time synchronisation (NTP, e.g. systemd-timesyncd or "
                     "chrony) on both machines: alarm times and 'now' windows depend on it")
    return _ok("clock", f"within {tolerance:g} s of the database server ({offset:+.1f} s)")


# -- alert profile --------------------------------------------------------------------------------


def check_profile(settings: Settings) -> CheckResult:
    from vitals.profile_loader import ProfileError, load_profile

    try:
        profile = load_profile(settings.profile)
    except ProfileError as err:
        return _fail("profile", str(err), "correct the file named, or unset VITALS_PROFILE")
    enabled = sum(1 for rule in profile.rules.values() if rule.enabled)
    return _ok("profile", f"alert profile {profile.name!r} from {profile.source_path}: "
               f"{enabled} limit rules enabled")


# -- all together ---------------------------------------------------------------------------------


def run_checks(settings: Settings) -> list[CheckResult]:
    """Every check, in order; never raises for a service problem (it becomes a failed check)."""
    broker = check_broker(settings)
    results = [check_configuration(settings), broker]
    if broker.ok:
        results.append(check_ingest(settings))
    else:
        results.append(_warn("ingest", "not checked: the broker is not reachable",
                             "fix the broker check first"))
    database = check_database(settings)
    results.append(database)
    if database.ok:
        results.append(check_clock(settings))
    else:
        results.append(_warn("clock", "not checked: the database is not reachable",
                             "fix the database check first"))
    results.append(check_profile(settings))
    return results


def format_checks(results: Sequence[CheckResult]) -> str:
    """One line per check: status, name, what was found, and after `—` what to fix."""
    width = max((len(r.name) for r in results), default=0)
    lines = []
    for result in results:
        line = f"{result.status:<4} {result.name:<{width}}  {result.detail}"
        if result.fix and (not result.ok or result.warning):
            line += f" — {result.fix}"
        lines.append(line)
    return "\n".join(lines)


def main() -> int:
    """`python -m vitals.check`: the checks from the environment; exit 1 if any failed.

    The compose file uses it as the workers' healthcheck (it needs no CLI wiring).
    """
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    settings, config = settings_from_environment()
    results = [config] if settings is None else run_checks(settings)
    sys.stdout.write(format_checks(results) + "\n")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
