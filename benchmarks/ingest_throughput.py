"""Throughput of the ingest path with zero loss: real Mosquitto → `vitals ingest` → influxd.

Figures (printed as a Markdown table):
- sustained: N readings published as fast as `mosquitto_pub -l` (one per session) can, while
  the worker runs; readings/s = N / (first publish → last reading readable in InfluxDB), median
  of `--runs`;
- drain: N readings queued by the broker while the worker is stopped (persistent session), then
  the worker starts; readings/s of the drain (acknowledgement after write, as always);
- outage: the database stopped for `--outage` seconds while readings keep arriving at `--rate`;
  the worker's RSS sampled each second (it must stay flat: the broker holds the backlog), then
  the time to catch up once the database is back;
- peak RSS (VmHWM) of the worker process in each phase.
Every phase checks that exactly N distinct readings were stored (zero loss, no duplicates).

    .venv/bin/python benchmarks/ingest_throughput.py [--n 50000] [--runs 3] [--drain 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from influxdb import InfluxDBClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from services import InfluxServer, MosquittoServer, wait_until  # noqa: E402

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
SESSIONS = 8  # one publisher process each
STARTED: list[Ingest] = []  # killed at exit, whatever happened


def payloads(run: str, start: int, count: int) -> list[tuple[str, bytes]]:
    """Heart rates on SESSIONS sessions, each with its own time (so each is a distinct point)."""
    out = []
    for n in range(start, start + count):
        at = (T0 + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z")
        out.append((f"vitals/{run}-{n % SESSIONS:02d}/hr",
                    json.dumps({"bpm": 60 + n % 40, "time": at, "device": "ox-1"}).encode()))
    return out


def publisher(port: int) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}",
                    protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 with one `mosquitto_pub -l` per session (C, one line per message), so
    the publishers, not the worker, are never the bottleneck of a Python benchmark."""
    by_topic: dict[str, list[bytes]] = {}
    for topic, payload in messages:
        by_topic.setdefault(topic, []).append(payload)
    publishers = [
        subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                          "-t", topic, "-l"], stdin=subprocess.PIPE)
        for topic in by_topic
    ]
    feeders = [threading.Thread(target=_feed, args=(p, by_topic[t]))
               for p, t in zip(publishers, by_topic, strict=True)]
    for f in feeders:
        f.start()
    for f in feeders:
        f.join()
    for p in publishers:
        if p.wait(300) != 0:
            raise RuntimeError("mosquitto_pub failed")


def _feed(process: subprocess.Popen[bytes], payloads: list[bytes]) -> None:
    assert process.stdin is not None
    process.stdin.write(b"\n".join(payloads) + b"\n")
    process.stdin.close()


