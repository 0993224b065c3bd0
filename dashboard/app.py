"""The Dash app factory and its runner.

`create_app(store, settings)` builds a multi-page app (Dash pages; each `pages/<page>.py`
registers its route and callbacks through its `register(app)`); nothing is loaded at import time.
The store travels on the Flask server (`queries.attach`) and callbacks fetch it through
`queries.current()`, so each app, including each test's, has its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dash
from dash import dcc, html

from dashboard import figures, ids, queries
from dashboard.pages import history, overview, session
from vitals.errors import ServiceUnavailable
from vitals.settings import Settings
from vitals.storage.base import Store, StoreError
from vitals.timefmt import utcnow

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
PAGES = (overview, session, history)


def create_app(
    store: Store,
    settings: Settings,
    *,
    refresh_ms: int = 2000,
    profile: Any = None,
    active_minutes: float = 30,
    clock: Callable[[], datetime] = utcnow,
) -> dash.Dash:
    """A dashboard reading `store`.

    `refresh_ms`: how often live pages poll the store. `profile`: the alert profile in force
    (its `name` is shown in the header; None: the default profile). `active_minutes`: a session
    with no reading or event for this long leaves the overview. `clock`: "now" (tests fix it).
    """
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder="",  # pages register themselves below, once per app, not by file scan
        assets_folder=str(ASSETS),
        title="Session vitals",
        update_title=None,  # no "Updating..." flicker in the tab every refresh
    )
    queries.attach(app.server, queries.DashboardContext(
        store=store,
        settings=settings,
        refresh_ms=refresh_ms,
        active_window=timedelta(minutes=active_minutes),
        profile_name=_profile_name(profile),
        limits=figures.limits_from_profile(profile),
        clock=clock,
    ))
    for page in PAGES:
        page.register(app)
    app.layout = _shell(_profile_name(profile))
    return app


def _profile_name(profile: Any) -> str:
    if profile is None:
        return "default"
    return str(getattr(profile, "source_path", None) or getattr(profile, "name", None) or profile)


def _shell(profile_name: str) -> html.Div:
    return html.Div(className="shell", children=[
        html.Header(id=ids.HEADER, className="header", children=[
            html.Div("Session vitals", className="brand"),
            html.Nav(className="nav", children=[
                dcc.Link("Overview", href="/", className="nav-link"),
                dcc.Link("Sessions", href="/sessions", className="nav-link"),
            ]),
            html.Div(f"Alert profile: {profile_name}", id=ids.PROFILE_BADGE,
                     className="profile"),
        ]),
        html.Div(figures.DISCLAIMER, id=ids.DISCLAIMER, className="disclaimer", role="note"),
        html.Main(dash.page_container, className="main"),
    ])


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
        from vitals.profile import load_profile

        app = create_app(store, settings, profile=load_profile(settings.profile))
        log.info("dashboard on http://%s:%d/", host, port)
        app.run(host=host, port=port, debug=False)
    finally:
        store.close()
