"""A restarted ingest worker remembers active alarms, latches and baselines (from storage)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from services import wait_until

from ingest.service import build_engine
from ingest.worker import IngestWorker
from vitals.storage import open_store
from vitals.timefmt import rfc3339, utcnow

# Its servers come through `request.getfixturevalue`, which collection cannot see.
pytestmark = pytest.mark.services

# A live session: the worker restores sessions seen within its restore window.
START = utcnow().replace(microsecond=0) - timedelta(hours=1)


def at(minutes: float) -> str:
    return rfc3339(START + timedelta(minutes=minutes))


@pytest.fixture(params=["sqlite_settings", "influx_settings"])
def settings(request):
    return request.getfixturevalue(request.param)


def alerts_of(store, session):
    return [(a.metric.value, a.priority.value, a.state.value) for a in store.alerts(session)]


def start_with_baseline_then_dose(probe, session, *baseline: tuple[float, float]) -> None:
    """Start at minute 0, the baseline's blood pressures at minutes 2 and 7, the dose at 10."""
    probe.publish(f"vitals/{session}/session", {"event": "start", "time": at(0)})
    for minute, (systolic, diastolic) in zip((2, 7), baseline, strict=True):
        probe.publish(f"vitals/{session}/bp",
                      {"systolic": systolic, "diastolic": diastolic, "time": at(minute)})
    probe.publish(f"vitals/{session}/session", {"event": "dose", "time": at(10)})


def test_alarms_latches_and_baseline_survive_a_worker_restart(
        settings, worker_factory, probe_factory, session_id):
    probe = probe_factory(settings, [])
    first, store = worker_factory(settings)
    s = session_id
    start_with_baseline_then_dose(probe, s, (118, 76), (122, 78))
    probe.publish(f"vitals/{s}/bp", {"systolic": 186, "diastolic": 84, "time": at(20)})
    wait_until(lambda: ("systolic", "high", "active") in alerts_of(store, s), 10,
               "the crisis alarm")
    assert first.wait_idle(10)
    first.stop()

    second, store = worker_factory(settings)
    # Back below every limit twice: a latched high alarm keeps showing (no "cleared").
    probe.publish(f"vitals/{s}/bp", {"systolic": 125, "diastolic": 79, "time": at(30)})
    probe.publish(f"vitals/{s}/bp", {"systolic": 124, "diastolic": 78, "time": at(40)})
    # The baseline (120/77) is remembered: 141 is >= baseline + 20 but below every absolute
    # limit, so only a remembered baseline can raise this low alarm.
    probe.publish(f"vitals/{s}/bp", {"systolic": 141, "diastolic": 79, "time": at(50)})
    wait_until(lambda: len(store.readings(s)) == 6, 10, "all six readings stored")
    assert second.wait_idle(10)

    assert alerts_of(store, s).count(("systolic", "high", "active")) == 1, (
        "the restarted worker raised the crisis alarm again")
    assert ("systolic", "high", "cleared") not in alerts_of(store, s), (
        "a latched, unacknowledged alarm was cleared")
    assert [a.priority.value for a in second.pipeline.engine.active(s)] == ["high"]

    probe.publish(f"vitals/{s}/ack", {"metric": "systolic", "by": "nurse-a",
                                      "note": "re-measured, calmer", "time": at(51)})
    wait_until(lambda: ("systolic", "high", "acknowledged") in alerts_of(store, s), 10,
               "the acknowledgement stored")
    acknowledged = [a for a in store.alerts(s) if a.state.value == "acknowledged"]
    assert (acknowledged[0].by, acknowledged[0].note) == ("nurse-a", "re-measured, calmer")


def test_a_restarted_worker_judges_the_baseline_rise_with_the_stored_baseline(
        settings, worker_factory, probe_factory, session_id):
    probe = probe_factory(settings, [])
    first, store = worker_factory(settings)
    start_with_baseline_then_dose(probe, session_id, (100, 62), (104, 64))
    wait_until(lambda: len(store.events(session_id)) == 2, 10, "the dose stored")
    assert first.wait_idle(10)
    first.stop()

    _, store = worker_factory(settings)
    probe.publish(f"vitals/{session_id}/bp", {"systolic": 143, "diastolic": 70, "time": at(18)})
    wait_until(lambda: bool(store.alerts(session_id)), 10, "an alarm on the rise over baseline")
    [alarm] = store.alerts(session_id)
    assert (alarm.metric.value, alarm.priority.value, alarm.limit) == ("systolic", "medium", 142)


