"""Login on every page and every callback, enforced once, at the Flask level.

`protect(server, users_path)` installs a `before_request` guard: apart from the login form, the
logout and static files, every request needs a logged-in user (pages redirect to the form; Dash's
`/_dash-*` endpoints, exports and anything else that is not a page answer 401), so no callback
or route added later can slip through. Role checks that change things happen where they happen
(`allowed(role)` in callbacks, `require(role)` for callbacks only some roles may call at all,
`role_required` on routes, `restrict(server, path, role)` on pages).

The session cookie (HttpOnly, SameSite=Lax, Secure when configured) holds the user name, the
login's session epoch and the session's id; the role, whether the login is disabled, its epoch
and whether the session was logged out are read from the users file on each request, so
removing or disabling a login, resetting its password, lowering its role or logging out takes
effect at the next click, also for a copy of the cookie.

Failed logins are throttled per user name and client address (`dashboard.throttle`).

Cross-site requests: every POST (the login and logout forms; a JSON body too) must carry the
session's CSRF token (`csrf_token()`), except JSON POSTs to Dash's own `/_dash-*` endpoints.
Dash's callbacks are JSON POSTs, which a page on another
site cannot send without a CORS preflight this server never grants; the session cookie is
SameSite=Lax, so it is not sent with another site's POSTs; and any POST whose `Origin` header
names another site is refused. Flask-WTF's CSRFProtect was weighed: it would also demand its
token from Dash's own JSON requests (which the Dash renderer does not send) and brings WTForms,
which nothing here uses, for what is a token in the session compared in constant time.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from dash.exceptions import DependencyException
from flask import (
    Flask,
    Response,
    abort,
    current_app,
    g,
    has_request_context,
    redirect,
    request,
    session,
)
from werkzeug.exceptions import Forbidden
from werkzeug.routing import Rule

from dashboard.templates import render
from dashboard.throttle import LoginThrottle, refusal
from vitals.settings import Settings
from vitals.users import (
    Role,
    User,
    active_user,
    authenticate,
    end_session,
    new_session_id,
    session_user,
)

log = logging.getLogger(__name__)

LOGIN_PATH: Final = "/login"
LOGOUT_PATH: Final = "/logout"
SESSION_KEY: Final = "user"
EPOCH_KEY: Final = "epoch"  # the login's session epoch when this session began (vitals.users)
SESSION_ID_KEY: Final = "sid"  # this session's id; logging out records it as ended
USERS_PATH_KEY: Final = "vitals_users_path"
RESTRICTED_KEY: Final = "vitals_restricted_paths"
CSRF_KEY: Final = "csrf"
CSRF_FIELD: Final = "csrf_token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# Static files only: scripts, styles, the favicon. Layout and dependencies are NOT public. A
# path is public when the route it matched is one of these (`/assets/` alone matches Dash's
# catch-all page route, which serves the app's index: not public).
PUBLIC_PREFIXES: Final = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")
DASH_PREFIX: Final = "/_dash-"  # Dash's own JSON endpoints (callbacks, layout, dependencies)

F = TypeVar("F", bound=Callable[..., Any])


def secret_key(settings: Settings) -> str:
    """`VITALS_DASHBOARD_SECRET_KEY`, or a random key for this process (logins then end with it)."""
    if settings.dashboard_secret_key is not None:
        return settings.dashboard_secret_key.get_secret_value()
    log.warning("VITALS_DASHBOARD_SECRET_KEY is not set: using a random key, so logins end "
                "when the dashboard restarts and several dashboard processes cannot share them")
    return secrets.token_hex(32)


def protect(server: Flask, users_path: Path, disclaimer: str, key: str, *,
            secure_cookie: bool = False, throttle: LoginThrottle | None = None) -> None:
    """Require a login for everything the server serves except the form and static files.

    `secure_cookie`: send the session cookie over HTTPS only (set it when served over TLS).
    `throttle`: counts failed logins (tests pass one with a fake clock)."""
    server.secret_key = key
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=secure_cookie)
    server.extensions[USERS_PATH_KEY] = users_path
    server.extensions.setdefault(RESTRICTED_KEY, {})
    logins = throttle if throttle is not None else LoginThrottle()
    server.register_error_handler(DependencyException, _unknown_dependency)
    server.register_error_handler(
        Forbidden, lambda err: _forbidden_response(disclaimer, err.description))

    @server.before_request
    def _refuse_cross_site() -> Any:
        if request.method in SAFE_METHODS:
            return None
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            log.warning("refused a %s to %s from origin %r", request.method, request.path, origin)
            return Response("cross-site request refused", status=403, mimetype="text/plain")
        if request.is_json and request.path.startswith(DASH_PREFIX):  # see the module docstring
            return None
        if _csrf_valid(request.form.get(CSRF_FIELD, "")):
            return None
        log.warning("refused a %s to %s without a valid CSRF token", request.method,
                    request.path)
        if request.path == LOGIN_PATH:
            return _login_response(disclaimer, "The form had expired: please log in again.",
                                   _safe_next(request.form.get("next", "/")), 400)
        return Response("form expired or forged: reload the page", status=400,
                        mimetype="text/plain")

    @server.before_request
    def _require_login() -> Any:
        path = request.path
        if path in (LOGIN_PATH, LOGOUT_PATH) or _is_static_file(request.url_rule):
            return None
        user = current_user()
        if user is not None:
            needed = server.extensions[RESTRICTED_KEY].get(path)
            if needed is not None and not user.can(needed):
                abort(403, f"needs the {needed.value} role")
            return None
        if SESSION_KEY in session:  # the login was disabled or removed: end its session
            session.clear()
        if request.method == "GET" and not path.startswith("/_dash") \
                and request.accept_mimetypes.accept_html:
            return redirect(f"{LOGIN_PATH}?next={_safe_next(request.full_path)}")
        return Response("login required", status=401, mimetype="text/plain")

    @server.route(LOGIN_PATH, methods=["GET", "POST"])
    def _login() -> Any:
        target = _safe_next(request.values.get("next", "/"))
        if request.method == "GET":
            return _login_response(disclaimer, "", target, 200)
        name = request.form.get("username", "").strip()
        address = request.remote_addr or "unknown"
        until = logins.locked_until(name, address)
        if until is None:
            user = authenticate(users_path, name, request.form.get("password", ""))
            if user is not None:
                logins.succeeded(name, address)
                session.clear()  # a fresh session (and CSRF token) for the new login
                _begin_session(user)
                log.info("%s logged in (%s) from %s", user.name, user.role.value, address)
                return redirect(target)
            log.warning("failed login for %r from %s", name, address)
            until = logins.failed(name, address)
        if until is None:
            return _login_response(disclaimer, "Wrong user name or password.", target, 401)
        log.warning("login for %r from %s refused until %s: too many failures", name, address,
                    until.isoformat())
        response = _login_response(disclaimer, refusal(until, logins.clock()), target, 429)
        response.headers["Retry-After"] = str(
            max(1, int((until - logins.clock()).total_seconds())))
        return response

    @server.route(LOGOUT_PATH, methods=["GET", "POST"])
    def _logout() -> Any:
        if request.method != "POST":  # a POST with the CSRF token: no logout by another's link
            return Response("log out with the Log out button", status=405,
                            headers={"Allow": "POST"}, mimetype="text/plain")
        ended = session.get(SESSION_ID_KEY)
        if ended:
            end_session(users_path, str(ended))
        session.clear()
        return redirect(LOGIN_PATH)


def _is_static_file(rule: Rule | None) -> bool:
    return rule is not None and rule.rule.startswith(PUBLIC_PREFIXES)


def _unknown_dependency(err: DependencyException) -> Response:
    # A component-suites path Dash never registered: a wrong URL, not a server fault.
    log.warning("refused %s: not a registered Dash dependency", request.path[:200])
    return Response("not found", status=404, mimetype="text/plain")


def restrict(server: Flask, path: str, role: Role) -> None:
    """Answer 403 to a request for `path` unless the logged-in user's role allows `role`.

    Dash pages are also reached by in-app navigation, which runs the page-content callback
    instead of requesting `path`: restricted pages also check in their layout and callbacks."""
    server.extensions.setdefault(RESTRICTED_KEY, {})[path] = role


def csrf_token() -> str:
    """This session's token for forms that POST (created on first use)."""
    if CSRF_KEY not in session:
        session[CSRF_KEY] = secrets.token_urlsafe(32)
    return str(session[CSRF_KEY])


