"""Which shard judges a session, and the envelope a forwarded message travels in (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingest.shards import Forwarded, envelope, shard_of, unwrap

T0 = datetime(2026, 11, 28, 17, 5, 0, 123456, tzinfo=UTC)


# Pinned values: a different hash would move live sessions to another engine after an upgrade,
# and every worker of a group, whatever its Python or PYTHONHASHSEED, must agree.
@pytest.mark.parametrize(("session", "shards", "shard"), [
    ("s1", 1, 0),  # one shard owns everything
    ("s1", 2, 0),
    ("a", 2, 1),
    ("0", 2, 1),
    ("s1", 3, 1),
    ("0", 3, 2),
    ("scale-02-hypertensive-spike", 2, 1),
    ("scale-02-hypertensive-spike", 7, 1),
    ("x" * 64, 3, 2),  # the longest session id
])
def test_a_session_belongs_to_the_shard_of_the_crc32_of_its_id(session, shards, shard) -> None:
    assert shard_of(session, shards) == shard


@pytest.mark.parametrize("shards", [2, 3, 5])
def test_sessions_spread_evenly_over_the_shards(shards) -> None:
    counts = [0] * shards
    for n in range(6000):
        counts[shard_of(f"session-{n}", shards)] += 1
    assert max(counts) - min(counts) < 6000 / shards * 0.15, counts


@pytest.mark.parametrize("payload", [
    b'{"bpm": 72, "time": "2026-11-28T17:05:00Z"}',
    "{\"note\": \"Schw\u00e4che, \u2764\"}".encode(),
    bytes([0x16, 0x80, 0x00, 0xff, 0xfe]),  # a GATT characteristic value: not UTF-8
    b"",
])
def test_a_forwarded_message_comes_back_exactly_as_received(payload) -> None:
    message = Forwarded("vitals/s1/hr", payload, T0)
    assert unwrap(json.dumps(envelope(message)).encode()) == message


@pytest.mark.parametrize(("why", "payload"), [
    ("not JSON", b"{"),
    ("not UTF-8", b"\xff\xfe"),
    ("a list", b"[]"),
    ("no topic", b'{"payload": "", "received_at": "2026-11-28T17:05:00+00:00"}'),
    ("payload not base64", b'{"topic": "vitals/s1/hr", "payload": "%%", '
                           b'"received_at": "2026-11-28T17:05:00+00:00"}'),
    ("a number for the time", b'{"topic": "vitals/s1/hr", "payload": "", "received_at": 5}'),
    ("a time without zone", b'{"topic": "vitals/s1/hr", "payload": "", '
                            b'"received_at": "2026-11-28T17:05:00"}'),
])
def test_a_malformed_envelope_is_a_value_error_saying_so(why, payload) -> None:
    with pytest.raises(ValueError, match="not a forward envelope"):
        unwrap(payload)
