"""The ingest's retained status as the pipeline banner's input: a table, and one real broker."""

from __future__ import annotations

import json

import pytest
from services import wait_until

from dashboard.health import AlarmFeed, IngestStatus, ingest_problem, notifier_problem
from tests.dashboard.builders import NOW
from vitals.mqtt import make_client, status_topic

RUNNING = {"state": "running", "time": "2026-11-28T16:59:58Z", "client_id": "ingest-1",
           "interval_s": 5.0, "broker": "up", "store": "up", "store_down_since": None}


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({}, None),
        ({"a": RUNNING}, None),
        ({"a": {"state": "offline", "client_id": "ingest-1", "broker": "down"}},
         "ingest ingest-1 is offline"),
        ({"a": {**RUNNING, "store": "down", "store_down_since": "2026-11-28T16:58:00Z"}},
         "ingest ingest-1 cannot write to the database since 2026-11-28T16:58:00Z"),
        ({"a": {**RUNNING, "time": "2026-11-28T16:59:40Z"}}, "ingest ingest-1 silent for 20 s"),
        # A thread of it died: its fresh "failed" status is never taken for judging.
        ({"a": RUNNING, "b": {**RUNNING, "state": "failed", "client_id": "ingest-2"}},
         "ingest ingest-2 has failed (a thread of it stopped; restart it) (alarms continue on "
         "ingest-1)"),
        # One of two workers stopped on purpose: the other still ingests.
        ({"a": RUNNING, "b": {**RUNNING, "state": "stopped", "client_id": "ingest-2"}}, None),
        ({"b": {**RUNNING, "state": "stopped", "client_id": "ingest-2"}},
         "no ingest worker is running"),
        # Replicas: one down of two is named, and the banner says alarms continue on the other.
        ({"a": RUNNING, "b": {"state": "offline", "client_id": "ingest-2", "broker": "down"}},
         "ingest ingest-2 is offline (alarms continue on ingest-1)"),
        ({"a": RUNNING, "b": {**RUNNING, "client_id": "ingest-2",
                              "time": "2026-11-28T16:59:00Z"}},
         "ingest ingest-2 silent for 60 s (alarms continue on ingest-1)"),
        ({"a": {"state": "offline", "client_id": "ingest-1", "broker": "down"},
          "b": {"state": "offline", "client_id": "ingest-2", "broker": "down"}},
         "ingest ingest-1 is offline; ingest ingest-2 is offline"),
        # The store down at start: alarms are judged, and a full window is said aloud.
        ({"a": {**RUNNING, "store": "down", "backlog": 1000, "window": 1000}},
         "ingest ingest-1 cannot write to the database: alarms are judged, nothing is stored; "
         "it holds its full window of 1000 readings, so newer readings wait unjudged"),
        # A source that tried to start more sessions than allowed (docs/threat-model.md).
        ({"a": {**RUNNING, "refused_sessions": 90_000,
                "refused_sessions_last": "2026-11-28T16:59:50Z"}},
         "ingest ingest-1 refused readings that would start 90000 new sessions"),
        ({"a": {**RUNNING, "refused_sessions": 3,  # long ago: no longer on the banner
                "refused_sessions_last": "2026-11-28T16:00:00Z"}}, None),
    ],
)
def test_ingest_problem_names_the_worker_and_what_is_wrong(statuses, expected):
    problem = ingest_problem(statuses, NOW)

    if expected is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(expected)
        assert problem.endswith("check the pipeline")


def test_the_watcher_reports_a_worker_the_broker_declared_offline(broker_settings, session_id):
    topic = status_topic(broker_settings.topic_prefix, session_id)
    publisher = make_client(broker_settings.mqtt)
    publisher.connect(broker_settings.mqtt.host, broker_settings.mqtt.port)
    publisher.loop_start()
    watcher = IngestStatus(broker_settings, clock=lambda: NOW)
    try:
        document = {"state": "offline", "client_id": session_id, "broker": "down"}
        publisher.publish(topic, json.dumps(document), qos=1, retain=True).wait_for_publish(5)
        watcher.start()

        wait_until(lambda: f"ingest {session_id} is offline" in (watcher.problem() or ""), 5,
                   "the retained offline status")
    finally:
        publisher.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)  # clear it
        publisher.disconnect()
        publisher.loop_stop()
        watcher.close()


def alert_event(time: str, state: str = "active", priority: str = "high",
                metric: str = "systolic", session: str = "s1") -> dict:
    return {"session": session, "metric": metric, "priority": priority, "state": state,
            "time": time, "message": f"{metric} {state}"}


