"""Dashboard speed against a real InfluxDB: the overview callback with 48 active sessions, the
session view of a 4-hour session with 1 Hz heart rate, and the process's memory.

The callbacks are called as Dash calls them (inside a request, logged in), so the figures are
the server-side cost of one refresh; the browser adds its rendering on top. While they run, a
writer adds what the ingest would: every second a heart rate and an SpO2 for each live session
and for the 4-hour one, so the caches of the dashboard see the store change as in use.

- overview refresh: the overview's callback, called every refresh interval (as shipped), each
  time given what the last one rendered, so its caches refetch as often as in a browser;
- the same through Dash's HTTP endpoint as a browser opening the page (login check, callback
  dispatch, JSON of every tile);
- the shell (banner and alarms panel): every page runs it each refresh, beside the page's own;
- the live snapshot both read, which one background thread reads from the store every 100 ms
  for every browser (the refreshes above run while it does);
- session view, first load: a 4-hour session at 1 Hz opened with nothing cached;
- session view, refresh: the same view refreshed while open (its history cached).

Wall-clock medians and p95, and the CPU time of this process (median): the machine's other load
shows in the first, not much in the second.

    .venv/bin/python benchmarks/dashboard_speed.py [--sessions 48] [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
# The project before tests/: tests/dashboard would otherwise shadow the dashboard package.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from services import InfluxServer  # noqa: E402

from dashboard import (  # noqa: E402
    app_context,
    ids,
    session_view,
)
from dashboard.app import create_app, refresh_shell  # noqa: E402
from dashboard.auth import login_as  # noqa: E402
from dashboard.pages import overview  # noqa: E402
from tests.dashboard.conftest import login  # noqa: E402
from vitals.readings import Reading, SessionEvent, SessionEventType  # noqa: E402
from vitals.settings import Settings  # noqa: E402
from vitals.storage import Batch, open_store  # noqa: E402
from vitals.timefmt import utcnow  # noqa: E402
from vitals.users import ensure_user, users_path  # noqa: E402
from vitals.vital_signs import Kind  # noqa: E402

LONG = "long-4h"


def session_batch(name: str, start, minutes: int, stream_seconds: int) -> Batch:
    readings = []
    for second in range(0, minutes * 60, stream_seconds):
        at = start + timedelta(seconds=second)
        readings.append(Reading(name, Kind.HR, at, {"bpm": 70.0 + second % 9}, "ox-1"))
        readings.append(Reading(name, Kind.SPO2, at, {"spo2": 97.0, "pulse": 70.0}, "ox-1"))
        if second % 300 == 0:
            readings.append(Reading(name, Kind.BP, at, {"systolic": 125.0 + second % 11,
                                                        "diastolic": 80.0}, "cuff-1"))
    events = [SessionEvent(name, SessionEventType.START, start),
              SessionEvent(name, SessionEventType.DOSE, start + timedelta(minutes=10))]
    return Batch(readings=readings, events=events)


class Writer(threading.Thread):
    """What the ingest adds while the dashboard refreshes: 1 Hz HR and SpO2 per session."""

    def __init__(self, settings: Settings, sessions: list[str]) -> None:
        super().__init__(daemon=True)
        self.store, self.sessions = open_store(settings), sessions
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            now = utcnow()
            # Values that change every second, as a patient's do: every tile's numerals change,
            # so the overview's per-part caches are measured at their worst, not all hits.
            bpm, spo2 = 60.0 + now.second, 90.0 + now.second % 10
            self.store.write(Batch(readings=[
                reading for name in self.sessions for reading in (
                    Reading(name, Kind.HR, now, {"bpm": bpm}, "ox-1"),
                    Reading(name, Kind.SPO2, now, {"spo2": spo2, "pulse": bpm}, "ox-1"))]))

    def stop(self) -> None:
        self.stopped.set()
        self.join()
        self.store.close()


def timed(call: Callable[[], object], runs: int, every_s: float = 0.0,
          before: Callable[[], object] | None = None) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each call, one call every `every_s` seconds."""
    wall, cpu = [], []
    for _ in range(runs):
        if before is not None:
            before()
        began, began_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        time.sleep(max(0.0, every_s - wall[-1] / 1000))
    return wall, cpu


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[round(0.95 * (len(ordered) - 1))]


