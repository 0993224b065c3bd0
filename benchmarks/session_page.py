"""The session view of a long live session in a real browser: time to a drawn chart and to the
verdict, the refreshes while readings keep arriving, and a button's feedback.

For each length (1, 2 and 4 h by default) a live session at 1 Hz (HR and SpO2 every second, BP
every 5 minutes, two alarms) is stored in the embedded store; a writer keeps adding HR and SpO2
every second, as the ingest would. The real dashboard (refresh every 500 ms, as shipped) is served
to headless Chromium, logged in. Each run opens `/session/<id>` with nothing cached and times:

- navigation → chart drawn (a data line drawn in the plot) and → verdict shown;
- then, for `--steady-s` seconds, every request to Dash's callback endpoint (the browser's own
  resource timings): its duration and body size, and how many refreshes completed against the
  ticks the poll asked for;
- then a click on "I'm here" → its feedback shown (the button publishes over a real Mosquitto).

Medians of `--runs` runs per length, after a first pass over every length, reported apart (in
some runs the first pages a dashboard process served were the slowest). The callback
benchmark (`dashboard_speed.py`) times the server; this one times what the user waits for.

    .venv/bin/python benchmarks/session_page.py [--hours 1 2 4] [--runs 5] [--steady-s 10]
        [--store embedded|influxdb]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
# The project before tests/: tests/dashboard would otherwise shadow the dashboard package.
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from dashboard_speed import Writer, session_batch  # noqa: E402
from page_latency import browser  # noqa: E402
from services import InfluxServer, MosquittoServer, wait_until  # noqa: E402

from dashboard import app_context, ids  # noqa: E402
from dashboard.app import create_app  # noqa: E402
from vitals.alerts import AlertEvent, AlertState, Metric, Priority  # noqa: E402
from vitals.settings import Settings  # noqa: E402
from vitals.storage import Batch, open_store  # noqa: E402
from vitals.timefmt import utcnow  # noqa: E402
from vitals.users import ensure_user, users_path  # noqa: E402

REFRESH_MS = 500

CHART_DRAWN = """
const graph = document.getElementById(arguments[0]);
const plot = graph && graph.querySelector('.js-plotly-plot');
if (!plot || !plot._fullData) return false;
// _fullData: the traces as drawn (plotly.py sends arrays base64-encoded; `_length` is decoded)
const points = plot._fullData.reduce((n, t) => n + (t._length || 0), 0);
return points > 100 && plot.querySelectorAll('.scatterlayer path.js-line').length > 0;
"""
VERDICT_SHOWN = """
const verdict = document.querySelector('#' + arguments[0] + ' .verdict');
return verdict ? verdict.textContent.length > 0 : false;
"""
# Where the wait went, from the browser's own timings of the page load: until Dash's first
# callback request (HTML, scripts, layout), the request that brought the chart (the largest
# response), and from its arrival to the chart drawn.
LOAD_PARTS = """
const calls = performance.getEntriesByType('resource')
  .filter(e => e.name.includes('_dash-update-component'));
if (!calls.length) return null;
const chart = calls.reduce((a, b) => (b.encodedBodySize > a.encodedBodySize ? b : a));
return [Math.min(...calls.map(e => e.startTime)), chart.startTime, chart.responseEnd,
        chart.encodedBodySize];
"""
CALLBACKS = """
return performance.getEntriesByType('resource')
  .filter(e => e.name.includes('_dash-update-component'))
  .map(e => [e.startTime, e.duration, e.encodedBodySize]);
