"""Latency of the notifier: an alert event published on MQTT → the notification received by a
local webhook server (Apprise `json://`), over a real Mosquitto.

The notifier runs as its own process (`vitals notify`), as in production; each probe is a fresh
high alarm on its own session, published twice (two ingest replicas), and is timed until the
webhook server has the monitor's message.

    .venv/bin/python benchmarks/notify_latency.py [--probes 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from services import MosquittoServer, wait_until  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probes", type=int, default=100)
    args = parser.parse_args()

    arrived: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            arrived.setdefault(body["title"].rsplit(" ", 1)[-1], time.perf_counter())
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    webhook = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    broker = MosquittoServer().start()
    workdir = Path(tempfile.mkdtemp(prefix="notify-bench-"))
    roster = workdir / "roster.toml"
    roster.write_text(f"""
[[person]]
name = "Nurse"
role = "monitor"
urls = ["json://127.0.0.1:{webhook.server_port}/nurse"]
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALS_")}
    env.update(VITALS_MQTT_URL=broker.url, VITALS_DATA_DIR=str(workdir / "data"),
               VITALS_NOTIFY_ROSTER=str(roster))
    notifier = subprocess.Popen([sys.executable, "-m", "vitals", "notify"], env=env,
                                stderr=subprocess.PIPE, text=True)
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    latencies: list[float] = []
    try:
        while "people on the roster" not in (line := notifier.stderr.readline()):
            if not line:
                raise SystemExit("the notifier exited")
        for n in range(args.probes):
            session = f"bench-{n:04d}-{uuid.uuid4().hex[:4]}"
            event = {"time": datetime.now(UTC).isoformat(), "session": session,
                     "metric": "systolic", "priority": "high", "state": "active",
                     "value": 185.0, "limit": 180.0, "message": "Systolic 185 mmHg",
                     "rule": "systolic.crisis"}
            sent = time.perf_counter()
            for _ in range(2):  # two ingest replicas
                publisher.publish(f"vitals/{session}/alert", json.dumps(event), qos=1)
            wait_until(lambda s=session: s in arrived, 10, f"the notification of {session}")
            latencies.append((arrived[session] - sent) * 1000)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        notifier.terminate()
        notifier.wait(30)
        broker.cleanup()
        webhook.shutdown()

    print(f"# Notifier latency ({platform.node()}, {os.cpu_count()} cores)")
    print()
    print("| figure | median ms | p95 ms | max ms | samples | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| alert event on MQTT → webhook notification received | "
          f"{statistics.median(latencies):.1f} | {percentile(latencies, 0.95):.1f} | "
          f"{max(latencies):.1f} | {len(latencies)} | p95 <= 1000 ms |")


if __name__ == "__main__":
    main()