def dash_request(outputs: list[tuple[str, str]], inputs: list[tuple[str, str, object]],
                 state: list[tuple[str, str, object]] = ()) -> dict[str, object]:
    """The body the Dash renderer posts to `/_dash-update-component` for one callback."""
    names = [f"{i}.{p}" for i, p in outputs]
    return {
        "output": f"..{'...'.join(names)}.." if len(names) > 1 else names[0],
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": [f"{i}.{p}" for i, p, _ in inputs],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=48)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    influx = InfluxServer().start()
    rows: list[tuple[str, tuple[list[float], list[float]], str]] = []
    try:
        with TemporaryDirectory() as data:
            settings = Settings(influx_url=influx.url, influx_db="dash", data_dir=Path(data))
            store = open_store(settings)
            now = utcnow()
            live = [f"live-{n:02d}" for n in range(args.sessions)]
            # 48 live sessions, 40 minutes in, HR/SpO2 every 5 s (what the overview reads).
            for name in live:
                store.write(session_batch(name, now - timedelta(minutes=40), 40, 5))
            # One 4-hour session at 1 Hz, still running, for the session view.
            for hour in range(4):
                store.write(session_batch(LONG, now - timedelta(hours=4 - hour), 60, 1))

            ensure_user(users_path(settings), "bench", "bench-password", "clinician")
            app = create_app(store, settings)
            context = app.server.extensions[app_context.EXTENSION_KEY]
            every_s = context.refresh_ms / 1000
            writer = Writer(settings, [*live, LONG])
            writer.start()
            try:
                with app.server.test_request_context("/"):
                    login_as("bench")
                    # As the browser calls it: each refresh given what the last one rendered.
                    rendered = [overview.update(0, None)[2]]  # fills the sparkline cache

                    def refresh() -> None:
                        rendered[0] = overview.update(1, rendered[0])[2]

                    rows.append((f"overview refresh, {args.sessions} active sessions",
                                 timed(refresh, args.runs, every_s), "p95 <= 50 ms"))
                    rows.append(("shell refresh (banner, alarms; every page)",
                                 timed(lambda: refresh_shell(1, None), args.runs, every_s), "-"))
                    # What the two refreshes no longer wait for: the one background read of the
                    # store, every 100 ms, for every browser (as it runs, beside the writer).
                    rows.append(("live snapshot read (background, every 100 ms)",
                                 timed(context.reader.refresh, args.runs,
                                       context.reader.period_s), "-"))
                    cold = max(5, args.runs // 4)
                    rows.append(("session view, first load of 4 h at 1 Hz",
                                 timed(lambda: session_view.refresh_view(1, LONG), cold,
                                       before=context.histories.clear),
                                 "<= 500 ms"))
                    rows.append(("session view, refresh of 4 h at 1 Hz (open)",
                                 timed(lambda: session_view.refresh_view(1, LONG), cold, every_s),
                                 "-"))
                client = app.server.test_client()
                login(client, "bench", "bench-password")  # through the form, with its CSRF token
                # As a browser opening the page: every tile sent (no `rendered` state yet).
                body = dash_request(
                    [(ids.OVERVIEW_TILES, "children"), (ids.OVERVIEW_STATUS, "children"),
                     (ids.OVERVIEW_CHANGES, "data")],
                    [(ids.OVERVIEW_INTERVAL, "n_intervals", 1)],
                    [(ids.OVERVIEW_RENDERED, "data", None)])

                def over_http() -> None:
                    response = client.post("/_dash-update-component", json=body)
                    assert response.status_code == 200, response.status_code

                rows.insert(1, ("overview refresh through Dash (HTTP, JSON)",
                                timed(over_http, args.runs, every_s), "-"))
            finally:
                context.reader.close()
                writer.stop()
            store.close()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        influx.cleanup()

    print(f"# Dashboard speed ({platform.node()}, {os.cpu_count()} cores, InfluxDB 1.6, "
          f"refresh every {every_s * 1000:.0f} ms)")
    print()
    print("| figure | median ms | p95 ms | CPU median ms | samples | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (wall, cpu), target in rows:
        print(f"| {name} | {statistics.median(wall):.0f} | {p95(wall):.0f} | "
              f"{statistics.median(cpu):.0f} | {len(wall)} | {target} |")
    print()
    print("| figure | median MB | target |")
    print("| --- | --- | --- |")
    print(f"| dashboard process peak RSS | {rss_mb:.0f} | - |")


if __name__ == "__main__":
    main()