@pytest.mark.parametrize(("events", "showing"), [
    ([], []),
    ([alert_event("2026-11-28T17:00:00Z")], [("s1", "systolic", "active")]),
    # Two replicas publish each event: their copies collapse.
    ([alert_event("2026-11-28T17:00:00Z")] * 2, [("s1", "systolic", "active")]),
    ([alert_event("2026-11-28T17:00:00Z"), alert_event("2026-11-28T17:01:00Z", "cleared")], []),
    # A late copy of an older event does not bring back a cleared alarm.
    ([alert_event("2026-11-28T17:00:00Z"), alert_event("2026-11-28T17:01:00Z", "cleared"),
      alert_event("2026-11-28T17:00:00Z")], []),
    ([alert_event("2026-11-28T17:00:00Z", "active", "low", "spo2"),
      alert_event("2026-11-28T17:00:05Z", "acknowledged", "high", "heart_rate"),
      alert_event("2026-11-28T16:59:00Z", "active", "high", "systolic")],
     [("s1", "systolic", "active"), ("s1", "heart_rate", "acknowledged"),
      ("s1", "spo2", "active")]),
    # Sub-second times order as times, not as text ("00.5Z" is after "00Z").
    ([alert_event("2026-11-28T17:00:00.500Z", "cleared"), alert_event("2026-11-28T17:00:00Z")],
     []),
])
def test_the_alarm_feed_keeps_the_alarms_showing_most_urgent_first(events, showing):
    feed = AlarmFeed()
    for event in events:
        feed.add(event)
    assert [(a["session"], a["metric"], a["state"]) for a in feed.showing()] == showing


def test_the_watcher_feeds_the_alarms_the_ingest_publishes(broker_settings, session_id):
    watcher = IngestStatus(broker_settings)
    watcher.start()
    publisher = make_client(broker_settings.mqtt)
    publisher.connect(broker_settings.mqtt.host, broker_settings.mqtt.port)
    publisher.loop_start()
    try:
        topic = f"{broker_settings.topic_prefix}/{session_id}/alert"
        # The watcher subscribes once connected: publish until it has seen one.
        wait_until(lambda: publisher.publish(topic, json.dumps(alert_event(
            "2026-11-28T17:00:00Z", session=session_id)), qos=1) and any(
            a["session"] == session_id for a in watcher.alarms()), 10, "the alarm in the feed")
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        watcher.close()


NOTIFIER = {"state": "running", "time": "2026-11-28T16:59:58Z", "client_id": "notify-1",
            "interval_s": 5.0, "sent": 3, "failed": 0, "failures": []}


@pytest.mark.parametrize(("statuses", "expected"), [
    ({}, None),  # no notifier deployed: nothing to say
    ({"t": NOTIFIER}, None),
    ({"t": {**NOTIFIER, "failures": ["could not notify Dr X by mailto: connection refused"]}},
     "could not notify Dr X by mailto: connection refused"),
    ({"t": {"state": "offline", "client_id": "notify-1"}},
     "notifier notify-1 is offline: alarms are not sent off the screen"),
    ({"t": {**NOTIFIER, "time": "2026-11-28T16:59:00Z"}}, "notifier notify-1 silent for 60 s"),
    ({"t": {"state": "stopped", "client_id": "notify-1"}}, None),
])
def test_notifier_problem_says_a_failed_delivery_or_a_notifier_gone(statuses, expected) -> None:
    assert notifier_problem(statuses, NOW) == expected


def test_a_failed_delivery_of_a_real_notifier_reaches_the_banner(broker_settings, session_id,
                                                                 tmp_path) -> None:
    from services import HOST, free_port

    from notify.roster import parse_roster
    from notify.worker import Notifier
    from vitals.alerts import AlertEvent, AlertState, Metric, Priority
    from vitals.mqtt import alert_topic
    from vitals.timefmt import utcnow

    settings = broker_settings.model_copy(update={"data_dir": tmp_path,
                                                  "notify_client_id": f"n-{session_id}"})
    roster = parse_roster(f"""
[[person]]
name = "Dr X"
role = "monitor"
urls = ["json://{HOST}:{free_port()}/closed"]
""")
    notifier = Notifier(settings, roster)
    watcher = IngestStatus(settings, clock=utcnow)
    publisher = make_client(settings.mqtt)
    publisher.connect(settings.mqtt.host, settings.mqtt.port)
    publisher.loop_start()
    try:
        notifier.start()
        watcher.start()
        event = AlertEvent(utcnow(), session_id, Metric.SPO2, Priority.HIGH, AlertState.ACTIVE,
                           "SpO2 86 %", "spo2.low")
        publisher.publish(alert_topic(settings.topic_prefix, session_id),
                          json.dumps(event.to_json()), qos=1).wait_for_publish(5)
        wait_until(lambda: "could not notify Dr X by json" in (watcher.problem() or ""), 10,
                   "the failed delivery on the banner")
    finally:
        notifier.stop()
        publisher.publish(status_topic(settings.topic_prefix, settings.notify_client_id,
                                       "_notify"), b"", qos=1, retain=True).wait_for_publish(5)
        publisher.disconnect()
        publisher.loop_stop()
        watcher.close()
