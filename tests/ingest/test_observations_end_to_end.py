"""Observations and check-ins (issue 8) through real Mosquitto, the ingest and both stores.

The engine judges by the times the messages carry, so a missed check-in is provoked by
publishing readings whose times run past the interval: the clock is the test's, not the wall's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from services import wait_until

from vitals.cli import main
from vitals.readings import ObservationKind, SessionEventType, Severity
from vitals.settings import Settings
from vitals.timefmt import rfc3339, utcnow

# Its servers come through `request.getfixturevalue`, which collection cannot see.
pytestmark = pytest.mark.services

START = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
HOSTILE_NOTE = 'said "I can\'t feel my hands"\nthen: a,b c=d \\ 日本語'


@pytest.fixture(params=["influxdb", "sqlite"])
def settings(request) -> Settings:
    return request.getfixturevalue("influx_settings" if request.param == "influxdb"
                                   else "sqlite_settings")


def at(minutes: float = 0, seconds: float = 0) -> str:
    return rfc3339(START + timedelta(minutes=minutes, seconds=seconds))


def export_json(settings: Settings, session: str) -> dict:
    env = {"VITALS_INFLUX_URL": settings.influx_url, "VITALS_INFLUX_DB": settings.influx_db,
           "VITALS_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(main, ["export", session, "--format", "json"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def alerts_where(probe, session: str, **match: object) -> list[dict]:
    return [a for a in probe.messages(f"{session}/alert")
            if all(a.get(key) == value for key, value in match.items())]


def started_session(settings, worker_factory, probe_factory, session: str):
    """A worker, its store and a probe on the session's alerts, the session started at 0."""
    worker, store = worker_factory(settings)
    probe = probe_factory(settings, [f"vitals/{session}/alert"])
    probe.publish(f"vitals/{session}/session", {"event": "start", "time": at(0)})
    return worker, store, probe


def test_observations_are_stored_exported_and_respiratory_depression_alarms(
        settings, worker_factory, probe_factory, session_id):
    worker, store, probe = started_session(settings, worker_factory, probe_factory, session_id)
    topic = f"vitals/{session_id}"
    probe.publish(f"{topic}/observation", {"observation": "nausea", "severity": "mild",
                                           "note": HOSTILE_NOTE, "by": "nurse-a",
                                           "time": at(20)})
    probe.publish(f"{topic}/observation", {"observation": "respiratory_depression",
                                           "severity": "moderate", "by": "nurse-a",
                                           "time": at(25)})
    probe.publish(f"{topic}/observation", {"observation": "sedation", "time": at(26)})
    probe.publish(f"{topic}/observation", {"observation": "hiccups", "time": at(27)})

    wait_until(lambda: len(store.observations(session_id)) == 3, 20, "three observations stored")
    wait_until(lambda: alerts_where(probe, session_id, metric="observation", state="active"),
               20, "the observation alarm on the alert topic")
    (alarm,) = alerts_where(probe, session_id, metric="observation", state="active")
    assert (alarm["priority"], alarm["rule"], alarm["time"]) == (
        "high", "observation.respiratory_depression", at(25))
    assert alarm["message"] == ("Respiratory depression observed by nurse-a: check breathing "
                                "and SpO2 now; call the clinician.")

    # Acknowledged over MQTT like any alarm: an observation has no "back in range", so it clears.
    probe.publish(f"{topic}/ack", {"metric": "observation", "by": "nurse-b", "time": at(26)})
    wait_until(lambda: alerts_where(probe, session_id, metric="observation", state="cleared"),
               20, "the observation alarm cleared after its acknowledgement")
    assert worker.wait_idle(20)

    exported = export_json(settings, session_id)
    assert exported["observations"] == [
        {"time": at(20), "observation": "nausea", "severity": "mild", "note": HOSTILE_NOTE,
         "by": "nurse-a"},
        {"time": at(25), "observation": "respiratory_depression", "severity": "moderate",
         "note": None, "by": "nurse-a"},
        {"time": at(26), "observation": "sedation", "severity": "mild", "note": None,
         "by": None},
    ]
    assert [(a["metric"], a["state"]) for a in exported["alerts"]] == [
        ("observation", "active"), ("observation", "acknowledged"), ("observation", "cleared")]
    stored = store.observations(session_id)
    assert [(o.observation, o.severity) for o in stored] == [
        (ObservationKind.NAUSEA, Severity.MILD),
        (ObservationKind.RESPIRATORY_DEPRESSION, Severity.MODERATE),
        (ObservationKind.SEDATION, Severity.MILD)]


