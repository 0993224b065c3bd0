"""Signed actions (issue #16 item 8): acknowledgements and session events carry an HMAC.

Mosquitto does not tell a subscriber who published a message, so the ingest cannot know that an
ack came from the dashboard, nor that its `by` is the user who logged in. With a key shared by
the dashboard and the ingest (`VITALS_ACTION_KEY`), the dashboard adds `"sig"`: HMAC-SHA256,
hex, over the document without `sig` as compact JSON with sorted keys. Anyone without the key
cannot make an ack, an `end` or a `by` the ingest accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Final

from vitals.readings import ACK_LEAF, SESSION_LEAF

SIGNATURE_FIELD: Final = "sig"
SIGNED_LEAVES: Final = (ACK_LEAF, SESSION_LEAF)  # what can silence an alarm or end a session


def _digest(document: dict[str, Any], key: str) -> str:
    unsigned = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign(document: dict[str, Any], key: str) -> dict[str, Any]:
    """`document` with its signature added."""
    return {**document, SIGNATURE_FIELD: _digest(document, key)}


def signature_problem(payload: bytes, key: str) -> str | None:
    """Why a payload's signature is not valid under `key`, or None if it is."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None  # not JSON at all: the parser refuses it with its own reason
    if not isinstance(document, dict):
        return None
    given = document.get(SIGNATURE_FIELD)
    if not isinstance(given, str):
        return "unsigned: actions must be signed with VITALS_ACTION_KEY (sent by the dashboard)"
    if not hmac.compare_digest(given, _digest(document, key)):
        return "bad signature: not signed with this ingest's VITALS_ACTION_KEY"
    return None
