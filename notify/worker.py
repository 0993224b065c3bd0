"""The notifier process: alert events in from MQTT, notifications out through Apprise.

One thread: paho's network loop hands each alert event to a queue; the notifier thread takes
events and timer ticks from it, asks `Escalations` what is due, claims each notification in the
ledger (so two notifiers never both send it), sends, and records the outcome.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import paho.mqtt.client as mqtt

from notify.escalation import Escalations, Notification
from notify.health import (
    STATUS_SECONDS,
    NotifierHealth,
    offline_document,
    stopped_document,
)
from notify.ledger import KEEP, DeliveryRecord, Ledger
from notify.roster import Roster
from notify.sender import load_plugins, send
from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.errors import BrokerUnavailable
from vitals.mqtt import NOTIFY_LEVEL, make_client, reading_topic, status_topic
from vitals.parser import InvalidMessage, parse_label
from vitals.readings import DELIVERY_LEAF
from vitals.sessions import session_label
from vitals.settings import Settings
from vitals.storage.base import Batch, NotificationRecord, Store, StoreError
from vitals.timefmt import rfc3339, utcnow

log = logging.getLogger(__name__)

# What the notifier publishes under `<prefix>/<session>/`: each delivery's outcome, which the ingest
# turns into a technical alarm when it failed (the ACL grants the notify account these leaves).
NOTIFY_LEAVES: Final = (DELIVERY_LEAF,)
# Sessions with a reading or event this recent have their alert events replayed at start.
RESTORE_WINDOW: Final = timedelta(hours=24)
PRUNE_SECONDS: Final = 3600.0  # how often the ledger forgets what is older than `ledger.KEEP`


def alert_from_json(document: dict) -> AlertEvent:
    """An alert event as the ingest publishes it (`AlertEvent.to_json`); raises on a bad one."""
    return AlertEvent(
        time=datetime.fromisoformat(document["time"]),
        session=str(document["session"]),
        metric=Metric(document["metric"]),
        priority=Priority(document["priority"]),
        state=AlertState(document["state"]),
        message=str(document.get("message") or ""),
        rule=str(document.get("rule") or ""),
        value=document.get("value"),
        limit=document.get("limit"),
        by=document.get("by"),
        note=document.get("note"),
        ended=datetime.fromisoformat(document["ended"]) if document.get("ended") else None,
    )


def label_from(document: dict) -> str | None:
    """The session's display label the ingest sent with an alert event; one that breaks the
    label's rule is left out (the alarm still goes out, named by its session id)."""
    try:
        return parse_label(document.get("label"))
    except InvalidMessage:
        return None


def ledger_path(settings: Settings) -> Path:
    return settings.data_dir / "notifications.sqlite3"


