"""Real Mosquitto and influxd processes for tests: a free port, a temp dir, a log file each.

Readiness is a condition polled with a deadline (a TCP connect, `GET /ping`), never a sleep.
`restart()` keeps the port and the data, so a test can take a service away and bring it back.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Final, Self

MOSQUITTO_BIN: Final = "/usr/sbin/mosquitto"
INFLUXD_BIN: Final = "/usr/bin/influxd"
HOST: Final = "127.0.0.1"
START_TIMEOUT: Final = 20.0
STOP_TIMEOUT: Final = 10.0
POLL_INTERVAL: Final = 0.02


class ServiceError(RuntimeError):
    """A test service could not be started; the message says why and where its log is."""


def free_port() -> int:
    """A port the kernel just handed out and nobody listens on (good enough for a test run)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def require_binary(path: str, package: str) -> None:
    if not os.access(path, os.X_OK):
        raise ServiceError(
            f"{path} is missing: run scripts/test.sh, which apt-installs {package} "
            f"(or `apt-get install {package}`)"
        )


MAKE_CERTS: Final = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "make-certs.sh"


def make_certs(directory: Path, *hostnames: str) -> Path:
    """A throwaway CA and a server certificate for `hostnames` (and localhost, 127.0.0.1) in
    `directory`, made by the script mosquitto-init runs; returns the CA's certificate."""
    require_binary(shutil.which("openssl") or "/usr/bin/openssl", "openssl")
    subprocess.run(["/bin/sh", str(MAKE_CERTS), str(directory), *hostnames], check=True,
                   capture_output=True, timeout=60)
    return directory / "ca.crt"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(POLL_INTERVAL)


def tcp_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class _Process:
    """One child process with a log file in its directory: start, readiness check, SIGTERM stop.
    `with server:` starts it and cleans it up."""

    name: str
    log_path: Path

    def __init__(self, directory: Path | None) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: object | None = None
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix=f"vitals-{self.name}-"))

    # Subclasses describe their command, environment and readiness.
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _environment(self) -> Mapping[str, str] | None:
        return None

    def _ready(self) -> bool:
        raise NotImplementedError

    @property
    def host(self) -> str:
        return HOST

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        log = self.log_path.open("ab")
        self._log = log
        self._proc = subprocess.Popen(
            self._command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._environment(),
            start_new_session=True,  # a Ctrl-C in pytest must not hit the server first
        )

        def ready_or_dead() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with status {self._proc.returncode} while starting; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            return self._ready()

        try:
            wait_until(ready_or_dead, START_TIMEOUT, f"{self.name} to accept connections")
        except TimeoutError as err:
            self.stop()
            raise ServiceError(f"{err}; log {self.log_path}:\n{self.log_tail()}") from err
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)  # in case a test froze it with SIGSTOP
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def cleanup(self) -> None:
        """Stop and delete the temp dir (when this object created it)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


class MosquittoServer(_Process):
    """`mosquitto -c <tmp>/mosquitto.conf` on a free 127.0.0.1 port, with persistence."""

    name = "mosquitto"

    def __init__(self, extra_config: Iterable[str] = (), directory: Path | None = None) -> None:
        require_binary(MOSQUITTO_BIN, "mosquitto")
        super().__init__(directory)
        self.port = free_port()
        self.log_path = self.directory / "mosquitto.log"
        self._log_read = 0  # bytes of the log `forget_departed_sessions` has read
        self._persistent: dict[str, bool] = {}  # client id -> its session is kept
        self._present: set[str] = set()
        self.config_path = self.directory / "mosquitto.conf"
        lines = [
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            # Run as root mosquitto would drop to user `mosquitto` and fail on root-owned paths.
            "user root",
            "persistence true",
            f"persistence_location {self.directory}/",
            "autosave_interval 1",
            "max_inflight_messages 1000",
            # The default (1000) silently drops messages queued for an offline persistent client.
            "max_queued_messages 100000",
            f"log_dest file {self.log_path}",
            *extra_config,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    def _command(self) -> list[str]:
        return [MOSQUITTO_BIN, "-c", str(self.config_path)]

    def _ready(self) -> bool:
        return tcp_accepts(HOST, self.port)

    def forget_departed_sessions(self) -> list[str]:
        """Forget the persistent sessions whose client has left (as the log says), so that the
        run's one broker stops queueing every later test's traffic for them: a workers' session
        subscribed to `vitals/#` would otherwise hold up to `max_queued_messages` each, and the
        broker saves them all every second. Returns the client ids forgotten."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_read)
            read = log.read()
        complete = read.rfind(b"\n") + 1  # a line still being written is read next time
        self._log_read += complete
        for line in read[:complete].decode(errors="replace").splitlines():
            if (joined := _JOINED.search(line)) is not None:
                self._persistent[joined["client"]] = joined["clean"] == "0"
                self._present.add(joined["client"])
            elif (left := _LEFT.search(line)) is not None:
                self._present.discard(left["client"])
        departed = [c for c, persistent in self._persistent.items()
                    if persistent and c not in self._present]
        for client_id in departed:
            _connect_clean(HOST, self.port, client_id)
            del self._persistent[client_id]
        return departed


