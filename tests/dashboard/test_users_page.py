"""The users page (admins only) through Flask's test client against a real users file: 403 for
anyone else on the page and its callbacks, each change applied through `vitals.users`, and a
disabled login's open session ended."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from dashboard import ids
from dashboard.app import create_app
from tests.dashboard.builders import NOW
from tests.dashboard.conftest import PASSWORD, SECRET, login
from vitals.users import Role, User, authenticate, get_user, recent_changes

SHOW = {
    "output": f"..{ids.USERS_TABLE}.children...{ids.EDIT_USER}.options..."
              f"{ids.USERS_CHANGES}.children..",
    "outputs": [{"id": ids.USERS_TABLE, "property": "children"},
                {"id": ids.EDIT_USER, "property": "options"},
                {"id": ids.USERS_CHANGES, "property": "children"}],
    "inputs": [{"id": ids.USERS_VERSION, "property": "data", "value": 0}],
    "changedPropIds": [],
    "state": [],
}
BUTTONS = (ids.NEW_USER_SUBMIT, ids.EDIT_ROLE_SUBMIT, ids.EDIT_PASSWORD_SUBMIT,
           ids.EDIT_DISABLE, ids.EDIT_ENABLE)
FIELDS = ((ids.USERS_VERSION, "data"), (ids.NEW_USER_NAME, "value"),
          (ids.NEW_USER_ROLE, "value"), (ids.NEW_USER_PASSWORD, "value"),
          (ids.NEW_USER_PASSWORD_AGAIN, "value"), (ids.EDIT_USER, "value"),
          (ids.EDIT_ROLE, "value"), (ids.EDIT_PASSWORD, "value"),
          (ids.EDIT_PASSWORD_AGAIN, "value"))
CHANGE_OUTPUTS = ((ids.USERS_FEEDBACK, "children"), (ids.USERS_VERSION, "data"),
                  (ids.NEW_USER_PASSWORD, "value"), (ids.NEW_USER_PASSWORD_AGAIN, "value"),
                  (ids.EDIT_PASSWORD, "value"), (ids.EDIT_PASSWORD_AGAIN, "value"))


def click(button: str, **values: Any) -> dict[str, Any]:
    """The callback request a browser sends when `button` is clicked with the form `values`
    (keyed by component id)."""
    return {
        "output": "..." .join(f"{i}.{p}" for i, p in CHANGE_OUTPUTS).join(["..", ".."]),
        "outputs": [{"id": i, "property": p} for i, p in CHANGE_OUTPUTS],
        "inputs": [{"id": b, "property": "n_clicks", "value": int(b == button)}
                   for b in BUTTONS],
        "changedPropIds": [f"{button}.n_clicks"],
        "state": [{"id": i, "property": p, "value": values.get(i, 0 if p == "data" else None)}
                  for i, p in FIELDS],
    }


@pytest.fixture
def users_file(users, tmp_path):
    """A copy of the suite's users file that this test may change."""
    return shutil.copy(users, tmp_path / "users.sqlite3")


@pytest.fixture
def app(store, settings, users_file):
    return create_app(store, settings, refresh_ms=500, clock=lambda: NOW,
                      users_path=users_file, secret_key=SECRET)


@pytest.fixture
def client(app):
    return app.server.test_client()


@pytest.fixture
def admin(client):
    login(client, "boss")
    return client


def feedback(response: Any) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["response"][ids.USERS_FEEDBACK]["children"])


@pytest.mark.parametrize("name", ["nurse", "doctor"])
@pytest.mark.parametrize(
    "request_of",
    [
        lambda c: c.get("/users", headers={"Accept": "text/html"}),
        lambda c: c.post("/_dash-update-component", json=SHOW),
        lambda c: c.post("/_dash-update-component",
                         json=click(ids.EDIT_ROLE_SUBMIT, **{ids.EDIT_USER: "boss",
                                                             ids.EDIT_ROLE: "monitor"})),
        lambda c: c.post("/_dash-update-component",
                         json=click(ids.NEW_USER_SUBMIT, **{
                             ids.NEW_USER_NAME: "mallory", ids.NEW_USER_ROLE: "admin",
                             ids.NEW_USER_PASSWORD: PASSWORD,
                             ids.NEW_USER_PASSWORD_AGAIN: PASSWORD})),
    ],
    ids=["page", "list", "change-role", "add"],
)
def test_only_admins_reach_the_users_page_and_its_callbacks(client, users_file, name,
                                                            request_of):
    login(client, name)

    response = request_of(client)

    assert response.status_code == 403
    assert b"boss" not in response.data
    assert get_user(users_file, "boss") == User("boss", Role.ADMIN)
    assert get_user(users_file, "mallory") is None


