"""What the dashboard changes, it publishes: acknowledgements, session events (check-ins among
them) and the monitor's observations over MQTT.

The ingest is the one writer of alert events and the audit trail, so the dashboard never writes
to the store. `Commands` connects lazily (the dashboard starts without a broker), publishes at
QoS 1 and waits for the broker's PUBACK, so "sent" on screen means the broker has it. When the
broker cannot be reached it raises `CommandFailed` with a sentence the UI shows as is.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import paho.mqtt.client as mqtt

from vitals.mqtt import make_client, reading_topic
from vitals.readings import (
    ACK_LEAF,
    ALARM_METRICS,
    MAX_NOTE_CHARS,
    OBSERVATION_LEAF,
    SESSION_ID,
    SESSION_LEAF,
    ObservationKind,
    SessionEventType,
    Severity,
)
from vitals.settings import Settings
from vitals.signing import SIGNED_LEAVES, sign
from vitals.timefmt import rfc3339, utcnow

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S: Final = 5.0
PUBLISH_TIMEOUT_S: Final = 5.0
# Every topic leaf the dashboard publishes (`<prefix>/<session>/<leaf>`); the shipped Mosquitto
# ACL must let the `dashboard` account write each (tests/test_mosquitto_config.py checks it).
COMMAND_LEAVES: Final = (ACK_LEAF, SESSION_LEAF, OBSERVATION_LEAF)


class CommandFailed(Exception):
    """A command could not be handed to the broker; the message is for the person who clicked."""


def ack_payload(metric: str, by: str, note: str | None, time: datetime,
                rule: str | None = None) -> dict[str, Any]:
    """The contract's acknowledgement (`<prefix>/<session>/ack`); `rule` names one technical
    alarm of the session (a `data` ack without it acknowledges them all)."""
    document: dict[str, Any] = {"metric": metric, "by": by, "time": rfc3339(time)}
    if rule:
        document["rule"] = rule
    if note:
        document["note"] = note[:MAX_NOTE_CHARS]
    return document


def event_payload(event: SessionEventType, by: str, note: str | None,
                  time: datetime, devices: Sequence[str] = (),
                  label: str | None = None) -> dict[str, Any]:
    """A session event (`<prefix>/<session>/session`): protocol step or audit entry. A start
    may name the devices that feed the session (the ingest refuses others) and carry a display
    label (room, chair, initials)."""
    document: dict[str, Any] = {"event": event.value, "by": by, "time": rfc3339(time)}
    if note:
        document["note"] = note[:MAX_NOTE_CHARS]
    if devices:
        document["devices"] = list(devices)
    if label:
        document["label"] = label
    return document


def observation_payload(observation: ObservationKind, severity: Severity, by: str,
                        note: str | None, time: datetime) -> dict[str, Any]:
    """An observation by the monitor (`<prefix>/<session>/observation`)."""
    document: dict[str, Any] = {"observation": observation.value, "severity": severity.value,
                                "by": by, "time": rfc3339(time)}
    if note:
        document["note"] = note[:MAX_NOTE_CHARS]
    return document


def retraction_payload(observation: ObservationKind, observed_at: datetime, by: str,
                       time: datetime) -> dict[str, Any]:
    """An observation marked entered in error (`<prefix>/<session>/observation`, docs/mqtt.md)."""
    return {"retract": {"observation": observation.value, "time": rfc3339(observed_at)},
            "by": by, "time": rfc3339(time)}


class Commands:
    """One MQTT client per dashboard process, shared by every request (paho is thread-safe
    for publish; the connect is guarded by a lock)."""

    def __init__(self, settings: Settings, client_id: str | None = None, *,
                 connect_timeout: float = CONNECT_TIMEOUT_S,
                 publish_timeout: float = PUBLISH_TIMEOUT_S) -> None:
        self._settings = settings
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._client_id = client_id
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._started_at = 0.0

    @property
    def broker(self) -> str:
        endpoint = self._settings.mqtt
        return f"{endpoint.host}:{endpoint.port}"

    def acknowledge(self, session: str, metric: str, by: str, note: str | None = None,
                    time: datetime | None = None, rule: str | None = None) -> dict[str, Any]:
        """Publish an acknowledgement of the session's alarm for `metric` (for `data`, the one
        of `rule`); returns the payload."""
        if metric not in ALARM_METRICS:
            raise CommandFailed(f"unknown alarm metric {metric!r}")
        payload = ack_payload(metric, by, note, time or utcnow(), rule)
        self._publish(session, ACK_LEAF, payload)
        return payload

    def session_event(self, session: str, event: SessionEventType | str, by: str,
                      note: str | None = None, time: datetime | None = None,
                      devices: Sequence[str] = (), label: str | None = None) -> dict[str, Any]:
        """Publish a session event (start, dose, end, note, checklist, override, signoff,
        checkin); a start may name its `devices` and carry a display `label`."""
        payload = event_payload(SessionEventType(event), by, note, time or utcnow(), devices,
                                label)
        self._publish(session, SESSION_LEAF, payload)
        return payload

    def observation(self, session: str, observation: ObservationKind | str,
                    severity: Severity | str, by: str, note: str | None = None,
                    time: datetime | None = None) -> dict[str, Any]:
        """Publish what the monitor observed (e.g. nausea, moderate); returns the payload."""
        try:
            kind, level = ObservationKind(observation), Severity(severity)
        except ValueError as err:
            raise CommandFailed(f"unknown observation or severity: {err}") from err
        payload = observation_payload(kind, level, by, note, time or utcnow())
        self._publish(session, OBSERVATION_LEAF, payload)
        return payload

    def retract_observation(self, session: str, observation: ObservationKind | str,
                            observed_at: datetime, by: str) -> dict[str, Any]:
        """Publish that an observation was entered in error (it stays recorded, marked)."""
        try:
            kind = ObservationKind(observation)
        except ValueError as err:
            raise CommandFailed(f"unknown observation: {err}") from err
        payload = retraction_payload(kind, observed_at, by, utcnow())
        self._publish(session, OBSERVATION_LEAF, payload)
        return payload

    def _publish(self, session: str, leaf: str, payload: dict[str, Any]) -> None:
        assert leaf in COMMAND_LEAVES, leaf  # a new leaf needs its ACL line (see COMMAND_LEAVES)
        if not SESSION_ID.match(session):
            raise CommandFailed(f"invalid session id {session!r}")
        client = self._ensure_connected()
        topic = reading_topic(self._settings.topic_prefix, session, leaf)
        key = self._settings.action_key
        if key is not None and leaf in SIGNED_LEAVES:  # the ingest takes the `by` only signed
            payload = sign(payload, key.get_secret_value())
        info = client.publish(topic, json.dumps(payload), qos=1)
        try:
            info.wait_for_publish(self._publish_timeout)
        except (RuntimeError, ValueError) as err:
            raise CommandFailed(f"not sent: lost the MQTT broker at {self.broker} ({err}); "
                                "try again") from err
        if not info.is_published():
            raise CommandFailed(
                f"not confirmed: the MQTT broker at {self.broker} did not answer within "
                f"{self._publish_timeout:g} s; check it and try again")
        log.info("published %s to %s",
                 payload.get("event") or payload.get("metric") or payload.get("observation"),
                 topic)

    def start(self) -> None:
        """Connect now, in the background (no wait), so `problem()` can report the broker."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()

    def problem(self) -> str | None:
        """Why nothing could be sent right now (for the pipeline banner), or None. Silent until
        started or used: a dashboard that never connected has nothing to report."""
        if self._client is None or self._connected.is_set():
            return None
        if time.monotonic() - self._started_at < self._connect_timeout:
            return None  # still connecting: not a problem yet
        return (f"Cannot reach the MQTT broker at {self.broker} (check VITALS_MQTT_URL) — "
                "acknowledgements and notes cannot be sent")

    def _ensure_connected(self) -> mqtt.Client:
        with self._lock:
            if self._client is not None and self._connected.is_set():
                return self._client
            if self._client is None:
                self._client = self._connect()
            if not self._connected.wait(self._connect_timeout):
                raise CommandFailed(
                    f"cannot reach the MQTT broker at {self.broker} (check VITALS_MQTT_URL); "
                    "nothing was sent")
            return self._client

    def _connect(self) -> mqtt.Client:
        self._started_at = time.monotonic()
        client = make_client(self._settings.mqtt, self._client_id)

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                self._connected.set()
            else:
                log.warning("MQTT broker refused the dashboard: %s", reason)

        def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            self._connected.clear()
            log.warning("dashboard lost the MQTT broker: %s", reason)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.reconnect_delay_set(1, 10)
        endpoint = self._settings.mqtt
        try:
            client.connect_async(endpoint.host, endpoint.port, keepalive=30)
        except (OSError, ValueError) as err:
            raise CommandFailed(f"cannot reach the MQTT broker at {self.broker} "
                                f"(check VITALS_MQTT_URL): {err}") from err
        client.loop_start()  # keeps reconnecting in the background after a broker restart
        return client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._connected.clear()
        if client is not None:
            client.disconnect()
            client.loop_stop()
