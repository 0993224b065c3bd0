"""`InfluxStore`: the production store, over the InfluxDB v1 HTTP API (`/write`, `/query`).

InfluxDB 1.x serves that API natively; 2.x and 3.x serve it as "v1 compatibility" (token auth,
a bucket mapped to a database name). Schema (every time in microseconds, `precision=u`):

| measurement      | tags                                 | fields                                |
| ---------------- | ------------------------------------ | ------------------------------------- |
| `bp` `hr` `spo2` | `session`, `device` (when known)     | the payload's measured values (float),|
|                  |                                      | `time_inferred` (bool), `problems`    |
|                  |                                      | (string, comma-joined, when present)  |
| `session_event`  | `session`, `event`                   | `time_inferred` (bool), `note`, `by`, |
|                  |                                      | `label` (a start's display label)     |
| `alert`          | `session`, `metric`, `state`, `rule` | `priority`, `message`, `value`,       |
|                  | (`rule` left out when empty)         | `limit` (float), `by`, `note`,        |
|                  |                                      | `ended` (RFC 3339, latched technical) |
| `observation`    | `session`, `observation`, `recorder` | `severity`, `note`, `by` (exact),     |
|                  | (`by` made tag-safe, see `by_tag`)   | `time_inferred` (bool)                |
| `rejection`      | `session` (when the topic named one) | `topic`, `reason`, `payload`          |

InfluxDB identifies a point by measurement + tag set + time, and a second write of the same
identity overwrites its fields. The tags are therefore chosen to be exactly the identities of
`vitals.storage.base`: a reading is (session, kind, device, time) and an alert event is (session,
metric, rule, state, time); an observation is (session, observation, by, time), so `by` is (also) a
tag, `recorder`, and `severity` a field (re-recording it with another severity corrects it).
`priority` is a field, not a tag: a rule re-evaluated on a redelivered reading after its
priority escalated must overwrite the stored event, not add a second alarm at the same instant
with a different priority. Two rejections of one session in one batch at the same microsecond
would collide, so later ones are moved forward by 1 µs.

The store never retries: connection errors, timeouts and HTTP 5xx raise `StoreUnavailable`
(the ingest holds the batch and retries it), HTTP 4xx raise `StoreError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

import requests

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
from vitals.settings import Settings
from vitals.storage import lineprotocol
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
)
from vitals.storage.influxdb_client import (
    InfluxDBClient,
    InfluxDBClientError,
    InfluxDBServerError,
)
from vitals.timefmt import from_us, rfc3339, to_us

log = logging.getLogger(__name__)

EVENT: Final = "session_event"
ALERT: Final = "alert"
REJECTION: Final = "rejection"
OBSERVATION: Final = "observation"
NOTIFICATION: Final = "notification"
READING_META: Final = frozenset({"time", "session", "device", "time_inferred", "problems"})
MAX_LINES_PER_WRITE: Final = 50_000  # InfluxDB advises 5-10k; one HTTP request up to this many
DEFAULT_TIMEOUT: Final = 10.0
# Kinds whose trend is a mean per bucket; BP is sparse (minutes apart) and comes raw.
# An explicit upper bound for GROUP BY time(): without one InfluxDB 1.x stops at now(), and a
# device clock running a little ahead would drop its newest readings from the trend. A far
# bound (years) costs ~25 ms more per query on 1.6 (it walks the empty buckets).
TREND_HORIZON: Final = "1d"

T = TypeVar("T")
Row = dict[str, Any]
Series = Mapping[str, Any]  # one series of a query's JSON answer: name, tags, columns, values


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
        where, params = _where(session, since, until)
        statements = [f"SELECT * FROM {self._from(kind)} WHERE {where}" for kind in kinds]
        results = self._query(statements, params)
        found = [
            reading
            for kind, result in zip(kinds, results, strict=True)
            for series in result
            for reading in _series_readings(kind, series)
        ]
        found.sort(key=lambda r: (r.time, r.kind.value, r.device or ""))
        return found

    def latest(self, session: str) -> dict[Kind, Reading]:
        where, params = _where(session)
        statements = [
            f"SELECT * FROM {self._from(kind)} WHERE {where} ORDER BY time DESC LIMIT 1"
            for kind in Kind
        ]
        results = self._query(statements, params)
        latest: dict[Kind, Reading] = {}
        for kind, result in zip(Kind, results, strict=True):
            for series in result:
                for reading in _series_readings(kind, series):
                    latest[kind] = reading
        return latest

    def events(self, session: str) -> list[SessionEvent]:
        where, params = _where(session)
        (result,) = self._query([f"SELECT * FROM {self._from(EVENT)} WHERE {where}"], params)
        found = [_event(row) for row in _rows(result)]
        found.sort(key=lambda e: (e.time, e.event.value))
        return found

    def alerts(self, session: str, since: datetime | None = None) -> list[AlertEvent]:
        where, params = _where(session, since)
        (result,) = self._query([f"SELECT * FROM {self._from(ALERT)} WHERE {where}"], params)
        found = [_alert(row) for row in _rows(result)]
        found.sort(key=lambda a: (a.time, a.metric.value, a.rule, a.state.value))
        return found

    def observations(self, session: str) -> list[Observation]:
        where, params = _where(session)
        (result,) = self._query(
            [f"SELECT * FROM {self._from(OBSERVATION)} WHERE {where}"], params)
        found = [_observation(row) for row in _rows(result)]
        found.sort(key=lambda o: (o.time, o.observation.value, o.by or ""))
        return found

    def notifications(self, session: str) -> list[NotificationRecord]:
        where, params = _where(session)
        (result,) = self._query(
            [f"SELECT * FROM {self._from(NOTIFICATION)} WHERE {where}"], params)
        found = [NotificationRecord(
            from_us(row["time"]), row["session"], row["metric"], row.get("name") or "",
            row["channel"], row["kind"], bool(row.get("delivered")), row.get("error"))
            for row in _rows(result)]
        found.sort(key=lambda n: (n.time, n.person, n.channel, n.kind))
        return found

    def rejections(self, since: datetime | None = None, limit: int = 1000) -> list[Rejection]:
        limit = int(limit)
        if limit <= 0:
            return []
        params: dict[str, Any] = {}
        where = ""
        if since is not None:
            where, params = " WHERE time >= $since", {"since": _ns(since)}
        (result,) = self._query(
            [f"SELECT * FROM {self._from(REJECTION)}{where} ORDER BY time DESC LIMIT {limit}"],
            params,
        )
        found = [_rejection(row) for row in _rows(result)]
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
            clause, params = _any_session(active)
            match = f" WHERE {clause}"
        kinds = ",".join(self._from(kind) for kind in Kind)
        results = self._query(
            [
                f'SELECT first("time_inferred") FROM {kinds}{match} GROUP BY "session"',
                f'SELECT last("time_inferred") FROM {kinds}{match} GROUP BY "session"',
                f'SELECT first("time_inferred") FROM {self._from(EVENT)}{match} GROUP BY "session"',
                f'SELECT last("time_inferred") FROM {self._from(EVENT)}{match} '
                'GROUP BY "session","event"',
            ],
            params,
        )
        found = SummaryBuilder()
        for _name, tags, row in _grouped(results[0]):
            found.span(tags["session"], from_us(row["time"]))
        for name, tags, row in _grouped(results[1]):
            found.reading(tags["session"], Kind(_measurement_kind(name)), from_us(row["time"]))
        for _name, tags, row in _grouped(results[2]):
            found.span(tags["session"], from_us(row["time"]))
        for _name, tags, row in _grouped(results[3]):
            found.event(tags["session"], tags["event"], from_us(row["time"]))
        summaries = found.summaries()
        if since is None:
            return summaries
        return [s for s in summaries if s.last_time >= since]

    # -- set-wise reads ------------------------------------------------------------------------

    def latest_by_session(self, since: datetime) -> dict[str, dict[Kind, Reading]]:
        (result,) = self._query([self._latest("time >= $since")], {"since": _ns(since)})
        return _newest_by_session(result)

    def events_by_session(self, sessions: Sequence[str]) -> dict[str, list[SessionEvent]]:
        wanted = list(dict.fromkeys(sessions))
        if not wanted:
            return {}
        match, params = _any_session(wanted)
        (result,) = self._query([f"SELECT * FROM {self._from(EVENT)} WHERE {match}"], params)
        return _events_by_session(result, wanted)

    def alerts_by_session(
        self, sessions: Sequence[str], since: datetime | None = None
    ) -> dict[str, list[AlertEvent]]:
        wanted = list(dict.fromkeys(sessions))
        if not wanted:
            return {}
        match, params = _any_session(wanted)
        if since is not None:
            match += " AND time >= $since"
            params["since"] = _ns(since)
        (result,) = self._query([f"SELECT * FROM {self._from(ALERT)} WHERE {match}"], params)
        return _alerts_by_session(result, wanted)

    def live(self, since: datetime) -> Live:
        # Two requests whatever the number of sessions, and few passes over the readings (on
        # influxd 1.6 each statement touching every live series costs ~5-10 ms, however short
        # its time range). The first request finds the active sessions and, in the same pass,
        # their newest readings in the window; the second reads the rest of their history:
        # first times, events, alerts, and the newest reading of a kind silent all the window.
        recent, event_times = self._query(
            [self._latest("time >= $since"),
             f'SELECT last("time_inferred") FROM {self._from(EVENT)} WHERE time >= $since '
             'GROUP BY "session"'],
            {"since": _ns(since)},
        )
        latest = _newest_by_session(recent)
        names = sorted(set(latest) | {tags["session"] for _n, tags, _r in _grouped(event_times)})
        if not names:
            return Live([], {}, {}, {})
        match, params = _any_session(names)
        kinds = ",".join(self._from(kind) for kind in Kind)
        statements = [
            f'SELECT first("time_inferred") FROM {kinds} WHERE {match} GROUP BY "session"',
            f"SELECT * FROM {self._from(EVENT)} WHERE {match}",
            f"SELECT * FROM {self._from(ALERT)} WHERE {match}",
        ]
        quiet = [name for name in names if len(latest.get(name, {})) < len(Kind)]
        if quiet:
            quiet_match, quiet_params = _any_session(quiet, prefix="q")
            params.update(quiet_params, since=_ns(since))
            statements.append(self._latest(f"{quiet_match} AND time < $since"))
        firsts, event_rows, alert_rows, *older = self._query(statements, params)
        for result in older:
            _newest_by_session(result, into=latest)
        events = _events_by_session(event_rows, names)
        found = SummaryBuilder()
        for _name, tags, row in _grouped(firsts):
            found.span(tags["session"], from_us(row["time"]))
        for name in names:
            for kind, reading in latest.get(name, {}).items():
                found.reading(name, kind, reading.time)
            for event in events[name]:
                found.event(name, event.event, event.time)
        summaries = found.summaries()
        return Live(summaries, latest, events, _alerts_by_session(alert_rows, names))

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
        bucket_us = _bucket_us(bucket)
        wanted = list(dict.fromkeys(sessions))
        if not wanted:
            return {}
        match, params = _any_session(wanted)
        params["since"] = _ns(since)
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
        found: dict[str, list[Reading]] = {session: [] for session in wanted}
        # Thousands of rows per refresh: a plain loop over the columns, no dict per row.
        for series in (s for result in mean_results for s in result):
            session = (series.get("tags") or {}).get("session", "")
            if session not in found:
                continue
            kind = Kind(_measurement_kind(series["name"]))
            columns = series["columns"]
            fields = [(i, c.removeprefix("mean_")) for i, c in enumerate(columns) if c != "time"]
            at = columns.index("time")
            out = found[session]
            for values in series["values"]:
                means = {f: float(values[i]) for i, f in fields if values[i] is not None}
                if means:
                    out.append(Reading(session, kind, from_us(values[at]), means))
        for series in bp_result:
            for reading in _series_readings(Kind.BP, series):
                if reading.session in found:
                    found[reading.session].append(reading)
        for readings in found.values():
            readings.sort(key=lambda r: (r.time, r.kind.value, r.device or ""))
        return found

    def _active_sessions(self, since: datetime) -> list[str]:
        kinds = ",".join(self._from(kind) for kind in Kind)
        results = self._query(
            [
                f'SELECT last("time_inferred") FROM {kinds} WHERE time >= $since '
                'GROUP BY "session"',
                f'SELECT last("time_inferred") FROM {self._from(EVENT)} WHERE time >= $since '
                'GROUP BY "session"',
            ],
            {"since": _ns(since)},
        )
        return sorted({tags["session"] for result in results for _n, tags, _r in _grouped(result)})

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
            return f"{_ident(self.retention_policy)}.{_ident(measurement)}"
        return _ident(measurement)


# -- encoding ----------------------------------------------------------------------------------


def batch_lines(batch: Batch) -> list[str]:
    """The line protocol for a whole batch (pure; exposed for tests and benchmarks)."""
    lines = [reading_line(r) for r in batch.readings]
    lines += [event_line(e) for e in batch.events]
    lines += [alert_line(a) for a in batch.alerts]
    lines += [observation_line(o) for o in batch.observations]
    lines += [notification_line(n) for n in batch.notifications]
    used: set[tuple[str | None, int]] = set()
    for rejection in batch.rejections:
        time_us = to_us(rejection.time)
        while (rejection.session, time_us) in used:
            time_us += 1  # same series, same instant: would overwrite the previous rejection
        used.add((rejection.session, time_us))
        lines.append(rejection_line(rejection, time_us))
    return lines


def reading_line(reading: Reading) -> str:
    if not READING_META.isdisjoint(reading.values):
        clash = sorted(READING_META.intersection(reading.values))
        raise ValueError(f"reading value names clash with the schema: {clash}")
    fields: dict[str, lineprotocol.FieldValue | None] = dict(reading.values)
    fields["time_inferred"] = reading.time_inferred
    if reading.problems:
        fields["problems"] = ",".join([p.value for p in reading.problems])
    return lineprotocol.line(
        reading.kind.value,
        {"session": reading.session, "device": reading.device},
        fields,
        to_us(reading.time),
    )


def event_line(event: SessionEvent) -> str:
    return lineprotocol.line(
        EVENT,
        {"session": event.session, "event": event.event.value},
        {"time_inferred": event.time_inferred, "note": event.note, "by": event.by,
         "label": event.label},
        to_us(event.time),
    )


def alert_line(alert: AlertEvent) -> str:
    return lineprotocol.line(
        ALERT,
        {
            "session": alert.session,
            "metric": alert.metric.value,
            "state": alert.state.value,
            "rule": alert.rule or None,
        },
        {
            "priority": alert.priority.value,
            "message": alert.message,
            "value": alert.value,
            "limit": alert.limit,
            "by": alert.by,
            "note": alert.note,
            "ended": None if alert.ended is None else rfc3339(alert.ended),
        },
        to_us(alert.time),
    )


def observation_line(observation: Observation) -> str:
    return lineprotocol.line(
        OBSERVATION,
        {
            "session": observation.session,
            "observation": observation.observation.value,
            "recorder": by_tag(observation.by),
        },
        {
            "severity": observation.severity.value,
            "note": observation.note,
            "by": observation.by,
            "time_inferred": observation.time_inferred,
        },
        to_us(observation.time),
    )


def notification_line(notification: NotificationRecord) -> str:
    return lineprotocol.line(
        NOTIFICATION,
        {
            "session": notification.session,
            "metric": notification.metric,
            "person": by_tag(notification.person),
            "channel": notification.channel,
            "kind": notification.kind,
        },
        # `person` again as a field: the exact name, whatever its tag had to become.
        {"delivered": notification.delivered, "error": notification.error,
         "name": notification.person},
        to_us(notification.time),
    )


def by_tag(by: str | None) -> str | None:
    """`by` as a tag value. A tag cannot hold a newline, a trailing backslash or be empty; such
    a name (free text from MQTT) is tagged by its hash instead, so it still has one identity."""
    if not by:
        return None
    if "\n" in by or "\r" in by or by.endswith("\\") or by != by.strip():
        return "sha256:" + hashlib.sha256(by.encode()).hexdigest()[:32]
    return by


def rejection_line(rejection: Rejection, time_us: int | None = None) -> str:
    return lineprotocol.line(
        REJECTION,
        {"session": rejection.session},
        {
            "topic": truncate(rejection.topic, MAX_REJECTION_TEXT),
            "reason": truncate(rejection.reason, MAX_REJECTION_TEXT),
            "payload": truncate(rejection.payload, MAX_REJECTION_TEXT),
        },
        to_us(rejection.time) if time_us is None else time_us,
    )


# -- decoding ----------------------------------------------------------------------------------


def _rows(result: Sequence[Series]) -> Iterator[Row]:
    for series in result:
        columns = series["columns"]
        for values in series["values"]:
            yield dict(zip(columns, values, strict=True))


def _grouped(result: Sequence[Series]) -> Iterator[tuple[str, dict[str, str], Row]]:
    for series in result:
        columns = series["columns"]
        for values in series["values"]:
            yield series["name"], series.get("tags") or {}, dict(zip(columns, values, strict=True))


def _series_readings(kind: Kind, series: Series) -> Iterator[Reading]:
    """The readings of one result series, decoded column-wise: a 4-hour session at 1 Hz is
    tens of thousands of rows, and a dict per row (`_rows`) was most of the session view's
    load time. What is the same for the whole series (tags) is looked up once."""
    columns = series["columns"]
    tags = series.get("tags") or {}  # GROUP BY tags: no column of their own

    def column(name: str) -> int | None:
        return columns.index(name) if name in columns else None

    at, session_at, device_at = columns.index("time"), column("session"), column("device")
    inferred_at, problems_at = column("time_inferred"), column("problems")
    fields = [(i, name) for i, name in enumerate(columns) if name not in READING_META]
    session = tags.get("session", "")
    device = tags.get("device") or None
    for values in series["values"]:
        problems = None if problems_at is None else values[problems_at]
        yield Reading(
            session if session_at is None else values[session_at],
            kind,
            from_us(values[at]),
            {name: float(values[i]) for i, name in fields if values[i] is not None},
            device if device_at is None else (values[device_at] or None),
            inferred_at is not None and bool(values[inferred_at]),
            tuple(DeviceProblem(p) for p in problems.split(",")) if problems else (),
        )


def _newest_by_session(
    result: Sequence[Series], into: dict[str, dict[Kind, Reading]] | None = None
) -> dict[str, dict[Kind, Reading]]:
    """The newest reading per session and kind from a `_latest` statement's answer (one series
    per session and device): the newest device's, at one instant the greater device id."""
    latest: dict[str, dict[Kind, Reading]] = {} if into is None else into
    for series in result:
        kind = Kind(_measurement_kind(series["name"]))
        # Column 0 is time, column 1 the selector's own copy of time_inferred: dropped.
        selected = {
            **series,
            "columns": [c for i, c in enumerate(series["columns"]) if i != 1],
            "values": [[v for i, v in enumerate(row) if i != 1] for row in series["values"]],
        }
        for reading in _series_readings(kind, selected):
            per_kind = latest.setdefault(reading.session, {})
            current = per_kind.get(kind)
            if current is None or _newer(reading, current):
                per_kind[kind] = reading
    return latest


