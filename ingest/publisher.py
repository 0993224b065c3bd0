"""What the ingest publishes: alarms at once, rejections once their batch is stored, and its
retained health status. Each goes at QoS 1 and is tracked until the broker has it, so a graceful
stop can wait for what is still on its way (paho keeps unsent publications only in memory).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt

from ingest.health import should_publish
from vitals.alerts import AlertEvent
from vitals.mqtt import alert_topic, rejected_topic
from vitals.readings import Rejection
from vitals.timefmt import rfc3339

log = logging.getLogger(__name__)


class Publisher:
    """The ingest's publications on its client; the network, judging and writing threads all
    publish through it."""

    def __init__(self, client: mqtt.Client, topic_prefix: str, status_topic: str,
                 status: Callable[[], dict[str, object]], status_interval: float,
                 label_of: Callable[[str], str | None]) -> None:
        self._client = client
        self._label_of = label_of  # a session's display label, carried by its alarms
        self._prefix = topic_prefix
        self._status_topic = status_topic
        self._status = status  # the status document as it would be published now
        self._status_interval = status_interval
        self._publishes: deque[mqtt.MQTTMessageInfo] = deque()  # not yet acknowledged by the broker
        self._publishes_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._last_status: dict[str, object] | None = None
        self._last_status_at = 0.0

    def alerts(self, alerts: Sequence[AlertEvent]) -> None:
        for alert in alerts:
            try:
                document = alert.to_json()
                label = self._label_of(alert.session)
            except Exception:  # as `_publish`: the next alarm must still go out
                log.exception("could not build the alarm of %s", alert.session)
                continue
            if label:
                document["label"] = label
            self._publish(alert_topic(self._prefix, alert.session), document)

    def rejections(self, rejections: Sequence[Rejection]) -> None:
        for rejection in rejections:
            self._publish(rejected_topic(self._prefix, rejection.session),
                          rejection_json(rejection))

    def status(self, force: bool = False) -> None:
        """The status, when `status_interval` has passed or it changed (`should_publish`), or
        at once with `force`."""
        elapsed = time.monotonic() - self._last_status_at
        if not force and elapsed < self._status_interval:
            return  # the common case, checked without building a document (changes force)
        try:
            with self._status_lock:
                document = self._status()
                elapsed = time.monotonic() - self._last_status_at
                if not force and not should_publish(self._last_status, document, elapsed,
                                                    self._status_interval):
                    return
                self._last_status, self._last_status_at = document, time.monotonic()
                self._publish(self._status_topic, document, retain=True)
        except Exception:  # health reporting must never stop the ingest
            log.exception("could not publish the ingest status")

    def flush(self, deadline: float) -> None:
        """Wait until the broker has every publication, or until `deadline` (monotonic)."""
        with self._publishes_lock:
            pending = list(self._publishes)
        for info in pending:
            # Not connected (RuntimeError): it cannot be sent, and nothing else can be done here.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))

    def _publish(self, topic: str, document: dict[str, object], retain: bool = False) -> None:
        try:
            info = self._client.publish(topic, json.dumps(document, ensure_ascii=False), qos=1,
                                        retain=retain)
        except Exception:
            # Never the end of the thread that publishes (judging, above all): the next alarm
            # must still go out. The event itself is stored all the same.
            log.exception("could not publish on %s", topic)
            return
        with self._publishes_lock:  # three threads publish
            self._publishes.append(info)
            while self._publishes and _settled(self._publishes[0]):
                self._publishes.popleft()


def _settled(info: mqtt.MQTTMessageInfo) -> bool:
    """Published, or never going to be tracked (queued while disconnected: paho resends it)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True


def rejection_json(rejection: Rejection) -> dict[str, object]:
    """The payload of `<prefix>/<session>/rejected` (the pipeline already truncated its texts)."""
    return {"time": rfc3339(rejection.time), "topic": rejection.topic,
            "reason": rejection.reason, "payload": rejection.payload}
