"""Who is told what, and when: routing and escalation as pure logic (no I/O, no clock).

An alarm (session, metric) that becomes active at high or medium priority is sent at once to the
lowest level of the roster that has someone for its session; unacknowledged after the
priority's delay it goes to the next level, and so on; at the last level it repeats at that
interval until acknowledged. An `acknowledged` event stops it; a `cleared` event sends "all
clear" to everyone who was told. Low alarms never leave the screen.

Every notification has a deterministic identity (the alert's identity, the step, the person),
so replicas of the notifier that see the same events compute the same notifications and a
store-backed claim lets exactly one of them send each.

After a restart `restore` replays the stored alert events by their own times, so each open
alarm is back at the step it had reached (repeats that fell due while no notifier ran collapse
into the current one), and returns that step's notifications with every lower level's first
message: the ledger's claim skips those already sent, so nobody is told twice and the monitor of
an alarm raised meanwhile is still told, not only the level it has escalated to.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from notify.roster import Person, Roster
from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.sessions import alert_order, display_name
from vitals.timefmt import rfc3339

SEEN_EVENTS: Final = 10_000  # alert identities remembered to collapse the replicas' copies


class Kind(StrEnum):
    ALARM = "alarm"
    ALL_CLEAR = "all_clear"
    TEST = "test"  # an admin's test from the dashboard: no alarm behind it


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one person (each of their URLs is a channel)."""

    identity: str
    kind: Kind
    person: Person
    alert: AlertEvent
    step: int  # 0: the first message; n: the n-th escalation or repeat
    title: str
    body: str


@dataclass(slots=True)
class _Open:
    alert: AlertEvent  # the active event that opened it (or raised its priority)
    step: int
    due: datetime | None  # when the next step falls due
    told: dict[str, Person] = field(default_factory=dict)
    acknowledged: bool = False
    label: str | None = None  # the session's display label, as the ingest sent it


def trial_notification(person: Person, by: str, now: datetime) -> Notification:
    """The message an admin sends from the roster page to check a person's channels."""
    alert = AlertEvent(now, "test", Metric.DATA, Priority.LOW, AlertState.ACTIVE,
                       "Test notification", "notify.test")
    return Notification(f"test|{rfc3339(now)}|{person.name}", Kind.TEST, person, alert, 0,
                        "Test notification from vitals",
                        f"A test sent by {by} from the dashboard's roster page: no alarm. "
                        "If you read this, alarms reach you here.")


def alert_identity(event: AlertEvent) -> tuple[str, str, str, str, str]:
    return (event.session, event.metric.value, event.rule, event.state.value, rfc3339(event.time))


