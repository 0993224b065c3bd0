"""The alarm-burden report of the profile in force (`vitals profile burden`), for the dashboard.

Replaying a population takes about 0.2 s of CPU a patient, so the report is computed once, in a
separate process (no GIL shared with the live pages), and kept on disk keyed by a hash of the
profile and of the code and population that produce the figures: a restart, or every replica
of the dashboard, reads it back; a changed profile or rule is computed afresh. Meanwhile the
page says it is computing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from vitals.alerts import Metric, Priority
from vitals.profile import Profile

log = logging.getLogger(__name__)

# A smaller population than the CLI's reports (1,000): about 40 s of one core, once per profile;
# the page shows N, and `vitals profile burden --population 1000` gives the full figures.
DEFAULT_PATIENTS: Final = 200
SEED: Final = 1
ACK_AFTER: Final = timedelta(minutes=1)  # `vitals profile burden`'s default
_ROOT: Final = Path(__file__).resolve().parent.parent
# What the figures depend on besides the profile: the population and the replayed rules
# (patterns, relative to the repository).
_INPUTS: Final = (
    "simulators/population.toml", "simulators/population.py", "simulators/physiology.py",
    "simulators/scenarios.py", "simulators/timeline.py", "simulators/burden.py",
    "vitals/rules/*.py", "vitals/engine.py", "vitals/sessions.py",
)


@dataclass(frozen=True, slots=True)
class BurdenStatus:
    """What the page shows: the summary when ready, else whether it is computing or failed."""

    patients: int
    summary: Any = None  # simulators.burden.BurdenSummary
    error: str | None = None


def compute(profile: Profile, patients: int, seed: int, ack_after: timedelta) -> Any:
    """The burden summary (run in the worker process; imports the simulators only there)."""
    from simulators.burden import replay_population, summarise

    sessions = replay_population(patients, seed, profile, ack_after=ack_after)
    return summarise(sessions, profile=profile.source_path, seed=seed, ack_after=ack_after)


class BurdenReports:
    """The profile's burden report: from the disk cache, else computed once in the background.

    `folder`: where reports are kept (the dashboard uses `VITALS_DATA_DIR/burden`).
    """

    def __init__(self, profile: Profile, folder: Path, patients: int = DEFAULT_PATIENTS,
                 seed: int = SEED, ack_after: timedelta = ACK_AFTER) -> None:
        self.profile, self.patients, self.seed, self.ack_after = profile, patients, seed, ack_after
        self.path = folder / f"burden-{self.key()}.json"
        self._lock = threading.RLock()  # a future already done runs its callback at once
        self._summary: Any = None
        self._error: str | None = None
        self._pending: Future[Any] | None = None
        self._pool: ProcessPoolExecutor | None = None

    def key(self) -> str:
        """A hash of everything the figures depend on: profile, population, code, N."""
        digest = hashlib.sha256(self.profile.model_dump_json().encode())
        for pattern in _INPUTS:
            paths = sorted(_ROOT.glob(pattern))
            for path in paths:
                digest.update(path.relative_to(_ROOT).as_posix().encode())
                digest.update(path.read_bytes())
            if not paths:
                digest.update(pattern.encode())
        digest.update(f"{self.patients}/{self.seed}/{self.ack_after.total_seconds()}".encode())
        return digest.hexdigest()[:16]

    def status(self) -> BurdenStatus:
        """The report if ready (starting its computation on first call), never blocking."""
        with self._lock:
            if self._summary is None and self._error is None:
                self._summary = self._read()
            if self._summary is None and self._error is None and self._pending is None:
                self._start()
            return BurdenStatus(self.patients, self._summary, self._error)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _start(self) -> None:
        log.info("computing the alarm burden of profile %s for %d patients",
                 self.profile.source_path, self.patients)
        # Spawned, not forked: the dashboard runs threads a fork would copy mid-state.
        self._pool = ProcessPoolExecutor(max_workers=1,
                                         mp_context=multiprocessing.get_context("spawn"))
        self._pending = self._pool.submit(compute, self.profile, self.patients, self.seed,
                                          self.ack_after)
        self._pending.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending = None
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None
            if future.cancelled():
                return
            err = future.exception()
            if err is not None:
                log.error("the alarm burden could not be computed: %r", err)
                self._error = f"the alarm burden could not be computed: {err!r}"
                return
            self._summary = future.result()
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                partial = self.path.with_suffix(".tmp")
                partial.write_text(json.dumps(asdict(self._summary)), encoding="utf-8")
                partial.replace(self.path)  # whole or absent, for a concurrent reader
            except OSError as err:
                log.warning("cannot keep the alarm burden in %s: %s", self.path, err)

    def _read(self) -> Any:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.warning("ignoring the unreadable alarm burden %s: %s", self.path, err)
            return None
        return _summary_from(data)


def _summary_from(data: dict[str, Any]) -> Any:
    from simulators.burden import BurdenSummary, RuleBurden

    rows = tuple(RuleBurden(**{**row, "metric": Metric(row["metric"]),
                               "priority": Priority(row["priority"])})
                 for row in data["rows"])
    return BurdenSummary(**{
        **data, "rows": rows,
        "crisis_delays_minutes": tuple(data["crisis_delays_minutes"]),
        "high_alarms_per_session": tuple(data["high_alarms_per_session"]),
    })
