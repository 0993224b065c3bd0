"""Dashboard logins: names, roles, active or disabled, and password hashes in a small SQLite file.

The file is `VITALS_DATA_DIR/users.sqlite3` (`users_path(settings)`), apart from the readings so
that an InfluxDB deployment keeps its logins too. Passwords are stored only as Werkzeug hashes
(scrypt), never as text. Roles are cumulative: a clinician can do all a monitor can, an admin all
a clinician can.

Each change (`ensure_user`, `add_user`, `set_role`, `set_password`, `set_active`, `delete_user`)
is one function used by both `vitals user ...` and the dashboard's users page; it names who made
it (`actor`), is logged and kept in the file's `user_changes` table (never with the password), and
is refused when it would leave no active admin (`leaves_no_admin`).

Each login has a session epoch, raised when its password is set or it is disabled: the dashboard
keeps the epoch in the session and ends sessions whose epoch is no longer the login's, so a reset
password or a disabled login ends every session opened before, even a copied cookie.

Each dashboard session also has an id (`new_session_id`); logging out records it as ended
(`end_session`), so a copy of that session's cookie no longer logs anyone in, while the same
login's other sessions (the monitoring screen at the chair) go on.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

from werkzeug.security import check_password_hash, generate_password_hash

from vitals.settings import Settings
from vitals.timefmt import rfc3339, to_us, utcnow

log = logging.getLogger(__name__)

USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_CHARS: Final = 8
MAX_PASSWORD_CHARS: Final = 1024
COMMAND_LINE: Final = "command line"  # the actor of changes made with `vitals user ...`
# Flask refuses a session cookie older than its permanent lifetime (31 days by default): an ended
# session needs remembering no longer than that.
ENDED_SESSIONS_KEPT: Final = timedelta(days=31)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        session_epoch INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS ended_sessions (
        id TEXT PRIMARY KEY,
        ended_us INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS user_changes (
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )""",
)


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
    active: bool = True  # a disabled login cannot log in, and its sessions stop working
    # Raised by each password change and each disabling: sessions of an older epoch are over.
    session_epoch: int = field(default=0, compare=False, repr=False)

    def can(self, needed: Role) -> bool:
        return self.active and self.role.allows(needed)

    @property
    def is_active_admin(self) -> bool:
        return self.active and self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class UserChange:
    """One line of the record of changes to logins (`recent_changes`)."""

    time: str
    actor: str
    action: str
    target: str
    detail: str


class InvalidUser(ValueError):
    """A user name, role, password or change that cannot be stored; the message says why."""


class UnknownUser(InvalidUser):
    """A change to a login that does not exist."""


def users_path(settings: Settings) -> Path:
    """Where the dashboard's logins live: beside the embedded store, in `VITALS_DATA_DIR`."""
    return settings.data_dir / "users.sqlite3"


# --- validation (pure) ---


def validate_name(name: str) -> str:
    if not USER_NAME.match(name):
        raise InvalidUser(
            f"user name must be 1 to 64 characters of A-Z a-z 0-9 _ . @ -, got {name!r}")
    return name


def validate_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError as err:
        raise InvalidUser(
            f"role must be one of {', '.join(r.value for r in Role)}, got {role!r}") from err


