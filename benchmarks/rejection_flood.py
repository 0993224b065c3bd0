"""Crisis → alert latency on one session while another is flooded with invalid readings.

Issue #16 item 6: ~260,000 invalid 16 KB readings in 20 s delayed a crisis elsewhere to 13-38 s
and grew the store by 603 MB. Figures (printed as a Markdown table): publish → alert received on
MQTT for a crisis probe on a fresh session, without and during a flood of invalid readings on
one session (as fast as one publisher process can send them), and how many rejections the store
holds afterwards against how many were sent.

The ingest runs as its own process (`vitals ingest`) on the embedded SQLite store; Mosquitto is
real. The flood runs in its own process, so it does not share this process's GIL.

    .venv/bin/python benchmarks/rejection_flood.py [--probes 40] [--payload 16000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest_latency import client, percentile  # noqa: E402
from services import MosquittoServer, wait_until  # noqa: E402


def flood(port: int, payload_bytes: int, stop, result) -> None:
    """Invalid heart rates (bpm 999, padded) on one session, as fast as acknowledgements allow."""
    publisher = client(port, "flood")
    junk = json.dumps({"bpm": 999, "pad": "x" * payload_bytes})
    sent = 0
    started = time.monotonic()
    while not stop.is_set():
        info = publisher.publish("vitals/flooded/hr", junk, qos=1)
        sent += 1
        if sent % 500 == 0:
            info.wait_for_publish(10)  # keep paho's queue bounded
    elapsed = time.monotonic() - started
    publisher.disconnect()
    publisher.loop_stop()
    result.put((sent, elapsed))


def probe_latencies(probe: mqtt.Client, alerts: dict[str, float], count: int,
                    label: str) -> list[float]:
    latencies = []
    for n in range(count):
        session = f"{label}-{n:03d}-{uuid.uuid4().hex[:4]}"
        sent = time.perf_counter()
        probe.publish(f"vitals/{session}/hr", json.dumps({"bpm": 140}), qos=1)
        wait_until(lambda s=session: s in alerts, 60, f"alert of {session}")
        latencies.append((alerts[session] - sent) * 1000)
        time.sleep(0.1)  # probe spacing, not synchronisation
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=40, help="crisis probes per phase")
    parser.add_argument("--payload", type=int, default=16_000, help="bytes of padding")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="vitals-flood-"))
    broker = MosquittoServer().start()
    env = {**os.environ, "VITALS_MQTT_URL": broker.url, "VITALS_DATA_DIR": str(data_dir),
           "VITALS_INGEST_CLIENT_ID": "bench-ingest"}
    env.pop("VITALS_INFLUX_URL", None)
    ingest = subprocess.Popen([sys.executable, "-m", "vitals", "ingest"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    alerts: dict[str, float] = {}
    status: dict[str, object] = {}
    lock = threading.Lock()

    def on_message(_c, _u, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/status"):
            status.update(json.loads(message.payload))
            return
        with lock:
            alerts.setdefault(message.topic.split("/")[1], time.perf_counter())

    listener = client(broker.port, "listener")
    listener.on_message = on_message
    listener.subscribe([("vitals/+/alert", 1), ("vitals/_ingest/+/status", 1)])
    try:
        probe = client(broker.port, "probe")
        deadline = time.monotonic() + 60
        while not any(s.startswith("warm-") for s in alerts):  # the ingest has subscribed
            if time.monotonic() > deadline:
                raise TimeoutError("the ingest did not answer within 60 s")
            probe.publish(f"vitals/warm-{uuid.uuid4().hex[:6]}/hr", json.dumps({"bpm": 140}),
                          qos=1)
            time.sleep(0.5)
        quiet = probe_latencies(probe, alerts, args.probes, "quiet")
        stop = multiprocessing.Event()
        results: multiprocessing.Queue = multiprocessing.Queue()
        flooder = multiprocessing.Process(target=flood,
                                          args=(broker.port, args.payload, stop, results))
        flooder.start()
        time.sleep(1)  # let the flood reach its rate before measuring (not synchronisation)
        flooded = probe_latencies(probe, alerts, args.probes, "flood")
        stop.set()
        sent, elapsed = results.get(timeout=60)
        flooder.join(30)
    finally:
        ingest.terminate()
        ingest.wait(60)
        wait_until(lambda: status.get("state") == "stopped", 10, "the ingest's last status")
        broker.cleanup()
    with sqlite3.connect(data_dir / "vitals.sqlite3") as db:
        stored = db.execute("SELECT COUNT(*) FROM rejection").fetchone()[0]
    size_mb = (data_dir / "vitals.sqlite3").stat().st_size / 1e6

    print(f"# Crisis latency during a rejection flood ({platform.node()}, {os.cpu_count()} "
          f"cores; flood {sent} invalid {args.payload // 1000} KB readings in {elapsed:.0f} s, "
          f"{sent / elapsed:.0f}/s)")
    print()
    print("| figure | median ms | p95 ms | max ms | samples | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, values, target in (
            ("crisis → alert, no flood", quiet, "-"),
            # The measurement was 13-38 s on screen; an alarm must not wait on junk.
            ("crisis → alert, during the flood", flooded, "p95 <= 1000 ms")):
        print(f"| {label} | {statistics.median(values):.1f} | {percentile(values, 0.95):.1f} | "
              f"{max(values):.1f} | {len(values)} | {target} |")
    print()
    print(f"Rejection rows stored: {stored} (samples and count summaries) for {sent} invalid "
          f"readings sent, {status.get('rejected')} rejected by the ingest, "
          f"{status.get('rejections_suppressed')} of them only counted; store file "
          f"{size_mb:.1f} MB.")


if __name__ == "__main__":
    main()