def test_a_missed_checkin_alarms_by_the_readings_clock_and_a_checkin_resolves_it(
        settings, worker_factory, probe_factory, session_id):
    worker, store, probe = started_session(settings, worker_factory, probe_factory, session_id)
    topic = f"vitals/{session_id}"
    probe.publish(f"{topic}/session", {"event": "checkin", "by": "nurse-a", "time": at(0)})
    for second in range(0, 17 * 60 + 31, 10):  # HR every 10 s: no stream alarm, clock runs on
        probe.publish(f"{topic}/hr", {"bpm": 72, "device": "ox-1", "time": at(0, second)})

    wait_until(lambda: alerts_where(probe, session_id, rule="data.checkin_missed"), 20,
               "the missed check-in alarm on the alert topic")
    (alarm,) = alerts_where(probe, session_id, rule="data.checkin_missed")
    # Dated when it fell due (17 min), not at the reading that noticed it (17:10).
    assert (alarm["metric"], alarm["priority"], alarm["state"], alarm["time"]) == (
        "data", "medium", "active", at(17))
    assert alarm["message"] == ("No presence check-in for 17 min (expected every 15): confirm a "
                                "monitor is with the patient.")

    probe.publish(f"{topic}/ack", {"metric": "data", "by": "nurse-b", "time": at(17, 40)})
    probe.publish(f"{topic}/session", {"event": "checkin", "by": "nurse-a", "time": at(18)})
    wait_until(lambda: alerts_where(probe, session_id, metric="data", state="cleared"), 20,
               "the data alarm cleared by the check-in")
    (cleared,) = alerts_where(probe, session_id, metric="data", state="cleared")
    assert (cleared["time"], cleared["message"]) == (at(18), "A monitor checked in.")
    assert worker.wait_idle(20)

    checkins = [(e.time, e.by) for e in store.events(session_id)
                if e.event is SessionEventType.CHECKIN]
    assert checkins == [(START, "nurse-a"), (START + timedelta(minutes=18), "nurse-a")]


def test_a_restarted_worker_remembers_observations_checkins_and_the_observation_alarm(
        settings, worker_factory, probe_factory, session_id):
    # A live session (restored), its clock a few minutes behind the wall's so that ticks, which
    # know no offset before the session's first reading, see nothing overdue.
    start = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    # Its later messages (t(20)) lead the wall clock, as a time-compressed simulation's do.
    settings = settings.model_copy(update={"max_time_ahead_seconds": float("inf")})

    def t(minutes: float) -> str:
        return rfc3339(start + timedelta(minutes=minutes))

    def alerts() -> list[tuple[str, str, str, str]]:
        return [(a.metric.value, a.priority.value, a.state.value, a.rule)
                for a in store.alerts(session_id)]

    topic = f"vitals/{session_id}"
    probe = probe_factory(settings, [])
    first, store = worker_factory(settings)
    probe.publish(f"{topic}/session", {"event": "start", "time": t(0)})
    probe.publish(f"{topic}/session", {"event": "checkin", "by": "nurse-a", "time": t(0)})
    probe.publish(f"{topic}/observation", {"observation": "sedation", "severity": "moderate",
                                           "by": "nurse-a", "time": t(1)})
    probe.publish(f"{topic}/observation", {"observation": "respiratory_depression",
                                           "by": "nurse-a", "time": t(2)})
    wait_until(lambda: len(alerts()) == 1, 20, "the respiratory-depression alarm")
    assert first.wait_idle(20)
    first.stop()

    second, store = worker_factory(settings)
    # The latched alarm was restored: acknowledging it clears it.
    probe.publish(f"{topic}/ack", {"metric": "observation", "by": "nurse-b", "time": t(3)})
    wait_until(lambda: len(alerts()) == 3, 20, "the acknowledgement and the clearing")
    # Only a remembered sedation makes this vomiting an aspiration risk.
    probe.publish(f"{topic}/observation", {"observation": "vomiting", "by": "nurse-a",
                                           "time": t(4)})
    wait_until(lambda: len(alerts()) == 4, 20, "the aspiration-risk alarm")
    # The remembered check-in at 0 makes the first reading, at 20 min, a missed check-in.
    probe.publish(f"{topic}/hr", {"bpm": 72, "time": t(20)})
    wait_until(lambda: len(alerts()) == 5, 20, "the missed check-in alarm")
    assert second.wait_idle(20)

    assert alerts() == [
        ("observation", "high", "active", "observation.respiratory_depression"),
        ("observation", "high", "acknowledged", "observation.respiratory_depression"),
        ("observation", "high", "cleared", "observation.respiratory_depression"),
        ("observation", "high", "active", "observation.vomiting.sedated"),
        ("data", "medium", "active", "data.checkin_missed"),
    ]


