"""Backlog drain as an outside check measures it: from `vitals ingest` starting to all stored.

The method of issue 20, step by step, each run on a fresh Mosquitto and influxd (free ports):
1. Mosquitto with `persistence true`, `autosave_interval 1`, `max_queued_messages 500000`,
   `max_inflight_messages 1000` (as `tests/services.py` configures it, the queue raised);
2. `vitals ingest` (the real CLI process, default client id, persistent session) started once,
   until its retained status says running, then stopped with SIGTERM;
3. N QoS 1 heart rates published on `vitals/pf-<i % 20>/hr` (20 sessions), payload
   `{"bpm": 60 + i % 50, "time": <a day ago + i x 10 ms>, "device": "ox"}`;
4. `vitals ingest` started again; the clock runs from just before the process is spawned until
   InfluxDB holds the N readings, polled with `SELECT count(*) FROM /.*/` every 0.2 s.

Then a restart on the same services: N more readings (the same sessions, 10 ms on) queued while
the worker is stopped, timed the same way. The 20 sessions are stored now and live (silent less
than the 24 h restore window), so the worker first restores them, reading their N readings back.

Unlike the drain of `ingest_throughput.py` (timed from the worker's "running" status, sessions
of today, heart rates that raise no alarm), this counts the process start-up, the restore, the
day-old sessions' clocks and the alarms: a third of these readings raise or clear one.
Parts of each run: spawn → connected (the status says running: imports, settings, restore,
connect), connected → first readings stored, → all stored; and the alert events the run
produced (from the worker's log line when it stops). Each run checks that exactly N distinct
readings were stored.

Counting: the figure waits for the N readings (`hr`). The outside check's query also counts the
alert events (another measurement); summed over every measurement its points reach N earlier, and
that rate is printed too. The comparison: each run then drains the same backlog, the same way, on
fresh services of the same configuration, with the batched Node-RED flow of the issue
(`_node_red.py`; installed with npm on first use, `--no-node-red` skips it) and prints the ratio.

    .venv/bin/python benchmarks/drain_cold_start.py [--n 50000] [--runs 3] [--no-node-red]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

# `_node_red` starts with "_": a helper, not a benchmark of its own for run_all.py.
from _node_red import JOIN_COUNT, JOIN_SECONDS, NodeRedProcess  # noqa: E402
from ingest_throughput import publish_all  # noqa: E402
from services import InfluxServer, MosquittoServer, wait_until  # noqa: E402

SESSIONS = 20
POLL_SECONDS = 0.2  # the outside check's polling interval
DATABASE = "vitals"  # the default of VITALS_INFLUX_DB
STATUS_TOPIC = "vitals/_ingest/vitals-ingest/status"  # the default client id's
STOPPED_LINE = re.compile(r"ingest stopped: received (\d+), readings (\d+), events \d+, "
                          r"rejected (\d+), alerts (\d+)")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def payloads(n: int, start: datetime) -> list[tuple[str, bytes]]:
    """The outside check's readings: 20 sessions, heart rates 60-109, 10 ms apart, a day old."""
    out = []
    for i in range(n):
        at = (start + timedelta(milliseconds=10 * i)).isoformat().replace("+00:00", "Z")
        out.append((f"vitals/pf-{i % SESSIONS}/hr",
                    json.dumps({"bpm": 60 + i % 50, "time": at, "device": "ox"}).encode()))
    return out


def points(db: InfluxDBClient) -> dict[str, int]:
    """Points per measurement, as `SELECT count(*) FROM /.*/` reports them (the largest field
    count of each measurement); nothing while the database does not exist yet."""
    try:
        result = db.query("SELECT count(*) FROM /.*/")
    except InfluxDBClientError:
        return {}
    counts: dict[str, int] = {}
    for (measurement, _tags), rows in result.items():
        for row in rows:
            counts[measurement] = max(v or 0 for k, v in row.items() if k.startswith("count_"))
    return counts


