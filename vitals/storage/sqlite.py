"""`SqliteStore`: the embedded default, one SQLite file, same interface and semantics as InfluxDB.

WAL mode lets the dashboard read while the ingest writes, from threads of one process (a small
pool hands each concurrent operation its own connection) or from two processes on the same file.
A `write` is one `BEGIN IMMEDIATE` transaction with `synchronous=FULL`, so a batch is on disk
before the ingest acknowledges its messages. This module is the store's I/O: its connections,
transactions and queries. The tables and their write statements are `sqlite_schema`; values as
rows and back, `sqlite_rows` (pure).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from vitals.alerts import AlertEvent
from vitals.readings import Observation, Reading, Rejection, SessionEvent
from vitals.storage import sqlite_schema
from vitals.storage.base import (
    TREND_MEAN_KINDS,
    Batch,
    Live,
    NotificationRecord,
    SessionSummary,
    StoreError,
    StoreUnavailable,
    SummaryBuilder,
    live_from_parts,
    marked_retracted,
    trend_bucket_us,
)
from vitals.storage.sqlite_rows import (
    READING_COLUMNS,
    READING_COLUMNS_OF_R,
    alert_from,
    alert_row,
    event_from,
    event_row,
    notification_from,
    notification_row,
    observation_from,
    observation_row,
    reading_from,
    reading_row,
    rejection_from,
    rejection_row,
    retraction_from,
    retraction_row,
)
from vitals.timefmt import from_us, to_us
from vitals.vital_signs import Kind

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S: Final = 30.0


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
        with self._translated("open"):
            self._create_schema()

    def _create_schema(self) -> None:
        """The schema, once; retried while another process opening the same new file holds it.
        Two processes turning a new file to WAL while one creates the tables can deadlock on
        their locks, and SQLite then answers "database is locked" at once rather than wait
        (seen with two `vitals notify` replicas on one data directory)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.01
        while True:
            try:
                db = self._connect()  # its own: a failed attempt may leave it mid-transaction
                try:
                    sqlite_schema.create(db)
                finally:
                    db.close()
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)  # backoff before the next attempt, not synchronisation
            delay = min(delay * 2, 0.5)

    # -- writing -------------------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        if not len(batch):
            return
        reading_rows = [reading_row(r) for r in batch.readings]
        spans: dict[tuple[str, str], tuple[int, int]] = {}
        for session, kind, _device, time_us, *_ in reading_rows:
            first, last = spans.get((session, kind), (time_us, time_us))
            spans[(session, kind)] = (min(first, time_us), max(last, time_us))
        with self._translated("write"), self._transaction() as db:
            db.executemany(sqlite_schema.UPSERT_READING, reading_rows)
            db.executemany(sqlite_schema.UPSERT_SPAN,
                           [(s, k, first, last) for (s, k), (first, last) in spans.items()])
            db.executemany(sqlite_schema.UPSERT_EVENT, [event_row(e) for e in batch.events])
            db.executemany(sqlite_schema.UPSERT_ALERT, [alert_row(a) for a in batch.alerts])
            db.executemany(sqlite_schema.UPSERT_OBSERVATION,
                           [observation_row(o) for o in batch.observations])
            db.executemany(sqlite_schema.UPSERT_RETRACTION,
                           [retraction_row(r) for r in batch.retractions])
            db.executemany(sqlite_schema.UPSERT_NOTIFICATION,
                           [notification_row(n) for n in batch.notifications])
            db.executemany(sqlite_schema.INSERT_REJECTION,
                           [rejection_row(r) for r in batch.rejections])

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
        return [reading_from(row) for row in self._select(sql, params)]

    def latest(self, session: str) -> dict[Kind, Reading]:
        latest: dict[Kind, Reading] = {}
        for kind in Kind:
            rows = self._select(
                f"SELECT {READING_COLUMNS} FROM reading WHERE session = ? AND kind = ? "
                "ORDER BY time_us DESC, device DESC LIMIT 1",
                (session, kind.value),
            )
            for row in rows:
                latest[kind] = reading_from(row)
        return latest

    def events(self, session: str) -> list[SessionEvent]:
        rows = self._select(
            "SELECT * FROM session_event WHERE session = ? ORDER BY time_us, event", (session,)
        )
        return [event_from(row) for row in rows]

    def alerts(self, session: str, since: datetime | None = None) -> list[AlertEvent]:
        sql = "SELECT * FROM alert WHERE session = ?"
        params: list[Any] = [session]
        if since is not None:
            sql += " AND time_us >= ?"
            params.append(to_us(since))
        sql += " ORDER BY time_us, metric, rule, state"
        return [alert_from(row) for row in self._select(sql, params)]

    def observations(self, session: str) -> list[Observation]:
        rows = self._select(
            "SELECT * FROM observation WHERE session = ? ORDER BY time_us, observation, by",
            (session,),
        )
        retractions = self._select(
            "SELECT * FROM observation_retraction WHERE session = ?", (session,))
        return marked_retracted([observation_from(row) for row in rows],
                                [retraction_from(row) for row in retractions])

    def notifications(self, session: str) -> list[NotificationRecord]:
        rows = self._select(
            "SELECT * FROM notification WHERE session = ? "
            "ORDER BY time_us, person, channel, kind", (session,))
        return [notification_from(row) for row in rows]

    def rejections(self, since: datetime | None = None, limit: int = 1000) -> list[Rejection]:
        sql = "SELECT * FROM rejection"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE time_us >= ?"
            params.append(to_us(since))
        sql += " ORDER BY time_us DESC, id DESC LIMIT ?"
        params.append(max(int(limit), 0))
        found = [rejection_from(row) for row in self._select(sql, params)]
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
            reading = reading_from(row)
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
            found[row["session"]].append(event_from(row))
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
            found[row["session"]].append(alert_from(row))
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
            found[row["session"]].append(reading_from(row))
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
