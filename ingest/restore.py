"""Alarm state rebuilt from storage: what a starting ingest worker (or one whose store answers
again) knew before, so a restart neither repeats nor forgets an alarm."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ingest.pipeline import Pipeline
from vitals.alerts import AlertEvent
from vitals.readings import DeliveryReport
from vitals.storage import Store, StoreUnavailable

log = logging.getLogger(__name__)

RESTORE_WINDOW = timedelta(hours=24)  # a session silent this long without `end` is not live


def restore(store: Store, pipeline: Pipeline, now: datetime) -> list[AlertEvent]:
    """Rebuild active alarms, latches, baselines and session state from storage.

    Raises `StoreUnavailable` if the store cannot list the sessions. One session that
    cannot be rebuilt does not stop the others: it gets a high technical alarm (returned).
    """
    restored = 0
    failures: list[AlertEvent] = []
    for summary in store.sessions(since=now - RESTORE_WINDOW):
        session = summary.session
        try:
            events = store.events(session)
            if summary.ended is not None:
                # Its events are enough (an ended session judges no limits), and its
                # alerts: a "readings after the session ended" alarm may wait for its
                # acknowledgement.
                pipeline.restore(session, events, [], store.alerts(session))
                continue
            pipeline.restore(
                session,
                events,
                store.readings(session, since=summary.first_time),
                store.alerts(session),
                store.observations(session),
            )
            pipeline.engine.restore_deliveries(session, [
                DeliveryReport(session, n.time, n.person, n.channel, n.delivered, n.error)
                for n in store.notifications(session)])
            restored += 1
        except StoreUnavailable:
            raise
        except Exception:
            log.exception("could not rebuild the alarm state of session %s", session)
            failures += pipeline.engine.rules_failed(
                session, now, "Alarm state could not be restored after an ingest restart: "
                "watch the patient directly and check the ingest log.")
    if restored:
        log.info("restored alarm state of %d live sessions from storage", restored)
    return failures
