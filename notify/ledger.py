"""The notification ledger: claims (exactly one notifier sends each notification) and the audit.

A SQLite file shared by the notifier processes (`VITALS_DATA_DIR/notifications.sqlite3`, on one
host or one volume). A claim is an INSERT on the notification's deterministic identity, which
SQLite makes atomic across processes: the second notifier's insert fails and it does not send.
Claims and deliveries older than `KEEP` are pruned (at start and hourly): the claims only need
to outlive an alarm's escalation, and the record keeps the audit (`notification` measurement).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from vitals.timefmt import from_us, to_us

KEEP: Final = timedelta(days=7)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claim (
    identity TEXT PRIMARY KEY,
    notifier TEXT NOT NULL,
    time_us  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delivery (
    identity  TEXT    NOT NULL,
    session   TEXT    NOT NULL,
    metric    TEXT    NOT NULL,
    person    TEXT    NOT NULL,
    channel   TEXT    NOT NULL,
    position  INTEGER NOT NULL,  -- which of the person's URLs (two may share a channel)
    kind      TEXT    NOT NULL,
    time_us   INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    error     TEXT,
    PRIMARY KEY (identity, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS delivery_by_session ON delivery (session, time_us);
CREATE INDEX IF NOT EXISTS delivery_by_time ON delivery (time_us);
CREATE INDEX IF NOT EXISTS claim_by_time ON claim (time_us);
"""


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """Who was told what on which channel, when, and whether it arrived."""

    time: datetime
    session: str
    metric: str
    person: str
    channel: str
    kind: str
    delivered: bool
    error: str | None = None


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit; a busy file is waited for, not failed
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def claim(self, identity: str, notifier: str, now: datetime) -> bool:
        """True for the one notifier that may send this notification."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO claim (identity, notifier, time_us) VALUES (?, ?, ?)",
            (identity, notifier, to_us(now)))
        return cursor.rowcount == 1

    def record(self, identity: str, position: int, record: DeliveryRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO delivery (identity, session, metric, person, channel, "
            "position, kind, time_us, delivered, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (identity, record.session, record.metric, record.person, record.channel, position,
             record.kind,
             to_us(record.time), int(record.delivered), record.error))

    def deliveries(self, session: str | None = None) -> list[DeliveryRecord]:
        sql = ("SELECT time_us, session, metric, person, channel, kind, delivered, error "
               "FROM delivery" + (" WHERE session = ?" if session else "") + " ORDER BY time_us")
        return [DeliveryRecord(from_us(t), s, m, p, c, k, bool(d), e)
                for t, s, m, p, c, k, d, e in self._db.execute(sql, (session,) if session else ())]

    def prune(self, now: datetime) -> int:
        """Forget claims and deliveries older than `KEEP`; how many rows went."""
        cutoff = to_us(now - KEEP)
        gone = self._db.execute("DELETE FROM claim WHERE time_us < ?", (cutoff,)).rowcount
        return gone + self._db.execute("DELETE FROM delivery WHERE time_us < ?",
                                       (cutoff,)).rowcount

    def close(self) -> None:
        self._db.close()
