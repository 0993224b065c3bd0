"""On-call roster (`/roster`, admins only): who `vitals notify` tells, at which level, for which
sessions, by which channels; and a test notification to one person.

The test is sent in-process by the notifier's own sender (`notify.sender.send`, Apprise) with
the roster file the notifier reads (`VITALS_NOTIFY_ROSTER`), and its outcome is shown per
channel at once. In-process rather than a request over MQTT to the notifier: it works while
no notifier runs (when checking a channel matters most), needs no topic or ACL line that could
trigger messages from the broker, and the admin sees the channel's own error, not a timeout.
The limit: it checks the channel from the dashboard's host; a notifier elsewhere may be
blocked where this is not. Channels are shown by scheme only: a roster URL holds credentials.

Admins only, as the users page: 403 for the path, a refusal in the layout, 403 in callbacks.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import Output, dcc, html

from dashboard import app_context, auth, components, ids
from dashboard.wiring import children, clicks, store_updates, values
from notify.roster import Roster, RosterError, load_roster
from vitals.users import Role

log = logging.getLogger(__name__)

PATH = "/roster"


def layout(**_query: Any) -> html.Div:
    return components.restricted_page(Role.ADMIN, "roster", "On-call roster",
                                      "Only admins see the roster.", [
        dcc.Store(id=ids.ROSTER_VERSION, data=0),
        html.Div(id=ids.ROSTER_TABLE),
        html.Section(className="users-form", children=[
            html.H3("Send a test notification"),
            dcc.Dropdown(id=ids.ROSTER_PERSON, options=[], clearable=False,
                         placeholder="choose a person"),
            html.Button("Send test", id=ids.ROSTER_TEST_SUBMIT, className="action",
                        n_clicks=0),
            html.Div(id=ids.ROSTER_TEST_RESULT, className="feedback", role="status"),
        ]),
    ])


def _roster() -> Roster:
    path = app_context.current().settings.notify_roster
    if path is None:
        raise RosterError("No roster: set VITALS_NOTIFY_ROSTER to the notifier's roster file "
                          "(docs/notifications.md).")
    return load_roster(path)


def roster_table(roster: Roster) -> html.Div:
    """Each person's level, sessions and channels (URL schemes only); the escalation delays."""
    from notify.sender import channel_of

    delays = roster.escalation
    rows = [html.Tr([
        html.Td(person.name), html.Td(person.role.value), html.Td(", ".join(person.sessions)),
        html.Td(", ".join(channel_of(url) for url in person.urls)),
    ]) for person in roster.person]
    return html.Div([
        html.P(f"Escalation: high after {delays.high:g} s, medium after {delays.medium:g} s "
               "without an acknowledgement (0: never sent off the screen)."),
        html.Table(className="table", children=[
            html.Thead(html.Tr([html.Th(h) for h in ("Person", "Level", "Sessions",
                                                     "Channels")])),
            html.Tbody(rows),
        ]) if rows else html.Div("Nobody on the roster.", className="muted"),
    ])


def show(_version: int | None) -> tuple[Any, list[dict[str, str]]]:
    """The roster and the choice of person (admins only)."""
    auth.require(Role.ADMIN)
    try:
        roster = _roster()
    except RosterError as err:
        return html.Div(f"⚠ {err}", className="error"), []
    return roster_table(roster), [{"label": p.name, "value": p.name} for p in roster.person]


def send_test(_clicks: int | None, name: str | None) -> Any:
    """Send the test to the chosen person's every channel; each outcome (admins only)."""
    from notify.escalation import trial_notification
    from notify.sender import send

    admin = auth.require(Role.ADMIN)
    try:
        person = next((p for p in _roster().person if p.name == name), None)
    except RosterError as err:
        return f"⚠ {err}"
    if person is None:
        return "⚠ Choose a person first."
    deliveries = send(trial_notification(person, admin.name, app_context.current().clock()))
    for delivery in deliveries:
        log.info("%s sent a test notification to %s by %s: %s", admin.name, person.name,
                 delivery.channel, "delivered" if delivery.delivered else delivery.error)
    return html.Ul([html.Li(
        f"{person.name} by {d.channel}: " + ("✔ delivered" if d.delivered
                                             else f"✖ failed: {d.error}"),
        className="notified-ok" if d.delivered else "notified-failed") for d in deliveries])


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Roster", title="Vitals — on-call roster",
                       layout=layout, order=4)
    auth.restrict(app.server, PATH, Role.ADMIN)
    app.callback(*children(ids.ROSTER_TABLE), Output(ids.ROSTER_PERSON, "options"),
                 *store_updates(ids.ROSTER_VERSION))(show)
    app.callback(*children(ids.ROSTER_TEST_RESULT), *clicks(ids.ROSTER_TEST_SUBMIT),
                 *values(ids.ROSTER_PERSON), prevent_initial_call=True)(send_test)
