"""Dashboard fixtures: a real SqliteStore per test, readings built in a line, headless Chromium.

`pytest_setup_options` is dash[testing]'s hook for the webdriver options: Debian's Chromium,
headless, no sandbox (CI runs as root), and nothing that tries to reach the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vitals.alerts import AlertEvent, AlertState, Metric, Priority
from vitals.readings import Kind, Reading, SessionEvent, SessionEventType
from vitals.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1680,1000",
)

NOW = datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)


def pytest_setup_options() -> Any:
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for argument in CHROME_ARGS:
        options.add_argument(argument)
    return options


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Explicit settings, so no VITALS_* variable of the developer's shell leaks in."""
    return Settings(data_dir=tmp_path / "data", influx_url=None, profile=None,
                    stale_seconds=None)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    from vitals.storage.sqlite import SqliteStore

    opened = SqliteStore(tmp_path / "v.sqlite3")
    try:
        yield opened
    finally:
        opened.close()


def bp(session: str, at: datetime, systolic: float, diastolic: float) -> Reading:
    return Reading(session, Kind.BP, at, {"systolic": systolic, "diastolic": diastolic},
                   device="cuff-1")


def hr(session: str, at: datetime, bpm: float) -> Reading:
    return Reading(session, Kind.HR, at, {"bpm": bpm}, device="ox-1")


def spo2(session: str, at: datetime, value: float, pulse: float | None = None) -> Reading:
    values = {"spo2": value} if pulse is None else {"spo2": value, "pulse": pulse}
    return Reading(session, Kind.SPO2, at, values, device="ox-1")


def event(session: str, at: datetime, kind: SessionEventType) -> SessionEvent:
    return SessionEvent(session, kind, at)


def alert(session: str, at: datetime, metric: Metric, priority: Priority,
          state: AlertState = AlertState.ACTIVE, message: str = "", value: float | None = None,
          rule: str = "") -> AlertEvent:
    return AlertEvent(at, session, metric, priority, state, message or f"{metric} {priority}",
                      rule=rule or f"{metric}.{priority}", value=value)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# --- reading what a component tree shows ---


def text_of(component: Any) -> str:
    """All text a component tree shows, in document order."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def classes_of(component: Any) -> str:
    return getattr(component, "className", "") or ""


def find(component: Any, component_id: str) -> Any:
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = find(child, component_id)
            if found is not None:
                return found
    return None