def validate_password(password: str) -> str:
    """The one password rule, for the command line and the users page alike."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidUser(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidUser(f"password must be at most {MAX_PASSWORD_CHARS} characters")
    return password


def validate(name: str, password: str, role: str | Role) -> Role:
    """Check a new login; returns its role. Raises `InvalidUser` naming the problem."""
    validate_name(name)
    checked = validate_role(role)
    validate_password(password)
    return checked


def leaves_no_admin(before: Sequence[User], name: str, after: User | None) -> bool:
    """True when turning login `name` into `after` (None: removing it) takes away the last active
    admin: then nobody could manage logins from the dashboard any more."""
    was = next((user for user in before if user.name == name), None)
    if was is None or not was.is_active_admin:
        return False
    if after is not None and after.is_active_admin:
        return False
    return not any(user.is_active_admin for user in before if user.name != name)


# --- the file ---


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=10, isolation_level=None)
    for statement in _SCHEMA:
        connection.execute(statement)
    columns = {row[1] for row in connection.execute("PRAGMA table_info(users)")}
    for column, declaration in _ADDED_COLUMNS:  # a users file from an earlier version
        if column not in columns:
            connection.execute(f"ALTER TABLE users ADD COLUMN {column} {declaration}")
    return connection


_ADDED_COLUMNS = (("active", "INTEGER NOT NULL DEFAULT 1"),
                  ("session_epoch", "INTEGER NOT NULL DEFAULT 0"))
_COLUMNS = "name, role, active, session_epoch"  # what a `User` is made of


def _user(row: tuple[str, str, int, int]) -> User:
    return User(row[0], Role(row[1]), bool(row[2]), row[3])


def _all_users(connection: sqlite3.Connection) -> list[User]:
    rows = connection.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name").fetchall()
    return [_user(row) for row in rows]


@contextmanager
def _change(path: Path, actor: str, action: str, target: str,
            detail: str = "") -> Iterator[sqlite3.Connection]:
    """One change to the logins, in one transaction that also records who made it.

    `BEGIN IMMEDIATE` takes the write lock before the checks read, so two admins demoting each
    other at the same moment cannot both pass the last-admin check."""
    with closing(_connect(path)) as connection:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute(
                "INSERT INTO user_changes (time, actor, action, target, detail) "
                "VALUES (?, ?, ?, ?, ?)", (rfc3339(utcnow()), actor, action, target, detail))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    log.info("logins: %s %s %s%s", actor, action, target, f" ({detail})" if detail else "")


def _existing(connection: sqlite3.Connection, name: str) -> tuple[list[User], User]:
    users = _all_users(connection)
    found = next((user for user in users if user.name == name), None)
    if found is None:
        raise UnknownUser(f"there is no login called {name!r}")
    return users, found


def _refuse_losing_the_last_admin(users: Sequence[User], name: str, after: User | None) -> None:
    if leaves_no_admin(users, name, after):
        raise InvalidUser(f"{name!r} is the last active admin: make another login admin first")


def ensure_user(path: Path, name: str, password: str, role: str | Role = Role.MONITOR, *,
                actor: str = COMMAND_LINE, method: str = "scrypt") -> User:
    """Create the login, or update its password and role when it exists (`vitals user add`);
    whether it is disabled is left as it was.

    `method`: Werkzeug's hash method (scrypt; tests use a cheap pbkdf2 to stay fast)."""
    checked = validate(name, password, role)
    password_hash = generate_password_hash(password, method=method)
    now = rfc3339(utcnow())
    existing = get_user(path, name)
    action = "added" if existing is None else "updated"
    with _change(path, actor, action, name, f"role {checked.value}, password set") as connection:
        users = _all_users(connection)
        current = next((user for user in users if user.name == name), None)
        active = current.active if current is not None else True
        _refuse_losing_the_last_admin(users, name, User(name, checked, active))
        connection.execute(
            "INSERT INTO users (name, role, password_hash, created, updated) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
            "role = excluded.role, password_hash = excluded.password_hash, "
            "updated = excluded.updated, session_epoch = session_epoch + 1",
            (name, checked.value, password_hash, now, now),
        )
    return User(name, checked, active)


def add_user(path: Path, name: str, password: str, role: str | Role, *, actor: str,
             method: str = "scrypt") -> User:
    """Create a new login; refused when the name is taken (the users page's "add")."""
    checked = validate(name, password, role)
    password_hash = generate_password_hash(password, method=method)
    now = rfc3339(utcnow())
    with _change(path, actor, "added", name, f"role {checked.value}") as connection:
        if connection.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise InvalidUser(f"there is already a login called {name!r}")
        connection.execute(
            "INSERT INTO users (name, role, password_hash, created, updated) "
            "VALUES (?, ?, ?, ?, ?)", (name, checked.value, password_hash, now, now))
    return User(name, checked)


def set_role(path: Path, name: str, role: str | Role, *, actor: str) -> User:
    checked = validate_role(role)
    with _change(path, actor, "set the role of", name, f"to {checked.value}") as connection:
        users, found = _existing(connection, name)
        changed = User(name, checked, found.active)
        _refuse_losing_the_last_admin(users, name, changed)
        connection.execute("UPDATE users SET role = ?, updated = ? WHERE name = ?",
                           (checked.value, rfc3339(utcnow()), name))
    return changed