def test_the_users_page_is_served_to_an_admin(admin):
    assert admin.get("/users", headers={"Accept": "text/html"}).status_code == 200


def test_the_users_layout_holds_no_user_data(admin):
    layout = json.dumps(admin.get("/_dash-layout").get_json())

    assert "nurse" not in layout and "doctor" not in layout


def test_the_header_links_to_the_users_page_for_admins_only(client):
    login(client, "boss")
    boss_sees = json.dumps(client.get("/_dash-layout").get_json())
    login(client, "doctor")
    doctor_sees = json.dumps(client.get("/_dash-layout").get_json())

    assert '"href": "/users"' in boss_sees
    assert '"href": "/users"' not in doctor_sees


def test_an_admin_sees_each_login_with_role_and_status_but_no_hash(admin):
    response = admin.post("/_dash-update-component", json=SHOW)

    shown = json.dumps(response.get_json())
    assert response.status_code == 200
    for name, role in (("boss (you)", "admin"), ("nurse", "monitor"), ("doctor", "clinician")):
        assert name in shown and role in shown
    assert "active" in shown
    assert "pbkdf2" not in shown and "scrypt" not in shown


def test_an_admin_adds_a_login_who_can_then_log_in(admin, users_file):
    message = feedback(admin.post("/_dash-update-component", json=click(
        ids.NEW_USER_SUBMIT, **{ids.NEW_USER_NAME: " carol ", ids.NEW_USER_ROLE: "clinician",
                                ids.NEW_USER_PASSWORD: "carols-password",
                                ids.NEW_USER_PASSWORD_AGAIN: "carols-password"})))

    assert "'carol' added (clinician)" in message
    assert authenticate(users_file, "carol", "carols-password") == User("carol",
                                                                        Role.CLINICIAN)
    assert (recent_changes(users_file)[0].actor, recent_changes(users_file)[0].target) == (
        "boss", "carol")


@pytest.mark.parametrize(
    ("password", "again", "problem"),
    [
        ("carols-password", "carols-passw0rd", "the two passwords differ"),
        ("short", "short", "at least 8 characters"),
        (None, None, "at least 8 characters"),
    ],
)
def test_adding_a_login_needs_the_same_long_enough_password_twice(admin, users_file, password,
                                                                  again, problem):
    response = admin.post("/_dash-update-component", json=click(
        ids.NEW_USER_SUBMIT, **{ids.NEW_USER_NAME: "carol", ids.NEW_USER_ROLE: "monitor",
                                ids.NEW_USER_PASSWORD: password,
                                ids.NEW_USER_PASSWORD_AGAIN: again}))

    assert problem in feedback(response)
    assert get_user(users_file, "carol") is None


def test_typed_passwords_are_cleared_from_the_page_after_a_change(admin):
    response = admin.post("/_dash-update-component", json=click(
        ids.EDIT_PASSWORD_SUBMIT, **{ids.EDIT_USER: "nurse",
                                     ids.EDIT_PASSWORD: "nurses-new-password",
                                     ids.EDIT_PASSWORD_AGAIN: "nurses-new-password"}))

    answer = response.get_json()["response"]
    assert answer[ids.EDIT_PASSWORD]["value"] == ""
    assert answer[ids.EDIT_PASSWORD_AGAIN]["value"] == ""
    assert "nurses-new-password" not in response.get_data(as_text=True)


def test_an_admin_resets_a_password(admin, users_file):
    message = feedback(admin.post("/_dash-update-component", json=click(
        ids.EDIT_PASSWORD_SUBMIT, **{ids.EDIT_USER: "nurse",
                                     ids.EDIT_PASSWORD: "nurses-new-password",
                                     ids.EDIT_PASSWORD_AGAIN: "nurses-new-password"})))

    assert "password of 'nurse' was reset" in message
    assert authenticate(users_file, "nurse", PASSWORD) is None
    assert authenticate(users_file, "nurse", "nurses-new-password") is not None


