"""The Dash app factory and its runner.

`create_app(store, settings)` builds a multi-page app (Dash pages; each `pages/<page>.py`
registers its route and callbacks through its `register(app)`); nothing is loaded at import time.
The store travels on the Flask server (`app_context.attach`) and callbacks fetch it through
`app_context.current()`, so each app, including each test's, has its own.

Every request needs a login (`auth.protect`, a Flask `before_request`), so every page, callback
and export does. The shell, on every page, carries what the monitor must never miss: the
pipeline banner, the alarms panel with its acknowledge buttons, and the audible alarm (browser
WebAudio, `assets/alarm-sound.js`). Writes go over MQTT (`commands.Commands`), never to the store.

Live updates are `dcc.Interval` polling on the Flask backend, deliberately: Dash's WebSocket
callbacks need its FastAPI/Quart backends, where a Flask `before_request` login guard does not
exist, and a login on every callback matters more here than saving a poll. The overview and the
shell poll the live snapshot (`snapshots.LiveReader`), which one thread reads from the store for
every browser, not the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import dash
from dash import ALL, ClientsideFunction, Output, ctx, dcc, html
from flask import has_request_context

from dashboard import app_context, auth, caches, components, exports, figures, ids, queries, texts
from dashboard.burden import DEFAULT_PATIENTS, BurdenReports
from dashboard.commands import CommandFailed, Commands
from dashboard.health import blind_alarms_text
from dashboard.pages import burden, history, overview, roster, session, users, wall
from dashboard.snapshots import LiveReader
from dashboard.throttle import LoginThrottle
from dashboard.wiring import children, clicks, store_updates, stored, stores, styles, ticks, values
from vitals.errors import ServiceUnavailable
from vitals.settings import Settings
from vitals.storage.base import Store, StoreError
from vitals.timefmt import utcnow
from vitals.users import Role
from vitals.users import users_path as default_users_path

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
PAGES = (overview, session, history, users, burden, roster, wall)


def create_app(
    store: Store,
    settings: Settings,
    *,
    refresh_ms: int = 500,
    profile: Any = None,
    active_minutes: float = 30,
    clock: Callable[[], datetime] = utcnow,
    commands: Commands | None = None,
    users_path: Path | None = None,
    health: Callable[[], str | None] | None = None,
    alarm_feed: Callable[[], list[dict[str, Any]]] | None = None,
    secret_key: str | None = None,
    login_throttle: LoginThrottle | None = None,
    burden_patients: int = DEFAULT_PATIENTS,
) -> dash.Dash:
    """A dashboard reading `store`, behind a login.

    `refresh_ms`: how often live pages poll the store. `profile`: the alert profile in force
    (its `name` is shown in the header; None: the default profile). `active_minutes`: a session
    with no reading or event for this long leaves the overview. `clock`: "now" (tests fix it).
    `commands`: the MQTT publisher for acknowledgements and session events (default: one for
    `settings`, connecting on first use). `users_path`: the logins file (default
    `VITALS_DATA_DIR/users.sqlite3`). `health`: an extra pipeline check returning a problem to
    show in the red banner, or None. `alarm_feed`: the alarms showing as the ingest published
    them on MQTT (`dashboard.health.IngestStatus.alarms`), said in the banner while the database
    cannot be read. `secret_key`: default `VITALS_DASHBOARD_SECRET_KEY`.
    `login_throttle`: counts failed logins (default: 5 per name, 20 per address in 15 minutes).
    `burden_patients`: the simulated population of the alarm-burden page (computed on its first
    visit, kept in `VITALS_DATA_DIR/burden`).
    """
    from vitals.profile_loader import load_profile

    rules = profile if profile is not None else load_profile(settings.profile)
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder="",  # pages register themselves below, once per app, not by file scan
        assets_folder=str(ASSETS),
        title="Session vitals",
        update_title=None,  # no "Updating..." flicker in the tab every refresh
    )
    app.index_string = app.index_string.replace("<html>", '<html lang="en">', 1)
    window, trends = timedelta(minutes=active_minutes), caches.TrendCache()
    app_context.attach(app.server, app_context.DashboardContext(
        store=store,
        settings=settings,
        refresh_ms=refresh_ms,
        active_window=window,
        trends=trends,
        profile_name=_profile_name(profile),
        limits=figures.limits_from_profile(rules),
        clock=clock,
        profile=rules,
        commands=commands if commands is not None else Commands(settings),
        stale_after_s=settings.stale_seconds or rules.technical.stream_seconds,
        health=health,
        alarm_feed=alarm_feed,
        reader=LiveReader(store, clock, window, trends),
        burden=BurdenReports(rules, settings.data_dir / "burden", burden_patients),
    ))
    auth.protect(app.server, users_path or default_users_path(settings), figures.DISCLAIMER,
                 secret_key or auth.secret_key(settings),
                 secure_cookie=settings.dashboard_secure_cookie, throttle=login_throttle)
    exports.register(app.server)
    for page in PAGES:
        page.register(app)
    name = _profile_name(profile)
    watchdog_s = settings.dashboard_watchdog_seconds
    # Per request: the shell names the logged-in user.
    app.layout = lambda: _shell(name, refresh_ms, watchdog_s)
    _register_shell(app)
    return app


def _profile_name(profile: Any) -> str:
    if profile is None:
        return "default"
    return str(getattr(profile, "source_path", None) or getattr(profile, "name", None) or profile)


def _shell(profile_name: str, refresh_ms: int, watchdog_s: float) -> html.Div:
    # Dash also builds the layout once, outside any request, to check it.
    user = auth.current_user() if has_request_context() else None
    who = f"{user.name} ({user.role.value})" if user is not None else ""
    clinician_links = ([dcc.Link("Alarm burden", href=burden.PATH, className="nav-link")]
                       if user is not None and user.can(Role.CLINICIAN) else [])
    admin_links = ([dcc.Link("Users", href=users.PATH, className="nav-link"),
                    dcc.Link("Roster", href=roster.PATH, className="nav-link")]
                   if user is not None and user.can(Role.ADMIN) else [])
    return html.Div(className="shell", children=[
        html.Header(id=ids.HEADER, className="header", children=[
            html.H1("Session vitals", className="brand"),
            html.Nav(className="nav", children=[
                dcc.Link("Overview", href="/", className="nav-link"),
                dcc.Link("Sessions", href="/sessions", className="nav-link"),
                dcc.Link("Wall", href=wall.PATH, className="nav-link"),
                *clinician_links,
                *admin_links,
            ]),
            html.Div(f"Alert profile: {profile_name}", id=ids.PROFILE_BADGE,
                     className="profile"),
            html.Div([html.Span(who, className="user-name"),
                      components.logout_form(auth.csrf_token() if user is not None else "")],
                     id=ids.USER_BADGE, className="user"),
        ]),
        html.Div(figures.DISCLAIMER, id=ids.DISCLAIMER, className="disclaimer", role="note"),
        dcc.Interval(id=ids.SHELL_INTERVAL, interval=refresh_ms, n_intervals=0),
        # The threshold of the browser's own "not updating" notice (`assets/watchdog.js`).
        html.Div(id=ids.WATCHDOG, hidden=True, **{"data-after-ms": str(round(watchdog_s * 1000))}),
        html.Div(id=ids.PIPELINE_BANNER),
        html.Section(id=ids.ALARMS_BAR, className="alarms-bar", children=[
            html.Div(className="sound-controls", children=[
                html.Button("⚠ Sound is blocked by the browser — click to enable",
                            id=ids.SOUND_WARNING, className="sound-warning", n_clicks=0,
                            style={"display": "none"}),
                html.Button("Pause audio 2 min", id=ids.SOUND_PAUSE_BUTTON,
                            className="sound-pause", n_clicks=0,
                            title=f"Pause audio ({components.SHORTCUT_PAUSE.upper()})",
                            **{"aria-keyshortcuts": components.SHORTCUT_PAUSE}),
                html.Button("Resume audio", id=ids.SOUND_RESUME_BUTTON, className="sound-pause",
                            n_clicks=0, style={"display": "none"},
                            title=f"Resume audio ({components.SHORTCUT_PAUSE.upper()})",
                            **{"aria-keyshortcuts": components.SHORTCUT_PAUSE}),
                html.Span(id=ids.SOUND_STATUS, className="sound-status"),
                html.Button("☾ Night mode", id=ids.NIGHT_TOGGLE, className="action night-toggle",
                            n_clicks=0),
                html.Span(components.SHORTCUTS_HINT, id=ids.SHORTCUTS_HINT,
                          className="shortcuts-hint"),
            ]),
            html.H2("Alarms", className="visually-hidden"),
            html.Div(id=ids.ALARMS_PANEL, className="alarms"),
            # The strip's rows take a bounded share of the screen, so the patients' numbers
            # stay in view; the monitor may show all of them (`EXPAND_ALARMS`).
            html.Button("Show all alarms", id=ids.ALARMS_EXPAND, className="alarms-expand",
                        n_clicks=0, **{"aria-expanded": "false",
                                       "aria-controls": ids.ALARMS_PANEL}),
            html.Div(id=ids.ACK_FEEDBACK, className="feedback", role="status"),
        ]),
        dcc.Store(id=ids.ALARMS_SIGNATURE, data=None),
        dcc.Store(id=ids.SOUND_LEVEL, data=None),
        # Per tab, surviving a page change: a pause must not end by navigating.
        dcc.Store(id=ids.SOUND_PAUSE_UNTIL, data=0, storage_type="session"),
        # Per browser, surviving reloads: a screen in a darkened room stays dimmed.
        dcc.Store(id=ids.NIGHT_MODE, data=False, storage_type="local"),
        html.Main(dash.page_container, className="main"),
    ])


def refresh_shell(_n: int | None, signature: str | None) -> tuple[Any, Any, Any, Any]:
    """The pipeline banner, the alarms panel (only when it changed), and the tone to sound."""
    context = app_context.current()
    now = context.clock()
    try:
        live = context.reader.snapshot().live
        alarms = queries.alarms_frame(live)
        silent_s = queries.pipeline_silence(live, now, context.stale_after_s)
    except StoreError as err:
        log.warning("shell cannot read the store: %s", err)
        problem = components.pipeline_problem(None, str(err))
        # The screens cannot show the alarms: say those the ingest published, and sound at
        # least a technical alarm (medium tone), never silence.
        published = _published_alarms(context)
        said = blind_alarms_text(published)
        tone = ("high" if any(a.get("priority") == "high" and a.get("state") == "active"
                              for a in published) else "medium")
        return (components.banner(f"{problem}. {said}" if said else problem), dash.no_update,
                tone, dash.no_update)
    extra = None
    if context.health is not None:
        try:
            extra = context.health()
        except Exception as err:  # a broken health probe must not hide the alarms
            log.exception("pipeline health check failed")
            extra = f"pipeline health check failed: {err}"
    if extra is None and context.commands is not None:
        extra = context.commands.problem()
    problem = components.pipeline_problem(silent_s, None, extra)
    new_signature = components.alarms_signature(alarms)
    user = auth.current_user()
    can_ack = user is not None and user.can(Role.MONITOR)
    panel = (dash.no_update if new_signature == signature and signature is not None
             else components.alarm_strip(alarms, can_ack, now, context.settings.zone))
    return components.banner(problem), panel, components.sound_level(alarms), new_signature


def _published_alarms(context: app_context.DashboardContext) -> list[dict[str, Any]]:
    if context.alarm_feed is None:
        return []
    try:
        return context.alarm_feed()
    except Exception:  # a broken feed must not hide the banner it adds to
        log.exception("the MQTT alarm feed failed")
        return []


def acknowledge(_clicks: list[int | None], notes: list[str | None]) -> str:
    """Publish the acknowledgement of the alarm whose button was clicked (with the user and the
    note typed beside it); the ingest stores it and the panel shows it on the next refresh."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update  # the panel was re-rendered, nothing was clicked
    user = auth.allowed(Role.MONITOR)
    if user is None:
        return "⚠ Your role cannot acknowledge alarms."
    session, metric, rule = trigger["session"], trigger["metric"], trigger.get("rule") or None
    note = None
    for spec, value in zip(ctx.states_list[0], notes, strict=False):
        if {k: spec["id"].get(k) for k in ("session", "metric", "rule")} == {
                k: trigger.get(k) for k in ("session", "metric", "rule")}:
            note = (value or "").strip() or None
    try:
        app_context.current().commands.acknowledge(session, metric, user.name, note, rule=rule)
    except CommandFailed as err:
        return f"⚠ Acknowledgement NOT sent: {err}"
    label = texts.METRIC_LABEL.get(metric, metric)
    return f"✔ {label} alarm of {session} acknowledged by {user.name}"