def test_a_retraction_marks_the_observation_keeps_its_alarm_and_survives_a_restart(
        settings, worker_factory, probe_factory, session_id):
    """Issue 19: entered in error, never deleted; the alarm it raised stays until acknowledged;
    a later rule no longer counts it, before and after a restart; a bad retraction is refused."""
    worker, store, probe = started_session(settings, worker_factory, probe_factory, session_id)
    topic = f"vitals/{session_id}"
    rejected = probe_factory(settings, [f"{topic}/rejected"])
    probe.publish(f"{topic}/observation", {"observation": "sedation", "severity": "moderate",
                                           "by": "nurse-a", "time": at(1)})
    probe.publish(f"{topic}/observation", {"observation": "respiratory_depression",
                                           "by": "nurse-a", "time": at(2)})
    for kind, observed in (("sedation", at(1)), ("respiratory_depression", at(2))):
        probe.publish(f"{topic}/observation", {"retract": {"observation": kind, "time": observed},
                                               "by": "nurse-a", "time": at(3)})
    probe.publish(f"{topic}/observation", {"retract": {"observation": "sedation"},
                                           "by": "nurse-a", "time": at(3)})
    probe.publish(f"{topic}/observation", {"observation": "vomiting", "by": "nurse-a",
                                           "time": at(5)})

    wait_until(lambda: len(store.observations(session_id)) == 3, 20, "three observations stored")
    wait_until(lambda: rejected.messages(f"{session_id}/rejected"), 20, "the bad retraction")
    wait_until(lambda: sum(o.retracted_at is not None
                           for o in store.observations(session_id)) == 2, 20, "two marked")
    assert worker.wait_idle(20)
    (refusal,) = rejected.messages(f"{session_id}/rejected")
    assert "retract must be" in refusal["reason"]
    marked = {o.observation.value: (o.retracted_by, o.retracted_at)
              for o in store.observations(session_id)}
    assert marked == {"sedation": ("nurse-a", START + timedelta(minutes=3)),
                      "respiratory_depression": ("nurse-a", START + timedelta(minutes=3)),
                      "vomiting": (None, None)}
    # The respiratory-depression alarm stays active; the vomiting raised no aspiration alarm.
    assert [(a.rule, a.state.value) for a in store.alerts(session_id)] == [
        ("observation.respiratory_depression", "active")]
    exported = export_json(settings, session_id)["observations"]
    assert [(o["observation"], o.get("retracted_by")) for o in exported] == [
        ("sedation", "nurse-a"), ("respiratory_depression", "nurse-a"), ("vomiting", None)]
    worker.stop()

    second, store = worker_factory(settings)
    probe.publish(f"{topic}/observation", {"observation": "vomiting", "by": "nurse-b",
                                           "time": at(6)})
    wait_until(lambda: len(store.observations(session_id)) == 4, 20, "the second vomiting")
    assert second.wait_idle(20)
    assert [a.rule for a in store.alerts(session_id)] == ["observation.respiratory_depression"]
