"""Users (`/users`, admins only): every login with its role and whether it is disabled; add a
login, change a role, reset a password, disable or enable a login; the record of recent changes.

Admins only, checked on the server three times over: a request for `/users` answers 403
(`auth.restrict`), the layout reached by in-app navigation shows only a refusal, and every
callback answers 403 (`auth.require`). The layout holds no user data (Dash serves layouts to
anyone logged in): the list comes from a callback. Each change calls the same function of
`vitals.users` as `vitals user ...`, which checks it, refuses to take away the last active admin,
and records who did what to whom (never the password). Typed passwords are cleared from the page
after each attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import dash
from dash import Output, State, ctx, dcc, html
from flask import current_app

from dashboard import auth, components, ids
from dashboard.wiring import children, clicks, new_values, store_updates, stores, values
from vitals.users import (
    MIN_PASSWORD_CHARS,
    InvalidUser,
    Role,
    User,
    UserChange,
    add_user,
    list_users,
    recent_changes,
    set_active,
    set_password,
    set_role,
)

log = logging.getLogger(__name__)

PATH = "/users"
ROLE_OPTIONS = [{"label": role.value, "value": role.value} for role in Role]
PASSWORD_HINT = f"at least {MIN_PASSWORD_CHARS} characters"
# The fields `change` reads, by the name it reads each under.
FORM: Final = {
    "new_name": ids.NEW_USER_NAME,
    "new_role": ids.NEW_USER_ROLE,
    "new_password": ids.NEW_USER_PASSWORD,
    "new_password_again": ids.NEW_USER_PASSWORD_AGAIN,
    "edit_user": ids.EDIT_USER,
    "edit_role": ids.EDIT_ROLE,
    "edit_password": ids.EDIT_PASSWORD,
    "edit_password_again": ids.EDIT_PASSWORD_AGAIN,
}
# The typed passwords, cleared after each attempt: `change`'s last four outputs, after the
# message and the table's cue to re-read (`_CLEARED`).
PASSWORDS: Final = (ids.NEW_USER_PASSWORD, ids.NEW_USER_PASSWORD_AGAIN, ids.EDIT_PASSWORD,
                    ids.EDIT_PASSWORD_AGAIN)
_CLEARED = ("", "", "", "")


def layout(**_query: Any) -> html.Div:
    return components.restricted_page(Role.ADMIN, "users", "Users", "Only admins manage users.", [
        dcc.Store(id=ids.USERS_VERSION, data=0),
        html.Div(id=ids.USERS_FEEDBACK, className="feedback", role="status"),
        html.Div(id=ids.USERS_TABLE),
        html.Section(className="users-form", children=[
            html.H3("Add a login"),
            _field("User name", dcc.Input(id=ids.NEW_USER_NAME, type="text",
                                          autoComplete="off")),
            _field("Role", dcc.RadioItems(id=ids.NEW_USER_ROLE, options=ROLE_OPTIONS,
                                          value=Role.MONITOR.value, inline=True)),
            _field("Password", dcc.Input(id=ids.NEW_USER_PASSWORD, type="password",
                                         placeholder=PASSWORD_HINT,
                                         autoComplete="new-password")),
            _field("Password again", dcc.Input(id=ids.NEW_USER_PASSWORD_AGAIN, type="password",
                                               autoComplete="new-password")),
            html.Button("Add login", id=ids.NEW_USER_SUBMIT, className="action", n_clicks=0),
        ]),
        html.Section(className="users-form", children=[
            html.H3("Change a login"),
            _field("Login", dcc.Dropdown(id=ids.EDIT_USER, options=[], clearable=False,
                                         placeholder="choose a login")),
            _field("Role", dcc.RadioItems(id=ids.EDIT_ROLE, options=ROLE_OPTIONS,
                                          value=Role.MONITOR.value, inline=True)),
            html.Button("Change role", id=ids.EDIT_ROLE_SUBMIT, className="action",
                        n_clicks=0),
            _field("New password", dcc.Input(id=ids.EDIT_PASSWORD, type="password",
                                             placeholder=PASSWORD_HINT,
                                             autoComplete="new-password")),
            _field("New password again", dcc.Input(id=ids.EDIT_PASSWORD_AGAIN,
                                                   type="password",
                                                   autoComplete="new-password")),
            html.Button("Reset password", id=ids.EDIT_PASSWORD_SUBMIT, className="action",
                        n_clicks=0),
            html.Div(className="users-actions", children=[
                html.Button("Disable login", id=ids.EDIT_DISABLE, className="action",
                            n_clicks=0),
                html.Button("Enable login", id=ids.EDIT_ENABLE, className="action",
                            n_clicks=0),
            ]),
        ]),
        html.H3("Recent changes"),
        html.Div(id=ids.USERS_CHANGES),
    ])


def _field(label: str, control: Any) -> html.Label:
    return html.Label(className="users-field", children=[html.Span(label), control])


# --- pure builders ---


def users_table(users: Sequence[User], me: str) -> html.Table | html.Div:
    """Name, role and status of each login; never a hash (`User` has none)."""
    if not users:
        return html.Div("No logins yet.", className="muted")
    rows = [html.Tr([
        html.Td(f"{user.name} (you)" if user.name == me else user.name),
        html.Td(user.role.value),
        html.Td("active" if user.active else "disabled",
                className="" if user.active else "user-disabled"),
    ]) for user in users]
    return html.Table(className="table users-table", children=[
        html.Thead(html.Tr([html.Th("Login"), html.Th("Role"), html.Th("Status")])),
        html.Tbody(rows),
    ])


def changes_table(changes: Sequence[UserChange]) -> html.Table | html.Div:
    if not changes:
        return html.Div("No changes recorded.", className="muted")
    rows = [html.Tr([
        html.Td(change.time),
        html.Td(" ".join(part for part in (change.actor, change.action, change.target,
                                           change.detail) if part)),
    ]) for change in changes]
    return html.Table(className="table", children=[
        html.Thead(html.Tr([html.Th("Time (UTC)"), html.Th("Change")])),
        html.Tbody(rows),
    ])


def same_password(password: str | None, again: str | None) -> str:
    """The password typed twice; `InvalidUser` when the two differ (the length rule is
    `vitals.users.validate_password`, shared with the command line)."""
    if (password or "") != (again or ""):
        raise InvalidUser("the two passwords differ")
    return password or ""


# --- callbacks ---


def _users_path() -> Path:
    return Path(current_app.extensions[auth.USERS_PATH_KEY])


def show(_version: int | None) -> tuple[Any, list[dict[str, str]], Any]:
    """The logins, the choices of the edit form, and the recent changes (admins only)."""
    admin = auth.require(Role.ADMIN)
    path = _users_path()
    logins = list_users(path)
    options = [{"label": f"{user.name} ({user.role.value}"
                         f"{'' if user.active else ', disabled'})", "value": user.name}
               for user in logins]
    return users_table(logins, admin.name), options, changes_table(recent_changes(path))


def change(**form: Any) -> tuple[str, Any, str, str, str, str]:
    """Apply the change whose button was clicked, as the logged-in admin (admins only)."""
    admin = auth.require(Role.ADMIN)
    path = _users_path()
    trigger = ctx.triggered_id
    if trigger is None:
        return (dash.no_update, dash.no_update, *_CLEARED)
    target = form["edit_user"]
    try:
        if trigger == ids.NEW_USER_SUBMIT:
            name = (form["new_name"] or "").strip()
            password = same_password(form["new_password"], form["new_password_again"])
            added = add_user(path, name, password, form["new_role"], actor=admin.name)
            message = f"✔ Login {added.name!r} added ({added.role.value})."
        elif not target:
            raise InvalidUser("choose a login to change first")
        elif trigger == ids.EDIT_ROLE_SUBMIT:
            changed = set_role(path, target, form["edit_role"], actor=admin.name)
            message = f"✔ {changed.name!r} is now {changed.role.value}."
        elif trigger == ids.EDIT_PASSWORD_SUBMIT:
            password = same_password(form["edit_password"], form["edit_password_again"])
            set_password(path, target, password, actor=admin.name)
            if target == admin.name:
                auth.login_as(admin.name)  # only this admin's other sessions end
            message = f"✔ The password of {target!r} was reset; its open sessions are over."
        elif trigger in (ids.EDIT_DISABLE, ids.EDIT_ENABLE):
            changed = set_active(path, target, trigger == ids.EDIT_ENABLE, actor=admin.name)
            message = f"✔ {changed.name!r} {'enabled' if changed.active else 'disabled'}."
        else:
            return (dash.no_update, dash.no_update, *_CLEARED)
    except InvalidUser as err:
        log.info("%s: user change refused: %s", admin.name, err)
        return (f"⚠ Not changed: {err}", dash.no_update, *_CLEARED)
    return (message, (form["version"] or 0) + 1, *_CLEARED)


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Users", title="Vitals — users",
                       layout=layout, order=3)
    auth.restrict(app.server, PATH, Role.ADMIN)
    app.callback(*children(ids.USERS_TABLE), Output(ids.EDIT_USER, "options"),
                 *children(ids.USERS_CHANGES), *store_updates(ids.USERS_VERSION))(show)
    app.callback(
        output=[*children(ids.USERS_FEEDBACK), *stores(ids.USERS_VERSION),
                *new_values(*PASSWORDS)],
        # `change` goes by which button was clicked (`ctx.triggered_id`), not by the counts.
        inputs={"clicked": clicks(ids.NEW_USER_SUBMIT, ids.EDIT_ROLE_SUBMIT,
                                  ids.EDIT_PASSWORD_SUBMIT, ids.EDIT_DISABLE, ids.EDIT_ENABLE)},
        state={"version": State(ids.USERS_VERSION, "data"),
               **dict(zip(FORM, values(*FORM.values()), strict=True))},
        prevent_initial_call=True,
    )(change)
