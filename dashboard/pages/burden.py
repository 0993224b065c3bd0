"""Alarm burden (`/burden`, clinicians and admins): the `vitals profile burden` report of the
profile in force, a simulated population replayed through the alarm engine.

The report is computed once in the background (`dashboard.burden.BurdenReports`); until then
the page says it is computing and polls. Restricted as the users page is: a request for the
path answers 403, the layout reached by in-app navigation shows only a refusal, and the callback
answers 403.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Output, dcc, html

from dashboard import app_context, auth, components, ids
from dashboard.burden import BurdenStatus
from dashboard.wiring import children, ticks
from vitals.users import Role

PATH = "/burden"
POLL_MS = 2_000


def layout(**_query: Any) -> html.Div:
    return components.restricted_page(Role.CLINICIAN, "burden", "Alarm burden",
                                      "Only clinicians and admins see the alarm burden.", [
        dcc.Interval(id=ids.BURDEN_INTERVAL, interval=POLL_MS, n_intervals=0),
        html.Div(id=ids.BURDEN_REPORT, role="status"),
    ], heading="Alarm burden of the profile in force")


def show(_n_intervals: int | None) -> tuple[Any, bool]:
    """The report, or what is happening; and whether to stop polling."""
    auth.require(Role.CLINICIAN)
    context = app_context.current()
    return report(context.burden.status(), context.profile.source_path)


def report(status: BurdenStatus, profile: str) -> tuple[Any, bool]:
    """The page's content for a status (pure): the tables and the figure once computed."""
    if status.error is not None:
        return html.Div(f"⚠ {status.error}", className="error", role="alert"), True
    if status.summary is None:
        return html.Div(className="muted", children=[
            f"Computing the alarm burden of profile {profile} for {status.patients} simulated "
            "patients… (once per profile, about a minute; this page updates by itself)",
        ]), False
    from simulators.burden_report import RULE_COLUMNS, figure, headline, rule_rows

    summary = status.summary
    top = html.Table(className="table burden-headline", children=[html.Tbody([
        html.Tr([html.Th(label), html.Td(value)]) for label, value in headline(summary)])])
    rows = rule_rows(summary)
    rules = html.Table(className="table burden-rules", children=[
        html.Thead(html.Tr([html.Th(column) for column in RULE_COLUMNS])),
        html.Tbody([html.Tr([html.Td(value) for value in row]) for row in rows]
                   or [html.Tr(html.Td("no alarms", colSpan=len(RULE_COLUMNS)))]),
    ])
    return html.Div([
        html.P(className="muted", children=[
            "A simulated population replayed through the alarm engine (decision support only). "
            "The patients are drawn from simulators/population.toml: the figures describe the "
            "simulator, not a clinic. For more patients: vitals profile burden --population "
            "1000."]),
        top,
        html.H3("Per rule and priority"),
        rules,
        dcc.Graph(figure=figure(summary), config={"displayModeBar": False}),
    ]), True


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Alarm burden", title="Vitals — alarm burden",
                       layout=layout, order=4)
    auth.restrict(app.server, PATH, Role.CLINICIAN)
    app.callback(*children(ids.BURDEN_REPORT), Output(ids.BURDEN_INTERVAL, "disabled"),
                 *ticks(ids.BURDEN_INTERVAL))(show)
