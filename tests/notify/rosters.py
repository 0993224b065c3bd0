"""Rosters for tests, built as models: each test states who is on call, not the file syntax
(which `test_roster.py` tests on its own)."""

from __future__ import annotations

import json

from notify.roster import Escalation, Person, Role, Roster


def on_call(*people: Person, **delays: float) -> Roster:
    """A roster of `people`, escalating after `delays` (seconds per priority, as in the file)."""
    return Roster(escalation=Escalation(**delays), person=people)


def person(name: str, role: Role, *urls: str, sessions: tuple[str, ...] = ("*",)) -> Person:
    return Person(name=name, role=role, urls=urls, sessions=sessions)


def roster_toml(roster: Roster) -> str:
    """`roster` as the TOML file a user writes (a JSON string or list is valid TOML)."""
    lines = ["[escalation]", *(f"{key} = {value}"
                               for key, value in roster.escalation.model_dump().items())]
    for someone in roster.person:
        lines += ["", "[[person]]", *(f"{key} = {json.dumps(value)}"
                                      for key, value in someone.model_dump(mode="json").items())]
    return "\n".join(lines) + "\n"