def _csrf_valid(sent: str) -> bool:
    expected = session.get(CSRF_KEY)
    return bool(expected) and hmac.compare_digest(str(expected), sent)


def _forbidden_response(disclaimer: str, reason: str | None) -> Response:
    """A 403 as a page of the app (its header, disclaimer and colours) for a browser; as plain
    text for a callback or a script."""
    reason = f"This page {reason}." if reason else "Your role does not allow this."
    if request.path.startswith(DASH_PREFIX) or not request.accept_mimetypes.accept_html:
        return Response(reason, status=403, mimetype="text/plain")
    return Response(forbidden_page(disclaimer, reason, current_user(), csrf_token()),
                    status=403, mimetype="text/html")


def forbidden_page(disclaimer: str, reason: str, user: User | None, csrf: str = "") -> str:
    """What a logged-in user whose role does not allow a page reads: why, and the way back."""
    return render("forbidden.html", disclaimer=disclaimer, reason=reason,
                  user=f"{user.name} ({user.role.value})" if user is not None else "",
                  logout=LOGOUT_PATH, csrf_field=CSRF_FIELD, csrf=csrf)


def _login_response(disclaimer: str, error: str, target: str, status: int) -> Response:
    return Response(login_page(disclaimer, error, target, csrf_token()), status=status,
                    mimetype="text/html")


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
    name = session.get(SESSION_KEY)
    session_id = session.get(SESSION_ID_KEY)
    path = current_app.extensions.get(USERS_PATH_KEY)
    user = (session_user(path, name, str(session_id))
            if name and session_id and path is not None else None)
    if user is not None and session.get(EPOCH_KEY) != user.session_epoch:
        user = None  # its password was reset or it was disabled since this session began
    g.vitals_user = user
    return user