# Each click on "Show all alarms" toggles the strip between bounded and whole: in the browser,
# since the shell outlives the pages and the panel's re-renders.
EXPAND_ALARMS: Final = """
function (clicks) {
    const expanded = (clicks || 0) % 2 === 1;
    return [expanded ? "alarms-bar alarms-bar--expanded" : "alarms-bar",
            expanded ? "Show fewer alarms" : "Show all alarms", String(expanded)];
}
"""


def _register_shell(app: dash.Dash) -> None:
    app.callback(*children(ids.PIPELINE_BANNER, ids.ALARMS_PANEL),
                 *stores(ids.SOUND_LEVEL, ids.ALARMS_SIGNATURE), *ticks(ids.SHELL_INTERVAL),
                 *stored(ids.ALARMS_SIGNATURE))(refresh_shell)
    every_alarm = {"session": ALL, "metric": ALL, "rule": ALL}
    app.callback(*children(ids.ACK_FEEDBACK), *clicks({"type": ids.ACK_BUTTON, **every_alarm}),
                 *values({"type": ids.ACK_NOTE, **every_alarm}),
                 prevent_initial_call=True)(acknowledge)
    # The tone, the pause and the blocked-sound warning live in the browser (WebAudio).
    app.clientside_callback(
        ClientsideFunction(namespace="vitals", function_name="sound"),
        *styles(ids.SOUND_WARNING), *children(ids.SOUND_STATUS), *styles(ids.SOUND_RESUME_BUTTON),
        *store_updates(ids.SOUND_LEVEL, ids.SOUND_PAUSE_UNTIL), *ticks(ids.SHELL_INTERVAL),
        *clicks(ids.SOUND_WARNING))
    # Night mode dims all but the alarms (`assets/night.js`).
    app.clientside_callback(ClientsideFunction(namespace="night", function_name="toggle"),
                            *stores(ids.NIGHT_MODE), *clicks(ids.NIGHT_TOGGLE),
                            *stored(ids.NIGHT_MODE), prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction(namespace="night", function_name="show"),
                            *children(ids.NIGHT_TOGGLE), *store_updates(ids.NIGHT_MODE))
    app.clientside_callback(EXPAND_ALARMS, Output(ids.ALARMS_BAR, "className"),
                            *children(ids.ALARMS_EXPAND),
                            Output(ids.ALARMS_EXPAND, "aria-expanded"), *clicks(ids.ALARMS_EXPAND))
    app.clientside_callback(ClientsideFunction(namespace="vitals", function_name="pause"),
                            *stores(ids.SOUND_PAUSE_UNTIL),
                            *clicks(ids.SOUND_PAUSE_BUTTON, ids.SOUND_RESUME_BUTTON),
                            prevent_initial_call=True)


