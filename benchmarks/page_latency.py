"""Latency from publishing a reading to seeing its number on the dashboard, in a real browser.

Real Mosquitto and InfluxDB, the ingest worker and the dashboard (refreshing every `--refresh-ms`,
500 by default as shipped), headless Chromium logged in on the overview. Each probe publishes
a heart rate nobody has shown yet and times until the tile's numeral shows it. The figure is
dominated by the refresh interval: expect pipeline latency + up to one interval. With
`--sessions 48` the overview also shows 47 other sessions (a wall screen), each getting a heart
rate and an SpO2 every second, written straight to the store: then the browser's rendering of
the 48 tiles (Dash's renderer), not the server, sets the pace.

    .venv/bin/python benchmarks/page_latency.py [--probes 40] [--refresh-ms 1000] [--sessions 48]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
# The project before tests/: tests/dashboard would otherwise shadow the dashboard package.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from dashboard_speed import Writer, session_batch  # noqa: E402
from services import InfluxServer, MosquittoServer, wait_until  # noqa: E402

from dashboard import ids  # noqa: E402
from dashboard.app import create_app  # noqa: E402
from ingest.service import build_engine  # noqa: E402
from ingest.worker import IngestWorker  # noqa: E402
from vitals.mqtt import make_client  # noqa: E402
from vitals.settings import Settings  # noqa: E402
from vitals.storage import open_store  # noqa: E402
from vitals.timefmt import utcnow  # noqa: E402
from vitals.users import ensure_user, users_path  # noqa: E402


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1400,900"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument("--refresh-ms", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    broker, influx = MosquittoServer().start(), InfluxServer().start()
    with TemporaryDirectory() as data:
        settings = Settings(mqtt_url=broker.url, influx_url=influx.url, influx_db="page",
                            data_dir=Path(data), ingest_client_id="page-ingest")
        store = open_store(settings)
        others = [f"wall-{n:02d}" for n in range(args.sessions - 1)]
        for name in others:
            store.write(session_batch(name, utcnow() - timedelta(minutes=40), 40, 5))
        writer = Writer(settings, others)
        writer.start()
        worker = IngestWorker(settings, store, build_engine(settings))
        worker.start()
        ensure_user(users_path(settings), "bench", "bench-password", "monitor")
        app = create_app(store, settings, refresh_ms=args.refresh_ms)
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/"
        publisher = make_client(settings.mqtt)
        publisher.connect(settings.mqtt.host, settings.mqtt.port)
        publisher.loop_start()
        session = f"page-{uuid.uuid4().hex[:6]}"
        driver = browser()
        samples: list[float] = []
        try:
            publisher.publish(f"vitals/{session}/hr", '{"bpm": 60}', qos=1).wait_for_publish(10)
            driver.get(url + "login")
            driver.find_element(By.NAME, "username").send_keys("bench")
            driver.find_element(By.NAME, "password").send_keys("bench-password")
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            value_id = ids.tile_value(session, "hr")

            def shown() -> str:
                # Read in the page: the tile is re-rendered on every refresh.
                return driver.execute_script(
                    "const e = document.getElementById(arguments[0]);"
                    "return e ? e.textContent : '';", value_id)

            wait_until(lambda: shown() == "60", 60, "the first value on the page")
            rng = random.Random(1)
            for n in range(args.probes):
                bpm = 61 + n % 30
                # Publish at a random phase of the refresh cycle, not just after a refresh.
                time.sleep(rng.uniform(0, args.refresh_ms / 1000))
                sent = time.perf_counter()
                publisher.publish(f"vitals/{session}/hr", f'{{"bpm": {bpm}}}', qos=1)
                wait_until(lambda b=bpm: shown() == str(b), 30, f"{bpm} on the page")
                samples.append((time.perf_counter() - sent) * 1000)
        finally:
            driver.quit()
            publisher.disconnect()
            server.shutdown()
            writer.stop()
            worker.stop()
            store.close()
            broker.cleanup()
            influx.cleanup()

    print(f"# Publish → value on the page ({platform.node()}, {os.cpu_count()} cores, "
          f"dashboard refresh {args.refresh_ms} ms, {args.sessions} sessions on the overview)")
    print()
    print("| figure | median ms | p95 ms | max ms | samples | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    ordered = sorted(samples)
    print(f"| publish → value on the overview | {statistics.median(samples):.0f} | "
          f"{ordered[round(0.95 * (len(ordered) - 1))]:.0f} | {max(samples):.0f} | "
          f"{len(samples)} | p95 <= 1000 ms |")


if __name__ == "__main__":
    main()
