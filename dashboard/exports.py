"""A session's exports as Flask routes, behind the login, for clinicians.

`/export/<session>/readings.csv`, `/export/<session>/observations.csv` (the monitor's log),
`/export/<session>/notifications.csv` (who was notified of which alarm, how, and whether it
arrived), `/export/<session>/report.html` (self-contained: inline CSS and chart script),
`/export/<session>/fhir.json` (FHIR R4 Bundle of vital-signs Observations and the monitor's
observations as exam Observations).
The builders are pure (`reports.py`); these views only fetch and serve.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from flask import Flask, Response, abort

from dashboard import figures, queries, reports
from dashboard.auth import role_required
from vitals.alerts import Metric
from vitals.readings import SESSION_ID
from vitals.storage.base import StoreError
from vitals.users import Role

log = logging.getLogger(__name__)

PREFIX: Final = "/export"
FORMATS: Final = {"csv": "readings.csv", "obs": "observations.csv", "html": "report.html",
                  "fhir": "fhir.json", "notify": "notifications.csv"}


def export_url(session: str, fmt: str) -> str:
    return f"{PREFIX}/{session}/{FORMATS[fmt]}"


def _checked(session: str) -> str:
    if not SESSION_ID.match(session):
        abort(404)
    return session


def _attachment(body: str, mimetype: str, filename: str, download: bool = True) -> Response:
    response = Response(body, mimetype=mimetype)
    disposition = "attachment" if download else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


def register(server: Flask) -> None:
    @server.route(f"{PREFIX}/<session>/readings.csv")
    @role_required(Role.CLINICIAN)
    def _export_csv(session: str) -> Any:
        store = queries.current().store
        try:
            body = reports.readings_csv(store.readings(_checked(session)))
        except StoreError as err:
            abort(503, f"cannot read the database: {err}")
        return _attachment(body, "text/csv", f"{session}-readings.csv")

    @server.route(f"{PREFIX}/<session>/observations.csv")
    @role_required(Role.CLINICIAN)
    def _export_observations(session: str) -> Any:
        store = queries.current().store
        try:
            body = reports.observations_csv(store.observations(_checked(session)))
        except StoreError as err:
            abort(503, f"cannot read the database: {err}")
        return _attachment(body, "text/csv", f"{session}-observations.csv")

    @server.route(f"{PREFIX}/<session>/notifications.csv")
    @role_required(Role.CLINICIAN)
    def _export_notifications(session: str) -> Any:
        store = queries.current().store
        try:
            body = reports.notifications_csv(store.notifications(_checked(session)))
        except StoreError as err:
            abort(503, f"cannot read the database: {err}")
        return _attachment(body, "text/csv", f"{session}-notifications.csv")

    @server.route(f"{PREFIX}/<session>/fhir.json")
    @role_required(Role.CLINICIAN)
    def _export_fhir(session: str) -> Any:
        context = queries.current()
        try:
            bundle = reports.fhir_bundle(_checked(session), context.store.readings(session),
                                         context.clock(), context.store.observations(session))
        except StoreError as err:
            abort(503, f"cannot read the database: {err}")
        return _attachment(json.dumps(bundle, indent=1), "application/fhir+json",
                           f"{session}-fhir.json")

    @server.route(f"{PREFIX}/<session>/report.html")
    @role_required(Role.CLINICIAN)
    def _export_html(session: str) -> Any:
        context = queries.current()
        store = context.store
        try:
            readings = store.readings(_checked(session))
            events = store.events(session)
            alerts = store.alerts(session)
            observations = store.observations(session)
            notifications = store.notifications(session)
        except StoreError as err:
            abort(503, f"cannot read the database: {err}")
        summary = reports.rems_summary(session, events, readings, alerts,
                                       context.profile.cadence.reassessment_minutes,
                                       observations)
        chart = ""
        if readings:
            # Frames of what was read above: the database is read once per report.
            frames = (queries.reading_rows(readings), queries.event_rows(events),
                      queries.alert_rows(alerts))
            origin, label = queries.session_origin(frames[1], frames[0])
            cadence = context.profile.cadence
            marks = figures.reassessment_marks(origin, queries.dose_time(frames[1]),
                                               cadence.reassessment_minutes,
                                               cadence.reassessment_window_minutes)
            protocol = frames[1][frames[1]["event"] != "checkin"]  # check-ins: in the table
            hr_sources = context.profile.metrics[Metric.HEART_RATE].sources
            fig = figures.session_figure(queries.reading_rows(queries.thin(readings)), protocol,
                                         frames[2], origin, label,
                                         context.limits or figures.LIMITS, marks=marks,
                                         observations=queries.observation_rows(observations),
                                         hr_sources=hr_sources)
            chart = fig.to_html(full_html=False, include_plotlyjs="inline",
                                default_width="100%", config={"responsive": True})
        body = reports.html_report(session, readings, events, alerts, summary, context.clock(),
                                   chart, observations, notifications)
        return _attachment(body, "text/html", f"{session}-report.html", download=False)
