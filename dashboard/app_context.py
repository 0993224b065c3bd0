"""The dashboard's context: what every page and callback needs (store, settings, profile,
caches, the command publisher), attached to the Flask server by `create_app`, never a module
global, so several apps (tests) run in one process, each with its own store.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from flask import Flask, current_app

from dashboard.caches import HistoryCache, TrendCache
from vitals.settings import Settings
from vitals.storage.base import Store
from vitals.timefmt import utcnow

EXTENSION_KEY: Final = "vitals_dashboard"
DEFAULT_ACTIVE_WINDOW: Final = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class DashboardContext:
    """What every page needs, attached to the Flask server by `create_app`."""

    store: Store
    settings: Settings
    refresh_ms: int = 500  # a new value shows within this + the live reader's 0.1 s + the pipeline
    active_window: timedelta = DEFAULT_ACTIVE_WINDOW
    profile_name: str = "default"
    limits: tuple[Any, ...] = ()  # figures.Limit lines of the profile in force
    trends: TrendCache = field(default_factory=lambda: TrendCache())  # tiles' sparklines
    histories: HistoryCache = field(default_factory=lambda: HistoryCache())  # session views
    clock: Callable[[], datetime] = field(default=utcnow)
    profile: Any = None  # vitals.profile.Profile in force (session status, discharge)
    commands: Any = None  # dashboard.commands.Commands: every write goes over MQTT
    stale_after_s: float = 30.0  # a stream silent this long is overdue (`pipeline_silence`)
    health: Callable[[], str | None] | None = None  # extra pipeline check (e.g. ingest status)
    # The alarms showing as the ingest published them (dashboard.health.IngestStatus.alarms)
    alarm_feed: Callable[[], list[dict[str, Any]]] | None = None
    # snapshots.LiveReader of `store`: the live pages' data, read once for every browser
    reader: Any = None
    burden: Any = None  # dashboard.burden.BurdenReports of `profile` (the /burden page)



def attach(server: Flask, context: DashboardContext) -> None:
    server.extensions[EXTENSION_KEY] = context



def context_of(server: Flask) -> DashboardContext:
    return server.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]



def current() -> DashboardContext:
    """The context of the app serving this request (callbacks and page layouts run in one)."""
    return context_of(current_app)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: reading a long session builds ~100,000 objects, and
    each full collection the allocations trigger walks every object of the process (Dash,
    plotly, pandas): half the session view's load time. Only memory in reference cycles waits
    until the end; other threads' collections too, which is harmless for a few hundred ms."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
