"""`SqliteStore`: the embedded default, one SQLite file, same interface and semantics as InfluxDB.

WAL mode lets the dashboard read while the ingest writes, from threads of one process (a small
pool hands each concurrent operation its own connection) or from two processes on the same file.
A `write` is one `BEGIN IMMEDIATE` transaction with `synchronous=FULL`, so a batch is on disk
before the ingest acknowledges its messages. Primary keys are the identities of
`vitals.storage.base` and rows are upserted, so a redelivered message overwrites instead of
duplicating. Times are integer microseconds since the epoch (UTC).

`reading_span` keeps the first and last time per (session, kind), maintained in the same
transaction as the readings, so the session overview never scans the readings table.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import (
    DeviceProblem,
    Kind,
    Observation,
    ObservationKind,
    Reading,
    Rejection,
    SessionEvent,
    SessionEventType,
    Severity,
    truncate,
)
from vitals.storage.base import (
    MAX_REJECTION_TEXT,
    TREND_MEAN_KINDS,
    Batch,
    Live,
    NotificationRecord,
    SessionSummary,
    StoreError,
    StoreUnavailable,
    SummaryBuilder,
    live_from_parts,
    trend_bucket_us,
)
from vitals.timefmt import from_us, to_us

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S: Final = 30.0
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

_UPSERT_READING: Final = """
INSERT INTO reading (session, kind, device, time_us, vals, time_inferred, problems)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (session, kind, device, time_us) DO UPDATE SET
    vals = excluded.vals, time_inferred = excluded.time_inferred, problems = excluded.problems
"""
_UPSERT_SPAN: Final = """
INSERT INTO reading_span (session, kind, first_us, last_us) VALUES (?, ?, ?, ?)
ON CONFLICT (session, kind) DO UPDATE SET
    first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us)
