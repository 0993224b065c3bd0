"""The notifier's retained status (`<prefix>/_notify/<client id>/status`), pure.

Published on start, after every notification and every `STATUS_SECONDS`, with a last will
`{"state": "offline"}`. `last_failure` is the sentence the pipeline banner shows:
"could not notify Dr X by mailto: connection refused" (cleared by the next good delivery to
that person).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from vitals.timefmt import rfc3339

STATUS_SECONDS: Final = 5.0


@dataclass(slots=True)
class NotifierHealth:
    client_id: str
    sent: int = 0
    failed: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # person -> the latest failure

    def delivered(self, person: str, channel: str, ok: bool, error: str | None) -> None:
        if ok:
            self.sent += 1
            self.failures.pop(person, None)
        else:
            self.failed += 1
            self.failures[person] = f"could not notify {person} by {channel}: {error}"

    def document(self, now: datetime) -> dict[str, Any]:
        return {"state": "running", "time": rfc3339(now), "client_id": self.client_id,
                "interval_s": STATUS_SECONDS, "sent": self.sent, "failed": self.failed,
                "failures": sorted(self.failures.values())}


def offline_document(client_id: str) -> dict[str, Any]:
    return {"state": "offline", "client_id": client_id}


def stopped_document(client_id: str, now: datetime) -> dict[str, Any]:
    return {"state": "stopped", "client_id": client_id, "time": rfc3339(now)}