class Escalations:
    """The open alarms of every session and what is due next. Feed it events and ticks."""

    def __init__(self, roster: Roster, link: str | None = None) -> None:
        self._roster = roster
        self._link = link  # the dashboard's base URL, or None
        self._open: dict[tuple[str, str, str], _Open] = {}
        self._seen: OrderedDict[tuple[str, ...], None] = OrderedDict()

    def on_event(self, event: AlertEvent, now: datetime,
                 label: str | None = None) -> list[Notification]:
        """What an alert event sends now; a replica's duplicate sends nothing. `label`: the
        session's display label, which the messages name beside the session id."""
        identity = alert_identity(event)
        if identity in self._seen:
            return []
        self._seen[identity] = None
        if len(self._seen) > SEEN_EVENTS:
            self._seen.popitem(last=False)
        key = (event.session, event.metric.value, event.key.rule)  # one per technical cause
        current = self._open.get(key)
        if event.state is AlertState.ACTIVE:
            delay = self._roster.escalation.delay(event.priority)
            if delay <= 0:
                return []
            if (current is not None and not current.acknowledged
                    and current.alert.priority.rank >= event.priority.rank):
                return []  # already escalating at this priority or worse
            opened = _Open(event, 0, None, dict(current.told) if current else {},
                           label=label or (current.label if current else None))
            self._open[key] = opened
            return self._step(opened, now)
        if current is None:
            return []
        if event.state is AlertState.ACKNOWLEDGED:
            # Escalation stops; those told still hear the all clear when it clears.
            current.acknowledged, current.due = True, None
            return []
        del self._open[key]
        return [self._notification(Kind.ALL_CLEAR, person, current.alert, current.step, event,
                                   label or current.label)
                for person in current.told.values()]

    def restore(self, events: Iterable[AlertEvent], now: datetime,
                labels: Mapping[str, str | None] | None = None) -> list[Notification]:
        """Rebuild from stored alert events (a restart); the current step of each open alarm.
        `labels`: each session's display label (`vitals.sessions.session_label`)."""
        known = labels or {}
        for event in sorted(events, key=alert_order):
            self.due(event.time)  # what a running notifier would have done meanwhile
            self.on_event(event, event.time, known.get(event.session))
        self.due(now)
        return [notification for opened in self._open.values() if not opened.acknowledged
                for notification in self._owed(opened)]

    def due(self, now: datetime) -> list[Notification]:
        """The escalations and repeats due at `now`."""
        sent: list[Notification] = []
        for opened in list(self._open.values()):
            while opened.due is not None and opened.due <= now:
                opened.step += 1
                sent.extend(self._step(opened, opened.due))
        return sent

    def next_due(self) -> datetime | None:
        dues = [o.due for o in self._open.values() if o.due is not None]
        return min(dues, default=None)

    def _step(self, opened: _Open, at: datetime) -> list[Notification]:
        levels = self._roster.levels(opened.alert.session)
        delay = timedelta(seconds=self._roster.escalation.delay(opened.alert.priority))
        opened.due = at + delay if levels else None
        messages = self._messages(opened)
        for message in messages:
            opened.told[message.person.name] = message.person
        return messages

    def _messages(self, opened: _Open) -> list[Notification]:
        """The alarm's messages at the step it has reached."""
        levels = self._roster.levels(opened.alert.session)
        if not levels:
            return []
        level = levels[min(opened.step, len(levels) - 1)]
        return [self._notification(Kind.ALARM, person, opened.alert, opened.step, opened.alert,
                                   opened.label)
                for person in self._roster.at_level(level, opened.alert.session)]

    def _owed(self, opened: _Open) -> list[Notification]:
        """At a restart: each level's first message up to the step reached, then that step's.
        A level whose step fell due while no notifier ran was never told (the monitor of an
        alarm raised meanwhile, say): collapsing to the current step alone would skip them.
        The ledger's claim skips whatever the previous run did send."""
        levels = self._roster.levels(opened.alert.session)
        earlier = [self._notification(Kind.ALARM, person, opened.alert, step, opened.alert,
                                      opened.label)
                   for step in range(min(opened.step, len(levels) - 1))
                   for person in self._roster.at_level(levels[step], opened.alert.session)]
        return earlier + self._messages(opened)

    def _notification(self, kind: Kind, person: Person, alert: AlertEvent, step: int,
                      event: AlertEvent, label: str | None = None) -> Notification:
        identity = "|".join([*alert_identity(alert), kind.value, str(step), person.name])
        link = (f"{self._link.rstrip('/')}/session/{alert.session}?alarm={alert.metric.value}"
                if self._link else None)
        if kind is Kind.ALARM:
            title = f"{alert.priority.value.upper()} alarm, {display_name(alert.session, label)}"
            body = alert.message if step == 0 else (
                f"{alert.message} (not acknowledged; message {step + 1})")
        else:
            title = f"All clear, {display_name(alert.session, label)}"
            body = f"Cleared: {event.message or alert.message}"
        if link:
            body += f"\nOpen and acknowledge (login required): {link}"
        return Notification(identity, kind, person, alert, step, title, body)