class Paced:
    """Publishes at a steady rate from one thread until stopped."""

    def __init__(self, port: int, run: str, rate: float) -> None:
        self.port, self.run, self.rate = port, run, rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop)

    def _loop(self) -> None:
        c = publisher(self.port)
        started = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self.rate)
            for topic, payload in payloads(self.run, self.sent, due - self.sent):
                c.publish(topic, payload, qos=1)
            self.sent = max(self.sent, due)
            self._stop.wait(0.01)
        c.disconnect()
        c.loop_stop()

    def __enter__(self) -> Paced:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class Ingest:
    """`vitals ingest` as its own process, as in production."""

    def __init__(self, broker: MosquittoServer, influx: InfluxServer, database: str) -> None:
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("VITALS_")},
                    "VITALS_MQTT_URL": broker.url, "VITALS_INFLUX_URL": influx.url,
                    "VITALS_INFLUX_DB": database, "VITALS_INGEST_CLIENT_ID": f"bench-{database}",
                    "PYTHONPATH": str(ROOT)}
        self.broker = broker
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Ingest:
        STARTED.append(self)
        self.process = subprocess.Popen([sys.executable, "-m", "vitals", "ingest"], env=self.env,
                                        cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        # Ready once its retained status says running.
        seen = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        c.on_message = lambda _c, _u, m: (
            json.loads(m.payload).get("state") == "running" and seen.set())
        c.connect("127.0.0.1", self.broker.port)
        c.loop_start()
        c.subscribe(f"vitals/_ingest/{self.env['VITALS_INGEST_CLIENT_ID']}/status", 1)
        self.ready_at = 0.0
        started = time.monotonic()
        while not seen.wait(0.1):
            if time.monotonic() - started > 30 or self.process.poll() is not None:
                raise RuntimeError("vitals ingest did not start")
        self.ready_at = time.perf_counter()  # connected: it consumes from here on
        c.disconnect()
        c.loop_stop()
        return self

    def rss_mb(self, field: str = "VmRSS") -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(60) != 0:
            raise RuntimeError(f"vitals ingest exited with {self.process.returncode}")


def stored(db: InfluxDBClient, run: str) -> int:
    result = db.query(f"SELECT count(bpm) FROM hr WHERE session =~ /^{run}-/")
    return sum(p["count"] for p in result.get_points())


def wait_stored(db: InfluxDBClient, run: str, n: int, timeout: float = 600) -> None:
    def done() -> bool:
        time.sleep(0.1)  # polling interval: counting is not free for the database
        return stored(db, run) >= n

    wait_until(done, timeout, f"{n} readings stored")
    got = stored(db, run)
    if got != n:
        raise AssertionError(f"{got} readings stored, expected exactly {n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="readings per sustained run")
    parser.add_argument("--runs", type=int, default=3, help="sustained runs (0: skip)")
    parser.add_argument("--drain", type=int, default=100_000, help="backlog to drain (0: skip)")
    parser.add_argument("--outage", type=float, default=60.0, help="database outage, s (0: skip)")
    parser.add_argument("--rate", type=float, default=1000.0, help="readings/s during the outage")
    args = parser.parse_args()

    # The test broker queues at most 100,000 messages for an offline session; the drain needs more.
    broker = MosquittoServer(["max_queued_messages 10000000"]).start()
    influx = InfluxServer().start()
    db = InfluxDBClient(host="127.0.0.1", port=influx.port, database="bench")
    influx.query('CREATE DATABASE "bench"')
    rows: list[tuple[str, str, str, str]] = []
    try:
        rates, peaks = [], []
        for i in range(args.runs):
            ingest = Ingest(broker, influx, "bench").start()
            run = f"sus{i}-{uuid.uuid4().hex[:4]}"
            messages = payloads(run, 0, args.n)
            started = time.perf_counter()
            publish_all(broker.port, messages)
            published = time.perf_counter() - started
            wait_stored(db, run, args.n)
            elapsed = time.perf_counter() - started
            rates.append(args.n / elapsed)
            peaks.append(ingest.rss_mb("VmHWM"))
            ingest.stop()
            print(f"run {i + 1}: {args.n} in {elapsed:.2f} s ({args.n / elapsed:.0f}/s; "
                  f"published in {published:.2f} s), peak RSS {peaks[-1]:.0f} MB", file=sys.stderr)
        if rates:
            rows.append(("sustained (publish while running)", f"{args.n:,} x {args.runs}",
                         f"{statistics.median(rates):,.0f} (runs: "
                         + ", ".join(f"{r:,.0f}" for r in rates) + ")", f"{max(peaks):.0f}"))

        if args.drain:
            ingest = Ingest(broker, influx, "bench").start()
            ingest.stop()  # the persistent session stays: the broker queues what follows
            run = f"drain-{uuid.uuid4().hex[:4]}"
            publish_all(broker.port, payloads(run, 0, args.drain))
            ingest.start()
            wait_stored(db, run, args.drain)
            elapsed = time.perf_counter() - ingest.ready_at
            rows.append(("backlog drain (worker connected → all stored)", f"{args.drain:,}",
                         f"{args.drain / elapsed:,.0f}", f"{ingest.rss_mb('VmHWM'):.0f}"))
            ingest.stop()

        if args.outage:
            ingest = Ingest(broker, influx, "bench").start()
            run = f"out-{uuid.uuid4().hex[:4]}"
            samples = []
            with Paced(broker.port, run, args.rate) as paced:
                influx.stop()
                started = time.monotonic()
                while time.monotonic() - started < args.outage:
                    samples.append(ingest.rss_mb())
                    time.sleep(1)
                influx.start()
                back = time.perf_counter()
            wait_stored(db, run, paced.sent)
            catch_up = time.perf_counter() - back
            rows.append((f"{args.outage:.0f} s database outage at {args.rate:.0f}/s: RSS "
                         f"first/last/max MB {samples[0]:.0f}/{samples[-1]:.0f}/{max(samples):.0f}"
                         f"; caught up {catch_up:.1f} s after the database returned",
                         f"{paced.sent:,}", f"{paced.sent / (args.outage + catch_up):,.0f}",
                         f"{ingest.rss_mb('VmHWM'):.0f}"))
            ingest.stop()
    finally:
        for ingest in STARTED:
            if ingest.process is not None and ingest.process.poll() is None:
                ingest.process.kill()
                ingest.process.wait()
        broker.cleanup()
        influx.cleanup()

    print(f"# Ingest throughput, zero loss ({platform.node()}, {os.cpu_count()} cores, "
          f"Mosquitto max_inflight_messages 1000, ack after write)")
    print()
    print("| phase | readings | readings/s | worker peak RSS MB |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
