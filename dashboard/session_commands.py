"""The session page's protocol and audit buttons: which event each records, who may press it,
and what it must know first; one table, `ACTIONS`.

Each action's `text` is pure: the form as typed and what the store says (the alarms present,
the protocol status) in, the event's note out, or `Refused` with the line the user reads. `run`
does the I/O around them: the role check, the one store read the action needs, the publish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from dashboard import app_context, auth, components, ids
from dashboard.commands import CommandFailed
from vitals.alerts import AlertEvent
from vitals.checklist import checklist_note
from vitals.parser import InvalidMessage, parse_label
from vitals.readings import SessionEventType
from vitals.sessions import SessionStatus, Verdict, present_alarms
from vitals.storage.base import StoreError
from vitals.users import Role, User


class Refused(Exception):
    """The action is not recorded; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Form:
    """What the session page's inputs hold when a button is pressed (blank as None)."""

    note: str | None = None
    guidelines: Sequence[str] = ()
    contraindications: Sequence[str] = ()
    reason: str | None = None
    end_reason: str | None = None
    label: str | None = None  # a start's display label, as typed (the parser's rules check it)

    @classmethod
    def typed(cls, note: str | None, guidelines: Sequence[str] | None,
              contraindications: Sequence[str] | None, reason: str | None,
              end_reason: str | None, label: str | None = None) -> Form:
        def text(value: str | None) -> str | None:
            return (value or "").strip() or None
        return cls(text(note), tuple(guidelines or ()), tuple(contraindications or ()),
                   text(reason), text(end_reason), text(label))


@dataclass(frozen=True, slots=True)
class Known:
    """What the store said, read only for the actions that need it."""

    user: User
    present: tuple[AlertEvent, ...] = ()  # the session's alarms present now
    status: SessionStatus | None = None


def _note(form: Form, _known: Known) -> str | None:
    if not form.note:
        raise Refused("⚠ Type the note first.")
    return form.note


def start_label(form: Form) -> str | None:
    """The start's display label, by the ingest's own rule (`parse_label`): one it would refuse
    is refused here, with its reason, before anything is sent."""
    try:
        return parse_label(form.label)
    except InvalidMessage as err:
        raise Refused(f"⚠ Not started: {err}.") from err


def _checklist(form: Form, _known: Known) -> str | None:
    return checklist_note(form.guidelines, form.contraindications)


def _end(form: Form, known: Known) -> str | None:
    refusal = components.end_refusal(known.present, known.user.can(components.END_WITH_ALARMS),
                                     form.end_reason)
    if refusal is not None:
        raise Refused(refusal)
    return components.end_note(known.present, form.end_reason)


def _override(form: Form, known: Known) -> str | None:
    if not form.reason:
        raise Refused("⚠ An override needs a written reason.")
    assert known.status is not None
    if known.status.verdict.verdict is not Verdict.NO_GO:
        raise Refused("⚠ Nothing to override: the verdict is not no-go.")
    return form.reason


def _signoff(form: Form, known: Known) -> str | None:
    assert known.status is not None
    if not known.status.discharge.ready and not form.note:
        raise Refused("⚠ Discharge criteria are not all met: write the reason for signing off "
                      "in the note box first.")
    return form.note


@dataclass(frozen=True, slots=True)
class Action:
    event: SessionEventType
    role: Role  # the least role that may record it
    text: Callable[[Form, Known], str | None] = lambda _form, _known: None
    reads_alarms: bool = False  # ending: with alarms present, a reason and a clinician
    reads_status: bool = False  # override and sign-off judge the protocol's status


ACTIONS: Final[dict[str, Action]] = {
    ids.EVENT_START: Action(SessionEventType.START, Role.MONITOR),
    ids.EVENT_DOSE: Action(SessionEventType.DOSE, Role.MONITOR),
    ids.END_CONFIRM_SUBMIT: Action(SessionEventType.END, Role.MONITOR, _end, reads_alarms=True),
    ids.NOTE_SUBMIT: Action(SessionEventType.NOTE, Role.MONITOR, _note),
    ids.CHECKLIST_SUBMIT: Action(SessionEventType.CHECKLIST, Role.MONITOR, _checklist),
    ids.OVERRIDE_SUBMIT: Action(SessionEventType.OVERRIDE, Role.CLINICIAN, _override,
                                reads_status=True),
    ids.SIGNOFF_SUBMIT: Action(SessionEventType.SIGNOFF, Role.CLINICIAN, _signoff,
                               reads_status=True),
}
_ROLE_REFUSAL: Final = {Role.CLINICIAN: "⚠ Only a clinician can do this."}


def run(action: Action, session: str, form: Form,
        status_of: Callable[[str], SessionStatus]) -> str:
    """Record the action's event for `session` as the logged-in user; the feedback line.
    `status_of`: the session page's own reading of the protocol status (one clock, one cache)."""
    user = auth.allowed(action.role)
    if user is None:
        return _ROLE_REFUSAL.get(action.role, "⚠ Your role cannot do this.")
    context = app_context.current()
    try:
        present = present_alarms(context.store.alerts(session)) if action.reads_alarms else ()
    except StoreError as err:
        return f"⚠ Not ended: cannot read the session's alarms ({err})."
    try:
        status = status_of(session) if action.reads_status else None
    except StoreError as err:
        return f"⚠ NOT recorded: cannot read the session's status ({err})."
    try:
        text = action.text(form, Known(user, present, status))
        label = start_label(form) if action.event is SessionEventType.START else None
    except Refused as refused:
        return str(refused)
    try:
        context.commands.session_event(session, action.event, user.name, text, label=label)
    except CommandFailed as err:
        return f"⚠ NOT recorded: {err}"
    return f"✔ {action.event.value} recorded by {user.name} (sent to the ingest)"

