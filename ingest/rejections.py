"""Rejections aggregated per source (issue #16 item 6): a flood of invalid messages must not grow
the store without bound nor keep the writer busy while other sessions' alarms wait.

Per source (a topic's session and leaf, or the cap on new sessions) at most `per_source`
rejections an interval are kept whole (stored and published with their payload), and at most
`overall` over every source together; the others are only counted. When the interval is over,
each source that lost some gets one summary rejection with the count and its last reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from vitals.readings import Rejection

PER_SOURCE: Final = 10  # enough to diagnose a faulty device; a flood keeps only a count
OVERALL: Final = 100
INTERVAL: Final = timedelta(seconds=60)
SOURCE_CHARS: Final = 80


def source_of(topic: str) -> str:
    """`<session>/<leaf>` of a topic: what a device (or an attacker) floods."""
    return "/".join(topic.split("/")[1:3])[:SOURCE_CHARS] or "_invalid"


@dataclass(slots=True)
class _Share:
    kept: int = 0
    suppressed: int = 0
    last: Rejection | None = None


class RejectionLimiter:
    def __init__(self, per_source: int = PER_SOURCE, overall: int = OVERALL,
                 interval: timedelta = INTERVAL) -> None:
        self.per_source = per_source
        self.overall = overall
        self.interval = interval
        self.suppressed = 0  # since start: rejections counted but not kept whole
        self._since: datetime | None = None
        self._kept = 0
        self._shares: dict[str, _Share] = {}

    def offer(self, rejection: Rejection, source: str, now: datetime) -> bool:
        """True: keep `rejection` whole; False: it is only counted (and summarised later)."""
        if self._since is None:
            self._since = now
        share = self._shares.get(source)
        if share is None:
            if len(self._shares) >= self.overall:
                source, share = "_other", self._shares.setdefault("_other", _Share())
            else:
                share = self._shares[source] = _Share()
        share.last = rejection
        if share.kept < self.per_source and self._kept < self.overall:
            share.kept += 1
            self._kept += 1
            return True
        share.suppressed += 1
        self.suppressed += 1
        return False

    def flush(self, now: datetime, force: bool = False) -> list[Rejection]:
        """Once the interval is over (or `force`: stopping): a count summary per source that
        lost some; a new interval."""
        if self._since is None or (not force and now - self._since < self.interval):
            return []
        seconds = (now - self._since).total_seconds()
        summaries = [
            Rejection(
                topic=share.last.topic,
                reason=(f"{share.suppressed} more rejections from {source} in the last "
                        f"{seconds:.0f} s were counted, not stored (the last: "
                        f"{share.last.reason})"),
                payload="", time=now,
                session=None if source == "_other" else share.last.session)
            for source, share in self._shares.items()
            if share.suppressed and share.last is not None
        ]
        self._since, self._kept, self._shares = None, 0, {}
        return summaries
