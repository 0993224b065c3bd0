"""The session view's buttons: the protocol and audit buttons (`session_commands.ACTIONS` says
what each records), the end-of-session confirmation, the presence check-in (also the overview
tiles' button) and the observation buttons. Each publishes over MQTT (`commands.Commands`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
from dash import ctx, html

from dashboard import app_context, auth, components, ids, session_commands
from dashboard import observations as obs
from dashboard.commands import CommandFailed
from dashboard.session_view import load, status_of
from vitals.readings import SessionEventType, Severity
from vitals.sessions import present_alarms
from vitals.storage.base import StoreError
from vitals.timefmt import local_time
from vitals.users import Role


def ask_end(_end: int, _confirm: int, _cancel: int,
            session_id: str | None) -> tuple[bool, Any]:
    """"End session…" shows the confirmation with the session's present alarms; confirming
    (`command` ends it, or says why not) or cancelling hides it."""
    if ctx.triggered_id != ids.EVENT_END or not session_id:
        return True, dash.no_update
    try:
        present = present_alarms(app_context.current().store.alerts(session_id))
    except StoreError as err:
        return False, html.P(f"⚠ Cannot read the session's alarms ({err}): not safe to end now.")
    return False, components.end_confirmation(session_id, present,
                                              app_context.current().settings.zone)


def command(_start: int, _dose: int, _end: int, _note: int, _checklist: int, _override: int,
            _signoff: int, session_id: str | None, note: str | None,
            guidelines: list[str] | None, contraindications: list[str] | None,
            reason: str | None, end_reason: str | None = None,
            label: str | None = None) -> str:
    """One protocol or audit button was clicked: `session_commands.ACTIONS` says what it
    records, who may, and what it must read first."""
    trigger = ctx.triggered_id
    if trigger is None or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update
    action = session_commands.ACTIONS.get(trigger)
    if action is None:
        return dash.no_update
    if not session_id:
        return "⚠ No session selected."
    form = session_commands.Form.typed(note, guidelines, contraindications, reason, end_reason,
                                       label)
    return session_commands.run(action, session_id, form, lambda s: status_of(load(s)))


def publish_checkin(session_id: str | None) -> str:
    """Publish a presence check-in by the logged-in user (monitor role and above)."""
    if not session_id:
        return "⚠ No session selected."
    user = auth.allowed(Role.MONITOR)
    if user is None:
        return "⚠ Your role cannot check in."
    try:
        app_context.current().commands.session_event(session_id, SessionEventType.CHECKIN,
                                                 user.name)
    except CommandFailed as err:
        return f"⚠ Check-in NOT sent: {err}"
    context = app_context.current()
    at = local_time(context.clock(), context.settings.zone)
    return f"✔ {user.name} checked in at {at} (sent)"


def check_in(n_clicks: int | None, session_id: str | None) -> str:
    """The big "I'm here" button."""
    if not n_clicks:
        return dash.no_update
    return publish_checkin(session_id)


def record_observation(_clicks: list[int | None], severity: str | None, note: str | None,
                       session_id: str | None) -> tuple[Any, Any]:
    """One observation button was tapped: publish it with the chosen severity, the note and the
    user; clear the note once sent."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update, dash.no_update
    if not session_id:
        return "⚠ No session selected.", dash.no_update
    user = auth.allowed(Role.MONITOR)
    if user is None:
        return "⚠ Your role cannot record observations.", dash.no_update
    kind = str(trigger.get("observation"))
    level = severity or Severity.MILD.value
    text = (note or "").strip() or None
    try:
        sent = app_context.current().commands.observation(session_id, kind, level, user.name,
                                                          text)
    except CommandFailed as err:
        return f"⚠ Observation NOT recorded: {err}", dash.no_update
    return [f"✔ {obs.label(kind)} ({level}) recorded by {user.name} (sent to the ingest) ",
            html.Button("Undo", id=ids.observation_undo(session_id, kind, sent["time"]),
                        className="button undo",
                        title=f"Mark it entered in error (within {obs.UNDO_MINUTES:g} min)")], ""


def undo_observation(_clicks: list[int | None], session_id: str | None) -> str:
    """"Undo" after a tap: publish a retraction (the observation stays recorded, marked
    entered in error; an alarm it raised stays until acknowledged), within the window, for
    an observation of this session, by a role that may record observations."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update
    user = auth.allowed(Role.MONITOR)
    if user is None:
        return "⚠ Your role cannot record or retract observations."
    if not session_id or trigger.get("session") != session_id:
        return "⚠ Only an observation recorded in this session can be undone here."
    kind = str(trigger.get("observation"))
    try:
        observed_at = datetime.fromisoformat(str(trigger.get("time")))
    except ValueError:
        return "⚠ Cannot tell which observation to undo."
    if observed_at.tzinfo is None:  # the button carries RFC 3339, with its offset
        return "⚠ Cannot tell which observation to undo."
    context = app_context.current()
    if not obs.undo_open(observed_at, context.clock()):
        return (f"⚠ Too late to undo (more than {obs.UNDO_MINUTES:g} min): add a note saying "
                "the observation was entered in error.")
    try:
        context.commands.retract_observation(session_id, kind, observed_at, user.name)
    except CommandFailed as err:
        return f"⚠ Undo NOT sent: {err}"
    return (f"↶ {obs.label(kind)} at {local_time(observed_at, context.settings.zone)} marked "
            f"entered in error by {user.name} (sent to the ingest)")