class UnreadableSession:
    """The real store, except that one session's readings cannot be read back (a corrupt row)."""

    def __init__(self, store, session: str) -> None:
        self._store, self._session = store, session

    def readings(self, session, *args, **kwargs):
        if session == self._session:
            raise ValueError("a stored row that does not decode")
        return self._store.readings(session, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_a_session_that_cannot_be_restored_alarms_high_and_the_others_are_restored(
        sqlite_settings, worker_factory, probe_factory, session_id):
    probe = probe_factory(sqlite_settings, ["vitals/+/alert"])
    first, store = worker_factory(sqlite_settings)
    sessions = (f"{session_id}-bad", f"{session_id}-ok")
    for s in sessions:
        probe.publish(f"vitals/{s}/bp", {"systolic": 118, "diastolic": 76, "time": at(2)})
    wait_until(lambda: all(store.readings(s) for s in sessions), 10, "both sessions stored")
    assert first.wait_idle(10)
    first.stop()

    store = UnreadableSession(open_store(sqlite_settings), sessions[0])
    second = IngestWorker(sqlite_settings, store, build_engine(sqlite_settings))
    try:
        second.start()
        wait_until(lambda: probe.messages("/alert"), 10, "the restore failure's alarm")
        [alarm] = probe.messages("/alert")
        assert (alarm["session"], alarm["metric"], alarm["priority"]) == (
            sessions[0], "data", "high")
        assert "could not be restored" in alarm["message"]
        assert second.pipeline.engine.state(sessions[1]) is not None, "the other not restored"
    finally:
        second.stop()
        store.close()


def rules_of(store, session):
    return [(a.rule, a.state.value) for a in store.alerts(session)]


def test_readings_after_the_end_raise_an_alarm_that_a_restart_keeps_until_acknowledged(
        sqlite_settings, worker_factory, probe_factory, session_id):
    probe = probe_factory(sqlite_settings, [])
    first, store = worker_factory(sqlite_settings)
    s = session_id
    probe.publish(f"vitals/{s}/session", {"event": "start", "time": at(0)})
    probe.publish(f"vitals/{s}/spo2", {"spo2": 97, "time": at(1)})
    probe.publish(f"vitals/{s}/session", {"event": "end", "time": at(5)})
    probe.publish(f"vitals/{s}/spo2", {"spo2": 86, "time": at(6)})  # still attached
    wait_until(lambda: ("data.after_end", "active") in rules_of(store, s), 10,
               "the readings-after-the-end alarm")
    assert first.wait_idle(10)
    first.stop()

    _second, store = worker_factory(sqlite_settings)
    probe.publish(f"vitals/{s}/spo2", {"spo2": 85, "time": at(7)})
    probe.publish(f"vitals/{s}/ack", {"metric": "data", "by": "nurse-a", "time": at(8)})
    wait_until(lambda: ("data.after_end", "cleared") in rules_of(store, s), 10,
               "the acknowledged alarm cleared")
    assert rules_of(store, s).count(("data.after_end", "active")) == 1  # raised once
    assert len(store.readings(s)) == 3  # stored, never dropped


def test_a_failed_notification_still_clears_after_a_restart_when_that_person_is_reached(
        settings, worker_factory, probe_factory, session_id):
    from vitals.storage.base import Batch, NotificationRecord

    probe = probe_factory(settings, [])
    first, store = worker_factory(settings)
    s = session_id
    failed = {"time": at(5), "person": "Dr X", "channel": "mailto", "delivered": False,
              "error": "connection refused"}
    probe.publish(f"vitals/{s}/hr", {"bpm": 72, "time": at(0)})
    probe.publish(f"vitals/{s}/delivery", failed)
    probe.publish(f"vitals/{s}/ack", {"metric": "data", "by": "nurse", "time": at(6)})
    wait_until(lambda: ("data", "medium", "acknowledged") in alerts_of(store, s), 10,
               "the failed delivery's alarm, acknowledged")
    # The notifier's own record of it (it writes the audit; the ingest does not).
    store.write(Batch(notifications=[NotificationRecord(
        START + timedelta(minutes=5), s, "systolic", "Dr X", "mailto", "alarm", False,
        "connection refused")]))
    assert first.wait_idle(10)
    first.stop()

    second, store = worker_factory(settings)
    probe.publish(f"vitals/{s}/delivery", {**failed, "time": at(8), "delivered": True,
                                           "error": None})
    wait_until(lambda: ("data", "medium", "cleared") in alerts_of(store, s), 10,
               "the alarm cleared by the good delivery after the restart")
    assert second.pipeline.engine.active(s) == []