def set_password(path: Path, name: str, password: str, *, actor: str,
                 method: str = "scrypt") -> User:
    password_hash = generate_password_hash(validate_password(password), method=method)
    with _change(path, actor, "reset the password of", name) as connection:
        _users, found = _existing(connection, name)
        connection.execute("UPDATE users SET password_hash = ?, updated = ?, "
                           "session_epoch = session_epoch + 1 WHERE name = ?",
                           (password_hash, rfc3339(utcnow()), name))
    return found


def set_active(path: Path, name: str, active: bool, *, actor: str) -> User:
    """Enable or disable a login; a disabled one cannot log in and its sessions end."""
    with _change(path, actor, "enabled" if active else "disabled", name) as connection:
        users, found = _existing(connection, name)
        changed = User(name, found.role, active)
        _refuse_losing_the_last_admin(users, name, changed)
        connection.execute("UPDATE users SET active = ?, updated = ?, "
                           "session_epoch = session_epoch + ? WHERE name = ?",
                           (int(active), rfc3339(utcnow()), int(not active), name))
    return changed


def delete_user(path: Path, name: str, *, actor: str = COMMAND_LINE) -> bool:
    """Remove a login; True when it existed."""
    if not path.exists():
        return False
    try:
        with _change(path, actor, "removed", name) as connection:
            users, _found = _existing(connection, name)
            _refuse_losing_the_last_admin(users, name, None)
            connection.execute("DELETE FROM users WHERE name = ?", (name,))
    except UnknownUser:
        return False
    return True


# --- reading ---


def get_user(path: Path, name: str) -> User | None:
    """The login called `name`, active or disabled, or None (also when there is no file yet)."""
    if not path.exists():
        return None
    with closing(_connect(path)) as connection:
        row = connection.execute(f"SELECT {_COLUMNS} FROM users WHERE name = ?",
                                 (name,)).fetchone()
    return None if row is None else _user(row)


def active_user(path: Path, name: str) -> User | None:
    """The login called `name` if it may be used now (exists and is not disabled), else None."""
    user = get_user(path, name)
    return user if user is not None and user.active else None


def session_user(path: Path, name: str, session_id: str) -> User | None:
    """The active login `name` for the dashboard session `session_id`, or None when either the
    login cannot be used or the session was ended (logged out)."""
    if not path.exists():
        return None
    with closing(_connect(path)) as connection:
        row = connection.execute(
            f"SELECT {_COLUMNS} FROM users WHERE name = ? AND active AND NOT EXISTS "
            "(SELECT 1 FROM ended_sessions WHERE id = ?)", (name, session_id)).fetchone()
    return None if row is None else _user(row)


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


def end_session(path: Path, session_id: str) -> None:
    """Record the session as ended: its cookie, wherever a copy is, logs nobody in again."""
    now = utcnow()
    with closing(_connect(path)) as connection:
        connection.execute("INSERT OR IGNORE INTO ended_sessions (id, ended_us) VALUES (?, ?)",
                           (session_id, to_us(now)))
        connection.execute("DELETE FROM ended_sessions WHERE ended_us < ?",
                           (to_us(now - ENDED_SESSIONS_KEPT),))


@functools.cache
def _decoy_hash() -> str:
    return generate_password_hash("not anybody's password")


def authenticate(path: Path, name: str, password: str) -> User | None:
    """The user when `password` is theirs and the login is not disabled, else None.

    An unknown name is no different, in answer or in time: its password is checked against a
    decoy hash, so how long a refusal takes does not tell whether the name exists."""
    if not name or not password:
        return None
    row = None
    if path.exists():
        with closing(_connect(path)) as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS}, password_hash FROM users WHERE name = ?",
                (name,)).fetchone()
    if row is None:
        check_password_hash(_decoy_hash(), password)
        return None
    if not check_password_hash(row[4], password) or not row[2]:
        return None
    return _user(row[:4])


def list_users(path: Path) -> list[User]:
    """Every login, disabled ones too, by name (never their hashes)."""
    if not path.exists():
        return []
    with closing(_connect(path)) as connection:
        return _all_users(connection)


def recent_changes(path: Path, limit: int = 20) -> list[UserChange]:
    """The newest changes to the logins first."""
    if not path.exists():
        return []
    with closing(_connect(path)) as connection:
        rows = connection.execute(
            "SELECT time, actor, action, target, detail FROM user_changes "
            "ORDER BY rowid DESC LIMIT ?", (limit,)).fetchall()
    return [UserChange(*row) for row in rows]
