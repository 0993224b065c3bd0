"""A whole simulated session as a list of MQTT messages: pure, no I/O, no clock.

Session protocol (times from the session's start event):
- `start` at 0; the oximeter's HR and SpO2 samples every `stream_interval` from 0 until the end;
- two baseline cuff readings before the dose (at 30 % and 80 % of `dose_after`);
- `dose` at `dose_after` (default 10 min);
- cuff readings every `cuff_interval` after the dose, plus one at 40 min (the guidance's recheck);
- `end` at `dose_after + session_length` (default 120 min after the dose);
- a simulated monitor (`sim-monitor`) checks in (`checkin` session event) at 0 and every
  `checkin_interval` (default 15 min) until the end, and records the scenario's observations.

Payloads follow the contract exactly; `time` is the simulated time `start + offset`.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from simulators.physiology import Patient
from simulators.scenarios import Scenario, get
from vitals.readings import OBSERVATION_LEAF, SESSION_ID, SESSION_LEAF
from vitals.timefmt import rfc3339
from vitals.vital_signs import VITAL_SIGNS, Kind

CUFF_DEVICE: Final = "cuff-1"
OXIMETER_DEVICE: Final = "oximeter-1"
SIMULATOR_ID: Final = "simulator"
MONITOR_ID: Final = "sim-monitor"
CHECKIN_INTERVAL: Final = timedelta(minutes=15)  # the peer monitor's cadence (issue 8)
RECHECK_AFTER_DOSE: Final = timedelta(minutes=40)  # Spravato REMS: BP at 40 min
BASELINE_FRACTIONS: Final = (0.3, 0.8)  # of the pre-dose period: two baseline cuff readings

# Topic leaves, as plain strings.
BP, HR, SPO2 = Kind.BP.value, Kind.HR.value, Kind.SPO2.value
# Streams beside the oximeter's, sampled at its rate for patients whose baseline has them.
FURTHER_STREAMS: Final = tuple(s for s in VITAL_SIGNS if s.stream and s.kind not in (Kind.HR,
                                                                                  Kind.SPO2))
FURTHER_DEVICES: Final = {s.kind.value: f"{s.device}-1" for s in FURTHER_STREAMS}  # capnograph-1
SESSION, OBSERVATION = SESSION_LEAF, OBSERVATION_LEAF
# Every leaf a timeline holds, so every topic the simulator publishes (`<prefix>/<session>/<leaf>`):
# the shipped Mosquitto ACL must let the `simulator` account write each.
TOPIC_LEAVES: Final = (*(kind.value for kind in Kind), SESSION, OBSERVATION)
# Ties at one instant: the start event first, then readings, then the end.
_FIRST, _READING, _LAST = 0, 1, 2


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One message to publish: `offset` from the session's start, `time` = start + offset."""

    offset: timedelta
    leaf: str  # bp, hr, spo2, session or observation
    payload: dict[str, Any]
    session: str
    time: datetime


