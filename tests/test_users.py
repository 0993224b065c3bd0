"""Dashboard logins: stored hashed, roles cumulative, `vitals user add` per the contract."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from vitals.cli import main
from vitals.users import (
    InvalidUser,
    Role,
    User,
    active_user,
    add_user,
    authenticate,
    delete_user,
    ensure_user,
    get_user,
    leaves_no_admin,
    list_users,
    recent_changes,
    set_active,
    set_password,
    set_role,
    users_path,
)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "users.sqlite3"


def stored_hashes(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT password_hash FROM users")]


def test_a_new_login_can_log_in_with_its_password_only(path):
    ensure_user(path, "nurse", PASSWORD, "monitor")

    assert authenticate(path, "nurse", PASSWORD) == User("nurse", Role.MONITOR)
    assert authenticate(path, "nurse", PASSWORD + "x") is None
    assert authenticate(path, "nobody", PASSWORD) is None


def test_passwords_are_stored_as_hashes_never_as_text(path):
    ensure_user(path, "nurse", PASSWORD)

    [stored] = stored_hashes(path)
    assert PASSWORD not in stored
    assert stored.startswith(("scrypt:", "pbkdf2:"))


def test_adding_an_existing_login_updates_its_password_and_role(path):
    ensure_user(path, "doc", PASSWORD, "monitor")

    ensure_user(path, "doc", "another-password", "clinician")

    assert authenticate(path, "doc", PASSWORD) is None
    assert authenticate(path, "doc", "another-password") == User("doc", Role.CLINICIAN)
    assert list_users(path) == [User("doc", Role.CLINICIAN)]


@pytest.mark.parametrize(
    ("name", "password", "role", "problem"),
    [
        ("", PASSWORD, "monitor", "user name"),
        ("two words", PASSWORD, "monitor", "user name"),
        ("x" * 65, PASSWORD, "monitor", "user name"),
        ("nurse", PASSWORD, "root", "role must be one of"),
        ("nurse", "short", "monitor", "at least 8 characters"),
    ],
)
def test_invalid_logins_are_refused_with_the_reason(path, name, password, role, problem):
    with pytest.raises(InvalidUser, match=problem):
        ensure_user(path, name, password, role)
    assert get_user(path, "nurse") is None


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        (Role.MONITOR, Role.MONITOR, True),
        (Role.MONITOR, Role.CLINICIAN, False),
        (Role.CLINICIAN, Role.MONITOR, True),
        (Role.CLINICIAN, Role.ADMIN, False),
        (Role.ADMIN, Role.CLINICIAN, True),
    ],
)
def test_roles_are_cumulative(role, needed, allowed):
    assert role.allows(needed) is allowed


def test_cli_user_add_creates_a_login_from_the_password_on_stdin(tmp_path, monkeypatch):
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path))

    result = CliRunner().invoke(main, ["user", "add", "doc", "--role", "clinician",
                                       "--password-stdin"], input=PASSWORD + "\n")

    assert result.exit_code == 0, result.output
    path = tmp_path / "users.sqlite3"
    assert authenticate(path, "doc", PASSWORD) == User("doc", Role.CLINICIAN)
    assert PASSWORD not in result.output


def test_cli_user_add_defaults_to_the_monitor_role(tmp_path, monkeypatch):
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path))

    CliRunner().invoke(main, ["user", "add", "nurse", "--password-stdin"], input=PASSWORD)

    assert get_user(tmp_path / "users.sqlite3", "nurse") == User("nurse", Role.MONITOR)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["user", "add", "nurse"], PASSWORD, "--password-stdin"),
        (["user", "add", "nurse", "--password-stdin"], "short\n", "at least 8 characters"),
        (["user", "add", "bad name", "--password-stdin"], PASSWORD, "user name"),
    ],
)
def test_cli_user_add_refuses_bad_input_with_one_line(tmp_path, monkeypatch, args, stdin,
                                                      message):
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path))

    result = CliRunner().invoke(main, args, input=stdin)

    assert result.exit_code != 0
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert list_users(tmp_path / "users.sqlite3") == []


def test_cli_user_add_refuses_an_unknown_role(tmp_path, monkeypatch):
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path))

    result = CliRunner().invoke(main, ["user", "add", "x1", "--role", "root",
                                       "--password-stdin"], input=PASSWORD)

    assert result.exit_code == 2
    assert "'root' is not one of" in result.output


def test_logins_live_in_the_data_dir(tmp_path):
    from vitals.settings import Settings

    assert users_path(Settings(data_dir=tmp_path)) == tmp_path / "users.sqlite3"


# --- changes shared by `vitals user ...` and the dashboard's users page ---

CHEAP = "pbkdf2:sha256:1000"  # hashing is slow on purpose; these tests are about the rules


def admin(name: str, active: bool = True) -> User:
    return User(name, Role.ADMIN, active)


@pytest.mark.parametrize(
    ("before", "name", "after", "leaves_none"),
    [
        ([admin("a")], "a", User("a", Role.CLINICIAN), True),
        ([admin("a")], "a", admin("a", active=False), True),
        ([admin("a")], "a", None, True),
        ([admin("a"), admin("b")], "a", User("a", Role.MONITOR), False),
        ([admin("a"), admin("b", active=False)], "a", admin("a", active=False), True),
        ([admin("a")], "a", admin("a"), False),
        ([admin("a"), User("m", Role.MONITOR)], "m", User("m", Role.MONITOR, False), False),
        ([User("m", Role.MONITOR)], "m", None, False),  # no admin to lose
        ([admin("a", active=False), admin("b")], "a", User("a", Role.MONITOR, False), False),
        ([admin("a")], "nobody", None, False),
    ],
)
def test_a_change_that_takes_away_the_last_active_admin_is_spotted(before, name, after,
                                                                   leaves_none):
    assert leaves_no_admin(before, name, after) is leaves_none


@pytest.fixture
def staffed(path: Path) -> Path:
    """One active admin, one monitor."""
    ensure_user(path, "boss", PASSWORD, "admin", method=CHEAP)
    ensure_user(path, "nurse", PASSWORD, "monitor", method=CHEAP)
    return path


@pytest.mark.parametrize(
    "change",
    [
        lambda path: set_role(path, "boss", "clinician", actor="boss"),
        lambda path: set_active(path, "boss", False, actor="boss"),
        lambda path: delete_user(path, "boss", actor="boss"),
        lambda path: ensure_user(path, "boss", PASSWORD, "monitor", method=CHEAP),
    ],
    ids=["demote", "disable", "remove", "cli-demote"],
)
def test_the_last_active_admin_cannot_be_demoted_disabled_or_removed(staffed, change):
    with pytest.raises(InvalidUser, match="last active admin"):
        change(staffed)

    assert get_user(staffed, "boss") == User("boss", Role.ADMIN, True)


def test_an_admin_can_step_down_once_another_admin_is_active(staffed):
    set_role(staffed, "nurse", "admin", actor="boss")

    set_role(staffed, "boss", "clinician", actor="boss")

    assert get_user(staffed, "boss") == User("boss", Role.CLINICIAN)


def test_a_disabled_login_cannot_log_in_until_enabled_again(staffed):
    set_active(staffed, "nurse", False, actor="boss")

    assert authenticate(staffed, "nurse", PASSWORD) is None
    assert active_user(staffed, "nurse") is None
    assert get_user(staffed, "nurse") == User("nurse", Role.MONITOR, active=False)

    set_active(staffed, "nurse", True, actor="boss")

    assert authenticate(staffed, "nurse", PASSWORD) == User("nurse", Role.MONITOR)


def test_a_disabled_login_can_do_nothing_its_role_allowed():
    assert not User("doc", Role.CLINICIAN, active=False).can(Role.MONITOR)


def test_cli_user_add_keeps_a_disabled_login_disabled(staffed):
    set_active(staffed, "nurse", False, actor="boss")

    ensure_user(staffed, "nurse", "another-password", "monitor", method=CHEAP)

    assert authenticate(staffed, "nurse", "another-password") is None


def test_adding_a_login_refuses_a_name_already_taken(staffed):
    with pytest.raises(InvalidUser, match="already a login called 'nurse'"):
        add_user(staffed, "nurse", "another-password", "admin", actor="boss", method=CHEAP)

    assert authenticate(staffed, "nurse", PASSWORD) == User("nurse", Role.MONITOR)


def test_a_reset_password_replaces_the_old_one(staffed):
    set_password(staffed, "nurse", "a-new-password", actor="boss", method=CHEAP)

    assert authenticate(staffed, "nurse", PASSWORD) is None
    assert authenticate(staffed, "nurse", "a-new-password") == User("nurse", Role.MONITOR)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda path: set_password(path, "nurse", "short", actor="boss"), "at least 8"),
        (lambda path: set_role(path, "nurse", "root", actor="boss"), "role must be one of"),
        (lambda path: set_role(path, "ghost", "admin", actor="boss"), "no login called"),
        (lambda path: set_active(path, "ghost", False, actor="boss"), "no login called"),
        (lambda path: set_password(path, "ghost", PASSWORD, actor="boss"), "no login called"),
    ],
)
def test_invalid_changes_are_refused_with_the_reason_and_recorded_nowhere(staffed, change,
                                                                          problem):
    before = recent_changes(staffed)

    with pytest.raises(InvalidUser, match=problem):
        change(staffed)

    assert recent_changes(staffed) == before
    assert get_user(staffed, "nurse") == User("nurse", Role.MONITOR)


def test_each_change_is_recorded_with_who_did_what_to_whom_but_never_the_password(
        staffed, caplog):
    with caplog.at_level("INFO", logger="vitals.users"):
        add_user(staffed, "doc", "doc-password-1", "clinician", actor="boss", method=CHEAP)
        set_role(staffed, "doc", "admin", actor="boss")
        set_password(staffed, "doc", "doc-password-2", actor="boss", method=CHEAP)
        set_active(staffed, "nurse", False, actor="doc")

    changes = [(c.actor, c.action, c.target, c.detail) for c in recent_changes(staffed)]
    assert changes[:4] == [
        ("doc", "disabled", "nurse", ""),
        ("boss", "reset the password of", "doc", ""),
        ("boss", "set the role of", "doc", "to admin"),
        ("boss", "added", "doc", "role clinician"),
    ]
    assert "boss set the role of doc (to admin)" in caplog.text
    recorded = caplog.text + repr(recent_changes(staffed))
    assert "doc-password" not in recorded


def test_a_users_file_from_before_disabling_keeps_its_logins_active(path):
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, "
                           "password_hash TEXT NOT NULL, created TEXT NOT NULL, "
                           "updated TEXT NOT NULL)")
        connection.execute("INSERT INTO users VALUES ('old', 'admin', 'x', 't', 't')")
    connection.close()

    assert list_users(path) == [User("old", Role.ADMIN, active=True)]


def test_cli_user_disable_enable_and_list(tmp_path, monkeypatch):
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path))
    path = tmp_path / "users.sqlite3"
    ensure_user(path, "boss", PASSWORD, "admin", method=CHEAP)
    ensure_user(path, "nurse", PASSWORD, "monitor", method=CHEAP)
    runner = CliRunner()

    disabled = runner.invoke(main, ["user", "disable", "nurse"])
    listed = runner.invoke(main, ["user", "list"])
    enabled = runner.invoke(main, ["user", "enable", "nurse"])

    assert disabled.exit_code == 0, disabled.output
    assert listed.output == "boss\tadmin\tactive\nnurse\tmonitor\tdisabled\n"
    assert enabled.exit_code == 0
    assert active_user(path, "nurse") == User("nurse", Role.MONITOR)
    assert recent_changes(path)[0].actor.startswith("command line")


def test_cli_refuses_to_disable_the_last_admin_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path))
    ensure_user(tmp_path / "users.sqlite3", "boss", PASSWORD, "admin", method=CHEAP)

    result = CliRunner().invoke(main, ["user", "disable", "boss"])

    assert result.exit_code == 1
    assert "last active admin" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("change", "ends_sessions"),
    [
        (lambda path: set_password(path, "nurse", "a-new-password", actor="boss",
                                   method=CHEAP), True),
        (lambda path: ensure_user(path, "nurse", "a-new-password", "monitor", method=CHEAP),
         True),
        (lambda path: set_active(path, "nurse", False, actor="boss"), True),
        (lambda path: set_active(path, "nurse", True, actor="boss"), False),
        (lambda path: set_role(path, "nurse", "clinician", actor="boss"), False),
    ],
    ids=["reset", "cli-add", "disable", "enable", "role"],
)
def test_a_new_password_or_disabling_raises_the_session_epoch(staffed, change, ends_sessions):
    before = get_user(staffed, "nurse").session_epoch

    change(staffed)

    assert (get_user(staffed, "nurse").session_epoch != before) is ends_sessions
