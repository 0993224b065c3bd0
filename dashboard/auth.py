"""Login on every page and every callback, enforced once, at the Flask level.

`protect(server, users_path)` installs a `before_request` guard: apart from the login form, the
logout and static files, every request needs a logged-in user (pages redirect to the form; Dash's
`/_dash-*` endpoints, exports and anything else that is not a page answer 401), so no callback
or route added later can slip through. Role checks that change things happen where they happen
(`allowed(role)` in callbacks, `role_required` on routes).

The session cookie holds only the user name; the role is read from the users file on each
request, so removing a login or lowering a role takes effect at the next click.
"""

from __future__ import annotations

import functools
import html
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, redirect, request, session

from vitals.settings import Settings
from vitals.users import Role, User, authenticate, get_user

log = logging.getLogger(__name__)

LOGIN_PATH: Final = "/login"
LOGOUT_PATH: Final = "/logout"
SESSION_KEY: Final = "user"
USERS_PATH_KEY: Final = "vitals_users_path"
# Static files only: scripts, styles, the favicon. Layout and dependencies are NOT public.
PUBLIC_PREFIXES: Final = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")

F = TypeVar("F", bound=Callable[..., Any])


def secret_key(settings: Settings) -> str:
    """`VITALS_DASHBOARD_SECRET_KEY`, or a random key for this process (logins then end with it)."""
    if settings.dashboard_secret_key is not None:
        return settings.dashboard_secret_key.get_secret_value()
    log.warning("VITALS_DASHBOARD_SECRET_KEY is not set: using a random key, so logins end "
                "when the dashboard restarts and several dashboard processes cannot share them")
    return secrets.token_hex(32)


def protect(server: Flask, users_path: Path, disclaimer: str, key: str) -> None:
    """Require a login for everything the server serves except the form and static files."""
    server.secret_key = key
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    server.extensions[USERS_PATH_KEY] = users_path

    @server.before_request
    def _require_login() -> Any:
        path = request.path
        if path in (LOGIN_PATH, LOGOUT_PATH) or path.startswith(PUBLIC_PREFIXES):
            return None
        if current_user() is not None:
            return None
        if request.method == "GET" and not path.startswith("/_dash") \
                and request.accept_mimetypes.accept_html:
            return redirect(f"{LOGIN_PATH}?next={_safe_next(request.full_path)}")
        return Response("login required", status=401, mimetype="text/plain")

    @server.route(LOGIN_PATH, methods=["GET", "POST"])
    def _login() -> Any:
        error = ""
        target = _safe_next(request.values.get("next", "/"))
        if request.method == "POST":
            user = authenticate(users_path, request.form.get("username", "").strip(),
                                request.form.get("password", ""))
            if user is not None:
                session.clear()
                session[SESSION_KEY] = user.name
                log.info("%s logged in (%s)", user.name, user.role.value)
                return redirect(target)
            log.warning("failed login for %r from %s", request.form.get("username", ""),
                        request.remote_addr)
            error = "Wrong user name or password."
        status = 401 if error else 200
        return Response(login_page(disclaimer, error, target), status=status,
                        mimetype="text/html")

    @server.route(LOGOUT_PATH, methods=["GET", "POST"])
    def _logout() -> Any:
        session.clear()
        return redirect(LOGIN_PATH)


def _safe_next(target: str) -> str:
    """Only a local path: the login form must not redirect to another site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target.rstrip("?") or "/"


def current_user() -> User | None:
    """The logged-in user of this request (read once per request), or None."""
    if "vitals_user" in g:
        return g.vitals_user  # type: ignore[no-any-return]
    from flask import current_app

    name = session.get(SESSION_KEY)
    path = current_app.extensions.get(USERS_PATH_KEY)
    user = get_user(path, name) if name and path is not None else None
    g.vitals_user = user
    return user


def login_as(name: str) -> None:
    """Put `name` in this request's session (tests of callbacks, which run inside a request)."""
    session[SESSION_KEY] = name
    g.pop("vitals_user", None)


def allowed(role: Role) -> User | None:
    """The current user when their role allows `role`, else None."""
    user = current_user()
    return user if user is not None and user.can(role) else None


def role_required(role: Role) -> Callable[[F], F]:
    """A Flask view decorator: 403 unless the logged-in user's role allows `role`."""
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if allowed(role) is None:
                abort(403, f"needs the {role.value} role")
            return view(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


def login_page(disclaimer: str, error: str = "", target: str = "/") -> str:
    """The login form: plain HTML (no Dash, nothing about patients), with the disclaimer."""
    message = f'<p class="login-error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Session vitals — log in</title>
<link rel="stylesheet" href="/assets/dashboard.css"></head>
<body class="login-body">
<div class="disclaimer" id="disclaimer" role="note">{html.escape(disclaimer)}</div>
<main class="login">
<h1 class="brand">Session vitals</h1>
<form method="post" action="{LOGIN_PATH}" class="login-form">
<input type="hidden" name="next" value="{html.escape(target)}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
{message}
<button id="login-submit" type="submit">Log in</button>
</form>
<p class="muted">Logins are created with <code>vitals user add NAME --password-stdin</code>.</p>
</main></body></html>
"""
