"""The on-call roster: a TOML file users edit, validated at start with one-line errors.

```toml
[escalation]            # seconds before the next level is told, per priority; 0: never leaves
high = 60               # the screen. Defaults: high 60, medium 300, low 0.
medium = 300

[[person]]
name = "Dr X"
role = "clinician"      # monitor -> clinician -> director: the order of escalation
urls = ["mailto://user:pass@example.org?to=drx@example.org", "ntfys://ntfy.sh/clinic-north"]
sessions = ["room-*"]   # optional: only these sessions (shell patterns); default all
```
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vitals.alerts import Priority


class RosterError(ValueError):
    """The roster cannot be used; the message is one line naming the key."""


class Role(StrEnum):
    """The escalation levels, in order."""

    MONITOR = "monitor"
    CLINICIAN = "clinician"
    DIRECTOR = "director"

    @property
    def level(self) -> int:
        return list(Role).index(self)


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)]
    role: Role
    urls: Annotated[tuple[str, ...], Field(min_length=1)]
    sessions: tuple[str, ...] = ("*",)

    def covers(self, session: str) -> bool:
        return any(fnmatchcase(session, pattern) for pattern in self.sessions)


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    high: Annotated[float, Field(ge=0)] = 60.0
    medium: Annotated[float, Field(ge=0)] = 300.0
    low: Annotated[float, Field(ge=0)] = 0.0

    def delay(self, priority: Priority) -> float:
        """Seconds until the next level is told; 0: this priority is never sent off the screen."""
        return float(getattr(self, priority.value))


class Roster(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    escalation: Escalation = Escalation()
    person: tuple[Person, ...] = ()

    def at_level(self, level: int, session: str) -> list[Person]:
        return [p for p in self.person if p.role.level == level and p.covers(session)]

    def levels(self, session: str) -> list[int]:
        """The levels that have someone for this session, lowest first."""
        return sorted({p.role.level for p in self.person if p.covers(session)})


def parse_roster(text: str, source: str = "roster") -> Roster:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RosterError(f"{source}: not valid TOML: {err}") from err
    try:
        return Roster.model_validate(document)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise RosterError(f"{source}: {key}: {first['msg']}") from err


def load_roster(path: Path) -> Roster:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RosterError(f"VITALS_NOTIFY_ROSTER: cannot read {path}: {err.strerror}") from err
    return parse_roster(text, str(path))
