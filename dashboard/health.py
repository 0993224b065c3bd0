"""The ingest workers' retained status (`<prefix>/_ingest/<id>/status`) as a banner input.

`ingest_problem(statuses, now)` is pure: the latest status document per worker in, the sentence
for the red pipeline banner (or None) out. `IngestStatus` is the edge: a paho subscriber that
keeps the latest document per topic; pass its `problem` to `create_app(health=...)`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import paho.mqtt.client as mqtt

from vitals.mqtt import NOTIFY_LEVEL, make_client, status_subscription
from vitals.settings import Settings
from vitals.timefmt import utcnow

log = logging.getLogger(__name__)

SILENT_AFTER_INTERVALS: Final = 3  # the status document's own contract: 3 x interval_s


def _time(document: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(document["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None


def ingest_problem(statuses: Mapping[str, Mapping[str, Any]], now: datetime) -> str | None:
    """What is wrong with the ingest workers that reported a status, or None.

    No status at all says nothing (a deployment without status documents still has the
    staleness check). Every worker is a full replica judging every session: one down of
    several is named, with the replicas that carry on. A stopped worker was stopped on purpose;
    only when every worker is stopped is nobody ingesting.
    """
    problems: list[str] = []
    stopped = 0
    judging: list[str] = []  # running, fresh and able to take readings in
    down: list[str] = []  # offline or silent: its share of alarms is carried by the others
    for key in sorted(statuses):
        document = statuses[key]
        name = str(document.get("client_id") or key)
        state = document.get("state")
        if state == "offline":
            down.append(f"ingest {name} is offline")
            continue
        if state == "stopped":
            stopped += 1
            continue
        at = _time(document)
        interval = float(document.get("interval_s") or 5.0)
        if at is not None and (now - at).total_seconds() > SILENT_AFTER_INTERVALS * interval:
            down.append(f"ingest {name} silent for {(now - at).total_seconds():.0f} s")
            continue
        if document.get("broker") == "down":
            problems.append(f"ingest {name} has lost the MQTT broker")
            continue
        judging.append(name)
        if document.get("store") == "down":
            since = document.get("store_down_since")
            text = (f"ingest {name} cannot write to the database"
                    + (f" since {since}" if since else "") + ": alarms are judged, nothing "
                    "is stored")
            if _window_full(document):
                text += (f"; it holds its full window of {document.get('window')} readings, "
                         "so newer readings wait unjudged")
            problems.append(text)
    if down and judging:
        problems.append("; ".join(down) + f" (alarms continue on {', '.join(judging)})")
    else:
        problems += down
    if statuses and stopped == len(statuses):
        problems.append("no ingest worker is running")
    return "; ".join(problems) + " — check the pipeline" if problems else None


def _window_full(document: Mapping[str, Any]) -> bool:
    """The worker holds as many unstored readings as the broker will send it unacknowledged."""
    window, backlog = document.get("window"), document.get("backlog")
    return (isinstance(window, int) and isinstance(backlog, int) and window > 0
            and backlog >= window)


def notifier_problem(statuses: Mapping[str, Mapping[str, Any]], now: datetime) -> str | None:
    """What is wrong with the notifiers (`vitals notify`) that reported a status, or None: a
    failed delivery ("could not notify Dr X by mailto: ..."), or a notifier offline or silent,
    so that alarms no longer reach anyone off the screen. None when no notifier is deployed."""
    problems: list[str] = []
    for key in sorted(statuses):
        document = statuses[key]
        name = str(document.get("client_id") or key)
        state = document.get("state")
        at = _time(document)
        interval = float(document.get("interval_s") or 5.0)
        if state == "offline":
            problems.append(f"notifier {name} is offline: alarms are not sent off the screen")
        elif state == "running" and at is not None and (
                (now - at).total_seconds() > SILENT_AFTER_INTERVALS * interval):
            problems.append(f"notifier {name} silent for {(now - at).total_seconds():.0f} s")
        elif state == "running":
            problems += [str(f) for f in document.get("failures") or ()]
    return "; ".join(dict.fromkeys(problems)) or None


class IngestStatus:
    """Subscribes to every worker's retained status; `problem()` is the banner input."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self._settings = settings
        self._clock = clock
        self._statuses: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        client = make_client(self._settings.mqtt)
        prefix = self._settings.topic_prefix
        topics = [(status_subscription(prefix), 1), (status_subscription(prefix, NOTIFY_LEVEL), 1)]
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
        if isinstance(document, dict):
            with self._lock:
                self._statuses[message.topic] = document

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