class Notifier:
    def __init__(self, settings: Settings, roster: Roster, store: Store | None = None) -> None:
        self._settings = settings
        self._store = store  # the record's audit of notifications; the ledger keeps it too
        self._escalations = Escalations(roster, link=settings.dashboard_url)
        self._ledger = Ledger(ledger_path(settings))
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._client = make_client(settings.mqtt, settings.notify_client_id)
        self._health = NotifierHealth(settings.notify_client_id)
        self._status_topic = status_topic(settings.topic_prefix, settings.notify_client_id,
                                          NOTIFY_LEVEL)
        self._client.will_set(self._status_topic,
                              json.dumps(offline_document(settings.notify_client_id)),
                              qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_message = lambda _c, _u, m: self._inbox.put(m.payload)
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self.sent = 0  # notifications this process claimed and sent

    def next_due(self) -> datetime | None:
        """When the next escalation or repeat falls due (None: nothing is escalating)."""
        return self._escalations.next_due()

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def start(self, connect_timeout: float = 10.0) -> None:
        load_plugins()
        endpoint = self._settings.mqtt
        try:
            self._client.connect(endpoint.host, endpoint.port)
        except OSError as err:
            raise BrokerUnavailable(f"VITALS_MQTT_URL: cannot reach the broker at "
                                    f"{endpoint.host}:{endpoint.port}: {err}") from err
        self._client.loop_start()
        if not self._subscribed.wait(connect_timeout):
            self._client.loop_stop()
            raise BrokerUnavailable("VITALS_MQTT_URL: the broker did not accept the notifier's "
                                    "subscription (credentials or ACL)")
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._inbox.put(None)
        self._thread.join(timeout)
        self._client.publish(self._status_topic, json.dumps(
            stopped_document(self._settings.notify_client_id, utcnow())),
            qos=1, retain=True).wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._ledger.close()

    def _on_connect(self, client: mqtt.Client, _u, _f, reason_code, _p) -> None:
        if reason_code.is_failure:
            log.error("the broker refused the notifier: %s", reason_code)
            return
        client.subscribe(f"{self._settings.topic_prefix}/+/alert", qos=1)

    def _publish_status(self) -> None:
        self._client.publish(self._status_topic, json.dumps(self._health.document(utcnow())),
                             qos=1, retain=True)
        self._status_at = utcnow()

    def _prune(self) -> None:
        self._pruned_at = utcnow()
        try:
            if gone := self._ledger.prune(self._pruned_at):
                log.info("ledger: pruned %d entries older than %s", gone, KEEP)
        except sqlite3.Error as err:  # a busy or full disk must not stop the notifications
            log.warning("could not prune the ledger: %s", err)

    def _restore(self) -> list[Notification]:
        """The escalations a previous run left open, from the record's alert events."""
        if self._store is None:
            return []
        now = utcnow()
        try:
            names = [s.session for s in self._store.sessions(since=now - RESTORE_WINDOW)]
            stored = self._store.alerts_by_session(names) if names else {}
            events = self._store.events_by_session(names) if names else {}
        except StoreError as err:  # alarms still go out; only the restart's memory is missing
            log.error("cannot rebuild the escalations from the store (%s): alarms raised "
                      "before this start are not escalated", err)
            return []
        current = self._escalations.restore(
            (alert for alerts in stored.values() for alert in alerts), now,
            {session: session_label(found) for session, found in events.items()})
        if current:
            log.info("rebuilt %d open escalations from the store", len(current))
        return current

    def _run(self) -> None:
        self._prune()
        for notification in self._restore():  # the ledger's claim skips what was sent
            self._deliver_guarded(notification)
        self._publish_status()
        while True:
            try:
                if not self._cycle():
                    return
            except Exception:  # every later alarm needs this one thread: never its end
                log.exception("notifier cycle failed; notifying goes on")
                time.sleep(1.0)  # a fault that repeats: logged once a second, not in a spin

    def _cycle(self) -> bool:
        """One alert event taken (or a wait until the next escalation is due); False: stop."""
        next_due = self._escalations.next_due()
        wait = STATUS_SECONDS - (utcnow() - self._status_at).total_seconds()
        if next_due is not None:
            wait = min(wait, (next_due - utcnow()).total_seconds())
        wait = max(0.0, wait)
        try:
            payload = self._inbox.get(timeout=wait)
        except queue.Empty:
            payload = b""
        if payload is None:
            return False
        now = utcnow()
        due: list[Notification] = []
        if payload:
            try:
                document = json.loads(payload)
                due += self._escalations.on_event(alert_from_json(document), now,
                                                  label_from(document))
            except (ValueError, KeyError, TypeError) as err:
                log.warning("ignored a malformed alert event: %s", err)
        due += self._escalations.due(now)
        for notification in due:
            self._deliver_guarded(notification)
        if due or (now - self._status_at).total_seconds() >= STATUS_SECONDS:
            self._publish_status()
        if (now - self._pruned_at).total_seconds() >= PRUNE_SECONDS:
            self._prune()
        return True

    def _deliver_guarded(self, notification: Notification) -> None:
        """One notification; its failure (a ledger that is locked, a channel that raises) is
        logged, shown on the pipeline banner as a failed delivery, and never keeps the others
        from going out."""
        try:
            self._deliver(notification)
        except Exception as err:
            log.exception("could not notify %s of %s's %s alarm", notification.person.name,
                          notification.alert.session, notification.alert.metric.value)
            self._health.delivered(notification.person.name, "the notifier", False,
                                   f"{type(err).__name__}: {err}")

    def _deliver(self, notification: Notification) -> None:
        if not self._ledger.claim(notification.identity, self._settings.notify_client_id,
                                  utcnow()):
            return  # another notifier sends this one
        self.sent += 1
        records = []
        for position, delivery in enumerate(send(notification)):
            alert = notification.alert
            self._health.delivered(notification.person.name, delivery.channel,
                                   delivery.delivered, delivery.error)
            if not delivery.delivered:
                log.error("could not notify %s by %s: %s", notification.person.name,
                          delivery.channel, delivery.error)
            record = DeliveryRecord(
                utcnow(), alert.session, alert.metric.value, notification.person.name,
                delivery.channel, notification.kind.value, delivery.delivered, delivery.error)
            self._ledger.record(notification.identity, position, record)
            self._report(record)
            records.append(NotificationRecord(
                record.time, record.session, record.metric, record.person, record.channel,
                record.kind, record.delivered, record.error))
        if self._store is not None:
            try:
                self._store.write(Batch(notifications=records))
            except StoreError as err:  # the ledger has it; the send is what matters
                log.warning("cannot store the notification log (kept in the ledger): %s", err)

    def _report(self, record: DeliveryRecord) -> None:
        """Tell the ingest how it went: a failure becomes the session's technical alarm."""
        document = {"time": rfc3339(record.time), "person": record.person,
                    "channel": record.channel, "delivered": record.delivered,
                    "error": record.error, "metric": record.metric, "kind": record.kind}
        self._client.publish(reading_topic(self._settings.topic_prefix, record.session,
                                           DELIVERY_LEAF), json.dumps(document), qos=1)


def run_notifier(settings: Settings, roster: Roster, stop: threading.Event | None = None) -> None:
    """`vitals notify`: run until SIGTERM/SIGINT (or `stop` is set)."""
    if stop is None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    from vitals.storage import open_store

    store = open_store(settings)
    notifier = Notifier(settings, roster, store)
    notifier.start()
    log.info("notifier %s: %d people on the roster", settings.notify_client_id,
             len(roster.person))
    try:
        stop.wait()
    finally:
        notifier.stop()
        store.close()