class _Sessioned(Protocol):
    @property
    def session(self) -> str: ...


S = TypeVar("S", bound=_Sessioned)


def _by_session(result: Sequence[Series], wanted: Sequence[str], decode: Callable[[Row], S],
                order: Callable[[S], Any]) -> dict[str, list[S]]:
    """Each wanted session's decoded rows (none: []), sorted by `order`."""
    found: dict[str, list[S]] = {session: [] for session in wanted}
    for row in _rows(result):
        item = decode(row)
        if item.session in found:  # belt and braces: never hand out an unlisted session
            found[item.session].append(item)
    for items in found.values():
        items.sort(key=order)
    return found


def _events_by_session(result: Sequence[Series],
                       wanted: Sequence[str]) -> dict[str, list[SessionEvent]]:
    return _by_session(result, wanted, _event, lambda e: (e.time, e.event.value))


def _alerts_by_session(result: Sequence[Series],
                       wanted: Sequence[str]) -> dict[str, list[AlertEvent]]:
    return _by_session(result, wanted, _alert,
                       lambda a: (a.time, a.metric.value, a.rule, a.state.value))


def _measurement_kind(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _event(row: Row) -> SessionEvent:
    return SessionEvent(
        session=row["session"],
        event=SessionEventType(row["event"]),
        time=from_us(row["time"]),
        time_inferred=bool(row.get("time_inferred")),
        note=row.get("note"),
        by=row.get("by"),
        label=row.get("label"),
    )


def _alert(row: Row) -> AlertEvent:
    return AlertEvent(
        time=from_us(row["time"]),
        session=row["session"],
        metric=Metric(row["metric"]),
        priority=Priority(row["priority"]),
        state=AlertState(row["state"]),
        message=row.get("message") or "",
        rule=row.get("rule") or "",
        value=_float(row.get("value")),
        limit=_float(row.get("limit")),
        by=row.get("by"),
        note=row.get("note"),
        ended=datetime.fromisoformat(row["ended"]) if row.get("ended") else None,
    )


def _observation(row: Row) -> Observation:
    return Observation(
        session=row["session"],
        time=from_us(row["time"]),
        observation=ObservationKind(row["observation"]),
        severity=Severity(row["severity"]),
        note=row.get("note"),
        by=row.get("by") or None,
        time_inferred=bool(row.get("time_inferred")),
    )


def _rejection(row: Row) -> Rejection:
    return Rejection(
        topic=row.get("topic") or "",
        reason=row.get("reason") or "",
        payload=row.get("payload") or "",
        time=from_us(row["time"]),
        session=row.get("session") or None,
    )


# -- helpers -----------------------------------------------------------------------------------


def _where(
    session: str, since: datetime | None = None, until: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """A WHERE clause with every outside value bound as a parameter, never spliced in."""
    clauses = ['"session" = $session']
    params: dict[str, Any] = {"session": session}
    if since is not None:
        clauses.append("time >= $since")
        params["since"] = _ns(since)
    if until is not None:
        clauses.append("time <= $until")
        params["until"] = _ns(until)
    return " AND ".join(clauses), params


def _any_session(sessions: Sequence[str], prefix: str = "s") -> tuple[str, dict[str, Any]]:
    """`("session" = $s0 OR "session" = $s1 ...)` with every id bound, never spliced in."""
    names = [f"{prefix}{i}" for i in range(len(sessions))]
    clause = "(" + " OR ".join(f'"session" = ${name}' for name in names) + ")"
    return clause, dict(zip(names, sessions, strict=True))


def _newer(reading: Reading, than: Reading) -> bool:
    """Newest first; at one instant the greater device id (no device the least)."""
    return (reading.time, reading.device or "") > (than.time, than.device or "")


def _bucket_us(bucket: timedelta) -> int:
    bucket_us = bucket // timedelta(microseconds=1)
    if bucket_us <= 0:
        raise ValueError(f"a trend bucket must be at least 1 µs, got {bucket}")
    return bucket_us


def _ns(moment: datetime) -> int:
    # An integer compared with `time` in InfluxQL is nanoseconds.
    return to_us(moment) * 1000


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


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
