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
    authenticate,
    ensure_user,
    get_user,
    list_users,
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
