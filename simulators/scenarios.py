"""Simulated sessions as data: one frozen `Scenario` per row, looked up by name.

Each scenario declares the alarms the default profile (`/work/shared/clinical-guidance.md`) must
raise for it, as `(Metric, Priority)` pairs that must appear as active alerts. They are the
scenario's defining alarms, not an exhaustive list: a reading climbing to 186 mmHg passes the low
and medium limits on its way, and an unacknowledged medium alarm escalates to high after 5
minutes. The `normal` scenario is the exception: it must raise nothing at all.

The numbers are chosen with margin against the model's clipped noise (see `Noise`): every
scenario's comment states the worst case that still crosses (or stays clear of) its limit.
Minutes are counted from the dose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from simulators.physiology import Baseline, DoseResponse, Episode, Noise, Physiology, Signal
from vitals.alerts import Metric, Priority
from vitals.readings import DeviceProblem, ObservationKind, Severity
from vitals.sessions import Verdict
from vitals.vital_signs import Kind


@dataclass(frozen=True, slots=True)
class DeviceFault:
    """A cuff measurement the device flags (an extra reading at `at_minutes`), followed by a
    clean repeat measurement `repeat_after_minutes` later, as a monitor would prompt."""

    at_minutes: float
    problems: tuple[DeviceProblem, ...]
    repeat_after_minutes: float | None = 1.0


@dataclass(frozen=True, slots=True)
class Dropout:
    """Streams that fall silent for `duration_minutes` from `start_minutes`, then resume."""

    start_minutes: float
    duration_minutes: float
    leaves: tuple[Kind, ...] = (Kind.HR, Kind.SPO2)


@dataclass(frozen=True, slots=True)
class SimObservation:
    """Something the simulated monitor observes and records at `at_minutes` after the dose."""

    at_minutes: float
    observation: ObservationKind
    severity: Severity = Severity.MILD
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str  # one line, shown by `vitals simulate --help`
    physiology: Physiology
    # The alarms the scenario exists to show: each (metric, priority) must be raised, and no
    # metric outside these and `incidental_metrics` may alarm at all.
    expected_alarms: frozenset[tuple[Metric, Priority]] = frozenset()
    # Metrics that may also alarm as a side effect, e.g. the diastolic rise that comes with a
    # systolic spike (whether it crosses "baseline + 15" depends on the noise).
    incidental_metrics: frozenset[Metric] = frozenset()
    pre_session: Verdict = Verdict.GO  # the guidance's pre-session check on the baseline
    device_faults: tuple[DeviceFault, ...] = ()
    dropouts: tuple[Dropout, ...] = ()
    observations: tuple[SimObservation, ...] = ()


# Each patient below is `Baseline(SBP, DBP, HR, SpO2)` before the dose and
# `DoseResponse(SBP, DBP, HR)`, the change at the response's peak.

# A mild responder: below the IV series' mean (+16/+11), because with noise a mean response
# would cross the guidance's "baseline + 20" low alarm. Worst cases (noise clipped at +-5 SBP,
# +-4 DBP, +-5 HR, +-1 SpO2): SBP <= 131 < 113 + 20, DBP <= 85 < 72 + 15, HR 67-85, SpO2 >= 96.
_QUIET: Final = Physiology(Baseline(118, 76, 72, 97), DoseResponse(8, 5, 8))

_ROWS: Final = (
    # The monitor records mild nausea at 20 min: logged with the session, no rule alarms on it.
    Scenario(
        name="normal",
        description="a mild, typical response that stays inside every limit; the monitor "
        "records mild nausea (raises nothing)",
        physiology=_QUIET,
        observations=(SimObservation(20, ObservationKind.NAUSEA, Severity.MILD,
                                     "queasy, declined the bowl"),),
    ),
    # Peak reading >= 132 + 62 * 0.967 - 5 = 187 >= 180 at 30, 35 and 40 min.
    Scenario(
        name="hypertensive-spike",
        description="systolic climbs past 180 mmHg around 30-40 min (high systolic alarm)",
        physiology=Physiology(Baseline(132, 84, 80, 97), DoseResponse(62, 14, 10)),
        expected_alarms=frozenset({(Metric.SYSTOLIC, Priority.HIGH)}),
        incidental_metrics=frozenset({Metric.DIASTOLIC}),
    ),
    # Peak diastolic >= 84 + 32 * 0.967 - 4 = 110.9 >= 110; systolic stays <= 153.
    Scenario(
        name="diastolic-surge",
        description="diastolic climbs past 110 mmHg at the peak (high diastolic alarm)",
        physiology=Physiology(Baseline(126, 84, 78, 97), DoseResponse(22, 32, 8)),
        expected_alarms=frozenset({(Metric.DIASTOLIC, Priority.HIGH)}),
        incidental_metrics=frozenset({Metric.SYSTOLIC}),
    ),
    # Systolic noise clipped at +-3 here: measured baseline 102-108, so the rise limit is at
    # most 148; the peak reading is >= 105 + 50 * 0.967 - 3 = 150.3 and never above 158 < 160.
    # Diastolic stays <= 65 + 6 * 0.967 + 4 = 74.8, below the lowest "baseline + 15" (61 + 15).
    Scenario(
        name="baseline-rise",
        description="systolic rises 40+ mmHg over a low baseline (105 to ~155) without reaching "
        "160 (medium systolic alarm)",
        physiology=Physiology(
            Baseline(105, 65, 74, 98), DoseResponse(50, 6, 8),
            noise=Noise(systolic_sd=1.5, systolic_limit=3.0),
        ),
        expected_alarms=frozenset({(Metric.SYSTOLIC, Priority.MEDIUM)}),
    ),
    # Heart rate >= 92 + 48 * 0.92 - 5 = 131 for the ~15 min around the peak. Blood pressure
    # stays quiet: SBP <= 124 + 8 + 5 = 137 < 119 + 20, DBP <= 80 + 5 + 4 = 89 < 76 + 15.
    Scenario(
        name="tachycardia",
        description="heart rate above 130/min for minutes around the peak (high heart-rate "
        "alarm)",
        physiology=Physiology(Baseline(124, 80, 92, 97), DoseResponse(8, 5, 48)),
        expected_alarms=frozenset({(Metric.HEART_RATE, Priority.HIGH)}),
    ),
    # A vasovagal episode at 45 min: heart rate <= 56 + 4 * 0.91 - 24 + 5 = 40.6 < 45 for 4 min.
    Scenario(
        name="bradycardia",
        description="a vasovagal episode at 45 min: heart rate below 45/min for 4 min (high "
        "heart-rate alarm)",
        physiology=Physiology(
            Baseline(118, 74, 56, 97), DoseResponse(8, 5, 4),
            episodes=(
                Episode(Signal.HEART_RATE, start_minutes=45, duration_minutes=4, change=-24),
                Episode(Signal.SYSTOLIC, start_minutes=45, duration_minutes=4, change=-15),
                Episode(Signal.DIASTOLIC, start_minutes=45, duration_minutes=4, change=-8),
            ),
        ),
        expected_alarms=frozenset({(Metric.HEART_RATE, Priority.HIGH)}),
    ),
    # SpO2 <= 97 - 12 + 1 = 86 < 90 for 90 s (18 samples at 5 s), well past the 15 s delay.
    Scenario(
        name="desaturation",
        description="SpO2 falls to ~85 % for 90 s at 20 min (high SpO2 alarm)",
        physiology=Physiology(
            Baseline(120, 76, 74, 97), DoseResponse(8, 5, 8),
            episodes=(
                Episode(Signal.SPO2, start_minutes=20, duration_minutes=1.5, change=-12),
            ),
        ),
        expected_alarms=frozenset({(Metric.SPO2, Priority.HIGH)}),
    ),
    # A capnograph in the session: RR 14 falls by 9 for 2 min at 30 min, RR <= 14 - 9 + 1.5 =
    # 6.5 < 8 for 2 min, far past the 15 s delay. SpO2 stays >= 96 (capnography sees slow
    # breathing before the oximeter does); BP and HR as in "normal".
    Scenario(
        name="slow-breathing",
        description="a capnograph's respiratory rate falls to ~5/min for 2 min at 30 min (high "
        "respiratory-rate alarm)",
        physiology=Physiology(
            Baseline(120, 76, 74, 97, respiratory_rate=14), DoseResponse(8, 5, 8),
            episodes=(Episode(Signal.RESPIRATORY_RATE, start_minutes=30, duration_minutes=2,
                              change=-9),),
        ),
        expected_alarms=frozenset({(Metric.RESPIRATORY_RATE, Priority.HIGH)}),
    ),
    Scenario(
        name="cuff-error",
        description="the cuff flags a loose cuff at 22 min and body movement at 52 min, each "
        "followed by a clean repeat (low data alarm)",
        physiology=_QUIET,
        expected_alarms=frozenset({(Metric.DATA, Priority.LOW)}),
        device_faults=(
            DeviceFault(at_minutes=22, problems=(DeviceProblem.CUFF_LOOSE,)),
            DeviceFault(at_minutes=52, problems=(DeviceProblem.BODY_MOVEMENT,)),
        ),
    ),
    Scenario(
        name="device-dropout",
        description="the oximeter's HR and SpO2 streams stop for 4 min at 30 min, then resume "
        "(medium data alarm)",
        physiology=_QUIET,
        expected_alarms=frozenset({(Metric.DATA, Priority.MEDIUM)}),
        dropouts=(Dropout(start_minutes=30, duration_minutes=4),),
    ),
    # Baseline 166/102: pre-session no-go. Diastolic noise clipped at +-3: systolic 161-177
    # (>= 160, < 180) throughout; diastolic at the peak 101.9-108 (>= 100, < 110).
    Scenario(
        name="elevated-baseline",
        description="baseline 166/102 (pre-session no-go); dosed anyway, BP stays in the "
        "medium band (medium systolic and diastolic alarms)",
        physiology=Physiology(
            Baseline(166, 102, 80, 97), DoseResponse(6, 3, 6),
            noise=Noise(diastolic_sd=1.5, diastolic_limit=3.0),
        ),
        expected_alarms=frozenset(
            {(Metric.SYSTOLIC, Priority.MEDIUM), (Metric.DIASTOLIC, Priority.MEDIUM)}
        ),
        pre_session=Verdict.NO_GO,
    ),
    # Vital signs stay quiet (the pulse oximeter lags and an SpO2 drop is a separate scenario):
    # the monitor's observation alone raises the high observation alarm.
    Scenario(
        name="respiratory-depression",
        description="the monitor observes moderate respiratory depression at 25 min (high "
        "observation alarm)",
        physiology=_QUIET,
        expected_alarms=frozenset({(Metric.OBSERVATION, Priority.HIGH)}),
        observations=(
            SimObservation(15, ObservationKind.SEDATION, Severity.MILD, "drowsy, rousable"),
            SimObservation(25, ObservationKind.RESPIRATORY_DEPRESSION, Severity.MODERATE,
                           "shallow, slow breathing"),
        ),
    ),
)

SCENARIOS: Final[Mapping[str, Scenario]] = MappingProxyType({row.name: row for row in _ROWS})
DEFAULT_SCENARIO: Final = "normal"


def get(name: str) -> Scenario:
    """The scenario called `name`; the error lists the valid names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(
            f"unknown scenario {name!r}: expected one of {', '.join(SCENARIOS)}"
        ) from None


def help_text() -> str:
    """One line per scenario, for `vitals simulate --help`."""
    width = max(len(name) for name in SCENARIOS)
    return "\n".join(f"{name:<{width}}  {row.description}" for name, row in SCENARIOS.items())
