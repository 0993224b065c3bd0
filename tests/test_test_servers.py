"""The suite's own servers: none may outlive a pytest run that CI or a developer stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from services import wait_until

ROOT = Path(__file__).resolve().parent.parent

HELD_TEST = '''
import threading
from pathlib import Path

def test_holds_a_broker(mosquitto_factory):
    server = mosquitto_factory()
    Path({pid_file!r}).write_text(str(server.pid))
    threading.Event().wait(120)  # stands for a long test; the outer test stops pytest here
'''


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: it serves nothing and its parent has not reaped it yet.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


@pytest.mark.services
def test_a_pytest_run_stopped_with_sigterm_stops_the_servers_it_started(tmp_path: Path) -> None:
    # SIGTERM is what CI's timeout and `kill` send (Ctrl-C is pytest's own, already handled).
    pid_file = tmp_path / "broker.pid"
    (tmp_path / "test_held.py").write_text(HELD_TEST.format(pid_file=str(pid_file)))
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_held.py")],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(pid_file.exists, 60, "the inner test to start its broker")
        wait_until(lambda: pid_file.read_text() != "", 5, "the broker's pid")
        broker = int(pid_file.read_text())
        assert alive(broker)
        run.send_signal(signal.SIGTERM)
        run.wait(60)
        wait_until(lambda: not alive(broker), 10, "the broker to stop with the run")
    finally:
        if run.poll() is None:
            run.kill()


def test_a_departed_persistent_session_is_forgotten_and_a_present_one_kept(mosquitto_factory):
    """What `_persistent_sessions_forgotten` relies on: a persistent client that left has its
    session (and its queue) discarded; one still connected is left alone."""
    from vitals.mqtt import MqttEndpoint, make_client

    broker = mosquitto_factory()
    endpoint = MqttEndpoint.parse(broker.url)

    def joined(client_id: str):
        client = make_client(endpoint, client_id, persistent=True)
        subscribed, sessions = threading.Event(), []
        client.on_connect = lambda _c, _u, flags, _rc, _p: sessions.append(flags.session_present)
        client.on_subscribe = lambda *_: subscribed.set()
        client.connect(endpoint.host, endpoint.port)
        client.loop_start()
        wait_until(lambda: sessions, 10, f"{client_id} connected")
        client.subscribe("forget/#", qos=1)
        assert subscribed.wait(10)
        return client, sessions

    gone, _ = joined("departed")
    gone.disconnect()
    gone.loop_stop()
    stays, _ = joined("present")
    wait_until(lambda: "Client departed disconnected." in broker.log_path.read_text(), 10,
               "the broker to log the departure")

    assert broker.forget_departed_sessions() == ["departed"]

    back, sessions = joined("departed")
    assert sessions == [False]  # no session kept for it: nothing queued since
    for client in (back, stays):
        client.disconnect()
        client.loop_stop()
    # "departed" left three times: first, when forgotten (a clean connection of its id), now.
    wait_until(lambda: (log := broker.log_path.read_text()).count(
        "Client departed disconnected.") == 3 and "Client present disconnected." in log, 10,
        "the broker to log both departures")
    assert sorted(broker.forget_departed_sessions()) == ["departed", "present"]
