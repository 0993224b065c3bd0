"""MQTT topics and the one place that builds a paho client.

MQTT 3.1.1 everywhere: it is what both brokers we run speak (Mosquitto in production, the
embedded amqtt broker of `vitals demo`); a persistent session is `clean_session=False` with a
fixed client id. Every client here is plain paho; only the ingest reads the broker's stream
through `ingest.fast_client` (a measured need: drain speed).
"""

from __future__ import annotations

import logging
import re
import ssl
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from vitals.settings import MqttEndpoint

# What the ingest itself publishes under the prefix; everything else there is input, so a device
# publishing to a wrong topic is refused with a reason instead of being ignored unseen.
OUTPUT_LEAVES = frozenset({"alert", "rejected", "status"})
_OUTPUT_ENDINGS = tuple(f"/{leaf}" for leaf in sorted(OUTPUT_LEAVES))
# Health of each ingest worker: `<prefix>/_ingest/<client id>/status`, retained, with a last will.
# Four levels, so it can never be mistaken for a session's `<prefix>/<session>/<leaf>`.
INGEST_LEVEL = "_ingest"
# Health of each notifier (`vitals notify`): `<prefix>/_notify/<client id>/status`, likewise.
NOTIFY_LEVEL = "_notify"
_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# paho's own log lines (a callback that raised, a failed send); its DEBUG chatter stays off.
_paho_log = logging.getLogger("paho")


def reading_topic(prefix: str, session: str, leaf: str) -> str:
    return f"{prefix}/{session}/{leaf}"


def alert_topic(prefix: str, session: str) -> str:
    return f"{prefix}/{session}/alert"


def rejected_topic(prefix: str, session: str | None) -> str:
    # A message whose topic names no valid session still gets a dead-letter home.
    return f"{prefix}/{session or '_invalid'}/rejected"


def status_topic(prefix: str, client_id: str, level: str = INGEST_LEVEL) -> str:
    """Where the ingest worker (or, with `NOTIFY_LEVEL`, the notifier) `client_id` publishes its
    retained health status."""
    # A client id may hold `/`, `+` or `#`; none of them may split or widen the topic.
    return f"{prefix}/{level}/{_TOPIC_UNSAFE.sub('_', client_id) or '_'}/status"


def status_subscription(prefix: str, level: str = INGEST_LEVEL) -> str:
    """The filter that sees the status of every ingest worker (or notifier, with
    `NOTIFY_LEVEL`): the dashboard subscribes to both."""
    return f"{prefix}/{level}/+/status"


def alert_subscription(prefix: str) -> str:
    """The filter that sees every session's alert events."""
    return f"{prefix}/+/alert"


def input_subscription(prefix: str) -> str:
    """The topic filter the ingest consumes: everything under the prefix. Every replica takes
    every message (no shared subscription): each judges every session."""
    return f"{prefix}/#"


def is_output(topic: str, prefix: str) -> bool:
    """True for the ingest's own publications (alerts, rejections, status), never input."""
    if not topic.endswith(_OUTPUT_ENDINGS):
        return False  # asked of every message: most are readings, told apart without a split
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == prefix and parts[1] in (INGEST_LEVEL, NOTIFY_LEVEL):
        return parts[3] == "status"
    return len(parts) == 3 and parts[0] == prefix and parts[2] in OUTPUT_LEAVES


def make_client(
    endpoint: MqttEndpoint,
    client_id: str | None = None,
    *,
    persistent: bool = False,
    manual_ack: bool = False,
    inflight: int = 20,
    client_class: type[mqtt.Client] = mqtt.Client,
    **client_options: Any,
) -> mqtt.Client:
    """A paho 2.x client for the endpoint; `persistent` keeps the broker session across restarts.

    `client_class` (with its `client_options`) is for the ingest's own subclass alone.
    """
    client = client_class(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or f"vitals-{uuid.uuid4().hex[:12]}",
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
        **client_options,
    )
    if endpoint.username is not None:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        cafile = str(endpoint.ca_file) if endpoint.ca_file is not None else None
        client.tls_set_context(ssl.create_default_context(cafile=cafile))
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)  # 0 = unbounded: paho never drops what we publish
    # A callback that raises would otherwise end paho's network loop, and with it every later
    # message (the worker's alarms, the dashboard's live feed) while the process looks alive:
    # paho logs it (at ERROR, through our logger) and goes on.
    client.suppress_exceptions = True
    client.enable_logger(_paho_log)
    return client
