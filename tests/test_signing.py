"""Signed actions: only a holder of the key makes an ack or session event the ingest accepts."""

from __future__ import annotations

import json

import pytest

from vitals.signing import sign, signature_problem

KEY = "k" * 64
ACK = {"metric": "spo2", "by": "dr-who", "time": "2026-11-28T17:05:00Z"}


def encoded(document: dict) -> bytes:
    return json.dumps(document).encode()


def test_a_signed_action_is_valid_whatever_the_key_order_or_spacing() -> None:
    signed = sign(ACK, KEY)
    reordered = dict(reversed(list(signed.items())))
    assert signature_problem(json.dumps(reordered, indent=2).encode(), KEY) is None


@pytest.mark.parametrize(("case", "payload", "problem"), [
    ("unsigned", encoded(ACK), "unsigned"),
    ("another key", encoded(sign(ACK, "x" * 64)), "bad signature"),
    ("someone else's name", encoded({**sign(ACK, KEY), "by": "intruder"}), "bad signature"),
    ("signature not text", encoded({**ACK, "sig": 7}), "unsigned"),
])
def test_an_action_not_signed_with_the_key_is_refused(case, payload, problem) -> None:
    assert (signature_problem(payload, KEY) or "").startswith(problem), case


def test_what_is_not_a_json_object_is_left_to_the_parser() -> None:
    assert signature_problem(b"\xff not json", KEY) is None
