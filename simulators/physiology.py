"""A physiological model of one ketamine session: pure, no I/O, no clock.

A patient has a baseline (SBP, DBP, HR, SpO2). After the dose, blood pressure and heart rate rise
along one smooth gamma-like curve that peaks about 35 minutes after the dose and has settled to a
few per cent of the peak by 105-120 minutes. The sources in `/work/shared/clinical-guidance.md`:
the IV series of 2,342 infusions saw a mean peak rise of +16/+11 mmHg at 40 minutes, other series
a peak at 30-40 minutes and a return to baseline within about 90 minutes; esketamine labelling
reports that 8-19 % of patients rose by at least +40 mmHg systolic and/or +25 diastolic.

Episodes (a vasovagal drop in heart rate, a desaturation) are added on top; artefacts (a probe
slipping, a movement) are episodes of the measurement only, not of the patient. Measurement noise is
drawn from `random.Random` only, and every noise term is clipped to a stated limit, so a scenario
can promise, with margin, which alarm limits it crosses and which it never crosses. The cuff noise
stays well inside the ISO 81060-2 ceiling (SD 8 mmHg): that ceiling would make every scenario
ambiguous near its limits.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from vitals.vital_signs import FIELDS, Kind, VitalSign

PEAK_MINUTES: Final = 35.0  # the sources: 30-40 min (IV series), about 40 min (esketamine)
CURVE_SHAPE: Final = 3.0  # gamma exponent: 15 % of peak left at 90 min, 3 % at 120 min
SETTLED_FRACTION: Final = 0.1  # `settle_shape`: the curve is "settled" at 10 % of its peak
HEART_RATE_DRIFT_MEMORY: Final = 0.9  # AR(1) coefficient per oximeter sample: slow wander
MIN_PULSE_PRESSURE: Final = 10.0  # a cuff never reports diastolic within 10 mmHg of systolic


class Signal(StrEnum):
    """A physiological quantity the model produces."""

    SYSTOLIC = "systolic"
    DIASTOLIC = "diastolic"
    HEART_RATE = "heart_rate"
    SPO2 = "spo2"
    RESPIRATORY_RATE = "respiratory_rate"


@dataclass(frozen=True, slots=True)
class Baseline:
    """The patient's resting values before the dose."""

    systolic: float
    diastolic: float
    heart_rate: float
    spo2: float
    respiratory_rate: float | None = None  # None: no capnograph in the session


@dataclass(frozen=True, slots=True)
class DoseResponse:
    """The change at the peak of the dose response; the defaults are the IV series' mean."""

    systolic: float = 16.0
    diastolic: float = 11.0
    heart_rate: float = 8.0
    peak_minutes: float = PEAK_MINUTES
    shape: float = CURVE_SHAPE


@dataclass(frozen=True, slots=True)
class Episode:
    """A transient change of one signal: full `change` for `duration_minutes` from `start_minutes`
    after the dose, reached and left by linear ramps of `ramp_minutes` outside that window."""

    signal: Signal
    start_minutes: float
    duration_minutes: float
    change: float
    ramp_minutes: float = 0.5


@dataclass(frozen=True, slots=True)
class Noise:
    """Measurement noise: a Gaussian SD and a hard limit (the draw is clipped) per term."""

    systolic_sd: float = 2.5
    systolic_limit: float = 5.0
    diastolic_sd: float = 2.0
    diastolic_limit: float = 4.0
    heart_rate_drift_sd: float = 0.8  # per sample, AR(1): stationary SD about 1.8 bpm
    heart_rate_drift_limit: float = 3.0
    heart_rate_jitter_sd: float = 1.0  # beat-to-beat, independent per sample
    heart_rate_jitter_limit: float = 2.0
    spo2_sd: float = 0.4
    spo2_limit: float = 1.0
    pulse_sd: float = 0.8  # a second device's pulse against the true heart rate
    pulse_limit: float = 2.0
    # Any further stream (`Patient.stream`): one Gaussian term, clipped.
    stream_sd: float = 0.7
    stream_limit: float = 1.5

    @property
    def heart_rate_limit(self) -> float:
        """The most a heart-rate sample can differ from the model's true value."""
        return self.heart_rate_drift_limit + self.heart_rate_jitter_limit