# Mosquitto's log lines for a client joining (with its clean-session flag) and leaving.
_JOINED: Final = re.compile(r"New client connected from \S+ as (?P<client>\S+) "
                            r"\(p\d, c(?P<clean>[01]),")
_LEFT: Final = re.compile(r"Client (?P<client>\S+) (?:disconnected|closed its connection|"
                          r"has exceeded timeout)")


def _connect_clean(host: str, port: int, client_id: str) -> None:
    """An MQTT 3.1.1 CONNECT with clean session under `client_id`, then DISCONNECT: the broker
    discards the session that id had (and everything queued for it)."""
    name = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(name).to_bytes(2, "big") + name
    assert len(body) < 128, client_id  # one byte of remaining length
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(b"\x10" + bytes([len(body)]) + body)
        connack = connection.recv(4)
        assert connack[:1] == b"\x20" and connack[3:4] == b"\x00", connack
        connection.sendall(b"\xe0\x00")


class InfluxServer(_Process):
    """`influxd` (1.x, v1 HTTP API) with its meta, data and WAL in a temp dir."""

    name = "influxd"

    def __init__(self, directory: Path | None = None) -> None:
        require_binary(INFLUXD_BIN, "influxdb")
        super().__init__(directory)
        self.port = free_port()
        self.bind_port = free_port()
        self.log_path = self.directory / "influxd.log"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _command(self) -> list[str]:
        return [INFLUXD_BIN, "run"]

    def _environment(self) -> Mapping[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
        env.update(
            INFLUXDB_META_DIR=str(self.directory / "meta"),
            INFLUXDB_DATA_DIR=str(self.directory / "data"),
            INFLUXDB_DATA_WAL_DIR=str(self.directory / "wal"),
            INFLUXDB_HTTP_BIND_ADDRESS=f"{HOST}:{self.port}",
            INFLUXDB_BIND_ADDRESS=f"{HOST}:{self.bind_port}",
            INFLUXDB_REPORTING_DISABLED="true",
            INFLUXDB_DATA_QUERY_LOG_ENABLED="false",
            INFLUXDB_HTTP_LOG_ENABLED="false",
            INFLUXDB_MONITOR_STORE_ENABLED="false",
            # The config file of the Debian package would otherwise point at /var/lib/influxdb.
            INFLUXDB_CONFIG_PATH="/dev/null",
        )
        return env

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                return bool(response.status == 204)
        except (urllib.error.URLError, OSError):
            return False

    def query(self, q: str) -> bytes:
        """Run one InfluxQL statement over HTTP POST (for fixtures: CREATE/DROP DATABASE)."""
        data = urllib.parse.urlencode({"q": q}).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=data, timeout=10) as response:
            return bytes(response.read())

