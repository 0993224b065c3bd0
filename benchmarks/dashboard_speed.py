"""Dashboard speed against a real InfluxDB: the overview callback with 48 active sessions, the
session view of a 4-hour session with 1 Hz heart rate, and the process's memory.

The callbacks are called as Dash calls them (inside a request, logged in), so the figures are
the server-side cost of one refresh; the browser adds its rendering on top.

    .venv/bin/python benchmarks/dashboard_speed.py [--sessions 48] [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from services import InfluxServer  # noqa: E402

from dashboard.app import create_app  # noqa: E402
from dashboard.auth import login_as  # noqa: E402
from dashboard.pages import overview, session  # noqa: E402
from vitals.readings import Kind, Reading, SessionEvent, SessionEventType  # noqa: E402
from vitals.settings import Settings  # noqa: E402
from vitals.storage import Batch, open_store  # noqa: E402
from vitals.timefmt import utcnow  # noqa: E402
from vitals.users import ensure_user, users_path  # noqa: E402


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


def timed(call, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[round(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=48)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    influx = InfluxServer().start()
    try:
        with TemporaryDirectory() as data:
            settings = Settings(influx_url=influx.url, influx_db="dash", data_dir=Path(data))
            store = open_store(settings)
            now = utcnow()
            # 48 live sessions, 40 minutes in, HR/SpO2 every 5 s (what the overview reads).
            for n in range(args.sessions):
                store.write(session_batch(f"live-{n:02d}", now - timedelta(minutes=40), 40, 5))
            # One finished 4-hour session at 1 Hz, for the session view.
            long_start = now - timedelta(hours=5)
            for hour in range(4):
                batch = session_batch("long-4h", long_start + timedelta(hours=hour), 60, 1)
                store.write(batch)

            ensure_user(users_path(settings), "bench", "bench-password", "clinician")
            app = create_app(store, settings)
            with app.server.test_request_context("/"):
                login_as("bench")
                overview_ms = timed(lambda: overview.refresh(1), args.runs)
                session_ms = timed(lambda: session.refresh_view(1, "long-4h"),
                                   max(5, args.runs // 3))
            store.close()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        influx.cleanup()

    print(f"# Dashboard speed ({platform.node()}, {os.cpu_count()} cores, InfluxDB 1.6)")
    print()
    print("| figure | median ms | p95 ms | samples | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| overview refresh, {args.sessions} active sessions | "
          f"{statistics.median(overview_ms):.0f} | {p95(overview_ms):.0f} | {len(overview_ms)} "
          "| p95 <= 50 ms |")
    print(f"| session view, 4 h at 1 Hz | {statistics.median(session_ms):.0f} | "
          f"{p95(session_ms):.0f} | {len(session_ms)} | <= 500 ms |")
    print()
    print("| figure | median MB | target |")
    print("| --- | --- | --- |")
    print(f"| dashboard process peak RSS | {rss_mb:.0f} | - |")


if __name__ == "__main__":
    main()