"""
_UPSERT_EVENT: Final = """
INSERT OR REPLACE INTO session_event (session, event, time_us, time_inferred, note, by)
VALUES (?, ?, ?, ?, ?, ?)
"""
_UPSERT_ALERT: Final = """
INSERT OR REPLACE INTO alert
    (session, metric, rule, state, time_us, priority, message, value, "limit", by, note,
     ended_us)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPSERT_OBSERVATION: Final = """
INSERT OR REPLACE INTO observation
    (session, observation, by, time_us, severity, note, time_inferred)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
_INSERT_REJECTION: Final = """
INSERT INTO rejection (time_us, session, topic, reason, payload) VALUES (?, ?, ?, ?, ?)
"""


class SqliteStore:
    """The embedded store: one SQLite file, safe from several threads and processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"cannot create the data directory {self.path.parent} (VITALS_DATA_DIR): {err}"
            ) from err
        with self._translated("open"), self._connection() as db:
            # One transaction: one fsync, and a second process opening at the same time waits
            # for a complete schema instead of seeing half of it.
            db.executescript(
                f"BEGIN IMMEDIATE;{SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;"
            )
            _add_missing_columns(db)

    # -- writing -------------------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        if not len(batch):
            return
        reading_rows = [_reading_row(r) for r in batch.readings]
        spans: dict[tuple[str, str], tuple[int, int]] = {}
        for session, kind, _device, time_us, *_ in reading_rows:
            first, last = spans.get((session, kind), (time_us, time_us))
            spans[(session, kind)] = (min(first, time_us), max(last, time_us))
        with self._translated("write"), self._transaction() as db:
            db.executemany(_UPSERT_READING, reading_rows)
            db.executemany(
                _UPSERT_SPAN, [(s, k, first, last) for (s, k), (first, last) in spans.items()]
            )
            db.executemany(
                _UPSERT_EVENT,
                [
                    (e.session, e.event.value, to_us(e.time), int(e.time_inferred), e.note, e.by)
                    for e in batch.events
                ],
            )
            db.executemany(
                _UPSERT_ALERT,
                [
                    (a.session, a.metric.value, a.rule, a.state.value, to_us(a.time),
                     a.priority.value, a.message, a.value, a.limit, a.by, a.note,
                     None if a.ended is None else to_us(a.ended))
                    for a in batch.alerts
                ],
            )
            db.executemany(
                _UPSERT_OBSERVATION,
                [
                    (o.session, o.observation.value, o.by or "", to_us(o.time), o.severity.value,
                     o.note, int(o.time_inferred))
                    for o in batch.observations
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO notification (session, metric, person, channel, kind, "
                "time_us, delivered, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(n.session, n.metric, n.person, n.channel, n.kind, to_us(n.time),
                  int(n.delivered), n.error) for n in batch.notifications],
            )
            db.executemany(
                _INSERT_REJECTION,
                [
                    (
                        to_us(r.time),
                        r.session,
                        truncate(r.topic, MAX_REJECTION_TEXT),
                        truncate(r.reason, MAX_REJECTION_TEXT),
                        truncate(r.payload, MAX_REJECTION_TEXT),
                    )
                    for r in batch.rejections
                ],
            )

    # -- reading -------------------------------------------------------------------------------

    def readings(
        self,
        session: str,
        kinds: Sequence[Kind] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Reading]:
        sql = f"SELECT {READING_COLUMNS} FROM reading WHERE session = ?"
        params: list[Any] = [session]
        if kinds is not None:
            wanted = list(dict.fromkeys(Kind(k).value for k in kinds))
            if not wanted:
                return []
            sql += f" AND kind IN ({','.join('?' * len(wanted))})"
            params += wanted
        if since is not None:
            sql += " AND time_us >= ?"
            params.append(to_us(since))
        if until is not None:
            sql += " AND time_us <= ?"
            params.append(to_us(until))
        sql += " ORDER BY time_us, kind, device"
        return [_reading(row) for row in self._select(sql, params)]

    def latest(self, session: str) -> dict[Kind, Reading]:
        latest: dict[Kind, Reading] = {}
        for kind in Kind:
            rows = self._select(
                f"SELECT {READING_COLUMNS} FROM reading WHERE session = ? AND kind = ? "
                "ORDER BY time_us DESC, device DESC LIMIT 1",
                (session, kind.value),
            )
            for row in rows:
                latest[kind] = _reading(row)
        return latest

    def events(self, session: str) -> list[SessionEvent]:
        rows = self._select(
            "SELECT * FROM session_event WHERE session = ? ORDER BY time_us, event", (session,)
        )
        return [_event(row) for row in rows]

    def alerts(self, session: str, since: datetime | None = None) -> list[AlertEvent]:
        sql = "SELECT * FROM alert WHERE session = ?"
        params: list[Any] = [session]
        if since is not None:
            sql += " AND time_us >= ?"
            params.append(to_us(since))
        sql += " ORDER BY time_us, metric, rule, state"
        return [_alert(row) for row in self._select(sql, params)]

    def observations(self, session: str) -> list[Observation]:
        rows = self._select(
            "SELECT * FROM observation WHERE session = ? ORDER BY time_us, observation, by",
            (session,),
        )
        return [
            Observation(
                session=row["session"],
                time=from_us(row["time_us"]),
                observation=ObservationKind(row["observation"]),
                severity=Severity(row["severity"]),
                note=row["note"],
                by=row["by"] or None,
                time_inferred=bool(row["time_inferred"]),
            )
            for row in rows
        ]

    def notifications(self, session: str) -> list[NotificationRecord]:
        rows = self._select(
            "SELECT * FROM notification WHERE session = ? "
            "ORDER BY time_us, person, channel, kind", (session,))
        return [NotificationRecord(from_us(r["time_us"]), r["session"], r["metric"], r["person"],
                                   r["channel"], r["kind"], bool(r["delivered"]), r["error"])
                for r in rows]

    def rejections(self, since: datetime | None = None, limit: int = 1000) -> list[Rejection]:
        sql = "SELECT * FROM rejection"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE time_us >= ?"
            params.append(to_us(since))
        sql += " ORDER BY time_us DESC, id DESC LIMIT ?"
        params.append(max(int(limit), 0))
        found = [
            Rejection(
                topic=row["topic"],
                reason=row["reason"],
                payload=row["payload"],
                time=from_us(row["time_us"]),
                session=row["session"],
            )
            for row in self._select(sql, params)
        ]
        found.reverse()
        return found

    def sessions(self, since: datetime | None = None) -> list[SessionSummary]:
        cutoff = to_us(since) if since is not None else None
        with self._translated("read"), self._connection() as db:
            # One read transaction, so the spans and events agree with each other.
            db.execute("BEGIN")
            try:
                spans = db.execute(
                    "SELECT session, kind, first_us, last_us FROM reading_span"
                    + ("" if cutoff is None else
                       " WHERE session IN (SELECT session FROM reading_span WHERE last_us >= ?"
                       " UNION SELECT session FROM session_event WHERE time_us >= ?)"),
                    () if cutoff is None else (cutoff, cutoff),
                ).fetchall()
                events = db.execute(
                    "SELECT session, event, min(time_us) AS first_us, max(time_us) AS last_us "
                    "FROM session_event"
                    + ("" if cutoff is None else
                       " WHERE session IN (SELECT session FROM reading_span WHERE last_us >= ?"
                       " UNION SELECT session FROM session_event WHERE time_us >= ?)")
                    + " GROUP BY session, event",
                    () if cutoff is None else (cutoff, cutoff),
                ).fetchall()
            finally:
                db.execute("COMMIT")
        found = SummaryBuilder()
        for row in spans:
            found.reading(row["session"], Kind(row["kind"]), from_us(row["first_us"]),
                          from_us(row["last_us"]))
        for row in events:
            found.event(row["session"], row["event"], from_us(row["first_us"]),
                        from_us(row["last_us"]))
        return found.summaries()

    # -- set-wise reads ------------------------------------------------------------------------

    def latest_by_session(self, since: datetime) -> dict[str, dict[Kind, Reading]]:
        # `reading_span` knows each (session, kind)'s last time, so this reads only the newest
        # rows (by the (session, time_us) index) instead of every reading since `since`.
        rows = self._select(
            f"SELECT {READING_COLUMNS_OF_R} FROM reading_span AS s JOIN reading AS r "
            "ON r.session = s.session AND r.time_us = s.last_us AND r.kind = s.kind "
            "WHERE s.last_us >= ? ORDER BY r.session, r.kind, r.device",
            (to_us(since),),
        )
        latest: dict[str, dict[Kind, Reading]] = {}
        for row in rows:
            # Ordered by device: of two at the same instant the greater device id wins.
            reading = _reading(row)
            latest.setdefault(reading.session, {})[reading.kind] = reading
        return latest

    def events_by_session(self, sessions: Sequence[str]) -> dict[str, list[SessionEvent]]:
        wanted = list(dict.fromkeys(sessions))
        if not wanted:
            return {}
        found: dict[str, list[SessionEvent]] = {session: [] for session in wanted}
        rows = self._select(
            f"SELECT * FROM session_event WHERE session IN ({_marks(wanted)}) "
            "ORDER BY time_us, event",
            wanted,
        )
        for row in rows:
            found[row["session"]].append(_event(row))
        return found

    def alerts_by_session(
        self, sessions: Sequence[str], since: datetime | None = None
    ) -> dict[str, list[AlertEvent]]:
        wanted = list(dict.fromkeys(sessions))
        if not wanted:
            return {}
        sql = f"SELECT * FROM alert WHERE session IN ({_marks(wanted)})"
        params: list[Any] = list(wanted)
        if since is not None:
            sql += " AND time_us >= ?"
            params.append(to_us(since))
        sql += " ORDER BY time_us, metric, rule, state"
        found: dict[str, list[AlertEvent]] = {session: [] for session in wanted}
        for row in self._select(sql, params):
            found[row["session"]].append(_alert(row))
        return found

    def live(self, since: datetime) -> Live:
        return live_from_parts(self, since)  # local reads: composing them costs little

    def trends(
        self, sessions: Sequence[str], since: datetime, bucket: timedelta
    ) -> dict[str, list[Reading]]:
        bucket_us = trend_bucket_us(bucket)
        wanted = list(dict.fromkeys(sessions))
        if not wanted:
            return {}
        marks = _marks(wanted)
        since_us = to_us(since)
        mean_kinds = [kind.value for kind in TREND_MEAN_KINDS]
        with self._translated("read"), self._connection() as db:
            db.execute("BEGIN")  # one snapshot for the means and the raw BP
            try:
                # Buckets aligned to the epoch like InfluxDB's GROUP BY time(); the double
                # modulo floors for times before 1970 too.
                means = db.execute(
                    "SELECT r.session, r.kind, r.time_us - ((r.time_us % ?) + ?) % ? AS start_us,"
                    " j.key AS field, avg(j.value) AS mean "
                    "FROM reading AS r, json_each(r.vals) AS j "
                    f"WHERE r.session IN ({marks}) AND r.time_us >= ? "
                    f"AND r.kind IN ({_marks(mean_kinds)}) "
                    "GROUP BY r.session, r.kind, start_us, j.key",
                    [bucket_us, bucket_us, bucket_us, *wanted, since_us, *mean_kinds],
                ).fetchall()
                raw = db.execute(
                    f"SELECT {READING_COLUMNS} FROM reading WHERE session IN ({marks}) "
                    "AND kind = ? AND time_us >= ?",
                    [*wanted, Kind.BP.value, since_us],
                ).fetchall()
            finally:
                db.execute("COMMIT")
        buckets: dict[tuple[str, str, int], dict[str, float]] = {}
        for row in means:
            key = (row["session"], row["kind"], row["start_us"])
            buckets.setdefault(key, {})[row["field"]] = float(row["mean"])
        found: dict[str, list[Reading]] = {session: [] for session in wanted}
        for (session, kind, start_us), values in buckets.items():
            found[session].append(Reading(session, Kind(kind), from_us(start_us), values))
        for row in raw:
            found[row["session"]].append(_reading(row))
        for readings in found.values():
            readings.sort(key=lambda r: (r.time, r.kind.value, r.device or ""))
        return found

    # -- health --------------------------------------------------------------------------------

    def ping(self) -> None:
        with self._translated("ping"), self._connection() as db:
            db.execute("SELECT 1 FROM reading LIMIT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._idle = self._idle, []
        for connection in connections:
            try:
                connection.close()
            except sqlite3.Error as err:  # closing must not raise into a shutdown path
                log.debug("closing a SQLite connection failed: %s", err)

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection from the pool for one operation. A connection is used by one
        thread at a time; several threads each get their own, which keeps WAL's concurrent
        readers, and none is left behind by threads that come and go (Flask's)."""
        with self._lock:
            if self._closed:
                raise StoreError(f"the store {self.path} is closed")
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = self._connect()
        try:
            yield connection
        finally:
            if connection.in_transaction:  # never hand on a connection mid-transaction
                connection.rollback()
            with self._lock:
                if self._closed:
                    connection.close()
                else:
                    self._idle.append(connection)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # pooled: used by one thread at a time, not always the same
        )
        try:
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")  # a written batch survives power loss
        except BaseException:
            connection.close()
            raise
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _select(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        with self._translated("read"), self._connection() as db:
            return db.execute(sql, params).fetchall()

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """The one place where sqlite3 exceptions become `StoreUnavailable` / `StoreError`."""
        try:
            yield
        except sqlite3.OperationalError as err:
            # Locked beyond the busy timeout, disk full, I/O error: may pass, so retryable.
            raise StoreUnavailable(
                f"SQLite store {self.path} (VITALS_DATA_DIR): {what} failed: {err}"
            ) from err
        except sqlite3.Error as err:
            raise StoreError(
                f"SQLite store {self.path} (VITALS_DATA_DIR): {what} failed: {err}"
            ) from err


def _marks(values: Sequence[Any]) -> str:
    """`?, ?, ...`: one bound parameter per value, never the value itself."""
    return ", ".join("?" * len(values))


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Columns added since a data file was made (CREATE TABLE IF NOT EXISTS leaves it as is)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(alert)")}
    if "ended_us" not in columns:
        try:
            db.execute("ALTER TABLE alert ADD COLUMN ended_us INTEGER")
        except sqlite3.OperationalError as err:  # another process added it first
            if "duplicate column" not in str(err):
                raise


def _event(row: sqlite3.Row) -> SessionEvent:
    return SessionEvent(
        session=row["session"],
        event=SessionEventType(row["event"]),
        time=from_us(row["time_us"]),
        time_inferred=bool(row["time_inferred"]),
        note=row["note"],
        by=row["by"],
    )


def _alert(row: sqlite3.Row) -> AlertEvent:
    return AlertEvent(
        time=from_us(row["time_us"]),
        session=row["session"],
        metric=Metric(row["metric"]),
        priority=Priority(row["priority"]),
        state=AlertState(row["state"]),
        message=row["message"],
        rule=row["rule"],
        value=row["value"],
        limit=row["limit"],
        by=row["by"],
        note=row["note"],
        ended=None if row["ended_us"] is None else from_us(row["ended_us"]),
    )


def _reading_row(reading: Reading) -> tuple[Any, ...]:
    return (
        reading.session,
        reading.kind.value,
        reading.device or "",
        to_us(reading.time),
        json.dumps({name: float(value) for name, value in reading.values.items()}),
        int(reading.time_inferred),
        ",".join(p.value for p in reading.problems),
    )


_KINDS: Final = {kind.value: kind for kind in Kind}


@functools.lru_cache(maxsize=8192)
def _values(text: str) -> Mapping[str, float]:
    return json.loads(text)  # type: ignore[no-any-return]


# The columns `_reading` unpacks, in its order (never `*`: a migration appends columns).
READING_COLUMNS: Final = "session, kind, device, time_us, vals, time_inferred, problems"
READING_COLUMNS_OF_R: Final = ", ".join(f"r.{c}" for c in READING_COLUMNS.split(", "))


def _reading(row: sqlite3.Row) -> Reading:
    # A session view reads hours of 1 Hz readings at once (30,000 for 4 h): positional access
    # (a Row's by-name lookup compares every column name), and values that repeat (a heart
    # rate is one of ~100 numbers) decoded once per distinct JSON text, copied per reading.
    session, kind, device, time_us, vals, time_inferred, problems = row
    return Reading(
        session=session,
        kind=_KINDS[kind],
        time=from_us(time_us),
        values=dict(_values(vals)),
        device=device or None,
        time_inferred=bool(time_inferred),
        problems=tuple(DeviceProblem(p) for p in problems.split(",")) if problems else (),
    )