@dataclass(frozen=True, slots=True)
class Physiology:
    """Everything that decides a patient's values: the data a scenario carries."""

    baseline: Baseline
    response: DoseResponse = DoseResponse()
    episodes: tuple[Episode, ...] = ()
    noise: Noise = Noise()
    # Changes of the measured values only (`expected` is the patient, without them).
    artefacts: tuple[Episode, ...] = ()


@dataclass(frozen=True, slots=True)
class BloodPressure:
    """One cuff measurement, rounded like a device (integer mmHg and /min)."""

    systolic: int
    diastolic: int
    pulse: int


@dataclass(frozen=True, slots=True)
class Oximetry:
    """One oximeter sample: heart rate, SpO2 and the oximeter's own pulse, rounded."""

    heart_rate: int
    spo2: int
    pulse: int


def dose_curve(minutes: float, peak_minutes: float = PEAK_MINUTES,
               shape: float = CURVE_SHAPE) -> float:
    """Fraction of the peak response `minutes` after the dose: 0 before it, 1 at the peak.

    x**k * exp(k * (1 - x)) with x = minutes / peak: smooth, one peak, a long settling tail.
    """
    if minutes <= 0:
        return 0.0
    x = minutes / peak_minutes
    return float(x**shape * math.exp(shape * (1.0 - x)))


def settle_shape(peak_minutes: float, settled_minutes: float,
                 fraction: float = SETTLED_FRACTION) -> float:
    """The `dose_curve` shape that peaks at `peak_minutes` and is down to `fraction` of the peak
    `settled_minutes` after the dose (later than the peak).

    Solves x**k * exp(k * (1 - x)) = fraction at x = settled / peak for k.
    """
    x = settled_minutes / peak_minutes
    if x <= 1.0 or not 0.0 < fraction < 1.0:
        raise ValueError(f"settling ({settled_minutes} min) must come after the peak "
                         f"({peak_minutes} min) and fraction must be in (0, 1)")
    return math.log(fraction) / (math.log(x) + 1.0 - x)


def episode_level(episode: Episode, minutes: float) -> float:
    """The episode's contribution at `minutes` after the dose (trapezoid)."""
    rise_from = episode.start_minutes - episode.ramp_minutes
    full_until = episode.start_minutes + episode.duration_minutes
    if minutes <= rise_from or minutes >= full_until + episode.ramp_minutes:
        return 0.0
    if minutes < episode.start_minutes:
        return episode.change * (minutes - rise_from) / episode.ramp_minutes
    if minutes <= full_until:
        return episode.change
    return episode.change * (1.0 - (minutes - full_until) / episode.ramp_minutes)


def expected(physiology: Physiology, signal: Signal, minutes: float) -> float:
    """The noiseless value of `signal` at `minutes` after the dose (negative: before it)."""
    # Signal is a StrEnum: the member itself is the attribute name.
    base = getattr(physiology.baseline, signal)
    rise = getattr(physiology.response, signal, 0.0)
    value = base
    if rise and minutes > 0:
        response = physiology.response
        value += rise * dose_curve(minutes, response.peak_minutes, response.shape)
    for episode in physiology.episodes:
        if episode.signal is signal:
            value += episode_level(episode, minutes)
    return float(value)


def artefact(physiology: Physiology, signal: Signal, minutes: float) -> float:
    """What the physiology's artefacts add to the measured `signal` at `minutes`."""
    return sum((episode_level(a, minutes) for a in physiology.artefacts if a.signal is signal),
               0.0)


def bounded_gauss(rng: random.Random, sd: float, limit: float) -> float:
    """A Gaussian draw clipped to +-limit, so scenarios can rely on the limit."""
    if sd <= 0:
        return 0.0
    return max(-limit, min(limit, rng.gauss(0.0, sd)))


