"""The simulator's I/O edge: publish simulated sessions over MQTT, paced by a compressed clock.

The simulated clock starts at `start`; a message with simulated time `start + offset` is
published when the wall clock reaches `wall_start + offset / speed`. Payload times are the
simulated times, so the data are identical at any speed. Every message is published with QoS 1
and `run` returns only when the broker has acknowledged each one (or raises).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import paho.mqtt.client as mqtt

from simulators.scenarios import Scenario, get
from simulators.timeline import SimMessage, merge, session_messages, session_seed
from vitals.mqtt import make_client, reading_topic
from vitals.readings import SESSION_ID
from vitals.settings import MqttEndpoint, Settings
from vitals.signing import SIGNED_LEAVES, sign
from vitals.timefmt import utcnow

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 10.0  # seconds to wait for the broker's CONNACK
ACK_TIMEOUT: Final = 30.0  # seconds without any acknowledgement before giving up
INFLIGHT: Final = 100  # unacknowledged QoS 1 messages on the wire at once
MAX_PENDING: Final = 1000  # messages handed to paho but not yet acknowledged: backpressure, so
# that `stop` is prompt and memory bounded even at infinite speed
PROGRESS_EVERY: Final = 1000  # log a progress line every this many messages


class PublishError(RuntimeError):
    """The broker could not be reached, refused us, or did not acknowledge every message."""


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What `run` did: messages acknowledged per session, in session order."""

    sessions: tuple[str, ...]
    scenarios: Mapping[str, str]  # session id -> scenario name
    published: Mapping[str, int]  # session id -> messages acknowledged by the broker
    planned: int  # messages in the timelines
    stopped: bool  # `stop` was set before every message was published

    @property
    def total(self) -> int:
        return sum(self.published.values())


@dataclass
class _Acks:
    """Matches PUBACKs to sessions; the ack may arrive before `publish` returns its mid."""

    condition: threading.Condition = field(default_factory=threading.Condition)
    pending: dict[int, str] = field(default_factory=dict)
    early: set[int] = field(default_factory=set)
    acknowledged: Counter[str] = field(default_factory=Counter)

    def sent(self, mid: int, session: str) -> None:
        with self.condition:
            if mid in self.early:
                self.early.discard(mid)
                self.acknowledged[session] += 1
                self.condition.notify_all()
            else:
                self.pending[mid] = session

    def acked(self, mid: int) -> None:
        with self.condition:
            session = self.pending.pop(mid, None)
            if session is None:
                self.early.add(mid)
            else:
                self.acknowledged[session] += 1
                self.condition.notify_all()

    def wait_below(self, limit: int, idle_timeout: float) -> bool:
        """Wait until fewer than `limit` messages await their ack; False if no ack arrives for
        `idle_timeout` seconds while waiting (the broker has stopped acknowledging)."""
        with self.condition:
            while len(self.pending) >= limit:
                before = len(self.pending)
                deadline = time.monotonic() + idle_timeout
                while len(self.pending) >= before:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self.condition.wait(remaining)
            return True


def session_ids(scenarios: Sequence[str], sessions: int, prefix: str = "sim") -> list[str]:
    """`<prefix>-01-<scenario>`, ...: scenario i is `scenarios[i % len(scenarios)]`."""
    ids = [f"{prefix}-{i + 1:02d}-{scenarios[i % len(scenarios)]}" for i in range(sessions)]
    for session in ids:
        if not SESSION_ID.match(session):
            raise ValueError(f"session id {session!r} is not 1 to 64 characters of "
                             "A-Z a-z 0-9 _ -: choose a shorter or plainer session prefix")
    return ids


def room_label(index: int) -> str:
    """The display label of the index-th simulated session: two chairs to a room."""
    return f"Room {index // 2 + 1} · chair {'AB'[index % 2]}"


def plan(
    scenarios: Sequence[str | Scenario],
    sessions: int,
    seed: int,
    start: datetime,
    session_prefix: str = "sim",
    **timeline_options: Any,
) -> tuple[dict[str, str], list[SimMessage]]:
    """The sessions (id -> scenario name) and all their messages, merged by time. Pure.

    A scenario is a name or a `Scenario` (e.g. a drawn population's patients)."""
    if not scenarios:
        raise ValueError("at least one scenario is needed")
    if sessions < 1:
        raise ValueError(f"sessions must be at least 1, got {sessions}")
    # A name fails fast when unknown, listing the valid ones.
    specs = [get(s) if isinstance(s, str) else s for s in scenarios]
    ids = session_ids([spec.name for spec in specs], sessions, session_prefix)
    chosen = {session: specs[i % len(specs)] for i, session in enumerate(ids)}
    timelines = [
        session_messages(chosen[session], session, start, session_seed(seed, i),
                         label=room_label(i), **timeline_options)
        for i, session in enumerate(ids)
    ]
    return {session: spec.name for session, spec in chosen.items()}, merge(timelines)