def session_messages(
    scenario: Scenario | str,
    session_id: str,
    start: datetime,
    seed: int,
    *,
    cuff_interval: timedelta = timedelta(minutes=5),
    stream_interval: timedelta = timedelta(seconds=5),
    dose_after: timedelta = timedelta(minutes=10),
    session_length: timedelta = timedelta(minutes=120),
    checkin_interval: timedelta | None = CHECKIN_INTERVAL,
    label: str | None = None,
) -> list[SimMessage]:
    """Every message of one session, in time order; the same arguments give the same list.
    `label`: the display label its start carries (room, chair)."""
    spec = get(scenario) if isinstance(scenario, str) else scenario
    if not SESSION_ID.match(session_id):
        raise ValueError(f"session id must be 1 to 64 characters of A-Z a-z 0-9 _ -, got "
                         f"{session_id!r}")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    for name, value in (("cuff_interval", cuff_interval), ("stream_interval", stream_interval),
                        ("dose_after", dose_after), ("session_length", session_length)):
        if value <= timedelta(0):
            raise ValueError(f"{name} must be positive, got {value}")
    if checkin_interval is not None and checkin_interval <= timedelta(0):
        raise ValueError(f"checkin_interval must be positive or None, got {checkin_interval}")

    patient = Patient(spec.physiology, random.Random(seed))
    end = dose_after + session_length
    planned: list[tuple[timedelta, int, str, dict[str, Any]]] = []

    def since_dose(offset: timedelta) -> float:
        return (offset - dose_after) / timedelta(minutes=1)

    def cuff(offset: timedelta, problems: Sequence[str] = ()) -> None:
        bp = patient.blood_pressure(since_dose(offset))
        payload: dict[str, Any] = {"systolic": bp.systolic, "diastolic": bp.diastolic,
                                   "pulse": bp.pulse}
        if problems:
            payload["problems"] = list(problems)
        planned.append((offset, _READING, BP, payload))

    start_event = {"event": "start", "note": f"simulated scenario {spec.name}",
                   "by": SIMULATOR_ID}
    if label:
        start_event["label"] = label
    planned.append((timedelta(0), _FIRST, SESSION, start_event))
    planned.append((dose_after, _READING, SESSION, {"event": "dose", "by": SIMULATOR_ID}))
    planned.append((end, _LAST, SESSION, {"event": "end", "by": SIMULATOR_ID}))

    if checkin_interval is not None:  # None: nobody checks in (a device-only session)
        at = timedelta(0)
        while at < end:
            planned.append((at, _READING, SESSION, {"event": "checkin", "by": MONITOR_ID}))
            at += checkin_interval
    for seen in spec.observations:
        at = dose_after + timedelta(minutes=seen.at_minutes)
        if timedelta(0) <= at < end:
            payload: dict[str, Any] = {"observation": seen.observation.value,
                                       "severity": seen.severity.value, "by": MONITOR_ID}
            if seen.note is not None:
                payload["note"] = seen.note
            planned.append((at, _READING, OBSERVATION, payload))

    for offset in _cuff_schedule(dose_after, session_length, cuff_interval, spec):
        problems = _faults_at(spec, since_dose(offset))
        cuff(offset, problems)

    silent = [(dose_after + timedelta(minutes=d.start_minutes),
               dose_after + timedelta(minutes=d.start_minutes + d.duration_minutes),
               {str(leaf) for leaf in d.leaves}) for d in spec.dropouts]
    offset = timedelta(0)
    while offset < end:
        # Sampled even while silent, so a dropout does not shift the rest of the stream.
        sample = patient.oximetry(since_dose(offset))
        muted = set().union(*(leaves for lo, hi, leaves in silent if lo <= offset < hi)) \
            if silent else set()
        if HR not in muted:
            planned.append((offset, _READING, HR, {"bpm": sample.heart_rate}))
        if SPO2 not in muted:
            planned.append((offset, _READING, SPO2,
                            {"spo2": sample.spo2, "pulse": sample.pulse}))
        for sign in FURTHER_STREAMS:
            values = patient.stream(sign, since_dose(offset))
            if values is not None and sign.kind.value not in muted:
                planned.append((offset, _READING, sign.kind.value, values))
        offset += stream_interval

    planned.sort(key=lambda row: (row[0], row[1]))  # stable: hr before spo2 at one instant
    return [_message(session_id, start, offset, leaf, payload)
            for offset, _, leaf, payload in planned]


def session_seed(seed: int, index: int) -> int:
    """The noise seed of the `index`-th session (from 0) of a run seeded with `seed`: the one
    rule, so `vitals simulate` and `vitals profile burden` play the same sessions."""
    return seed * 1000 + index


def merge(timelines: Iterable[Sequence[SimMessage]]) -> list[SimMessage]:
    """Interleave sessions by time; ties keep the order of `timelines`."""
    return list(heapq.merge(*timelines, key=lambda message: message.time))


def _cuff_schedule(dose_after: timedelta, session_length: timedelta, interval: timedelta,
                   spec: Scenario) -> list[timedelta]:
    """Offsets of every cuff measurement, faulty ones and their repeats included."""
    times = {dose_after * fraction for fraction in BASELINE_FRACTIONS}
    step = interval
    while step <= session_length:
        times.add(dose_after + step)
        step += interval
    if session_length >= RECHECK_AFTER_DOSE and not any(
        abs(t - dose_after - RECHECK_AFTER_DOSE) <= interval / 5 for t in times
    ):
        times.add(dose_after + RECHECK_AFTER_DOSE)
    for fault in spec.device_faults:
        at = dose_after + timedelta(minutes=fault.at_minutes)
        times.add(at)
        if fault.repeat_after_minutes is not None:
            times.add(at + timedelta(minutes=fault.repeat_after_minutes))
    return sorted(t for t in times if t <= dose_after + session_length)


def _faults_at(spec: Scenario, minutes: float) -> tuple[str, ...]:
    problems = (fault.problems for fault in spec.device_faults
                if abs(fault.at_minutes - minutes) < 1e-9)
    return tuple(dict.fromkeys(p.value for group in problems for p in group))


def _message(session: str, start: datetime, offset: timedelta, leaf: str,
             payload: dict[str, Any]) -> SimMessage:
    moment = start + offset
    document = dict(payload)
    document["time"] = rfc3339(moment)
    if leaf == BP:
        document["device"] = CUFF_DEVICE
    elif leaf in (HR, SPO2):
        document["device"] = OXIMETER_DEVICE
    elif leaf in FURTHER_DEVICES:
        document["device"] = FURTHER_DEVICES[leaf]
    return SimMessage(offset=offset, leaf=leaf, payload=document, session=session, time=moment)