class Patient:
    """Samples one patient's measurements; deterministic for a given `random.Random`.

    Cuff and oximeter draw from separate generators derived from `rng`, so changing the cuff
    cadence does not change the oximeter stream. `oximetry` keeps state (the heart-rate drift)
    and must be called in time order.
    """

    def __init__(self, physiology: Physiology, rng: random.Random) -> None:
        self.physiology = physiology
        self._cuff_rng = random.Random(rng.getrandbits(64))
        self._oximeter_rng = random.Random(rng.getrandbits(64))
        # Drawn after the cuff's and the oximeter's, so a further stream changes neither.
        self._stream_seed = rng.getrandbits(64)
        self._stream_rngs: dict[Kind, random.Random] = {}
        self._drift = 0.0

    def blood_pressure(self, minutes: float) -> BloodPressure:
        """A cuff reading `minutes` after the dose (negative: before it)."""
        noise, rng = self.physiology.noise, self._cuff_rng
        systolic = self._measured(Signal.SYSTOLIC, minutes) + bounded_gauss(
            rng, noise.systolic_sd, noise.systolic_limit)
        diastolic = self._measured(Signal.DIASTOLIC, minutes) + bounded_gauss(
            rng, noise.diastolic_sd, noise.diastolic_limit)
        pulse = expected(self.physiology, Signal.HEART_RATE, minutes) + bounded_gauss(
            rng, noise.pulse_sd, noise.pulse_limit)
        sys_i = _clamp(Kind.BP, "systolic", systolic)
        dia_i = _clamp(Kind.BP, "diastolic", min(diastolic, sys_i - MIN_PULSE_PRESSURE))
        return BloodPressure(sys_i, dia_i, _clamp(Kind.BP, "pulse", pulse))

    def oximetry(self, minutes: float) -> Oximetry:
        """An oximeter sample `minutes` after the dose; advances the heart-rate drift."""
        noise, rng = self.physiology.noise, self._oximeter_rng
        step = bounded_gauss(rng, noise.heart_rate_drift_sd, noise.heart_rate_drift_limit)
        self._drift = max(-noise.heart_rate_drift_limit, min(
            noise.heart_rate_drift_limit, HEART_RATE_DRIFT_MEMORY * self._drift + step))
        true_rate = expected(self.physiology, Signal.HEART_RATE, minutes)
        heart_rate = true_rate + self._drift + artefact(
            self.physiology, Signal.HEART_RATE, minutes) + bounded_gauss(
            rng, noise.heart_rate_jitter_sd, noise.heart_rate_jitter_limit)
        spo2 = self._measured(Signal.SPO2, minutes) + bounded_gauss(
            rng, noise.spo2_sd, noise.spo2_limit)
        pulse = true_rate + bounded_gauss(rng, noise.pulse_sd, noise.pulse_limit)
        return Oximetry(
            heart_rate=_clamp(Kind.HR, "bpm", heart_rate),
            spo2=_clamp(Kind.SPO2, "spo2", spo2),
            pulse=_clamp(Kind.SPO2, "pulse", pulse),
        )

    def stream(self, sign: VitalSign, minutes: float) -> dict[str, int] | None:
        """A sample of a further stream (not the oximeter's: respiratory rate from a
        capnograph), its main field only; None when this patient has no baseline for it (no
        such device in the session). Each stream draws from its own generator."""
        signal = Signal(sign.measures[0].metric.value)
        if getattr(self.physiology.baseline, signal, None) is None:
            return None
        rng = self._stream_rngs.setdefault(sign.kind, random.Random(
            f"{self._stream_seed}:{sign.kind}"))
        noise = self.physiology.noise
        value = self._measured(signal, minutes) + bounded_gauss(
            rng, noise.stream_sd, noise.stream_limit)
        return {sign.main_field: _clamp(sign.kind, sign.main_field, value)}

    def _measured(self, signal: Signal, minutes: float) -> float:
        value = expected(self.physiology, signal, minutes)
        if self.physiology.artefacts:
            value += artefact(self.physiology, signal, minutes)
        return value


_BOUNDS: Final = {(kind, spec.name): (math.ceil(spec.low), math.floor(spec.high))
                  for kind, specs in FIELDS.items() for spec in specs}


def _clamp(kind: Kind, name: str, value: float) -> int:
    """Round like a device, then keep inside the parser's plausibility bounds (a safety net:
    scenarios are designed never to need it)."""
    low, high = _BOUNDS[kind, name]
    return int(max(low, min(high, round(value))))
