"""Dashboard logins: names, roles and password hashes in a small SQLite file.

The file is `VITALS_DATA_DIR/users.sqlite3` (`users_path(settings)`), apart from the readings so
that an InfluxDB deployment keeps its logins too. Passwords are stored only as Werkzeug hashes
(scrypt), never as text. Roles are cumulative: a clinician can do all a monitor can, an admin all
a clinician can.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from werkzeug.security import check_password_hash, generate_password_hash

from vitals.settings import Settings
from vitals.timefmt import rfc3339, utcnow

log = logging.getLogger(__name__)

USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_CHARS: Final = 8
MAX_PASSWORD_CHARS: Final = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
)
"""


class Role(StrEnum):
    MONITOR = "monitor"  # watch, acknowledge alarms, notes, check-ins, start/dose/end
    CLINICIAN = "clinician"  # also review, export, sign off, override a no-go verdict
    ADMIN = "admin"  # also manage users

    @property
    def rank(self) -> int:
        return {"monitor": 1, "clinician": 2, "admin": 3}[self.value]

    def allows(self, needed: Role) -> bool:
        """True when this role may do what `needed` may (roles are cumulative)."""
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role

    def can(self, needed: Role) -> bool:
        return self.role.allows(needed)


class InvalidUser(ValueError):
    """A user name, role or password that cannot be stored; the message says which and why."""


def users_path(settings: Settings) -> Path:
    """Where the dashboard's logins live: beside the embedded store, in `VITALS_DATA_DIR`."""
    return settings.data_dir / "users.sqlite3"


def validate(name: str, password: str, role: str | Role) -> Role:
    """Check a new login; returns its role. Raises `InvalidUser` naming the problem."""
    if not USER_NAME.match(name):
        raise InvalidUser(
            f"user name must be 1 to 64 characters of A-Z a-z 0-9 _ . @ -, got {name!r}")
    try:
        checked = Role(role)
    except ValueError as err:
        raise InvalidUser(
            f"role must be one of {', '.join(r.value for r in Role)}, got {role!r}") from err
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidUser(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidUser(f"password must be at most {MAX_PASSWORD_CHARS} characters")
    return checked


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=10)
    connection.execute(_SCHEMA)
    return connection


def ensure_user(path: Path, name: str, password: str, role: str | Role = Role.MONITOR, *,
                method: str = "scrypt") -> User:
    """Create the login, or update its password and role when it exists (`vitals user add`).

    `method`: Werkzeug's hash method (scrypt; tests use a cheap pbkdf2 to stay fast)."""
    checked = validate(name, password, role)
    password_hash = generate_password_hash(password, method=method)
    now = rfc3339(utcnow())
    with closing(_connect(path)) as connection, connection:
        connection.execute(
            "INSERT INTO users (name, role, password_hash, created, updated) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
            "role = excluded.role, password_hash = excluded.password_hash, "
            "updated = excluded.updated",
            (name, checked.value, password_hash, now, now),
        )
    log.info("dashboard login %r saved with role %s", name, checked.value)
    return User(name, checked)


def get_user(path: Path, name: str) -> User | None:
    """The login called `name`, or None (also when the file does not exist yet)."""
    if not path.exists():
        return None
    with closing(_connect(path)) as connection:
        row = connection.execute("SELECT name, role FROM users WHERE name = ?",
                                 (name,)).fetchone()
    return None if row is None else User(row[0], Role(row[1]))


def authenticate(path: Path, name: str, password: str) -> User | None:
    """The user when `password` is theirs, else None (an unknown name is no different)."""
    if not path.exists() or not name or not password:
        return None
    with closing(_connect(path)) as connection:
        row = connection.execute("SELECT name, role, password_hash FROM users WHERE name = ?",
                                 (name,)).fetchone()
    if row is None or not check_password_hash(row[2], password):
        return None
    return User(row[0], Role(row[1]))


def list_users(path: Path) -> list[User]:
    if not path.exists():
        return []
    with closing(_connect(path)) as connection:
        rows = connection.execute("SELECT name, role FROM users ORDER BY name").fetchall()
    return [User(name, Role(role)) for name, role in rows]


def delete_user(path: Path, name: str) -> bool:
    """Remove a login; True when it existed."""
    if not path.exists():
        return False
    with closing(_connect(path)) as connection, connection:
        cursor = connection.execute("DELETE FROM users WHERE name = ?", (name,))
    return cursor.rowcount > 0
