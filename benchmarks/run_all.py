"""Run every benchmark in this folder against real services and write `benchmarks/REPORT.md`.

Each `benchmarks/<name>.py` (except this runner) starts its own Mosquitto / influxd / ingest and
prints Markdown tables to standard output. The report gathers them: the machine it ran on, a
summary table (figure, target, measured median; see `summary_rows` for the columns it reads: a
benchmark's table reads best with `figure`, `median <unit>` and `target` columns), then each
benchmark's own output in full.

    .venv/bin/python benchmarks/run_all.py                      # all of them (minutes)
    .venv/bin/python benchmarks/run_all.py --only ingest_latency
    .venv/bin/python benchmarks/run_all.py --only ingest_latency --args "--probes 50"

Exit status 1 if a benchmark failed (its error is in the report too).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPORT = HERE / "REPORT.md"
DEFAULT_TIMEOUT = 900.0


@dataclass
class Outcome:
    name: str
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def discover(folder: Path, only: list[str]) -> list[Path]:
    scripts = sorted(p for p in folder.glob("*.py")
                     if p.name != Path(__file__).name and not p.name.startswith("_"))
    if only:
        wanted = {name.removesuffix(".py") for name in only}
        unknown = wanted - {p.stem for p in scripts}
        if unknown:
            raise SystemExit(f"no benchmark named {', '.join(sorted(unknown))} in {folder} "
                             f"(there are: {', '.join(p.stem for p in scripts)})")
        scripts = [p for p in scripts if p.stem in wanted]
    return scripts


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every pipe table in `text`, as rows of {lower-cased header: cell}."""
    tables: list[list[dict[str, str]]] = []
    lines = text.splitlines()
    i = 0
    while i + 1 < len(lines):
        header, rule = lines[i].strip(), lines[i + 1].strip()
        if header.startswith("|") and re.fullmatch(r"\|(\s*:?-{3,}:?\s*\|)+", rule):
            names = [c.strip().lower() for c in header.strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                rows.append(dict(zip(names, cells, strict=False)))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def summary_rows(outcome: Outcome) -> list[dict[str, str]]:
    """One summary row per table row: figure, target, measured median.

    The figure is the `figure` column (else the first column); the measurement is the column whose
    name contains `median` (else the first one measuring a rate, `/s`), with the unit its header
    gives; the target is the `target` column, or `-`. Tables with neither kind of column (machine
    details, raw samples) are left to the benchmark's own section.
    """
    found = []
    for table in markdown_tables(outcome.stdout):
        for row in table:
            columns = list(row)
            measured = next((k for k in columns if "median" in k), None) or next(
                (k for k in columns if "/s" in k), None)
            if not measured or not columns:
                continue
            figure = row.get("figure") or row[columns[0]]
            unit = re.sub(r"\b(measured|median)\b", "", measured).strip()
            value = row[measured]
            if unit and value not in ("", "-") and unit not in value:
                value = f"{value} {unit}"
            found.append({"figure": figure, "target": row.get("target", "-"), "median": value})
    return found


def run(script: Path, args: list[str], timeout: float) -> Outcome:
    started = time.monotonic()
    print(f"running {script.stem} ...", file=sys.stderr, flush=True)
    try:
        done = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, check=False)
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        code = -1
        out = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (
            expired.stdout or "")
        err = f"timed out after {timeout:g} s"
    outcome = Outcome(script.stem, time.monotonic() - started, code, out, err)
    outcome.rows = summary_rows(outcome)
    print(f"  {'ok' if outcome.ok else 'FAILED'} in {outcome.seconds:.0f} s", file=sys.stderr)
    return outcome


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    memory = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "mosquitto": _version(["/usr/sbin/mosquitto", "-h"], r"mosquitto version (\S+)"),
        "influxd": _version(["/usr/bin/influxd", "version"], r"InfluxDB v?(\S+)"),
    }


def _version(command: list[str], pattern: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not installed"
    match = re.search(pattern, done.stdout + done.stderr)
    return match.group(1).rstrip(",") if match else "?"


def report(outcomes: list[Outcome], host: dict[str, str], args: str = "") -> str:
    lines = [
        "# Benchmark report",
        "",
        f"Written by `benchmarks/run_all.py` on {host['date']}. Every figure comes from real "
        "Mosquitto, influxd and `vitals ingest` processes on this one machine; medians over the "
        "samples each benchmark describes below."
        + (f" Run with `--args {shlex.quote(args)}` (not the defaults)." if args else ""),
        "",
        "| machine | |",
        "| --- | --- |",
        *[f"| {key} | {value} |" for key, value in host.items()],
        "",
        "## Summary",
        "",
        "| benchmark | figure | target | measured median |",
        "| --- | --- | --- | --- |",
    ]
    for outcome in outcomes:
        if not outcome.ok:
            lines.append(f"| {outcome.name} | FAILED (exit {outcome.returncode}) | - | - |")
        for row in outcome.rows:
            lines.append(f"| {outcome.name} | {row['figure']} | {row['target']} | "
                         f"{row['median']} |")
    for outcome in outcomes:
        lines += ["", f"## {outcome.name}", "",
                  f"`benchmarks/{outcome.name}.py`, {outcome.seconds:.0f} s.", ""]
        if outcome.stdout.strip():
            # The benchmark's own title becomes a sub-heading under its section.
            lines += [re.sub(r"^# ", "### ", line) for line in outcome.stdout.strip().splitlines()]
        if not outcome.ok:
            tail = "\n".join(outcome.stderr.strip().splitlines()[-20:])
            lines += ["", f"**Failed** (exit {outcome.returncode}):", "", "```", tail, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--args", default="", help="extra arguments for every benchmark run")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds allowed per benchmark")
    parser.add_argument("--output", type=Path, default=REPORT)
    parser.add_argument("--folder", type=Path, default=HERE, help=argparse.SUPPRESS)
    options = parser.parse_args()

    scripts = discover(options.folder, options.only)
    if not scripts:
        raise SystemExit(f"no benchmark in {options.folder}")
    outcomes = [run(script, shlex.split(options.args), options.timeout) for script in scripts]
    options.output.write_text(report(outcomes, machine(), options.args))
    print(f"wrote {options.output}", file=sys.stderr)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