"""


def alarms(name: str, start) -> list[AlertEvent]:
    """Two alarms of the session: a desaturation raised and cleared, a high heart rate open."""
    return [
        AlertEvent(start + timedelta(minutes=20), name, Metric.SPO2, Priority.HIGH,
                   AlertState.ACTIVE, "SpO2 88 %", rule="spo2.high", value=88.0),
        AlertEvent(start + timedelta(minutes=21), name, Metric.SPO2, Priority.HIGH,
                   AlertState.CLEARED, "SpO2 back to 95 %", rule="spo2.high", value=95.0),
        AlertEvent(start + timedelta(minutes=40), name, Metric.HEART_RATE, Priority.MEDIUM,
                   AlertState.ACTIVE, "HR 125 /min", rule="heart_rate.medium", value=125.0),
    ]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure(driver, url: str, session: str, context, steady_s: float,
            wait_s: float) -> dict[str, float]:
    context.histories.clear()  # a first visit: nothing of this session cached
    driver.get("about:blank")
    began = time.perf_counter()
    driver.get(f"{url}session/{session}")
    drawn = verdict = None
    deadline = began + wait_s
    while (drawn is None or verdict is None) and time.perf_counter() < deadline:
        now = time.perf_counter()
        if drawn is None and driver.execute_script(CHART_DRAWN, ids.SESSION_GRAPH):
            drawn = now - began
        if verdict is None and driver.execute_script(VERDICT_SHOWN, ids.SESSION_PROTOCOL):
            verdict = now - began
        time.sleep(0.02)  # polling the page, not synchronising the system under test
    parts = driver.execute_script(LOAD_PARTS) or [float("nan")] * 4
    # Steady state: what the page asks and gets while readings keep arriving.
    driver.execute_script("performance.setResourceTimingBufferSize(100000);"
                          "performance.clearResourceTimings();")
    time.sleep(steady_s)
    entries = driver.execute_script(CALLBACKS)
    # Feedback of a button while the refreshes run.
    feedback = driver.find_element(By.ID, ids.CHECKIN_FEEDBACK)
    clicked = time.perf_counter()
    driver.find_element(By.ID, ids.CHECKIN_BUTTON).click()
    wait_until(lambda: "checked in" in feedback.text or "NOT" in feedback.text, wait_s,
               "the check-in feedback")
    pressed = time.perf_counter() - clicked
    return {
        "drawn": float("nan") if drawn is None else drawn * 1000,
        "boot": parts[0],  # navigation -> first callback request
        "chart_request": parts[2] - parts[1],
        "render": (float("nan") if drawn is None else drawn * 1000) - parts[2],
        "chart_kb": parts[3] / 1024,
        "verdict": float("nan") if verdict is None else verdict * 1000,
        "request_ms": median([e[1] for e in entries]),
        "request_kb": median([e[2] / 1024 for e in entries]),
        "max_kb": max((e[2] / 1024 for e in entries), default=float("nan")),
        "requests_per_s": len(entries) / steady_s,
        "feedback": pressed * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steady-s", type=float, default=10.0)
    # The issue saw nothing for 60-300 s: past this a figure is reported as nan (never shown).
    parser.add_argument("--wait-s", type=float, default=60.0)
    parser.add_argument("--store", choices=("embedded", "influxdb"), default="embedded",
                        help="where the dashboard reads: the embedded store, or a real influxd")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    broker = MosquittoServer().start()
    influxd = InfluxServer().start() if args.store == "influxdb" else None
    results: dict[int, list[dict[str, float]]] = {}
    try:
        with TemporaryDirectory() as data:
            settings = Settings(mqtt_url=broker.url, influx_url=influxd and influxd.url,
                                influx_db="vitals", data_dir=Path(data), profile=None,
                                stale_seconds=None)
            store = open_store(settings)
            now = utcnow()
            sessions = {hours: f"live-{hours}h" for hours in args.hours}
            for hours, name in sessions.items():
                start = now - timedelta(hours=hours)
                for hour in range(hours):
                    batch = session_batch(name, start + timedelta(hours=hour), 60, 1)
                    store.write(batch if hour == 0 else Batch(readings=batch.readings))
                store.write(Batch(alerts=alarms(name, start)))
            writer = Writer(settings, list(sessions.values()))
            writer.start()
            ensure_user(users_path(settings), "bench", "bench-password", "monitor",
                        method="pbkdf2:sha256:1000")
            app = create_app(store, settings, refresh_ms=REFRESH_MS)
            context = app_context.context_of(app.server)
            server = make_server("127.0.0.1", 0, app.server, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_port}/"
            driver = browser()
            try:
                driver.get(url + "login")
                driver.find_element(By.NAME, "username").send_keys("bench")
                driver.find_element(By.NAME, "password").send_keys("bench-password")
                driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
                wait_until(lambda: "/login" not in driver.current_url, 30, "logged in")
                # In some runs the length measured first was the slowest, whichever it was
                # (1.9-2.9 s against 1.3-1.4 s for the others): a dashboard that has served
                # pages before is the nurse's case, so a first pass is reported apart.
                first = {hours: measure(driver, url, name, context, 1.0, args.wait_s)
                         for hours, name in sessions.items()}
                for hours, name in sessions.items():
                    results[hours] = [measure(driver, url, name, context, args.steady_s,
                                               args.wait_s)
                                      for _ in range(args.runs)]
            finally:
                driver.quit()
                server.shutdown()
                context.reader.close()
                writer.stop()
                store.close()
    finally:
        broker.cleanup()
        if influxd is not None:
            influxd.cleanup()

    where = "embedded store" if influxd is None else "InfluxDB 1.6 (v1 HTTP API)"
    print(f"# Session page in Chromium ({platform.node()}, {os.cpu_count()} cores, {where}, "
          f"refresh every {REFRESH_MS} ms, medians of {args.runs} runs, load average "
          f"{os.getloadavg()[0]:.2f} at the end)")
    print()
    print("| session | chart drawn ms | verdict shown ms | callback request ms | "
          "request KB (median / max) | requests/s | check-in feedback ms | "
          "first pass: chart / verdict ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for hours, runs in results.items():
        def mid(key: str, runs=runs) -> float:
            return median([r[key] for r in runs])
        print(f"| {hours} h at 1 Hz | {mid('drawn'):.0f} | {mid('verdict'):.0f} | "
              f"{mid('request_ms'):.0f} | {mid('request_kb'):.1f} / {mid('max_kb'):.0f} | "
              f"{mid('requests_per_s'):.1f} | {mid('feedback'):.0f} | "
              f"{first[hours]['drawn']:.0f} / {first[hours]['verdict']:.0f} |")
    print()
    print("| session | page and scripts until the first callback ms | chart request ms | "
          "chart KB | its arrival -> drawn ms |")
    print("| --- | --- | --- | --- | --- |")
    for hours, runs in results.items():
        print(f"| {hours} h at 1 Hz | " + " | ".join(
            f"{median([r[key] for r in runs]):.{1 if key == 'chart_kb' else 0}f}"
            for key in ("boot", "chart_request", "chart_kb", "render")) + " |")
    print()
    print("Target: chart and verdict <= 1500 ms; a refresh never behind the 500 ms poll.")


if __name__ == "__main__":
    main()
