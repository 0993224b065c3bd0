"""A session's exports as Flask routes, behind the login, for clinicians.

One table, `EXPORTS`: what each file is, its name under `/export/<session>/`, its MIME type and
the pure builder that makes it (`reports.py`, `summary_report.py`). The routes and the history
page's links both read it; these views only fetch and serve.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from flask import Flask, Response, abort

from dashboard import app_context, figures, frames, reports, summary_report
from dashboard.app_context import DashboardContext
from dashboard.auth import role_required
from vitals.alerts import Metric
from vitals.readings import SESSION_ID
from vitals.sessions import session_label
from vitals.storage.base import StoreError
from vitals.users import Role

log = logging.getLogger(__name__)

PREFIX: Final = "/export"


@dataclass(frozen=True, slots=True)
class Export:
    key: str  # the short name the history page shows
    filename: str  # served as /export/<session>/<filename>, downloaded as <session>-<filename>
    mimetype: str
    build: Callable[[DashboardContext, str], str]  # (context, session) -> the file's text
    download: bool = True  # False: shown in the browser (the printable report)


def _report(context: DashboardContext, session: str) -> str:
    store = context.store
    readings, events, alerts = (store.readings(session), store.events(session),
                                store.alerts(session))
    observations = store.observations(session)
    summary = summary_report.clinical_summary(
        session, events, readings, alerts, observations, store.notifications(session),
        context.profile, context.clock(), context.settings.zone)
    chart = ""
    if readings:
        # Frames of what was read above: the database is read once per report.
        events_rows = frames.event_rows(events)
        origin, label = frames.session_origin(events_rows, frames.reading_rows(readings))
        cadence = context.profile.cadence
        marks = figures.reassessment_marks(origin, frames.dose_time(events_rows),
                                           cadence.reassessment_minutes,
                                           cadence.reassessment_window_minutes)
        protocol = events_rows[events_rows["event"] != "checkin"]  # check-ins: counted in text
        fig = figures.session_figure(
            frames.reading_rows(frames.thin(readings)), protocol, frames.alert_rows(alerts),
            origin, label,
            context.limits or figures.default_limits(), marks=marks,
            observations=frames.observation_rows(observations),
            hr_sources=context.profile.metrics[Metric.HEART_RATE].sources)
        chart = figures.printable_figure(fig).to_html(
            full_html=False, include_plotlyjs="inline", default_width="100%",
            config={"staticPlot": True, "displayModeBar": False})
    files = [(e.filename, e.filename) for e in EXPORTS if e.mimetype == "text/csv"]
    return summary_report.html_report(summary, chart, files)


def _fhir(context: DashboardContext, session: str) -> str:
    store = context.store
    bundle = reports.fhir_bundle(session, store.readings(session), context.clock(),
                                 store.observations(session), session_label(store.events(session)))
    return json.dumps(bundle, indent=1)


EXPORTS: Final[tuple[Export, ...]] = (
    Export("csv", "readings.csv", "text/csv",
           lambda c, s: reports.readings_csv(c.store.readings(s))),
    Export("alarms", "alarms.csv", "text/csv",
           lambda c, s: reports.alarms_csv(c.store.alerts(s))),
    Export("events", "events.csv", "text/csv",
           lambda c, s: reports.events_csv(c.store.events(s))),
    Export("obs", "observations.csv", "text/csv",
           lambda c, s: reports.observations_csv(c.store.observations(s))),
    Export("notify", "notifications.csv", "text/csv",
           lambda c, s: reports.notifications_csv(c.store.notifications(s))),
    Export("html", "report.html", "text/html", _report, download=False),
    Export("fhir", "fhir.json", "application/fhir+json", _fhir),
)
_BY_FILENAME: Final = {e.filename: e for e in EXPORTS}
FORMATS: Final = {e.key: e.filename for e in EXPORTS}


def export_url(session: str, key: str) -> str:
    return f"{PREFIX}/{session}/{FORMATS[key]}"


def register(server: Flask) -> None:
    @server.route(f"{PREFIX}/<session>/<filename>")
    @role_required(Role.CLINICIAN)
    def _export(session: str, filename: str) -> Any:
        export = _BY_FILENAME.get(filename)
        if export is None or not SESSION_ID.match(session):
            abort(404)
        try:
            body = export.build(app_context.current(), session)
        except StoreError as err:
            abort(503, f"cannot read the database: {err}")
        response = Response(body, mimetype=export.mimetype)
        disposition = "attachment" if export.download else "inline"
        response.headers["Content-Disposition"] = (
            f'{disposition}; filename="{session}-{export.filename}"')
        return response
