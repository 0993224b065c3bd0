"""Login on every page, callback and export; roles enforced (Flask test client, real store)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import click
import pytest

from dashboard.app import create_app
from dashboard.auth import login_page, secret_key
from dashboard.throttle import LoginThrottle
from tests.dashboard.builders import NOW, hr
from tests.dashboard.conftest import PASSWORD, SECRET, csrf_token, login
from vitals.cli import load_settings
from vitals.settings import Settings
from vitals.storage.base import Batch


@pytest.fixture
def client(app):
    return app.server.test_client()


OVERVIEW_UPDATE = {
    "output": "..overview-tiles.children...overview-status.children...overview-changes.data..",
    "outputs": [{"id": "overview-tiles", "property": "children"},
                {"id": "overview-status", "property": "children"},
                {"id": "overview-changes", "property": "data"}],
    "inputs": [{"id": "overview-interval", "property": "n_intervals", "value": 1}],
    "changedPropIds": ["overview-interval.n_intervals"],
    "state": [{"id": "overview-rendered", "property": "data", "value": None}],
}


@pytest.mark.parametrize("path", ["/", "/sessions", "/session/a", "/wall"])
def test_pages_redirect_to_the_login_form_without_a_login(client, path):
    response = client.get(path, headers={"Accept": "text/html"})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


def test_the_pages_say_their_language(client):
    login(client, "nurse")

    page = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)

    assert '<html lang="en">' in page


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
    to_page = login(client, "nurse", next_page="/session/a")
    offsite = login(client, "nurse", next_page="https://evil.example/")

    assert to_page.headers["Location"] == "/session/a"
    assert offsite.headers["Location"] == "/"


def test_logging_out_ends_the_login(client):
    login(client, "nurse")
    assert client.get("/_dash-layout").status_code == 200

    client.post("/logout", data={"csrf_token": csrf_token(client, "/login")})

    assert client.get("/_dash-layout").status_code == 401


def test_logging_out_ends_a_copy_of_the_cookie_but_not_the_logins_other_sessions(app, client):
    login(client, "nurse")
    at_the_chair = app.server.test_client()
    login(at_the_chair, "nurse")
    copied = app.server.test_client()
    copied.set_cookie("session", client.get_cookie("session").value)
    assert copied.get("/_dash-layout").status_code == 200

    client.post("/logout", data={"csrf_token": csrf_token(client, "/login")})

    assert copied.get("/_dash-layout").status_code == 401
    assert at_the_chair.get("/_dash-layout").status_code == 200


def test_the_header_names_the_logged_in_user_and_role(client):
    login(client, "doctor")

    layout = json.dumps(client.get("/_dash-layout").get_json())

    assert "doctor (clinician)" in layout


@pytest.mark.parametrize(
    ("name", "status"),
    [("nurse", 403), ("doctor", 200), ("boss", 200)],
)
@pytest.mark.parametrize("export", ["readings.csv", "report.html", "fhir.json",
                                    "notifications.csv"])
def test_exports_need_the_clinician_role(client, store, name, status, export):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    login(client, name)

    assert client.get(f"/export/a/{export}").status_code == status


def test_a_page_the_role_does_not_allow_is_a_page_of_the_app_saying_why(client):
    login(client, "nurse")

    page = client.get("/burden", headers={"Accept": "text/html"})

    assert page.status_code == 403 and page.mimetype == "text/html"
    body = page.get_data(as_text=True)
    assert '<link rel="stylesheet" href="/assets/dashboard.css">' in body
    assert "This page needs the clinician role." in body
    assert "nurse (monitor)" in body and 'action="/logout"' in body  # the way out
    assert 'href="/"' in body and "not a certified medical device" in body


def test_a_refused_callback_or_script_reads_the_reason_as_plain_text(client, store):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    login(client, "nurse")

    refused = client.get("/export/a/readings.csv", headers={"Accept": "text/csv"})

    assert refused.status_code == 403 and refused.mimetype == "text/plain"
    assert refused.get_data(as_text=True) == "This page needs the clinician role."


def test_exports_need_a_login(client):
    assert client.get("/export/a/fhir.json").status_code == 401


def test_static_assets_need_no_login(client):
    assert client.get("/assets/dashboard.css").status_code == 200


@pytest.mark.parametrize("path", ["/assets/", "/assets", "/_dash-component-suites/x"])
def test_paths_beside_the_static_files_that_serve_the_app_need_a_login(client, path):
    answer = client.get(path, headers={"Accept": "text/html"})
    assert answer.status_code in (302, 308, 401)
    assert b"_dash-renderer" not in answer.data and b"DOCTYPE" not in answer.data


@pytest.mark.parametrize("path", ["/_dash-component-suites/dash/nope.js",
                                  "/_dash-component-suites/dash/../../etc/passwd",
                                  "/_dash-component-suites/nopackage/x.js"])
def test_an_unknown_dash_dependency_is_a_plain_404_without_a_traceback(client, path, caplog):
    answer = client.get(path)
    assert answer.status_code == 404
    assert b"Traceback" not in answer.data and "Traceback" not in caplog.text


def test_a_json_logout_needs_the_csrf_token_too(client):
    login(client, "nurse")
    assert client.post("/logout", json={}).status_code == 400
    assert client.get("/_dash-layout").status_code == 200


@pytest.mark.parametrize(
    ("configured", "random"),
    [("from-the-environment-" + "k" * 11, False), (None, True)],
)
def test_the_secret_key_comes_from_the_settings_else_is_random(tmp_path, configured, random):
    settings = Settings(data_dir=tmp_path, dashboard_secret_key=configured)

    key = secret_key(settings)

    assert (key != configured) is random
    assert len(key) >= 20


@pytest.mark.parametrize("weak", ["changeme", "k" * 31])
def test_a_secret_key_under_32_characters_stops_start_up_naming_the_variable(
        tmp_path, monkeypatch, weak):
    monkeypatch.setenv("VITALS_DASHBOARD_SECRET_KEY", weak)
    with pytest.raises(click.UsageError) as refused:  # what `vitals dashboard` prints and exits on
        load_settings(data_dir=tmp_path)
    line = refused.value.format_message()
    assert line.startswith("VITALS_DASHBOARD_SECRET_KEY: ") and "at least 32 characters" in line
    assert "\n" not in line and weak not in line
    assert weak not in str(refused.value.__cause__)  # nor in the full error, should it be logged


# --- cross-site requests ---


def test_the_login_form_is_refused_without_its_csrf_token(client):
    response = client.post("/login", data={"username": "nurse", "password": PASSWORD})

    assert response.status_code == 400
    assert "form had expired" in response.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 401


def test_the_login_form_is_refused_with_another_sessions_token(app, client):
    other = app.server.test_client()
    token = csrf_token(other)

    response = client.post("/login", data={"username": "nurse", "password": PASSWORD,
                                           "csrf_token": token})

    assert response.status_code == 400


def test_logging_out_needs_a_post_with_the_csrf_token(client):
    login(client, "nurse")

    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/_dash-layout").status_code == 200  # still logged in


def test_the_header_logs_out_with_a_form_carrying_the_sessions_token(client):
    login(client, "nurse")
    layout = json.dumps(client.get("/_dash-layout").get_json())
    token = csrf_token(client, "/login")

    assert token in layout
    assert '"action": "/logout"' in layout


def test_a_callback_from_another_site_is_refused(client, store):
    store.write(Batch(readings=[hr("a", NOW, 70)]))
    login(client, "nurse")

    cross = client.post("/_dash-update-component", json=OVERVIEW_UPDATE,
                        headers={"Origin": "https://evil.example"})
    same = client.post("/_dash-update-component", json=OVERVIEW_UPDATE,
                       headers={"Origin": "http://localhost"})

    assert cross.status_code == 403
    assert same.status_code == 200


def test_a_callback_sent_as_a_form_is_refused(client):
    login(client, "nurse")

    response = client.post("/_dash-update-component", data=json.dumps(OVERVIEW_UPDATE),
                           content_type="text/plain")

    assert response.status_code == 400


@pytest.mark.parametrize(("secure", "expected"), [(False, False), (True, True)])
def test_the_session_cookie_is_httponly_lax_and_secure_when_configured(store, tmp_path, users,
                                                                       secure, expected):
    settings = Settings(data_dir=tmp_path, influx_url=None, profile=None,
                        dashboard_secure_cookie=secure)
    app = create_app(store, settings, users_path=users, secret_key=SECRET)

    cookie = app.server.test_client().get("/login").headers["Set-Cookie"]

    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert ("Secure" in cookie) is expected


# --- throttling failed logins ---


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def throttled(store, settings, users, clock):
    app = create_app(store, settings, users_path=users, secret_key=SECRET,
                     login_throttle=LoginThrottle(clock=clock))
    return app.server.test_client()


def test_five_failed_logins_lock_the_name_out_for_fifteen_minutes(throttled, clock):
    answers = [login(throttled, "nurse", "wrong-password").status_code for _ in range(5)]

    locked = login(throttled, "nurse")  # the right password, but too late

    assert answers == [401] * 4 + [429]
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == str(15 * 60)
    assert "Try again after 17:15 UTC" in locked.get_data(as_text=True)
    assert throttled.get("/_dash-layout").status_code == 401

    clock.now += timedelta(minutes=15)

    assert login(throttled, "nurse").status_code == 302
    assert throttled.get("/_dash-layout").status_code == 200


def test_a_lockout_reads_the_same_whether_or_not_the_name_exists(throttled):
    for name in ("nurse", "nobody"):
        for _ in range(5):
            login(throttled, name, "wrong-password")

    known, unknown = (login(throttled, name).get_data(as_text=True)
                      for name in ("nurse", "nobody"))

    assert known == unknown
    assert "Too many failed logins" in known


def test_a_locked_out_name_does_not_end_its_open_sessions(store, settings, users, clock):
    throttle = LoginThrottle(clock=clock)
    app = create_app(store, settings, users_path=users, secret_key=SECRET,
                     login_throttle=throttle)
    watching, guessing = app.server.test_client(), app.server.test_client()
    login(watching, "nurse")

    for _ in range(5):
        login(guessing, "nurse", "wrong-password")

    assert watching.get("/_dash-layout").status_code == 200


def test_a_name_locked_out_by_guesses_elsewhere_still_logs_in_at_its_own_computer(
        store, settings, users, clock):
    app = create_app(store, settings, users_path=users, secret_key=SECRET,
                     login_throttle=LoginThrottle(clock=clock))
    ward = app.server.test_client()
    assert login(ward, "nurse").status_code == 302  # she logged in here before
    ward.post("/logout", data={"csrf_token": csrf_token(ward, "/login")})
    elsewhere = app.server.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.6.6.6"
    answers = [login(elsewhere, "nurse", "wrong-password").status_code for _ in range(5)]

    assert answers[-1] == 429 and login(elsewhere, "nurse").status_code == 429
    assert login(ward, "nurse").status_code == 302
    assert ward.get("/_dash-layout").status_code == 200


def test_a_notification_link_asks_for_a_login_and_comes_back_to_the_alarm(client) -> None:
    response = client.get("/session/room-3?alarm=systolic", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/session/room-3?alarm=systolic"


@pytest.mark.parametrize(("alarm", "shown"), [("systolic", True), ("heart_rate", True),
                                              ("<script>", False), (None, False)])
def test_the_session_page_points_at_the_notified_alarm(alarm, shown) -> None:
    from dashboard.pages.session import notified_alarm

    note = notified_alarm(alarm)
    assert (note is not None) is shown
    if shown:
        assert alarm.replace("_", " ") in note.children


@pytest.mark.parametrize("field", ["disclaimer", "error", "target", "csrf"])
def test_the_login_page_escapes_every_value_it_shows(field: str) -> None:
    hostile = '"><script>alert(1)</script>'
    page = login_page(**{"disclaimer": "Decision support only.", field: hostile})
    assert "<script>" not in page
    assert "&#34;&gt;&lt;script&gt;" in page or "&quot;&gt;&lt;script&gt;" in page
