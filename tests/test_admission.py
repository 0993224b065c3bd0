"""Which readings a session admits: devices bound to sessions, caps on new sessions (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitals.admission import NEW_SESSIONS_SOURCE, Admission
from vitals.readings import Reading
from vitals.vital_signs import Kind

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


def reading(session: str, kind: Kind = Kind.HR, device: str | None = "ox-1") -> Reading:
    values = {Kind.HR: {"bpm": 70.0}, Kind.BP: {"systolic": 120.0, "diastolic": 80.0},
              Kind.SPO2: {"spo2": 97.0}}[kind]
    return Reading(session, kind, T0, values, device=device)


# (what the start named, the reading's kind and device, admitted?)
NAMED = [
    (("cuff-1", "ox-1"), Kind.HR, "ox-1", True),
    (("cuff-1", "ox-1"), Kind.BP, "cuff-1", True),
    (("cuff-1", "ox-1"), Kind.BP, "cuff-9", False),
    (("cuff-1", "ox-1"), Kind.HR, None, False),  # naming none: cannot be one of them
    ((), Kind.HR, "anything", True),  # a start naming no devices binds nothing itself
]


@pytest.mark.parametrize(("named", "kind", "device", "admitted"), NAMED)
def test_a_started_session_admits_only_the_devices_its_start_named(named, kind, device,
                                                                   admitted) -> None:
    admission = Admission()
    admission.start("s1", named)
    refusal = admission.admit(reading("s1", kind, device), known=True, now=T0)
    assert (refusal is None) is admitted
    if refusal is not None:
        assert refusal.alarm is not None and "unbound" in refusal.alarm


def test_an_implicit_session_binds_the_first_device_per_kind() -> None:
    admission = Admission()
    assert admission.admit(reading("s1", Kind.HR, "ox-1"), known=False, now=T0) is None
    assert admission.admit(reading("s1", Kind.BP, "cuff-1"), known=True, now=T0) is None
    refusal = admission.admit(reading("s1", Kind.HR, "ox-2"), known=True, now=T0)
    assert refusal is not None and "ox-2" in refusal.reason and "ox-1" in refusal.reason
    assert refusal.alarm is not None
    # Readings naming no device (raw GATT values) cannot be attributed: admitted.
    assert admission.admit(reading("s1", Kind.HR, None), known=True, now=T0) is None


def test_a_start_naming_devices_rebinds_a_live_session() -> None:
    admission = Admission()
    admission.admit(reading("s1", Kind.HR, "ox-1"), known=False, now=T0)
    admission.start("s1", ["ox-2"])
    assert admission.admit(reading("s1", Kind.HR, "ox-2"), known=True, now=T0) is None
    assert admission.admit(reading("s1", Kind.HR, "ox-1"), known=True, now=T0) is not None


def test_one_device_may_start_only_so_many_sessions_and_the_others_keep_working() -> None:
    admission = Admission(max_sessions_per_device=3)
    for n in range(3):
        assert admission.admit(reading(f"s{n}"), known=False, now=T0) is None
    refusal = admission.admit(reading("s3"), known=False, now=T0)
    assert refusal is not None and refusal.source == NEW_SESSIONS_SOURCE
    assert refusal.alarm is None  # no such session to show it on: the ingest status does
    assert admission.admit(reading("s0"), known=True, now=T0) is None  # live ones still judged
    assert (admission.refused_sessions, admission.last_refused) == (1, T0)


def test_new_sessions_are_capped_per_minute_over_every_source_even_without_a_device() -> None:
    admission = Admission(max_new_sessions_per_minute=2)
    assert admission.admit(reading("a", device=None), known=False, now=T0) is None
    assert admission.admit(reading("b", device="x"), known=False, now=T0) is None
    assert admission.admit(reading("c", device=None), known=False, now=T0) is not None
    later = T0 + timedelta(minutes=1)
    assert admission.admit(reading("c", device=None), known=False, now=later) is None


def test_an_ended_session_frees_its_devices_slot() -> None:
    # `vitals demo --loop` starts new sessions on the same simulated devices for days.
    admission = Admission(max_sessions_per_device=2)
    for n in range(2):
        admission.admit(reading(f"s{n}"), known=False, now=T0)
    admission.end("s0")
    assert admission.admit(reading("s2"), known=False, now=T0) is None


def test_a_refused_device_does_not_count_the_session_as_its_own() -> None:
    admission = Admission(max_sessions_per_device=1)
    admission.start("s1", ["ox-1"])
    assert admission.admit(reading("s1", device="ox-2"), known=True, now=T0) is not None
    assert admission.admit(reading("s2", device="ox-2"), known=False, now=T0) is None
