"""The storage interface: what the ingest writes and what the dashboard and export read.

Two implementations pass one contract suite (`tests/storage/test_store_contract.py`):
`InfluxStore` (production, InfluxDB v1 HTTP API) and `SqliteStore` (the embedded default).

Identity: a reading is identified by (session, kind, device, time), an alert event by
(session, metric, rule, state, time) and an observation by (session, observation, by, time).
Writing the same identity again overwrites, never adds, so a message the broker redelivers
cannot create a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeVar

from vitals.alerts import AlertEvent
from vitals.errors import ServiceUnavailable
from vitals.readings import (
    Observation,
    ObservationRetraction,
    Reading,
    Rejection,
    SessionEvent,
    SessionEventType,
)
from vitals.vital_signs import VITAL_SIGNS, Kind

# Trends of continuous streams are means per time bucket; other kinds are their readings.
TREND_MEAN_KINDS: Final = tuple(sign.kind for sign in VITAL_SIGNS if sign.stream)
# The longest text a store keeps in a rejection's topic, reason or payload: an MQTT topic may be
# 64 KiB, and InfluxDB refuses a string field that long (failing the whole batch with it).
MAX_REJECTION_TEXT: Final = 4096

_K = TypeVar("_K")


class StoreError(Exception):
    """A storage failure that retrying will not fix (bad request, schema conflict)."""


class StoreUnavailable(StoreError, ServiceUnavailable):
    """The database cannot be reached or answered 5xx: retry later, hold the data, drop nothing."""


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """One notification on one channel, as the notifier sent it (issue 14): who, how, when,
    delivered or the delivery error. Identity: (session, metric, person, channel, kind, time)."""

    time: datetime
    session: str
    metric: str
    person: str
    channel: str  # the Apprise URL's scheme ("mailtos", "ntfys"), never its credentials
    kind: str  # "alarm" or "all_clear"
    delivered: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Everything one ingest cycle stores; `Store.write` stores all of it or raises."""

    readings: Sequence[Reading] = ()
    events: Sequence[SessionEvent] = ()
    alerts: Sequence[AlertEvent] = ()
    rejections: Sequence[Rejection] = ()
    observations: Sequence[Observation] = ()
    notifications: Sequence[NotificationRecord] = ()
    retractions: Sequence[ObservationRetraction] = ()

    def __len__(self) -> int:
        return (len(self.readings) + len(self.events) + len(self.alerts) + len(self.rejections)
                + len(self.observations) + len(self.notifications) + len(self.retractions))


def marked_retracted(observations: Sequence[Observation],
                     retractions: Sequence[ObservationRetraction]) -> list[Observation]:
    """The observations, each marked with its earliest retraction (kind and time match): how
    every store's `observations` shows what was entered in error, never deleting it."""
    first: dict[tuple[str, datetime], ObservationRetraction] = {}
    for retraction in sorted(retractions, key=lambda r: (r.time, r.by)):
        first.setdefault((retraction.observation.value, retraction.observed_at), retraction)
    marked = []
    for observation in observations:
        found = first.get((observation.observation.value, observation.time))
        marked.append(observation if found is None else replace(
            observation, retracted_by=found.by, retracted_at=found.time))
    return marked


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A session as the overview and the history list see it."""

    session: str
    first_time: datetime  # earliest reading or event
    last_time: datetime  # latest reading or event
    last_reading: dict[Kind, datetime] = field(default_factory=dict)
    started: datetime | None = None
    dosed: datetime | None = None
    ended: datetime | None = None


class SummaryBuilder:
    """Folds what a store read about sessions into `SessionSummary`s, whatever the order: the one
    place that says how a summary follows from the times of a session's readings and events."""

    def __init__(self) -> None:
        self._first: dict[str, datetime] = {}
        self._last: dict[str, datetime] = {}
        self._last_reading: dict[str, dict[Kind, datetime]] = {}
        self._last_event: dict[str, dict[str, datetime]] = {}

    def span(self, session: str, first: datetime, last: datetime | None = None) -> None:
        """The session had a reading or an event at `first` (and one at `last`, when given)."""
        last = first if last is None else last
        self._first[session] = min(self._first.get(session, first), first)
        self._last[session] = max(self._last.get(session, last), last)

    def reading(self, session: str, kind: Kind, first: datetime,
                last: datetime | None = None) -> None:
        """Readings of `kind` from `first` to `last` (`last` None: one reading at `first`)."""
        self.span(session, first, last)
        _keep_latest(self._last_reading.setdefault(session, {}), kind, last or first)

    def event(self, session: str, event: str, first: datetime,
              last: datetime | None = None) -> None:
        """Session events of type `event` from `first` to `last` (`last` None: one event)."""
        self.span(session, first, last)
        _keep_latest(self._last_event.setdefault(session, {}), str(event), last or first)

    def summaries(self) -> list[SessionSummary]:
        """One summary per session seen, newest (last time) first."""
        found = []
        for session, first in self._first.items():
            events = self._last_event.get(session, {})
            found.append(SessionSummary(
                session=session,
                first_time=first,
                last_time=self._last[session],
                last_reading=self._last_reading.get(session, {}),
                started=events.get(SessionEventType.START.value),
                dosed=events.get(SessionEventType.DOSE.value),
                ended=events.get(SessionEventType.END.value),
            ))
        found.sort(key=lambda s: (s.last_time, s.session), reverse=True)
        return found


