"""Login on every page, callback and export; roles enforced (Flask test client, real store)."""

from __future__ import annotations

import json

import pytest

from dashboard.app import create_app
from dashboard.auth import secret_key
from tests.dashboard.conftest import NOW, PASSWORD, SECRET, hr, login
from vitals.settings import Settings
from vitals.storage.base import Batch


@pytest.fixture
def app(store, settings, users):
    return create_app(store, settings, refresh_ms=500, clock=lambda: NOW, users_path=users,
                      secret_key=SECRET)


@pytest.fixture
def client(app):
    return app.server.test_client()


OVERVIEW_UPDATE = {
    "output": "..overview-tiles.children...overview-status.children...overview-rendered.data..",
    "outputs": [{"id": "overview-tiles", "property": "children"},
                {"id": "overview-status", "property": "children"},
                {"id": "overview-rendered", "property": "data"}],
    "inputs": [{"id": "overview-interval", "property": "n_intervals", "value": 1}],
    "changedPropIds": ["overview-interval.n_intervals"],
    "state": [{"id": "overview-rendered", "property": "data", "value": None}],
}


@pytest.mark.parametrize("path", ["/", "/sessions", "/session/a"])
def test_pages_redirect_to_the_login_form_without_a_login(client, path):
    response = client.get(path, headers={"Accept": "text/html"})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


@pytest.mark.parametrize("path", ["/_dash-layout", "/_dash-dependencies"])
def test_dash_endpoints_answer_401_without_a_login(client, path):
    assert client.get(path).status_code == 401


def test_a_callback_answers_401_without_a_login(client, store):
    store.write(Batch(readings=[hr("a", NOW, 70)]))

    response = client.post("/_dash-update-component", json=OVERVIEW_UPDATE)

    assert response.status_code == 401
    assert b"tile-a" not in response.data


def test_a_callback_answers_once_logged_in(client, store):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    login(client, "nurse")

    response = client.post("/_dash-update-component", json=OVERVIEW_UPDATE)

    assert response.status_code == 200
    assert "tile-a" in json.dumps(response.get_json())


def test_the_login_form_carries_the_decision_support_note(client):
    page = client.get("/login").get_data(as_text=True)

    assert "not a certified medical device" in page
    assert 'name="password"' in page


def test_a_wrong_password_is_refused_and_logs_nobody_in(client):
    response = login(client, "nurse", PASSWORD + "!")

    assert response.status_code == 401
    assert "Wrong user name or password" in response.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 401


def test_logging_in_returns_to_the_page_asked_for_but_never_to_another_site(client):
    to_page = client.post("/login", data={"username": "nurse", "password": PASSWORD,
                                          "next": "/session/a"})
    offsite = client.post("/login", data={"username": "nurse", "password": PASSWORD,
                                          "next": "https://evil.example/"})

    assert to_page.headers["Location"] == "/session/a"
    assert offsite.headers["Location"] == "/"


def test_logging_out_ends_the_login(client):
    login(client, "nurse")
    assert client.get("/_dash-layout").status_code == 200

    client.get("/logout")

    assert client.get("/_dash-layout").status_code == 401


def test_the_header_names_the_logged_in_user_and_role(client):
    login(client, "doctor")

    layout = json.dumps(client.get("/_dash-layout").get_json())

    assert "doctor (clinician)" in layout


@pytest.mark.parametrize(
    ("name", "status"),
    [("nurse", 403), ("doctor", 200), ("boss", 200)],
)
@pytest.mark.parametrize("export", ["readings.csv", "report.html", "fhir.json"])
def test_exports_need_the_clinician_role(client, store, name, status, export):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    login(client, name)

    assert client.get(f"/export/a/{export}").status_code == status


def test_exports_need_a_login(client):
    assert client.get("/export/a/fhir.json").status_code == 401


def test_static_assets_need_no_login(client):
    assert client.get("/assets/dashboard.css").status_code == 200


@pytest.mark.parametrize(
    ("configured", "random"),
    [("from-the-environment", False), (None, True)],
)
def test_the_secret_key_comes_from_the_settings_else_is_random(tmp_path, configured, random):
    settings = Settings(data_dir=tmp_path, dashboard_secret_key=configured)

    key = secret_key(settings)

    assert (key != "from-the-environment") is random
    assert len(key) >= 20