def run(
    settings: Settings,
    *,
    scenarios: Sequence[str | Scenario],
    sessions: int,
    speed: float,
    seed: int,
    stop: threading.Event | None = None,
    session_prefix: str = "sim",
    start: datetime | None = None,
    on_published: Callable[[SimMessage], None] | None = None,
    **timeline_options: Any,
) -> PublishReport:
    """Publish `sessions` simulated sessions; return when all are acknowledged or `stop` is set.

    `speed` compresses time (60: an hour of session in a minute; `inf`: as fast as possible).
    `on_published(message)` is called from this thread after each message is handed to the
    client. `timeline_options` go to `session_messages` (cuff_interval, stream_interval, ...).
    Raises `PublishError` naming the broker when it cannot be reached or does not acknowledge.
    """
    if not speed > 0:
        raise ValueError(f"speed must be positive, got {speed}")
    stop = stop or threading.Event()
    start = start or utcnow()
    chosen, messages = plan(scenarios, sessions, seed, start, session_prefix, **timeline_options)
    endpoint = settings.mqtt
    where = _display_url(endpoint)
    logger.info("simulating %d session(s) (%s) at speed %g: %d messages to %s",
                len(chosen), ", ".join(sorted(set(chosen.values()))), speed, len(messages), where)

    acks = _Acks()
    client = make_client(endpoint, inflight=INFLIGHT)
    connected = threading.Event()
    refusal: list[str] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            refusal.append(str(reason))
        elif connected.is_set():
            logger.info("reconnected to %s; resending unacknowledged messages", where)
        else:
            logger.debug("connected to %s", where)
        connected.set()

    def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:  # paho reconnects by itself and keeps every unacknowledged message
            logger.warning("lost the MQTT broker at %s (%s); reconnecting", where, reason)

    def on_publish(_c: mqtt.Client, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        acks.acked(mid)

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.on_disconnect = on_disconnect
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    try:
        client.connect(endpoint.host, endpoint.port)
    except (OSError, ValueError) as err:
        raise PublishError(f"cannot connect to the MQTT broker at {where}: {err}") from err
    client.loop_start()
    stopped = False
    try:
        if not connected.wait(CONNECT_TIMEOUT):
            raise PublishError(f"the MQTT broker at {where} did not answer within "
                               f"{CONNECT_TIMEOUT:g} s")
        if refusal:
            raise PublishError(f"the MQTT broker at {where} refused the connection: {refusal[0]}")
        stopped = _publish_all(client, messages, speed, start, stop, acks, settings.topic_prefix,
                               on_published, where,
                               settings.action_key.get_secret_value()
                               if settings.action_key is not None else None)
        # Never return with a message unacknowledged: the caller may exit right after.
        if not acks.wait_below(1, ACK_TIMEOUT):
            raise PublishError(f"the MQTT broker at {where} acknowledged nothing for "
                               f"{ACK_TIMEOUT:g} s; {len(acks.pending)} message(s) unconfirmed")
    finally:
        client.disconnect()
        client.loop_stop()

    published = {session: acks.acknowledged[session] for session in chosen}
    logger.info("simulation %s: %d of %d messages acknowledged",
                "stopped" if stopped else "finished", sum(published.values()), len(messages))
    return PublishReport(
        sessions=tuple(chosen),
        scenarios=dict(chosen),
        published=published,
        planned=len(messages),
        stopped=stopped,
    )


def _publish_all(
    client: mqtt.Client,
    messages: Sequence[SimMessage],
    speed: float,
    start: datetime,
    stop: threading.Event,
    acks: _Acks,
    prefix: str,
    on_published: Callable[[SimMessage], None] | None,
    where: str,
    action_key: str | None = None,
) -> bool:
    """Publish each message at its paced wall time; True when `stop` cut the run short."""
    wall_start = time.monotonic()
    for count, message in enumerate(messages, start=1):
        if math.isfinite(speed):
            due = wall_start + (message.time - start) / timedelta(seconds=1) / speed
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return True
        if not acks.wait_below(MAX_PENDING, ACK_TIMEOUT):
            raise PublishError(f"the MQTT broker at {where} acknowledged nothing for "
                               f"{ACK_TIMEOUT:g} s")
        if stop.is_set():
            return True
        payload = message.payload
        if action_key is not None and message.leaf in SIGNED_LEAVES:
            payload = sign(payload, action_key)  # the demo's ingest checks them
        info = client.publish(
            reading_topic(prefix, message.session, message.leaf),
            json.dumps(payload, separators=(",", ":")),
            qos=1,
        )
        # NO_CONN is fine: paho keeps the message and sends it after reconnecting.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise PublishError(f"publishing failed: {mqtt.error_string(info.rc)}")
        acks.sent(info.mid, message.session)
        if message.leaf == "session":
            logger.info("%s: %s at %s", message.session, message.payload["event"],
                        message.payload["time"])
        if count % PROGRESS_EVERY == 0:
            logger.debug("published %d of %d messages", count, len(messages))
        if on_published is not None:
            on_published(message)
    return False


def _display_url(endpoint: MqttEndpoint) -> str:
    """The broker URL without the password, for messages and logs."""
    scheme = "mqtts" if endpoint.tls else "mqtt"
    user = f"{endpoint.username}@" if endpoint.username else ""
    return f"{scheme}://{user}{endpoint.host}:{endpoint.port}"