def _keep_latest(latest: dict[_K, datetime], key: _K, time: datetime) -> None:
    latest[key] = max(latest.get(key, time), time)


@dataclass(frozen=True, slots=True)
class Live:
    """What the live pages read every refresh, for the sessions with any reading or event at or
    after a time (see `Store.live`)."""

    sessions: list[SessionSummary]  # as `sessions(since)`: newest first, ended ones included
    latest: dict[str, dict[Kind, Reading]]  # each one's newest reading of each kind, ever
    events: dict[str, list[SessionEvent]]  # as `events_by_session`
    alerts: dict[str, list[AlertEvent]]  # as `alerts_by_session`


def live_from_parts(store: Store, since: datetime) -> Live:
    """`Store.live` composed from the other reads: what every store's `live` must equal."""
    sessions = store.sessions(since=since)
    names = [s.session for s in sessions]
    if not names:
        return Live([], {}, {}, {})
    # From the earliest first time on, `latest_by_session` sees each session whole.
    latest = store.latest_by_session(min(s.first_time for s in sessions))
    return Live(sessions, {name: latest[name] for name in names if name in latest},
                store.events_by_session(names), store.alerts_by_session(names))


def trend_bucket_us(bucket: timedelta) -> int:
    """A `Store.trends` bucket in whole microseconds; refused when shorter than 1 µs."""
    bucket_us = bucket // timedelta(microseconds=1)
    if bucket_us <= 0:
        raise ValueError(f"a trend bucket must be at least 1 µs, got {bucket}")
    return bucket_us


class Store(Protocol):
    """Durable storage of readings, session events, alert events and rejections."""

    def write(self, batch: Batch) -> None:
        """Store the whole batch durably before returning.

        Raises `StoreUnavailable` when the database is down (the caller retries the same batch)
        and `StoreError` for anything retrying cannot fix.
        """

    def readings(
        self,
        session: str,
        kinds: Sequence[Kind] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Reading]:
        """The session's readings in time order (then kind, then device), `since <= t <= until`."""

    def latest(self, session: str) -> dict[Kind, Reading]:
        """The most recent reading of each kind for the session."""

    def events(self, session: str) -> list[SessionEvent]:
        """The session's start/dose/end events in time order."""

    def alerts(self, session: str, since: datetime | None = None) -> list[AlertEvent]:
        """The session's alert events in time order."""

    def observations(self, session: str) -> list[Observation]:
        """The session's recorded observations in time order (then kind, then who), those
        entered in error marked (`marked_retracted`), never left out."""

    def rejections(self, since: datetime | None = None, limit: int = 1000) -> list[Rejection]:
        """Refused messages, most recent last."""

    def notifications(self, session: str) -> list[NotificationRecord]:
        """The notifications sent about the session's alarms, in time order (then person,
        then channel)."""

    def sessions(self, since: datetime | None = None) -> list[SessionSummary]:
        """Sessions with any reading or event at or after `since` (all when None), newest first."""

    # -- set-wise reads: one or a few queries however many sessions (the overview's refresh) ----

    def latest_by_session(self, since: datetime) -> dict[str, dict[Kind, Reading]]:
        """For every session with a reading at or after `since`: its most recent reading of each
        kind among those at or after `since`, whole (all values of that one reading).

        Of two devices' readings at the same instant the greater device id wins (no device
        counts as the least).
        """

    def events_by_session(self, sessions: Sequence[str]) -> dict[str, list[SessionEvent]]:
        """Each listed session's events in time order, as `events` (no events: [])."""

    def alerts_by_session(
        self, sessions: Sequence[str], since: datetime | None = None
    ) -> dict[str, list[AlertEvent]]:
        """Each listed session's alert events in time order, as `alerts` (none: [])."""

    def live(self, since: datetime) -> Live:
        """Equal to `live_from_parts(self, since)`, in as few round trips as the store can: the
        overview and every page's alarm panel read it each refresh, for dozens of sessions."""

    def trends(
        self, sessions: Sequence[str], since: datetime, bucket: timedelta
    ) -> dict[str, list[Reading]]:
        """Readings downsampled for sparklines, each listed session's in time order (then kind).

        HR and SpO2: per session, kind and `bucket` (aligned to the epoch), the mean of each
        field over the readings at or after `since`, as a `Reading` at the bucket's start with
        device None. BP (sparse) comes raw, as `readings` returns it. A session without
        readings maps to [].
        """

    def ping(self) -> None:
        """Raise `StoreUnavailable` unless the database answers now."""

    def close(self) -> None: ...
