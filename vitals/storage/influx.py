"""`InfluxStore`: the production store, over the InfluxDB v1 HTTP API (`/write`, `/query`).

InfluxDB 1.x serves that API natively; 2.x and 3.x serve it as "v1 compatibility" (token auth,
a bucket mapped to a database name). This module is the store's I/O: it builds the statements,
sends them and the lines, and translates the client's errors. The pure parts are beside it:
`influx_lines` (the schema, documented there, as line protocol), `influx_rows` (query answers
decoded) and `influxql` (clauses with every outside value bound).

The store never retries: connection errors, timeouts and HTTP 5xx raise `StoreUnavailable`
(the ingest holds the batch and retries it), HTTP 4xx raise `StoreError`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar
from urllib.parse import urlencode, urlsplit

import requests

from vitals.alerts import AlertEvent
from vitals.readings import Observation, Reading, Rejection, SessionEvent
from vitals.settings import Settings
from vitals.storage import influxql
from vitals.storage.base import (
    TREND_MEAN_KINDS,
    Batch,
    Live,
    NotificationRecord,
    SessionSummary,
    StoreError,
    StoreUnavailable,
    SummaryBuilder,
    marked_retracted,
    trend_bucket_us,
)
from vitals.storage.influx_lines import (
    ALERT,
    EVENT,
    NOTIFICATION,
    OBSERVATION,
    REJECTION,
    RETRACTION,
    batch_lines,
)
from vitals.storage.influx_rows import (
    Series,
    alert_from,
    alerts_by_session,
    event_from,
    events_by_session,
    grouped,
    measurement_kind,
    newest_by_session,
    notification_from,
    observation_from,
    rejection_from,
    retraction_from,
    rows,
    series_readings,
    trends_by_session,
)
from vitals.storage.influxdb_client import (
    InfluxDBClient,
    InfluxDBClientError,
    InfluxDBServerError,
)
from vitals.timefmt import from_us
from vitals.vital_signs import Kind

log = logging.getLogger(__name__)

MAX_LINES_PER_WRITE: Final = 50_000  # InfluxDB advises 5-10k; one HTTP request up to this many
DEFAULT_TIMEOUT: Final = 10.0
# Kinds whose trend is a mean per bucket; BP is sparse (minutes apart) and comes raw.
# An explicit upper bound for GROUP BY time(): without one InfluxDB 1.x stops at now(), and a
# device clock running a little ahead would drop its newest readings from the trend. A far
# bound (years) costs ~25 ms more per query on 1.6 (it walks the empty buckets).
TREND_HORIZON: Final = "1d"

T = TypeVar("T")


class InfluxStore:
    """Readings, session events, alert events and rejections in one InfluxDB database."""

    def __init__(
        self,
        url: str,
        database: str = "vitals",
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        retention_policy: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"VITALS_INFLUX_URL must be http(s)://host[:port], got {url!r}")
        self.url = url
        self.database = database
        self.retention_policy = retention_policy
        headers = {"Authorization": f"Token {token}"} if token else None
        # Queries go as a form POST (`_query`); the client adds basic auth when no token.
        self._query_headers = {"Content-Type": "application/x-www-form-urlencoded",
                               "Accept": "application/json", **(headers or {})}
        self._client = InfluxDBClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8086),
            username=None if token else username,
            password=None if token else password,
            database=database,
            ssl=parts.scheme == "https",
            verify_ssl=parts.scheme == "https",
            timeout=timeout,
            retries=1,  # one attempt: the ingest owns retry and backoff
            path=parts.path.rstrip("/"),
            headers=headers,
        )
        self._ready = False
        self._ready_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> InfluxStore:
        if not settings.influx_url:
            raise ValueError("VITALS_INFLUX_URL is not set")
        return cls(
            settings.influx_url,
            settings.influx_db,
            token=_secret(settings.influx_token),
            username=settings.influx_username,
            password=_secret(settings.influx_password),
            retention_policy=settings.influx_retention_policy,
        )

    # -- writing -------------------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        if not len(batch):
            return
        try:
            lines = batch_lines(batch)
        except (ValueError, TypeError) as err:
            raise StoreError(f"cannot encode the batch for InfluxDB: {err}") from err
        self._ensure_database()
        params = {"db": self.database, "precision": "u"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        # One HTTP request per batch; a huge batch goes in chunks. Should a later chunk fail,
        # the caller retries the whole batch, and the chunks already written just overwrite.
        for start in range(0, len(lines), MAX_LINES_PER_WRITE):
            chunk = lines[start : start + MAX_LINES_PER_WRITE]
            with _translated("write", self.url):
                self._client.write(
                    chunk, params=params, expected_response_code=204, protocol="line"
                )

    # -- reading -------------------------------------------------------------------------------

    def readings(
        self,
        session: str,
        kinds: Sequence[Kind] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Reading]:
        kinds = list(Kind) if kinds is None else list(dict.fromkeys(Kind(k) for k in kinds))
        if not kinds:
            return []
        where, params = influxql.where(session, since, until)
        statements = [f"SELECT * FROM {self._from(kind)} WHERE {where}" for kind in kinds]
        results = self._query(statements, params)
        found = [
            reading
            for kind, result in zip(kinds, results, strict=True)
            for series in result
            for reading in series_readings(kind, series)
        ]
        found.sort(key=lambda r: (r.time, r.kind.value, r.device or ""))
        return found

    def latest(self, session: str) -> dict[Kind, Reading]:
        where, params = influxql.where(session)
        statements = [
            f"SELECT * FROM {self._from(kind)} WHERE {where} ORDER BY time DESC LIMIT 1"
            for kind in Kind
        ]
        results = self._query(statements, params)
        latest: dict[Kind, Reading] = {}
        for kind, result in zip(Kind, results, strict=True):
            for series in result:
                for reading in series_readings(kind, series):
                    latest[kind] = reading
        return latest

    def events(self, session: str) -> list[SessionEvent]:
        where, params = influxql.where(session)
        (result,) = self._query([f"SELECT * FROM {self._from(EVENT.name)} WHERE {where}"], params)
        found = [event_from(row) for row in rows(result)]
        found.sort(key=lambda e: (e.time, e.event.value))
        return found

    def alerts(self, session: str, since: datetime | None = None) -> list[AlertEvent]:
        where, params = influxql.where(session, since)
        (result,) = self._query([f"SELECT * FROM {self._from(ALERT.name)} WHERE {where}"], params)
        found = [alert_from(row) for row in rows(result)]
        found.sort(key=lambda a: (a.time, a.metric.value, a.rule, a.state.value))
        return found

    def observations(self, session: str) -> list[Observation]:
        where, params = influxql.where(session)
        result, retracted = self._query(
            [f"SELECT * FROM {self._from(OBSERVATION.name)} WHERE {where}",
             f"SELECT * FROM {self._from(RETRACTION.name)} WHERE {where}"], params)
        found = [observation_from(row) for row in rows(result)]
        found.sort(key=lambda o: (o.time, o.observation.value, o.by or ""))
        return marked_retracted(found, [retraction_from(row) for row in rows(retracted)])

    def notifications(self, session: str) -> list[NotificationRecord]:
        where, params = influxql.where(session)
        (result,) = self._query(
            [f"SELECT * FROM {self._from(NOTIFICATION.name)} WHERE {where}"], params)
        found = [notification_from(row) for row in rows(result)]
        found.sort(key=lambda n: (n.time, n.person, n.channel, n.kind))
        return found

    def rejections(self, since: datetime | None = None, limit: int = 1000) -> list[Rejection]:
        limit = int(limit)
        if limit <= 0:
            return []
        params: dict[str, Any] = {}
        where = ""
        if since is not None:
            where, params = " WHERE time >= $since", {"since": influxql.ns(since)}
        (result,) = self._query(
            [f"SELECT * FROM {self._from(REJECTION.name)}{where} ORDER BY time DESC LIMIT {limit}"],
            params,
        )
        found = [rejection_from(row) for row in rows(result)]
        found.reverse()
        return found

    def sessions(self, since: datetime | None = None) -> list[SessionSummary]:
        params: dict[str, Any] = {}
        match = ""
        if since is not None:
            # First find the sessions active since `since` (cheap: a time range), then summarise
            # only those, so the cost follows the active sessions, not the whole history.
            active = self._active_sessions(since)
            if not active:
                return []
            clause, params = influxql.any_session(active)
            match = f" WHERE {clause}"
        kinds = ",".join(self._from(kind) for kind in Kind)
        events = self._from(EVENT.name)
        results = self._query(
            [
                f'SELECT first("time_inferred") FROM {kinds}{match} GROUP BY "session"',
                f'SELECT last("time_inferred") FROM {kinds}{match} GROUP BY "session"',
                f'SELECT first("time_inferred") FROM {events}{match} GROUP BY "session"',
                f'SELECT last("time_inferred") FROM {events}{match} GROUP BY "session","event"',
            ],
            params,
        )
        found = SummaryBuilder()
        for _name, tags, row in grouped(results[0]):
            found.span(tags["session"], from_us(row["time"]))
        for name, tags, row in grouped(results[1]):
            found.reading(tags["session"], Kind(measurement_kind(name)), from_us(row["time"]))
        for _name, tags, row in grouped(results[2]):
            found.span(tags["session"], from_us(row["time"]))
        for _name, tags, row in grouped(results[3]):
            found.event(tags["session"], tags["event"], from_us(row["time"]))
        summaries = found.summaries()
        if since is None:
            return summaries
        return [s for s in summaries if s.last_time >= since]

    # -- set-wise reads ------------------------------------------------------------------------

    def latest_by_session(self, since: datetime) -> dict[str, dict[Kind, Reading]]:
        (result,) = self._query([self._latest("time >= $since")], {"since": influxql.ns(since)})
        return newest_by_session(result)

    def events_by_session(self, sessions: Sequence[str]) -> dict[str, list[SessionEvent]]:
        wanted = list(dict.fromkeys(sessions))
        if not wanted:
            return {}
        match, params = influxql.any_session(wanted)
        (result,) = self._query([f"SELECT * FROM {self._from(EVENT.name)} WHERE {match}"], params)
        return events_by_session(result, wanted)

    def alerts_by_session(
        self, sessions: Sequence[str], since: datetime | None = None
    ) -> dict[str, list[AlertEvent]]:
        wanted = list(dict.fromkeys(sessions))
        if not wanted:
            return {}
        match, params = influxql.any_session(wanted)
        if since is not None:
            match += " AND time >= $since"
            params["since"] = influxql.ns(since)
        (result,) = self._query([f"SELECT * FROM {self._from(ALERT.name)} WHERE {match}"], params)
        return alerts_by_session(result, wanted)

    def live(self, since: datetime) -> Live:
        # Two requests whatever the number of sessions, and few passes over the readings (on
        # influxd 1.6 each statement touching every live series costs ~5-10 ms, however short
        # its time range). The first request finds the active sessions and, in the same pass,
        # their newest readings in the window; the second reads the rest of their history:
        # first times, events, alerts, and the newest reading of a kind silent all the window.
        recent, event_times = self._query(
            [self._latest("time >= $since"),
             f'SELECT last("time_inferred") FROM {self._from(EVENT.name)} WHERE time >= $since '
             'GROUP BY "session"'],
            {"since": influxql.ns(since)},
        )
        latest = newest_by_session(recent)
        names = sorted(set(latest) | {tags["session"] for _n, tags, _r in grouped(event_times)})
        if not names:
            return Live([], {}, {}, {})
        match, params = influxql.any_session(names)
        kinds = ",".join(self._from(kind) for kind in Kind)
        statements = [
            f'SELECT first("time_inferred") FROM {kinds} WHERE {match} GROUP BY "session"',
            f"SELECT * FROM {self._from(EVENT.name)} WHERE {match}",
            f"SELECT * FROM {self._from(ALERT.name)} WHERE {match}",
        ]
        quiet = [name for name in names if len(latest.get(name, {})) < len(Kind)]
        if quiet:
            quiet_match, quiet_params = influxql.any_session(quiet, prefix="q")
            params.update(quiet_params, since=influxql.ns(since))
            statements.append(self._latest(f"{quiet_match} AND time < $since"))
        firsts, event_rows, alert_rows, *older = self._query(statements, params)
        for result in older:
            newest_by_session(result, into=latest)
        events = events_by_session(event_rows, names)
        found = SummaryBuilder()
        for _name, tags, row in grouped(firsts):
            found.span(tags["session"], from_us(row["time"]))
        for name in names:
            for kind, reading in latest.get(name, {}).items():
                found.reading(name, kind, reading.time)
            for event in events[name]:
                found.event(name, event.event, event.time)
        summaries = found.summaries()
        return Live(summaries, latest, events, alerts_by_session(alert_rows, names))

    def _latest(self, where: str) -> str:
        """The statement for the newest reading of each kind per (session, device): `last()` is
        a selector, so the fields beside it (`*`) are those of the selected point, and its time
        is that point's. Points without a device come as device ""."""
        kinds = ",".join(self._from(kind) for kind in Kind)
        return (f'SELECT last("time_inferred"), * FROM {kinds} WHERE {where} '
                'GROUP BY "session", "device"')

    def trends(
        self, sessions: Sequence[str], since: datetime, bucket: timedelta
    ) -> dict[str, list[Reading]]:
        bucket_us = trend_bucket_us(bucket)
        wanted = list(dict.fromkeys(sessions))
        if not wanted:
            return {}
        match, params = influxql.any_session(wanted)
        params["since"] = influxql.ns(since)
        # `mean(*)` averages every numeric field (booleans and strings are skipped) and names
        # it `mean_<field>`. One statement per measurement (a shared one is ~20 % slower, its
        # columns being the union of both); all in one request.
        results = self._query(
            [
                f"SELECT mean(*) FROM {self._from(kind)} WHERE {match} AND time >= $since "
                f"AND time <= now() + {TREND_HORIZON} "
                f'GROUP BY time({bucket_us}u), "session" fill(none)'
                for kind in TREND_MEAN_KINDS
            ]
            + [f"SELECT * FROM {self._from(Kind.BP)} WHERE {match} AND time >= $since"],
            params,
        )
        *mean_results, bp_result = results
        return trends_by_session(mean_results, bp_result, wanted)

    def _active_sessions(self, since: datetime) -> list[str]:
        kinds = ",".join(self._from(kind) for kind in Kind)
        results = self._query(
            [
                f'SELECT last("time_inferred") FROM {kinds} WHERE time >= $since '
                'GROUP BY "session"',
                f'SELECT last("time_inferred") FROM {self._from(EVENT.name)} WHERE time >= $since '
                'GROUP BY "session"',
            ],
            {"since": influxql.ns(since)},
        )
        return sorted({tags["session"] for result in results for _n, tags, _r in grouped(result)})

    # -- health --------------------------------------------------------------------------------

    def ping(self) -> None:
        self._call("ping", self._client.ping)
        self._ensure_database()

    def close(self) -> None:
        self._client.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _ensure_database(self) -> None:
        """`CREATE DATABASE` once (idempotent in 1.x). 2.x/3.x refuse it: the bucket must exist."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            try:
                self._call("create database", lambda: self._client.create_database(self.database))
            except StoreUnavailable:
                raise
            except StoreError as err:
                log.warning(
                    "InfluxDB at %s refused CREATE DATABASE %s (%s); using it as it is. On "
                    "InfluxDB 2.x/3.x create the bucket and its v1 database mapping yourself.",
                    self.url, self.database, err,
                )
            self._ready = True

    def _query(self, statements: Sequence[str], params: Mapping[str, Any]) -> list[list[Series]]:
        """Run `;`-joined statements in one request; each statement's result series, in order.

        A POST with the statements in a form body, its JSON decoded here: the client's `query`
        puts them and every bound session id in the URL, and URL-encoding that plus building
        its `ResultSet` cost more than influxd's answer (~4 ms a call with 48 sessions)."""
        self._ensure_database()
        form = {"q": "; ".join(statements), "db": self.database, "epoch": "u"}
        if params:
            form["params"] = json.dumps(dict(params))
        response = self._call("query", lambda: self._client.request(
            "query", method="POST", data=urlencode(form), headers=self._query_headers))
        try:
            answer = response.json()
        except ValueError as err:
            raise StoreError(f"InfluxDB at {self.url} answered without JSON: {err}") from err
        if "error" in answer:
            raise StoreError(f"InfluxDB at {self.url} refused query: {answer['error']}")
        results = answer.get("results", [])
        errors = list(dict.fromkeys(r["error"] for r in results if "error" in r))
        if errors:  # the statements after a failed one answer "not executed": keep every reason
            raise StoreError(f"InfluxDB at {self.url} refused query: {'; '.join(errors)}")
        if len(results) != len(statements):
            raise StoreError(f"InfluxDB answered {len(results)} results to {len(statements)} "
                             "statements")
        return [result.get("series", []) for result in results]

    def _call(self, what: str, action: Callable[[], T]) -> T:
        with _translated(what, self.url):
            return action()

    def _from(self, measurement: str) -> str:
        if self.retention_policy:
            return f"{influxql.ident(self.retention_policy)}.{influxql.ident(measurement)}"
        return influxql.ident(measurement)


# -- helpers -----------------------------------------------------------------------------------


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


@contextmanager
def _translated(what: str, url: str) -> Iterator[None]:
    """The one place where client exceptions become `StoreUnavailable` / `StoreError`."""
    try:
        yield
    except requests.exceptions.RequestException as err:
        raise StoreUnavailable(
            f"InfluxDB at {url} (VITALS_INFLUX_URL) unreachable during {what}: {err}"
        ) from err
    except InfluxDBServerError as err:
        raise StoreUnavailable(
            f"InfluxDB at {url} (VITALS_INFLUX_URL) failed during {what}: {err}"
        ) from err
    except InfluxDBClientError as err:
        code = getattr(err, "code", None)
        if code is not None and code >= 500:
            raise StoreUnavailable(
                f"InfluxDB at {url} (VITALS_INFLUX_URL) failed during {what}: {err}"
            ) from err
        raise StoreError(f"InfluxDB at {url} refused {what}: {err}") from err
