"""A population of simulated patients drawn from distributions: pure, numpy and the model only.

Each patient is a `Scenario` (the shape the timeline and the publisher already play) whose
physiology, device faults and dropouts are drawn from the distributions in
`simulators/population.toml`, where every parameter carries its source. `draw_population(n,
seed)` is a function of its arguments: the same seed gives the same patients.

`statistics(patients)` measures the population on the true, noise-free signal (`expected`), the
way the published figures describe patients rather than cuffs: the mean peak rise and its time,
the share of large risers, the share above 180/110, and the time back to baseline.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from simulators.physiology import (
    Baseline,
    DoseResponse,
    Episode,
    Noise,
    Physiology,
    Signal,
    expected,
    settle_shape,
)
from simulators.scenarios import DeviceFault, Dropout, Scenario
from vitals.readings import DeviceProblem
from vitals.sessions import Verdict

PARAMETERS_PATH: Final = Path(__file__).with_name("population.toml")
SCENARIO_NAME: Final = "population"
SESSION_MINUTES: Final = 120.0  # after the dose: `timeline.session_messages`' default length
PRE_DOSE_MINUTES: Final = 10.0  # its default `dose_after`
CUFF_PROBLEMS: Final = (DeviceProblem.CUFF_LOOSE, DeviceProblem.BODY_MOVEMENT,
                        DeviceProblem.IRREGULAR_PULSE)
ARTEFACT_RAMP_MINUTES: Final = 0.05  # an artefact starts and ends within a sample (3 s)
DIP_RAMP_MINUTES: Final = 0.5  # a true desaturation falls and recovers over half a minute

# The statistics' definitions (the published figures' wording).
LARGE_RISE_SYSTOLIC: Final = 40.0  # Spravato: >= 40 systolic and/or >= 25 diastolic ...
LARGE_RISE_DIASTOLIC: Final = 25.0
LARGE_RISE_WITHIN_MINUTES: Final = 90.0  # ... in the first 1.5 h
SEVERE_SYSTOLIC: Final = 180.0  # IV series: severe hypertension, > 180 and/or > 110
SEVERE_DIASTOLIC: Final = 110.0
BACK_WITHIN_MMHG: Final = 5.0  # "back to baseline": within a cuff's mean error (ISO 81060-2)
HORIZON_MINUTES: Final = 300.0  # how far the statistics follow the true curve (rises last ~4 h)
GRID_MINUTES: Final = 1.0  # the statistics' time step


class Distribution(BaseModel):
    """One parameter's distribution, with its source (a key of the file's [sources])."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distribution: Literal["normal", "lognormal", "uniform", "exponential", "constant"]
    source: str
    note: str = ""
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    sigma: float | None = None
    low: float | None = None
    high: float | None = None
    value: float | None = None

    @model_validator(mode="after")
    def _has_its_parameters(self) -> Distribution:
        needed = {"normal": ("mean", "sd"), "lognormal": ("median", "sigma"),
                  "uniform": ("low", "high"), "exponential": ("mean",),
                  "constant": ("value",)}[self.distribution]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.distribution} distribution needs {', '.join(missing)}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low must not be above high")
        return self

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` independent draws, clipped to [low, high] where given."""
        match self.distribution:
            case "constant":
                return np.full(size, float(self.value))  # type: ignore[arg-type]
            case "uniform":
                return rng.uniform(self.low, self.high, size)  # type: ignore[arg-type]
            case "normal":
                draws = rng.normal(self.mean, self.sd, size)  # type: ignore[arg-type]
            case "lognormal":
                draws = rng.lognormal(math.log(self.median), self.sigma, size)  # type: ignore
            case "exponential":
                draws = rng.exponential(self.mean, size)  # type: ignore[arg-type]
        return self.clip(draws)

    def clip(self, draws: Any) -> Any:
        """`draws` (an array or a number) clipped to [low, high] where given."""
        low = -np.inf if self.low is None else self.low
        high = np.inf if self.high is None else self.high
        return np.clip(draws, low, high)


_REQUIRED: Final = {
    "baseline": ("systolic", "diastolic", "pressure_correlation", "heart_rate", "spo2"),
    "response": ("systolic", "diastolic", "heart_rate", "responsiveness", "systolic_spread",
                 "diastolic_spread", "heart_rate_spread",
                 "peak_minutes", "settled_minutes"),
    "spo2": ("dip_probability", "dip_depth", "dip_minutes", "dip_at", "artefacts_per_hour",
             "artefact_depth", "artefact_seconds"),
    "noise": ("systolic_sd", "diastolic_sd", "clip_sd"),
    "devices": ("cuff_problems_per_session", "dropouts_per_session", "dropout_minutes"),
}


class PopulationParameters(BaseModel):
    """The whole parameter file, validated: every parameter present and sourced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: dict[str, str]
    baseline: dict[str, Distribution]
    response: dict[str, Distribution]
    spo2: dict[str, Distribution]
    noise: dict[str, Distribution]
    devices: dict[str, Distribution]

    @model_validator(mode="after")
    def _complete_and_sourced(self) -> PopulationParameters:
        for section, names in _REQUIRED.items():
            table: dict[str, Distribution] = getattr(self, section)
            missing = [name for name in names if name not in table]
            if missing:
                raise ValueError(f"[{section}] needs {', '.join(missing)}")
            unknown = [name for name in table if name not in names]
            if unknown:
                raise ValueError(f"[{section}] has unknown parameter {unknown[0]!r}")
            for name, parameter in table.items():
                if parameter.source not in self.sources:
                    raise ValueError(f"{section}.{name}.source: {parameter.source!r} is not a "
                                     "key of [sources]")
        return self

    def get(self, section: str, name: str) -> Distribution:
        return getattr(self, section)[name]


def load_parameters(path: Path | None = None) -> PopulationParameters:
    """The parameter file (the shipped one by default); a bad file is a ValueError naming it."""
    where = Path(path) if path is not None else PARAMETERS_PATH
    try:
        with where.open("rb") as handle:
            data = tomllib.load(handle)
        return PopulationParameters.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as err:
        raise ValueError(f"population parameters {where}: {err}") from err


@cache
def default_parameters() -> PopulationParameters:
    return load_parameters()


@dataclass(frozen=True, slots=True)
class PopulationPatient:
    """One drawn patient: `number` from 1 and the scenario to play (the noise is the player's:
    `timeline.session_messages` takes the seed)."""

    number: int
    scenario: Scenario

    @property
    def physiology(self) -> Physiology:
        return self.scenario.physiology


def draw_population(n: int, seed: int,
                    parameters: PopulationParameters | None = None) -> list[PopulationPatient]:
    """`n` patients drawn from `parameters` (the shipped file by default); deterministic.

    Patient k has its own generator (spawned from `seed`), so it is the same patient in a
    population of 10 as in one of 1,000.
    """
    if n < 1:
        raise ValueError(f"a population needs at least 1 patient, got {n}")
    p = parameters or default_parameters()
    streams = np.random.SeedSequence(seed).spawn(n)
    return [draw_patient(np.random.default_rng(stream), p, number, seed)
            for number, stream in enumerate(streams, start=1)]


def draw_patient(rng: np.random.Generator, p: PopulationParameters, number: int = 1,
                 seed: int | None = None) -> PopulationPatient:
    """One patient drawn from `parameters` with `rng`."""

    def one(section: str, name: str) -> float:
        return float(p.get(section, name).draw(rng, 1)[0])

    # Baseline: systolic and diastolic correlated through one shared standard normal.
    sys_spec, dia_spec = p.get("baseline", "systolic"), p.get("baseline", "diastolic")
    rho = one("baseline", "pressure_correlation")
    z_sys, z_own = rng.standard_normal(2)
    z_dia = rho * z_sys + math.sqrt(1.0 - rho**2) * z_own
    baseline = Baseline(
        systolic=float(sys_spec.clip(sys_spec.mean + sys_spec.sd * z_sys)),  # type: ignore[operator]
        diastolic=float(dia_spec.clip(dia_spec.mean + dia_spec.sd * z_dia)),  # type: ignore[operator]
        heart_rate=one("baseline", "heart_rate"),
        spo2=one("baseline", "spo2"),
    )
    responsiveness = one("response", "responsiveness")
    rise_sys, rise_dia, rise_hr = (
        one("response", signal) * responsiveness * one("response", f"{signal}_spread")
        for signal in ("systolic", "diastolic", "heart_rate"))
    peak = one("response", "peak_minutes")
    settled = peak + one("response", "settled_minutes")

    dips: tuple[Episode, ...] = ()
    if rng.uniform() < one("spo2", "dip_probability"):
        dips = (Episode(Signal.SPO2, one("spo2", "dip_at"), one("spo2", "dip_minutes"),
                        -one("spo2", "dip_depth"), DIP_RAMP_MINUTES),)
    session_hours = (PRE_DOSE_MINUTES + SESSION_MINUTES) / 60.0
    artefact_count = int(rng.poisson(one("spo2", "artefacts_per_hour") * session_hours))
    fault_count = int(rng.poisson(one("devices", "cuff_problems_per_session")))
    dropout_count = int(rng.poisson(one("devices", "dropouts_per_session")))
    clip_sd = one("noise", "clip_sd")
    sys_sd, dia_sd = one("noise", "systolic_sd"), one("noise", "diastolic_sd")

    physiology = Physiology(
        baseline=baseline,
        response=DoseResponse(systolic=rise_sys, diastolic=rise_dia, heart_rate=rise_hr,
                              peak_minutes=peak, shape=settle_shape(peak, settled)),
        episodes=dips,
        noise=Noise(systolic_sd=sys_sd, systolic_limit=clip_sd * sys_sd,
                    diastolic_sd=dia_sd, diastolic_limit=clip_sd * dia_sd),
        artefacts=_artefacts(rng, p, artefact_count),
    )
    drawn_with = "" if seed is None else f" of the population drawn with seed {seed}"
    scenario = Scenario(
        name=SCENARIO_NAME,
        description=f"patient {number}{drawn_with}",
        physiology=physiology,
        pre_session=_pre_session(baseline),
        device_faults=_cuff_faults(rng, fault_count),
        dropouts=_dropouts(rng, p, dropout_count),
    )
    return PopulationPatient(number, scenario)


def _artefacts(rng: np.random.Generator, p: PopulationParameters,
               count: int) -> tuple[Episode, ...]:
    if count == 0:
        return ()
    starts = rng.uniform(-PRE_DOSE_MINUTES, SESSION_MINUTES, count)
    depths = p.get("spo2", "artefact_depth").draw(rng, count)
    seconds = p.get("spo2", "artefact_seconds").draw(rng, count)
    return tuple(Episode(Signal.SPO2, float(at), float(s) / 60.0, -float(depth),
                         ARTEFACT_RAMP_MINUTES)
                 for at, depth, s in sorted(zip(starts, depths, seconds, strict=True)))


def _cuff_faults(rng: np.random.Generator, count: int) -> tuple[DeviceFault, ...]:
    if count == 0:
        return ()
    # On a tenth of a minute, between the scheduled readings' whole minutes.
    times = np.round(rng.uniform(1.0, SESSION_MINUTES - 2.0, count), 1) + 0.05
    kinds = rng.integers(0, len(CUFF_PROBLEMS), count)
    return tuple(DeviceFault(float(at), (CUFF_PROBLEMS[int(k)],))
                 for at, k in sorted(zip(times, kinds, strict=True)))


def _dropouts(rng: np.random.Generator, p: PopulationParameters,
              count: int) -> tuple[Dropout, ...]:
    if count == 0:
        return ()
    starts = rng.uniform(0.0, SESSION_MINUTES - 2.0, count)
    minutes = p.get("devices", "dropout_minutes").draw(rng, count)
    return tuple(Dropout(float(at), float(length))
                 for at, length in sorted(zip(starts, minutes, strict=True)))


def _pre_session(baseline: Baseline) -> Verdict:
    """The guidance's pre-session verdict on blood pressure (the baselines are drawn below
    no-go): caution from 140/90."""
    if baseline.systolic >= 140 or baseline.diastolic >= 90:
        return Verdict.CAUTION
    return Verdict.GO


# ---- the population's statistics, on the true signal ---------------------------------------------


@dataclass(frozen=True, slots=True)
class PopulationStatistics:
    """What the published figures describe, measured on the drawn patients' true signal."""

    patients: int
    mean_peak_rise_systolic: float
    mean_peak_rise_diastolic: float
    mean_peak_minutes: float  # when the systolic rise peaks
    share_large_risers: float  # >= +40 systolic and/or >= +25 diastolic within 90 min
    share_severe: float  # > 180 systolic and/or > 110 diastolic at any time
    median_back_to_baseline_minutes: float  # systolic back within 5 mmHg, for good
    p99_back_to_baseline_minutes: float
    share_raised_at_session_end: float  # not yet back at 120 min after the dose

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


def true_trace(physiology: Physiology, signal: Signal,
               minutes: Sequence[float]) -> np.ndarray:
    """The noise-free `signal` at each of `minutes` after the dose."""
    return np.array([expected(physiology, signal, m) for m in minutes])


def statistics(patients: Sequence[PopulationPatient]) -> PopulationStatistics:
    grid = np.arange(0.0, HORIZON_MINUTES + GRID_MINUTES / 2, GRID_MINUTES)
    within = grid <= LARGE_RISE_WITHIN_MINUTES
    peak_sys, peak_dia, peak_at, large, severe, back = [], [], [], [], [], []
    for patient in patients:
        physiology = patient.physiology
        rise_sys = (true_trace(physiology, Signal.SYSTOLIC, grid)
                    - physiology.baseline.systolic)
        rise_dia = (true_trace(physiology, Signal.DIASTOLIC, grid)
                    - physiology.baseline.diastolic)
        top = int(np.argmax(rise_sys))
        peak_sys.append(rise_sys[top])
        peak_dia.append(rise_dia.max())
        peak_at.append(grid[top])
        large.append(rise_sys[within].max() >= LARGE_RISE_SYSTOLIC
                     or rise_dia[within].max() >= LARGE_RISE_DIASTOLIC)
        severe.append(physiology.baseline.systolic + rise_sys.max() > SEVERE_SYSTOLIC
                      or physiology.baseline.diastolic + rise_dia.max() > SEVERE_DIASTOLIC)
        back.append(_back_to_baseline(grid, rise_sys))
    back_minutes = np.array(back)
    return PopulationStatistics(
        patients=len(patients),
        mean_peak_rise_systolic=float(np.mean(peak_sys)),
        mean_peak_rise_diastolic=float(np.mean(peak_dia)),
        mean_peak_minutes=float(np.mean(peak_at)),
        share_large_risers=float(np.mean(large)),
        share_severe=float(np.mean(severe)),
        median_back_to_baseline_minutes=float(np.median(back_minutes)),
        p99_back_to_baseline_minutes=float(np.percentile(back_minutes, 99)),
        share_raised_at_session_end=float(np.mean(back_minutes > SESSION_MINUTES)),
    )


def _back_to_baseline(grid: np.ndarray, rise: np.ndarray) -> float:
    """Minutes after the dose from which the rise stays below 5 mmHg (0: it never reached it;
    the horizon when it is still raised there)."""
    raised = np.nonzero(rise >= BACK_WITHIN_MMHG)[0]
    if raised.size == 0:
        return 0.0
    last = int(raised[-1])
    return float(grid[last + 1]) if last + 1 < grid.size else float(grid[-1])


def describe(values: Mapping[str, Any]) -> str:
    """One line per statistic, for the command line."""
    return "\n".join(f"{name:<34} {value:.3g}" for name, value in values.items())