def run(settings: Settings, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Open the configured store and serve the dashboard until interrupted."""
    from vitals.storage import open_store

    setting = "VITALS_INFLUX_URL" if settings.influx_url else "VITALS_DATA_DIR"
    where = settings.influx_url or str(settings.sqlite_path)
    try:
        store = open_store(settings)
    except StoreError as err:
        message = f"cannot open the store at {where} (check {setting}): {err}"
        raise ServiceUnavailable(message) from err
    try:
        store.ping()
    except StoreError as err:
        store.close()
        message = f"cannot reach the store at {where} (check {setting}): {err}"
        raise ServiceUnavailable(message) from err
    try:
        from dashboard.health import IngestStatus
        from vitals.profile_loader import load_profile

        commands = Commands(settings)
        commands.start()  # so the banner can say when the broker is unreachable
        ingest_status = IngestStatus(settings)
        ingest_status.start()
        app = create_app(store, settings, profile=load_profile(settings.profile),
                         commands=commands, health=ingest_status.problem,
                         alarm_feed=ingest_status.alarms)
        log.info("dashboard on http://%s:%d/", host, port)
        try:
            serve(app, host, port)
        finally:
            app_context.context_of(app.server).reader.close()
            ingest_status.close()
            commands.close()
    finally:
        store.close()


# Enough for a ward of wall screens and tabs polling every half second (each refresh is served
# from the live snapshot, not the database) plus the odd slow export.
SERVER_THREADS: Final = 16


def serve(app: dash.Dash, host: str, port: int) -> None:
    """Serve `app` with waitress, a production WSGI server (Werkzeug's is for development); TLS
    is a reverse proxy's job (docs/operations.md, "Transport")."""
    import waitress

    waitress.serve(app.server, host=host, port=port, threads=SERVER_THREADS, ident="vitals")
