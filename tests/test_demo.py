"""`vitals demo`: embedded broker, ingest, SQLite store, simulator and dashboard in one process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest
from services import wait_until

from vitals.storage.sqlite import SqliteStore


def test_the_demo_serves_its_dashboard_behind_a_login_alarms_and_stops_on_ctrl_c(tmp_path):
    env = dict(os.environ)
    env["VITALS_DATA_DIR"] = str(tmp_path)
    demo = subprocess.Popen(
        [sys.executable, "-m", "vitals", "demo", "--port", "0", "--sessions", "2",
         "--speed", "600", "--seed", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("Dashboard:" in line for line in lines), 60, "the printed URL")
        printed = next(line for line in lines if "Dashboard:" in line)
        url = re.search(r"http://\S+/", printed).group(0)
        login, password = re.findall(r"'([^']+)'", printed)[:2]

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        form = opener.open(url + "login", timeout=10).read().decode()
        assert "not a certified medical device" in form.lower()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        landed = opener.open(url + "login", timeout=10, data=urlencode(
            {"username": login, "password": password, "csrf_token": token}).encode())
        assert landed.status == 200 and "/login" not in landed.url

        # The second demo session is the hypertensive spike: its crisis alarm gets stored.
        store = SqliteStore(tmp_path / "demo" / "vitals.sqlite3")
        try:
            def spike_alarm() -> bool:
                spikes = [s.session for s in store.sessions() if "hypertensive" in s.session]
                return any(a.metric.value == "systolic" and a.priority.value == "high"
                           for s in spikes for a in store.alerts(s))
            wait_until(spike_alarm, 120, "the simulated hypertensive spike to alarm")
            # The demo runs the notifier too (with a roster that notifies nobody).
            assert (tmp_path / "demo" / "notifications.sqlite3").exists()
        finally:
            store.close()

        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0
        # Its data and its login stay in its own directory, not the one `vitals dashboard` uses.
        assert (tmp_path / "demo" / "users.sqlite3").exists()
        assert not (tmp_path / "users.sqlite3").exists()
        assert not (tmp_path / "vitals.sqlite3").exists()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def test_the_demo_says_how_long_its_live_part_lasts():
    from simulators.publisher import plan
    from vitals.cli.demo import DEMO_SCENARIOS, live_minutes
    from vitals.timefmt import utcnow

    start = utcnow()
    _chosen, messages = plan(DEMO_SCENARIOS, 4, 7, start)
    length_s = (max(m.time for m in messages) - start).total_seconds()

    assert live_minutes(4, 30, 7) * 60 == pytest.approx(length_s / 30)
    assert 3 < live_minutes(4, 30, 7) < 6  # the README's "about 4 minutes"


def test_the_demo_with_loop_starts_new_sessions_when_they_end_and_says_how_long_they_last(
        tmp_path):
    env = dict(os.environ)
    env["VITALS_DATA_DIR"] = str(tmp_path)
    demo = subprocess.Popen(
        [sys.executable, "-m", "vitals", "demo", "--port", "0", "--sessions", "1",
         "--speed", "100000", "--seed", "1", "--loop"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    logged: list[str] = []
    reader = threading.Thread(target=lambda: logged.extend(demo.stderr), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("r2-01-normal" in s for s in stored_sessions(tmp_path)), 60,
                   "a second run of the simulated sessions")
        assert any("their live part lasts about" in line for line in logged)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def stored_sessions(data_dir) -> list[str]:
    path = data_dir / "demo" / "vitals.sqlite3"  # the demo keeps its own data (issue 16)
    if not path.exists():
        return []
    store = SqliteStore(path)
    try:
        return [s.session for s in store.sessions()]
    finally:
        store.close()
