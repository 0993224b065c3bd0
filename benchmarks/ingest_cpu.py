"""CPU time per message of the ingest's pure stages, without broker or database.

The ingest worker is CPU-bound in one Python process; this splits what one message costs it
between the stages the worker runs in its judging and writing threads:
- parse: `vitals.parser.parse` (topic, JSON, validation, time);
- pipeline: `Pipeline.process` (parse + duplicate check + alert rules), on fresh state;
- rules and pipeline: pipeline minus parse (duplicate check, alert rules, the batch);
- line protocol: `vitals.storage.influx_lines.batch_lines` for the batches the pipeline produced.
Two workloads: the simulator's sessions (every scenario, messages merged by time: BP, HR, SpO2,
session events, observations, check-ins) and the throughput benchmark's heart rates
(`ingest_throughput.payloads`). Process CPU time, median of `--repeats`, with the garbage
collector set as in `vitals ingest` (`ingest.service.tune_gc`).

    .venv/bin/python benchmarks/ingest_cpu.py [--sessions 16] [--repeats 5] [--batch 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_throughput import payloads  # noqa: E402

from ingest.pipeline import Inbound, Pipeline  # noqa: E402
from ingest.service import build_engine, tune_gc  # noqa: E402
from simulators.publisher import plan  # noqa: E402
from simulators.scenarios import SCENARIOS  # noqa: E402
from vitals.mqtt import reading_topic  # noqa: E402
from vitals.parser import parse  # noqa: E402
from vitals.settings import Settings  # noqa: E402
from vitals.storage.influx_lines import batch_lines  # noqa: E402

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def simulated(sessions: int) -> list[Inbound]:
    """Every message of `sessions` simulated sessions (all scenarios in turn), merged by time."""
    _, messages = plan(list(SCENARIOS), sessions, seed=7, start=START)
    return [
        Inbound(reading_topic("vitals", m.session, m.leaf),
                json.dumps(m.payload, separators=(",", ":")).encode(),
                m.time + timedelta(milliseconds=150))
        for m in messages
    ]


def heart_rates(count: int) -> list[Inbound]:
    """The throughput benchmark's payloads, as the worker receives them."""
    return [Inbound(topic, payload, datetime.now(UTC)) for topic, payload in
            payloads("cpu", 0, count)]


def cpu_us(action: Callable[[], object], count: int, repeats: int) -> float:
    """Median process CPU time of `action` in µs per message."""
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        action()
        samples.append((time.process_time() - started) / count * 1e6)
    return statistics.median(samples)


def stages(messages: Sequence[Inbound], batch: int, repeats: int) -> dict[str, float]:
    settings = Settings()
    chunks = [messages[i: i + batch] for i in range(0, len(messages), batch)]

    def parse_all() -> None:
        for m in messages:
            parse(m.topic, m.payload, m.received_at)

    def pipeline_all() -> None:  # fresh state each time: a repeat must not be all duplicates
        pipeline = Pipeline(build_engine(settings))
        for chunk in chunks:
            pipeline.process(chunk)

    pipeline = Pipeline(build_engine(settings))
    batches = [pipeline.process(chunk).batch for chunk in chunks]

    def lines_all() -> None:
        for b in batches:
            batch_lines(b)

    n = len(messages)
    parse_us = cpu_us(parse_all, n, repeats)
    pipeline_us = cpu_us(pipeline_all, n, repeats)
    lines_us = cpu_us(lines_all, n, repeats)
    return {"parse": parse_us, "rules and pipeline (pipeline - parse)": pipeline_us - parse_us,
            "line protocol": lines_us, "total (pipeline + line protocol)": pipeline_us + lines_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=16, help="simulated sessions")
    parser.add_argument("--heart-rates", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000, help="messages per pipeline cycle")
    args = parser.parse_args()
    tune_gc()
    workloads = {
        "simulator": simulated(args.sessions),
        "heart rates of ingest_throughput": heart_rates(args.heart_rates),
    }
    results = {name: stages(messages, args.batch, args.repeats)
               for name, messages in workloads.items()}
    print(f"# Ingest CPU per message ({platform.node()}, {os.cpu_count()} cores, "
          f"batches of {args.batch}, median of {args.repeats})")
    print()
    print("| figure | messages | median µs CPU per message |")
    print("| --- | --- | --- |")
    for name, figures in results.items():
        for stage, value in figures.items():
            print(f"| {stage}, {name} | {len(workloads[name]):,} | {value:.1f} |")

if __name__ == "__main__":
    main()
