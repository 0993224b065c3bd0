"""Session pinning between ingest workers: which shard judges a session, and the forward envelope.

Several workers share the input through an MQTT shared subscription, so any of them may receive
any message; whichever receives a message stores it. Judging needs the whole of a session in one
alarm engine, so each session has one owner: `shard_of(session, shards)`, a stable hash (the
same in every process and every Python, unlike the salted `hash()`). A worker that receives a
valid message of a session it does not own forwards it to the owner's judge topic
(`vitals.mqtt.judge_topic`) as an envelope; the owner parses it again, which is deterministic
given the original topic, payload and receive time, and judges it. No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass
from datetime import datetime


def shard_of(session: str, shards: int) -> int:
    """The shard (0 to shards - 1) whose worker judges `session`: CRC-32 of its UTF-8 id."""
    return zlib.crc32(session.encode("utf-8")) % shards


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A message as the worker that received it saw it, to be judged by the session's owner."""

    topic: str
    payload: bytes  # as received: JSON text, or a GATT characteristic's raw bytes
    received_at: datetime


def envelope(message: Forwarded) -> dict[str, object]:
    """The JSON document published on the owner's judge topic (base64: GATT payloads are bytes)."""
    return {"topic": message.topic,
            "payload": base64.b64encode(message.payload).decode("ascii"),
            "received_at": message.received_at.isoformat()}


def unwrap(payload: bytes) -> Forwarded:
    """The forwarded message back from its envelope; ValueError names what is wrong."""
    try:
        document = json.loads(payload)
        topic, data, at = document["topic"], document["payload"], document["received_at"]
        if not isinstance(topic, str) or not isinstance(data, str) or not isinstance(at, str):
            raise TypeError("topic, payload and received_at must be strings")
        received_at = datetime.fromisoformat(at)
        if received_at.tzinfo is None:
            raise ValueError("received_at has no time zone")
        return Forwarded(topic, base64.b64decode(data, validate=True), received_at)
    except (ValueError, TypeError, KeyError, binascii.Error) as err:
        raise ValueError(f"not a forward envelope: {err}") from err
