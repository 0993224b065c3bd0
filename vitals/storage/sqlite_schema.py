"""The embedded store's tables: their DDL, the statements that write them, and the one step that
creates or upgrades a data file.

Primary keys are the identities of `vitals.storage.base` and rows are upserted, so a redelivered
message overwrites instead of duplicating. Times are integer microseconds since the epoch (UTC).
`reading_span` keeps the first and last time per (session, kind), maintained in the same
transaction as the readings, so the session overview never scans the readings table.
How values become rows and back is `sqlite_rows`.
"""

from __future__ import annotations

import sqlite3
from typing import Final

SCHEMA_VERSION: Final = 1

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS reading (
    session       TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    device        TEXT    NOT NULL DEFAULT '',  -- '' when the payload named no device
    time_us       INTEGER NOT NULL,
    vals          TEXT    NOT NULL,             -- JSON object of floats, payload field names
    time_inferred INTEGER NOT NULL,
    problems      TEXT    NOT NULL DEFAULT '',  -- comma-joined DeviceProblem values
    PRIMARY KEY (session, kind, device, time_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reading_by_time ON reading (session, time_us);

CREATE TABLE IF NOT EXISTS reading_span (
    session  TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    first_us INTEGER NOT NULL,
    last_us  INTEGER NOT NULL,
    PRIMARY KEY (session, kind)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reading_span_by_last ON reading_span (last_us);

CREATE TABLE IF NOT EXISTS session_event (
    session       TEXT    NOT NULL,
    event         TEXT    NOT NULL,
    time_us       INTEGER NOT NULL,
    time_inferred INTEGER NOT NULL,
    note          TEXT,
    by            TEXT,
    label         TEXT,  -- a start's display label (room, chair, initials)
    PRIMARY KEY (session, event, time_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_event_by_time ON session_event (time_us);

CREATE TABLE IF NOT EXISTS alert (
    session  TEXT    NOT NULL,
    metric   TEXT    NOT NULL,
    rule     TEXT    NOT NULL,
    state    TEXT    NOT NULL,
    time_us  INTEGER NOT NULL,
    priority TEXT    NOT NULL,
    message  TEXT    NOT NULL,
    value    REAL,
    "limit"  REAL,
    by       TEXT,
    note     TEXT,
    ended_us INTEGER,  -- a latched technical alarm's: when its condition ended
    PRIMARY KEY (session, metric, rule, state, time_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alert_by_time ON alert (session, time_us);

CREATE TABLE IF NOT EXISTS observation (
    session       TEXT    NOT NULL,
    observation   TEXT    NOT NULL,
    by            TEXT    NOT NULL DEFAULT '',  -- '' when nobody was named
    time_us       INTEGER NOT NULL,
    severity      TEXT    NOT NULL,
    note          TEXT,
    time_inferred INTEGER NOT NULL,
    PRIMARY KEY (session, observation, by, time_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS observation_by_time ON observation (session, time_us);

-- An observation marked entered in error (kind and time name it); the observation stays.
CREATE TABLE IF NOT EXISTS observation_retraction (
    session     TEXT    NOT NULL,
    observation TEXT    NOT NULL,
    observed_us INTEGER NOT NULL,
    by          TEXT    NOT NULL,
    time_us     INTEGER NOT NULL,
    PRIMARY KEY (session, observation, observed_us, by)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS notification (
    session   TEXT    NOT NULL,
    metric    TEXT    NOT NULL,
    person    TEXT    NOT NULL,
    channel   TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    time_us   INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    error     TEXT,
    PRIMARY KEY (session, metric, person, channel, kind, time_us)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rejection (
    id      INTEGER PRIMARY KEY,
    time_us INTEGER NOT NULL,
    session TEXT,
    topic   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rejection_by_time ON rejection (time_us);
"""

UPSERT_READING: Final = """
INSERT INTO reading (session, kind, device, time_us, vals, time_inferred, problems)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (session, kind, device, time_us) DO UPDATE SET
    vals = excluded.vals, time_inferred = excluded.time_inferred, problems = excluded.problems
"""
UPSERT_SPAN: Final = """
INSERT INTO reading_span (session, kind, first_us, last_us) VALUES (?, ?, ?, ?)
ON CONFLICT (session, kind) DO UPDATE SET
    first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us)
"""
UPSERT_EVENT: Final = """
INSERT OR REPLACE INTO session_event (session, event, time_us, time_inferred, note, by, label)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
UPSERT_ALERT: Final = """
INSERT OR REPLACE INTO alert
    (session, metric, rule, state, time_us, priority, message, value, "limit", by, note,
     ended_us)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
UPSERT_OBSERVATION: Final = """
INSERT OR REPLACE INTO observation
    (session, observation, by, time_us, severity, note, time_inferred)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
UPSERT_RETRACTION: Final = """
INSERT OR REPLACE INTO observation_retraction (session, observation, observed_us, by, time_us)
VALUES (?, ?, ?, ?, ?)
"""
UPSERT_NOTIFICATION: Final = """
INSERT OR REPLACE INTO notification
    (session, metric, person, channel, kind, time_us, delivered, error)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_REJECTION: Final = """
INSERT INTO rejection (time_us, session, topic, reason, payload) VALUES (?, ?, ?, ?, ?)
"""


def create(db: sqlite3.Connection) -> None:
    """Create what a data file lacks, on a connection outside any transaction."""
    # One transaction: one fsync, and a second process opening at the same time waits for a
    # complete schema instead of seeing half of it.
    db.executescript(f"BEGIN IMMEDIATE;{SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")
    _add_missing_columns(db)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Columns added since a data file was made (CREATE TABLE IF NOT EXISTS leaves it as is)."""
    for table, column in (("alert", "ended_us INTEGER"), ("session_event", "label TEXT")):
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column.split()[0] not in columns:
            try:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
            except sqlite3.OperationalError as err:  # another process added it first
                if "duplicate column" not in str(err):
                    raise
