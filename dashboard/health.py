"""The ingest workers' retained status (`<prefix>/_ingest/<id>/status`) as a banner input, and
the alarms they publish, for when the database cannot be read.

`ingest_problem(statuses, now)` is pure: the latest status document per worker in, the sentence
for the red pipeline banner (or None) out. `AlarmFeed` is pure too: alert events in, the alarms
showing out. `IngestStatus` is the edge: a paho subscriber that keeps the latest status per
topic and feeds the alert events; pass its `problem` to `create_app(health=...)` and its
`alarms` to `create_app(alarm_feed=...)`. The screens read alarms from the database; the feed
is what the banner can still say about them while the database cannot be read (alarms never
wait for the database).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import paho.mqtt.client as mqtt

from vitals.alerts import Metric
from vitals.ingest_health import Condition, document_time, worker_health, workers_health
from vitals.mqtt import NOTIFY_LEVEL, alert_subscription, make_client, status_subscription
from vitals.settings import Settings
from vitals.timefmt import utcnow

log = logging.getLogger(__name__)



def ingest_problem(statuses: Mapping[str, Mapping[str, Any]], now: datetime) -> str | None:
    """What is wrong with the ingest workers that reported a status, or None.

    No status at all says nothing (a deployment without status documents still has the
    staleness check). Every worker is a full replica judging every session: one down of
    several is named, with the replicas that carry on. A stopped worker was stopped on purpose;
    only when every worker is stopped is nobody ingesting. Each worker's condition is
    `vitals.ingest_health.worker_health`'s, the same `vitals check` reports.
    """
    problems: list[str] = []
    down: list[str] = []  # offline or silent: its share of alarms is carried by the others
    workers = workers_health(statuses, now)
    for worker in workers:
        name = worker.name
        if worker.condition is Condition.OFFLINE:
            down.append(f"ingest {name} is offline")
        elif worker.condition is Condition.SILENT:
            silent = "" if worker.age_s is None else f" for {worker.age_s:.0f} s"
            down.append(f"ingest {name} silent{silent}")
        elif worker.condition is Condition.FAILED:
            down.append(f"ingest {name} has failed (a thread of it stopped; restart it)")
        elif worker.condition is Condition.UNKNOWN:
            down.append(f"ingest {name} reports an unknown state {worker.state!r}")
        elif worker.condition is Condition.BROKER_LOST:
            problems.append(f"ingest {name} has lost the MQTT broker")
        elif worker.judging:
            if worker.refused:
                problems.append(f"ingest {name} {worker.refused}")
            if worker.store_down:
                text = (f"ingest {name} cannot write to the database"
                        + (f" since {worker.store_down_since}" if worker.store_down_since
                           else "") + ": alarms are judged, nothing is stored")
                if worker.window_full:
                    text += (f"; it holds its full window of {worker.window} readings, "
                             "so newer readings wait unjudged")
                problems.append(text)
    judging = [w.name for w in workers if w.judging]
    if down and judging:
        problems.append("; ".join(down) + f" (alarms continue on {', '.join(judging)})")
    else:
        problems += down
    if workers and all(w.condition is Condition.STOPPED for w in workers):
        problems.append("no ingest worker is running")
    return "; ".join(problems) + " — check the pipeline" if problems else None


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_FEED_ALARMS: Final = 2000  # alarms (session, metric) the feed remembers; the oldest go first
_PRIORITY_RANK: Final = {"high": 3, "medium": 2, "low": 1}


class AlarmFeed:
    """The alarms showing per (session, alarm), from the alert events as the ingest publishes
    them (each replica's copy collapses: the latest event per alarm wins). A technical (`data`)
    alarm is one per rule, as in `vitals.alerts.AlarmKey`."""

    def __init__(self, limit: int = MAX_FEED_ALARMS) -> None:
        self._latest: dict[tuple[str, str, str], dict[str, Any]] = {}  # per alarm, oldest first
        self._limit = limit

    def add(self, event: Mapping[str, Any]) -> None:
        time = document_time(event.get("time"))
        try:
            metric = str(event["metric"])
            rule = str(event.get("rule") or "") if metric == Metric.DATA.value else ""
            key = (str(event["session"]), metric, rule)
            state = str(event["state"])
        except KeyError:
            return
        if time is None:
            return
        current = self._latest.get(key)
        if current is not None and (document_time(current.get("time")) or time) > time:
            return  # an older event arriving late (another replica's copy): not newer news
        # A cleared alarm stays as the latest word on it, so a late copy cannot revive it.
        self._latest.pop(key, None)
        self._latest[key] = dict(event, state=state)
        while len(self._latest) > self._limit:
            self._latest.pop(next(iter(self._latest)))

    def showing(self) -> list[dict[str, Any]]:
        """Most urgent first: priority, unacknowledged before acknowledged, then newest."""
        newest_first = sorted((e for e in self._latest.values() if e["state"] != "cleared"),
                              key=lambda e: document_time(e.get("time")) or _EPOCH, reverse=True)
        return sorted(newest_first, key=lambda e: (
            -_PRIORITY_RANK.get(str(e.get("priority")), 0), e.get("state") == "acknowledged"))


def blind_alarms_text(alarms: list[Mapping[str, Any]], most: int = 3) -> str | None:
    """What the banner says of the alarms the ingest published while the database is unread."""
    if not alarms:
        return None
    parts = [f"{str(a.get('priority', '')).upper()} {a.get('session')}: {a.get('message')}"
             + (" (acknowledged)" if a.get("state") == "acknowledged" else "")
             for a in alarms[:most]]
    more = f" (+{len(alarms) - most} more)" if len(alarms) > most else ""
    return "Alarms from the ingest: " + "; ".join(parts) + more


def notifier_problem(statuses: Mapping[str, Mapping[str, Any]], now: datetime) -> str | None:
    """What is wrong with the notifiers (`vitals notify`) that reported a status, or None: a
    failed delivery ("could not notify Dr X by mailto: ..."), or a notifier offline or silent,
    so that alarms no longer reach anyone off the screen. None when no notifier is deployed."""
    problems: list[str] = []
    for key in sorted(statuses):
        document = statuses[key]
        notifier = worker_health(document, now, key)  # the same status shape as the ingest's
        if notifier.condition is Condition.OFFLINE:
            problems.append(f"notifier {notifier.name} is offline: alarms are not sent off the "
                            "screen")
        elif notifier.condition is Condition.SILENT:
            silent = "" if notifier.age_s is None else f" for {notifier.age_s:.0f} s"
            problems.append(f"notifier {notifier.name} silent{silent}")
        elif notifier.state == "running":
            problems += [str(f) for f in document.get("failures") or ()]
    return "; ".join(dict.fromkeys(problems)) or None


class IngestStatus:
    """Subscribes to every worker's retained status and to the alert events; `problem()` is the
    banner input, `alarms()` the alarms showing as published."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self._settings = settings
        self._clock = clock
        self._statuses: dict[str, dict[str, Any]] = {}
        self._feed = AlarmFeed()
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        client = make_client(self._settings.mqtt)
        prefix = self._settings.topic_prefix
        topics = [(status_subscription(prefix), 1), (status_subscription(prefix, NOTIFY_LEVEL), 1),
                  (alert_subscription(prefix), 1)]
        client.on_connect = lambda c, *_a: c.subscribe(topics)
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 10)
        endpoint = self._settings.mqtt
        client.connect_async(endpoint.host, endpoint.port, keepalive=30)
        client.loop_start()
        self._client = client

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            document = json.loads(message.payload)
        except ValueError:
            log.warning("unreadable ingest status on %s", message.topic)
            return
        if not isinstance(document, dict):
            return
        with self._lock:
            if message.topic.endswith("/status"):
                self._statuses[message.topic] = document
            else:
                self._feed.add(document)

    def alarms(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._feed.showing()

    def problem(self) -> str | None:
        with self._lock:
            statuses = dict(self._statuses)
        notifiers = f"/{NOTIFY_LEVEL}/"
        now = self._clock()
        found = [ingest_problem({t: d for t, d in statuses.items() if notifiers not in t}, now),
                 notifier_problem({t: d for t, d in statuses.items() if notifiers in t}, now)]
        return "; ".join(p for p in found if p) or None

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