def _begin_session(user: User) -> None:
    session[SESSION_KEY] = user.name
    session[EPOCH_KEY] = user.session_epoch
    session[SESSION_ID_KEY] = new_session_id()
    g.pop("vitals_user", None)


def login_as(name: str) -> None:
    """Make this request's session one of login `name`, as it now is: for tests of callbacks
    (which run inside a request), and to keep an admin logged in who reset their own password."""
    user = active_user(current_app.extensions[USERS_PATH_KEY], name)
    if user is None:
        raise LookupError(f"no active login called {name!r}")
    _begin_session(user)


def allowed(role: Role) -> User | None:
    """The current user when their role allows `role`, else None."""
    user = current_user()
    return user if user is not None and user.can(role) else None


def refused_layout(role: Role) -> bool:
    """True when Dash renders a page for whoever is logged in (in its page-content callback)
    and their role does not allow `role`: the page then shows only a refusal. Dash also builds
    every page's layout at its first request, whoever makes it, to check the callbacks against:
    that copy must hold the whole (data-free) page."""
    rendered_for_a_user = (has_request_context()
                           and request.path.endswith("/_dash-update-component"))
    return rendered_for_a_user and allowed(role) is None


def require(role: Role) -> User:
    """The current user; aborts the request with 403 unless their role allows `role` (for
    callbacks that only that role may call at all, such as managing users)."""
    user = allowed(role)
    if user is None:
        abort(403, f"needs the {role.value} role")
    return user


def role_required(role: Role) -> Callable[[F], F]:
    """A Flask view decorator: 403 unless the logged-in user's role allows `role`."""
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            require(role)
            return view(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


def login_page(disclaimer: str, error: str = "", target: str = "/", csrf: str = "") -> str:
    """The login form: plain HTML (no Dash, nothing about patients), with the disclaimer."""
    return render("login.html", disclaimer=disclaimer, error=error, target=target, csrf=csrf,
                  action=LOGIN_PATH, csrf_field=CSRF_FIELD)
