"""The ingest workers' retained status (`<prefix>/_ingest/<id>/status`) as a banner input.

`ingest_problem(statuses, now)` is pure: the latest status document per worker in, the sentence
for the red pipeline banner (or None) out. `IngestStatus` is the edge: a paho subscriber that
keeps the latest document per topic; pass its `problem` to `create_app(health=...)`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import paho.mqtt.client as mqtt

from vitals.mqtt import make_client, status_subscription
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
    staleness check). A stopped worker was stopped on purpose; only when every worker is
    stopped is nobody ingesting.
    """
    problems: list[str] = []
    stopped = 0
    for key in sorted(statuses):
        document = statuses[key]
        name = str(document.get("client_id") or key)
        state = document.get("state")
        if state == "offline":
            problems.append(f"ingest {name} is offline")
            continue
        if state == "stopped":
            stopped += 1
            continue
        if document.get("store") == "down":
            since = document.get("store_down_since")
            problems.append(f"ingest {name} cannot write to the database"
                            + (f" since {since}" if since else ""))
        if document.get("broker") == "down":
            problems.append(f"ingest {name} has lost the MQTT broker")
        at = _time(document)
        interval = float(document.get("interval_s") or 5.0)
        if at is not None and (now - at).total_seconds() > SILENT_AFTER_INTERVALS * interval:
            problems.append(f"ingest {name} silent for {(now - at).total_seconds():.0f} s")
    if statuses and stopped == len(statuses):
        problems.append("no ingest worker is running")
    problems += _unjudged_shards(statuses.values())
    return "; ".join(problems) + " — check the pipeline" if problems else None


def _unjudged_shards(documents: Iterable[Mapping[str, Any]]) -> list[str]:
    """Sharded workers: a shard with no running worker leaves its sessions' alarms unjudged.

    Each session is judged by the worker of its shard only, so one stopped (or never started)
    worker of several is not "the others carry on": its sessions have no alarms at all.
    """
    documents = list(documents)
    shards = max((int(d.get("shards") or 1) for d in documents), default=1)
    if shards <= 1:
        return []
    running = {d.get("shard") for d in documents if d.get("state") == "running"}
    return [f"no running ingest worker judges shard {k} of {shards}: its sessions have no alarms"
            for k in range(shards) if k not in running]


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
        topic = status_subscription(self._settings.topic_prefix)
        client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
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
        return ingest_problem(statuses, self._clock())

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