class IngestProcess:
    """`vitals ingest` with the default client id and database, its log in a file."""

    def __init__(self, broker: MosquittoServer, influx: InfluxServer, log_path: Path) -> None:
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("VITALS_")},
                    "VITALS_MQTT_URL": broker.url, "VITALS_INFLUX_URL": influx.url,
                    "PYTHONPATH": str(ROOT)}
        self.broker = broker
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.running = threading.Event()
        self.running_at = 0.0

    def start(self) -> float:
        """Spawn it; returns the moment just before the spawn (perf_counter)."""
        self.running.clear()
        watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        watcher.on_message = self._on_status
        watcher.connect("127.0.0.1", self.broker.port)
        watcher.subscribe(STATUS_TOPIC, 1)
        watcher.loop_start()
        self._watcher = watcher
        log = self.log_path.open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, "-m", "vitals", "ingest"], env=self.env,
                                        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        return started

    def _on_status(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        # A retained "stopped" of the previous run arrives first: only "running" counts.
        if json.loads(message.payload).get("state") == "running" and not self.running.is_set():
            self.running_at = time.perf_counter()
            self.running.set()

    def wait_running(self, timeout: float = 60) -> None:
        assert self.process is not None
        wait_until(lambda: self.running.is_set() or self.process.poll() is not None, timeout,
                   "vitals ingest to say running")
        if not self.running.is_set():
            raise RuntimeError(f"vitals ingest exited with {self.process.returncode}; log "
                               f"{self.log_path}")

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(60) != 0:
            raise RuntimeError(f"vitals ingest exited with {self.process.returncode}")
        self._watcher.disconnect()
        self._watcher.loop_stop()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def last_counts(self) -> tuple[int, int, int, int]:
        """received, readings, rejected, alerts of the last stop, from its log line."""
        found = STOPPED_LINE.findall(self.log_path.read_text(errors="replace"))
        return tuple(int(x) for x in found[-1]) if found else (0, 0, 0, 0)


def wait_stored(db: InfluxDBClient, target: int, started: float,
                process: subprocess.Popen[bytes], log: Path) -> tuple[float, float, float, dict]:
    """Poll as the method does until `hr` holds `target` points: (all stored, first stored,
    all measurements' points summed reached `target` (perf_counter), the counts).

    The readings alone count (`hr`): `SELECT count(*) FROM /.*/` also counts the alert events,
    so its sum reaches N earlier; that moment is returned too (what an outside check summing
    every measurement would see)."""
    first_stored = points_reached = 0.0
    while True:
        counts = points(db)
        now = time.perf_counter()
        if counts.get("hr", 0) and not first_stored:
            first_stored = now
        if sum(counts.values()) >= target and not points_reached:
            points_reached = now
        if counts.get("hr", 0) >= target:
            return now, first_stored, points_reached, counts
        if now - started > 600 or process.poll() is not None:
            raise RuntimeError(f"not all stored ({counts}); log {log}")
        time.sleep(POLL_SECONDS)  # the method's polling interval, not a synchronisation


def one_run(n: int, workdir: Path, run: int) -> dict[str, float]:
    broker = MosquittoServer(["max_queued_messages 500000"]).start()
    influx = InfluxServer().start()
    ingest = IngestProcess(broker, influx, workdir / f"ingest-{run}.log")
    db = InfluxDBClient(host="127.0.0.1", port=influx.port, database=DATABASE)
    result: dict[str, float] = {}
    try:
        ingest.start()
        ingest.wait_running()
        ingest.stop()  # the persistent session stays: the broker queues what follows
        readings = payloads(2 * n, datetime.now(UTC) - timedelta(days=1))
        publish_all(broker.port, readings[:n])

        services_cpu = cpu_seconds(broker.pid), cpu_seconds(influx.pid)
        started = ingest.start()
        now, first_stored, points_reached, counts = wait_stored(db, n, started, ingest.process,
                                                                ingest.log_path)
        elapsed = now - started
        cpu = (cpu_seconds(ingest.process.pid), cpu_seconds(broker.pid) - services_cpu[0],
               cpu_seconds(influx.pid) - services_cpu[1])
        ingest.wait_running()
        ingest.stop()
        received, _readings, rejected, alerts = ingest.last_counts()
        if counts["hr"] != n:
            raise AssertionError(f"{counts['hr']} readings stored, expected exactly {n}")
        result.update({"elapsed": elapsed, "rate": n / elapsed,
                       "points_rate": n / (points_reached - started),
                       "connected": ingest.running_at - started,
                       "first": first_stored - ingest.running_at, "rest": now - first_stored,
                       "alerts": alerts, "received": received, "rejected": rejected,
                       "total_points": sum(counts.values()), "ingest_cpu": cpu[0],
                       "mosquitto_cpu": cpu[1], "influxd_cpu": cpu[2]})

        # A restart with those sessions stored: they are live (silent less than the restore
        # window), so the worker restores them, reading their readings, before it connects.
        publish_all(broker.port, readings[n:])
        started = ingest.start()
        now, _first, _points, counts = wait_stored(db, 2 * n, started, ingest.process,
                                                   ingest.log_path)
        ingest.wait_running()
        ingest.stop()
        if counts["hr"] != 2 * n:
            raise AssertionError(f"{counts['hr']} readings stored, expected exactly {2 * n}")
        result.update({"restart_rate": n / (now - started),
                       "restart_connected": ingest.running_at - started})
        return result
    finally:
        ingest.kill()
        broker.cleanup()
        influx.cleanup()


def node_red_run(n: int, workdir: Path, run: int, timeout: float) -> float | None:
    """The same method with the Node-RED flow in place of `vitals ingest`, on fresh services of
    the same configuration: readings/s, or None if it did not store all N within `timeout`."""
    broker = MosquittoServer(["max_queued_messages 500000"]).start()
    influx = InfluxServer().start()
    db = InfluxDBClient(host="127.0.0.1", port=influx.port, database=DATABASE)
    db.create_database(DATABASE)  # the influx nodes write into an existing database only
    red = NodeRedProcess(workdir / f"node-red-{run}", broker.port, influx.port, DATABASE,
                         "vitals/+/hr")
    try:
        red.start()
        red.wait_connected()
        red.stop()  # its persistent session stays: the broker queues what follows
        publish_all(broker.port, payloads(n, datetime.now(UTC) - timedelta(days=1)))
        started = time.perf_counter()
        red.start()
        while True:
            stored = points(db).get("hr", 0)
            now = time.perf_counter()
            if stored >= n:
                return n / (now - started)
            if now - started > timeout or red.process.poll() is not None:
                print(f"Node-RED run {run + 1}: {stored} of {n} stored after "
                      f"{now - started:.0f} s; log {red.log_path}", file=sys.stderr)
                return None
            time.sleep(POLL_SECONDS)  # the method's polling interval, not a synchronisation
    finally:
        red.stop()
        broker.cleanup()
        influx.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="readings queued for the drain")
    parser.add_argument("--runs", type=int, default=3, help="runs, each on fresh services")
    parser.add_argument("--no-node-red", action="store_true",
                        help="skip the Node-RED flow of the comparison (it needs npm once)")
    parser.add_argument("--node-red-timeout", type=float, default=120,
                        help="s a Node-RED drain may take before it counts as not finished")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    runs = []
    with tempfile.TemporaryDirectory(prefix="vitals-drain-") as workdir:
        for i in range(args.runs):
            r = one_run(args.n, Path(workdir), i)
            if not args.no_node_red:
                r["node_red_rate"] = node_red_run(args.n, Path(workdir), i,
                                                  args.node_red_timeout)
            runs.append(r)
            print(f"run {i + 1}: {args.n} in {r['elapsed']:.2f} s ({r['rate']:,.0f}/s): "
                  f"connected {r['connected']:.2f} s, first stored +{r['first']:.2f} s, "
                  f"rest {r['rest']:.2f} s; alerts {r['alerts']:.0f}, points "
                  f"{r['total_points']:.0f}; cpu s ingest {r['ingest_cpu']:.2f}, mosquitto "
                  f"{r['mosquitto_cpu']:.2f}, influxd {r['influxd_cpu']:.2f}; restart "
                  f"{r['restart_rate']:,.0f}/s (running after "
                  f"{r['restart_connected']:.2f} s); Node-RED "
                  f"{r.get('node_red_rate') or 0:,.0f}/s",
                  file=sys.stderr)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(f"# Backlog drain from process start, day-old sessions ({platform.node()}, "
          f"{os.cpu_count()} cores, load average {load:.2f} at start, {args.runs} runs on "
          "fresh services)")
    print()
    print("| figure | readings | median readings/s | runs |")
    print("| --- | --- | --- | --- |")
    print(f"| backlog drain (vitals ingest started → all stored), 20 day-old sessions "
          f"| {args.n:,} | {median('rate'):,.0f} | "
          + ", ".join(f"{r['rate']:,.0f}" for r in runs) + " |")
    print(f"| restart with those 20 sessions stored (their {args.n:,} readings restored first) "
          f"→ {args.n:,} more stored | {args.n:,} | {median('restart_rate'):,.0f} | "
          + ", ".join(f"{r['restart_rate']:,.0f}" for r in runs) + " |")
    print(f"| the same, counting every measurement's points (alert events too) as "
          f"`SELECT count(*) FROM /.*/` reports them, until they sum to {args.n:,} | {args.n:,} | "
          f"{median('points_rate'):,.0f} | "
          + ", ".join(f"{r['points_rate']:,.0f}" for r in runs) + " |")
    red = [r.get("node_red_rate") for r in runs]
    if not args.no_node_red:
        finished = [x for x in red if x is not None]
        shown = ", ".join("did not finish" if x is None else f"{x:,.0f}" for x in red)
        red_median = statistics.median(finished) if finished else None
        print(f"| Node-RED flow (mqtt in → join {JOIN_COUNT} / {JOIN_SECONDS} s → influxdb "
              f"batch), the same method, started → all stored | {args.n:,} | "
              f"{'-' if red_median is None else f'{red_median:,.0f}'} | {shown} |")
    print()
    if not args.no_node_red and red_median:
        # A line, not a table row: the report's summary would give it the rows' unit.
        ratios = [r["rate"] / x for r, x in zip(runs, red, strict=True) if x]
        print(f"Ratio vitals ingest / Node-RED, same run: {statistics.median(ratios):.2f} "
              "(median; runs " + ", ".join(f"{x:.2f}" for x in ratios) + ").")
        print()
    # p50, not "median", in these headers: the report's summary lists only the rates above.
    print("| part of the drain | s, p50 of the runs |")
    print("| --- | --- |")
    print(f"| process start → running (imports, restore, connect) | {median('connected'):.2f} |")
    print(f"| the same at the restart (restoring {args.n:,} readings) | "
          f"{median('restart_connected'):.2f} |")
    print(f"| running → first readings stored (0.2 s polls) | {median('first'):.2f} |")
    print(f"| first readings stored → all stored | {median('rest'):.2f} |")
    print(f"| total | {median('elapsed'):.2f} |")
    print()
    print("| process | CPU s, process start → all stored, p50 of the runs |")
    print("| --- | --- |")
    for name in ("ingest", "mosquitto", "influxd"):
        print(f"| {name} | {median(name + '_cpu'):.2f} |")
    print()
    print(f"Alert events the drain produced (median): {median('alerts'):,.0f}; points in "
          f"InfluxDB at the end, all measurements: {median('total_points'):,.0f}.")


if __name__ == "__main__":
    main()