def test_an_admin_changes_a_role(admin, users_file):
    message = feedback(admin.post("/_dash-update-component", json=click(
        ids.EDIT_ROLE_SUBMIT, **{ids.EDIT_USER: "nurse", ids.EDIT_ROLE: "clinician"})))

    assert "'nurse' is now clinician" in message
    assert get_user(users_file, "nurse") == User("nurse", Role.CLINICIAN)


@pytest.mark.parametrize(
    ("button", "values"),
    [
        (ids.EDIT_DISABLE, {ids.EDIT_USER: "boss"}),
        (ids.EDIT_ROLE_SUBMIT, {ids.EDIT_USER: "boss", ids.EDIT_ROLE: "monitor"}),
    ],
    ids=["disable", "demote"],
)
def test_the_last_active_admin_cannot_disable_or_demote_themselves(admin, users_file, button,
                                                                   values):
    message = feedback(admin.post("/_dash-update-component", json=click(button, **values)))

    assert "Not changed" in message and "last active admin" in message
    assert get_user(users_file, "boss") == User("boss", Role.ADMIN)


def test_a_change_needs_a_login_chosen(admin):
    message = feedback(admin.post("/_dash-update-component", json=click(ids.EDIT_DISABLE)))

    assert "choose a login" in message


def test_a_disabled_login_is_logged_out_at_its_next_request_and_cannot_log_in(app, admin,
                                                                             users_file):
    nurse = app.server.test_client()
    login(nurse, "nurse")
    assert nurse.get("/_dash-layout").status_code == 200

    feedback(admin.post("/_dash-update-component",
                        json=click(ids.EDIT_DISABLE, **{ids.EDIT_USER: "nurse"})))

    assert nurse.get("/_dash-layout").status_code == 401
    assert login(nurse, "nurse").status_code == 401
    feedback(admin.post("/_dash-update-component",
                        json=click(ids.EDIT_ENABLE, **{ids.EDIT_USER: "nurse"})))
    assert nurse.get("/_dash-layout").status_code == 401  # the ended session stays ended
    assert login(nurse, "nurse").status_code == 302


@pytest.mark.parametrize(("name", "refused"), [("nurse", True), ("doctor", True),
                                               ("boss", False)])
def test_navigating_to_the_users_page_inside_the_app_shows_others_only_a_refusal(app, name,
                                                                                 refused):
    from dashboard import auth
    from dashboard.pages import users as users_page
    from tests.dashboard.trees import find, text_of

    with app.server.test_request_context("/_dash-update-component"):
        auth.login_as(name)
        page = users_page.layout()

    assert ("Only admins manage users" in text_of(page)) is refused
    assert (find(page, ids.NEW_USER_SUBMIT) is None) is refused


def reset_password(admin, name: str, password: str) -> None:
    feedback(admin.post("/_dash-update-component", json=click(
        ids.EDIT_PASSWORD_SUBMIT, **{ids.EDIT_USER: name, ids.EDIT_PASSWORD: password,
                                     ids.EDIT_PASSWORD_AGAIN: password})))


def test_a_reset_password_ends_the_logins_open_sessions(app, admin):
    nurse = app.server.test_client()
    login(nurse, "nurse")

    reset_password(admin, "nurse", "nurses-new-password")

    assert nurse.get("/_dash-layout").status_code == 401


def test_a_session_that_made_no_request_while_its_login_was_disabled_stays_ended(app, admin):
    nurse = app.server.test_client()
    login(nurse, "nurse")
    for button in (ids.EDIT_DISABLE, ids.EDIT_ENABLE):
        feedback(admin.post("/_dash-update-component",
                            json=click(button, **{ids.EDIT_USER: "nurse"})))

    assert nurse.get("/_dash-layout").status_code == 401


def test_an_admin_who_resets_their_own_password_stays_logged_in_here_only(app, admin):
    elsewhere = app.server.test_client()
    login(elsewhere, "boss")

    reset_password(admin, "boss", "bosses-new-password")

    assert admin.get("/_dash-layout").status_code == 200
    assert elsewhere.get("/_dash-layout").status_code == 401
