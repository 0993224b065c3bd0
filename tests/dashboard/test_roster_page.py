"""The roster page (admins only): the on-call roster without its credentials, and a test
notification sent through the notifier's own sender to a real loopback webhook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import werkzeug.exceptions
from dash import html
from services import HOST, free_port

from dashboard import auth
from dashboard.app import create_app
from dashboard.pages import roster
from notify.roster import Role
from tests.dashboard.builders import NOW
from tests.dashboard.conftest import SECRET, logged_in
from tests.dashboard.trees import text_of
from tests.notify.rosters import on_call, person, roster_toml
from tests.notify.test_notifier import Webhook
from vitals.settings import Settings


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture
def roster_file(tmp_path, webhook):
    path = tmp_path / "roster.toml"
    path.write_text(roster_toml(on_call(
        person("Nurse A", Role.MONITOR, webhook.url("nurse")),
        person("Dr X", Role.CLINICIAN, f"json://user:secret-pw@{HOST}:{free_port()}/nobody",
               sessions=("room-*",)),
        high=60)))
    return path


@pytest.fixture
def app(store, tmp_path, users, roster_file) -> Any:
    settings = Settings(data_dir=tmp_path / "data", influx_url=None, profile=None,
                        stale_seconds=None, notify_roster=roster_file)
    return create_app(store, settings, refresh_ms=500, clock=lambda: NOW, users_path=users,
                      secret_key=SECRET)


@pytest.fixture
def as_admin(app) -> Iterator[Any]:
    with app.server.test_request_context("/"):
        auth.login_as("boss")
        yield app


def test_the_roster_shows_each_person_with_role_sessions_and_channels_never_credentials(
        as_admin) -> None:
    table, options = roster.show(0)
    shown = text_of(table)
    assert "Nurse A" in shown and "monitor" in shown and "room-*" in shown
    assert "json" in shown and "secret-pw" not in shown and "nobody" not in shown
    assert [o["value"] for o in options] == ["Nurse A", "Dr X"]


def test_a_test_notification_is_delivered_through_the_notifiers_sender(as_admin,
                                                                       webhook) -> None:
    result = html.Div(roster.send_test(1, "Nurse A"))
    [message] = webhook.to("nurse")
    assert "test" in message["title"].lower() and "boss" in message["message"]
    assert "✔ delivered" in text_of(result)


def test_a_failed_test_notification_shows_its_error(as_admin) -> None:
    result = text_of(html.Div(roster.send_test(1, "Dr X")))
    assert "✖" in result and "json" in result and "secret-pw" not in result


@pytest.mark.parametrize("name", ["nurse", "doctor"])
def test_only_admins_see_the_roster_or_send_a_test(app, name) -> None:
    client = logged_in(app, name)
    assert client.get(roster.PATH).status_code == 403
    with app.server.test_request_context("/"):
        auth.login_as(name)
        with pytest.raises(werkzeug.exceptions.Forbidden):
            roster.show(0)
        with pytest.raises(werkzeug.exceptions.Forbidden):
            roster.send_test(1, "Nurse A")


def test_without_a_roster_the_page_says_how_to_set_one(store, tmp_path, users) -> None:
    settings = Settings(data_dir=tmp_path / "data", influx_url=None, profile=None,
                        stale_seconds=None, notify_roster=None)
    app = create_app(store, settings, refresh_ms=500, clock=lambda: NOW, users_path=users,
                     secret_key=SECRET)
    with app.server.test_request_context("/"):
        auth.login_as("boss")
        table, options = roster.show(0)
    assert "VITALS_NOTIFY_ROSTER" in text_of(table) and options == []
