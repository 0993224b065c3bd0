"""Alarm continuity over real Mosquitto and InfluxDB, with `vitals ingest` as processes.

Figures (a Markdown table):
- recovery: one worker away for `--away` seconds while readings arrive at `--rate`/s, then
  started again: seconds from its start until the newest reading (a crisis published last, at
  the end of the backlog) is judged and its alarm is on MQTT (issue 13 target: <= 60 s for 10
  minutes at 4,000/s);
- failover: publish → first alert on MQTT with two replicas running, then with one of them
  killed (SIGKILL): the extra latency (target <= 1 s).

    .venv/bin/python benchmarks/alarm_recovery.py [--away 600] [--rate 4000] [--probes 60]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from ingest_latency import client, percentile  # noqa: E402  (this folder: scripts)
from services import InfluxServer, MosquittoServer, wait_until  # noqa: E402

CRISIS = json.dumps({"bpm": 150})


def paced_load(port: int, rate: float, seconds: float, result) -> None:
    """Normal heart rates on 50 sessions at `rate`/s for `seconds`, then a PUBACK'd marker."""
    publisher = client(port, "load")
    sent, started = 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = min(int(elapsed * rate), int(seconds * rate))
        while sent < due:
            publisher.publish(f"vitals/load-{sent % 50:02d}/hr",
                              json.dumps({"bpm": 60 + sent % 30}), qos=1)
            sent += 1
        time.sleep(0.002)
    publisher.publish("vitals/newest/hr", CRISIS, qos=1).wait_for_publish(600)
    publisher.disconnect()
    publisher.loop_stop()
    result.put((sent, time.monotonic() - started))


class Alerts:
    """First alert time per session, as received on `vitals/+/alert`."""

    def __init__(self, port: int) -> None:
        self.first: dict[str, float] = {}
        self._lock = threading.Lock()
        self.listener = client(port, "listener")
        self.listener.on_message = self._on_alert
        self.listener.subscribe("vitals/+/alert", qos=1)

    def _on_alert(self, _c, _u, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.first.setdefault(message.topic.split("/")[1], time.perf_counter())


def ingest(env: dict[str, str], client_id: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vitals", "ingest"],
                            env={**env, "VITALS_INGEST_CLIENT_ID": client_id},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def knock(port: int, alerts: Alerts, timeout: float = 60) -> None:
    """Wait until the ingest answers (it subscribes some time after its process starts)."""
    probe = client(port, "knock")
    deadline = time.monotonic() + timeout
    session = f"warm-{uuid.uuid4().hex[:6]}"
    while session not in alerts.first:
        if time.monotonic() > deadline:
            raise TimeoutError("the ingest did not answer")
        probe.publish(f"vitals/{session}/hr", CRISIS, qos=1)
        time.sleep(0.2)
    probe.disconnect()
    probe.loop_stop()


def recovery(broker: MosquittoServer, env: dict[str, str], alerts: Alerts, away: float,
             rate: float) -> tuple[float, int, float]:
    """(seconds to judge the newest reading, backlog size, rate actually sent)."""
    worker = ingest(env, "recovery")
    knock(broker.port, alerts)
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)
    results: multiprocessing.Queue = multiprocessing.Queue()
    load = multiprocessing.Process(target=paced_load, args=(broker.port, rate, away, results))
    load.start()
    sent, elapsed = results.get(timeout=away + 600)
    load.join(60)
    started = time.perf_counter()
    worker = ingest(env, "recovery")
    try:
        wait_until(lambda: "newest" in alerts.first, 900, "the newest reading's alarm")
        return alerts.first["newest"] - started, sent, sent / elapsed
    finally:
        worker.terminate()
        worker.wait(60)


def probe_latencies(port: int, alerts: Alerts, probes: int, label: str) -> list[float]:
    probe = client(port, "probe")
    latencies = []
    for n in range(probes):
        session = f"{label}-{n:03d}-{uuid.uuid4().hex[:4]}"
        sent = time.perf_counter()
        probe.publish(f"vitals/{session}/hr", CRISIS, qos=1)
        wait_until(lambda s=session: s in alerts.first, 10, f"alert of {session}")
        latencies.append((alerts.first[session] - sent) * 1000)
        time.sleep(0.05)  # spacing between probes, not synchronisation
    probe.disconnect()
    probe.loop_stop()
    return latencies


def failover(broker: MosquittoServer, env: dict[str, str], alerts: Alerts,
             probes: int) -> tuple[list[float], list[float]]:
    replicas = [ingest(env, f"replica-{n}") for n in range(2)]
    try:
        knock(broker.port, alerts)
        time.sleep(2)  # both replicas up and idle before measuring (not synchronisation)
        both = probe_latencies(broker.port, alerts, probes, "both")
        replicas[0].send_signal(signal.SIGKILL)
        replicas[0].wait(30)
        one = probe_latencies(broker.port, alerts, probes, "one")
        return both, one
    finally:
        for replica in replicas:
            replica.kill()
            replica.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--away", type=float, default=600.0, help="seconds the worker is away")
    parser.add_argument("--rate", type=float, default=4000.0, help="readings/s while away")
    parser.add_argument("--probes", type=int, default=60, help="failover probes per phase")
    args = parser.parse_args()

    backlog = int(args.away * args.rate)
    broker = MosquittoServer([f"max_queued_messages {backlog + 100_000}"]).start()
    influx = InfluxServer().start()
    env = {**os.environ, "VITALS_MQTT_URL": broker.url, "VITALS_INFLUX_URL": influx.url,
           "VITALS_INFLUX_DB": "bench"}
    try:
        alerts = Alerts(broker.port)
        both, one = failover(broker, env, alerts, args.probes)
        seconds, sent, rate = recovery(broker, env, alerts, args.away, args.rate)
    finally:
        broker.cleanup()
        influx.cleanup()

    print(f"# Alarm continuity ({platform.node()}, {os.cpu_count()} cores)")
    print()
    print("| figure | median | p95 | samples | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| recovery: away {args.away:.0f} s at {rate:.0f}/s ({sent:,} readings) → newest "
          f"reading judged | {seconds:.1f} s | - | 1 | <= 60 s for 600 s at 4,000/s |")
    print(f"| publish → alert, two replicas | {statistics.median(both):.1f} ms | "
          f"{percentile(both, 0.95):.1f} ms | {len(both)} | - |")
    print(f"| publish → alert, one of two killed | {statistics.median(one):.1f} ms | "
          f"{percentile(one, 0.95):.1f} ms | {len(one)} | - |")
    print(f"| failover: extra alert latency | "
          f"{statistics.median(one) - statistics.median(both):.1f} ms | "
          f"{percentile(one, 0.95) - percentile(both, 0.95):.1f} ms | - | <= 1 s |")


if __name__ == "__main__":
    main()
