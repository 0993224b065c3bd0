"""The roster file: valid rosters load, every mistake is one line naming the key."""

from __future__ import annotations

import pytest

from notify.roster import Role, RosterError, load_roster, parse_roster
from tests.notify.rosters import on_call, person, roster_toml
from vitals.alerts import Priority

GOOD = """
[escalation]
high = 5

[[person]]
name = "Nurse A"
role = "monitor"
urls = ["json://127.0.0.1:9/a"]

[[person]]
name = "Dr X"
role = "clinician"
urls = ["mailto://u:p@localhost?to=x@example.org"]
sessions = ["room-*"]
"""


def test_a_valid_roster_loads_with_defaults_for_what_it_leaves_out() -> None:
    roster = parse_roster(GOOD)
    assert [p.role for p in roster.person] == [Role.MONITOR, Role.CLINICIAN]
    assert roster.escalation.delay(Priority.HIGH) == 5
    assert roster.escalation.delay(Priority.MEDIUM) == 300
    assert roster.escalation.delay(Priority.LOW) == 0
    assert [p.name for p in roster.at_level(1, "room-3")] == ["Dr X"]
    assert roster.at_level(1, "home-1") == []


@pytest.mark.parametrize(("text", "error"), [
    ("[[person]]\nname = 'A'\nrole = 'janitor'\nurls = ['json://x']",
     "roster: person.0.role: Input should be 'monitor', 'clinician' or 'director'"),
    ("[[person]]\nname = 'A'\nrole = 'monitor'", "roster: person.0.urls: Field required"),
    ("[[person]]\nname = 'A'\nrole = 'monitor'\nurls = []",
     "roster: person.0.urls: Tuple should have at least 1 item"),
    ("[escalation]\nhigh = -1", "roster: escalation.high: Input should be greater than or equal"),
    ("[escalation]\nurgent = 1", "roster: escalation.urgent: Extra inputs are not permitted"),
    ("[[persons]]\nname = 'A'", "roster: persons: Extra inputs are not permitted"),
    ("person = [", "roster: not valid TOML"),
])
def test_a_wrong_roster_is_one_line_naming_the_key(text: str, error: str) -> None:
    with pytest.raises(RosterError) as raised:
        parse_roster(text)
    assert str(raised.value).startswith(error)
    assert "\n" not in str(raised.value)


def test_a_missing_roster_file_names_the_setting(tmp_path) -> None:
    with pytest.raises(RosterError, match=r"^VITALS_NOTIFY_ROSTER: cannot read"):
        load_roster(tmp_path / "absent.toml")


def test_the_shipped_example_roster_is_valid() -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "deploy" / "notify" / "roster.example.toml"
    roster = load_roster(example)
    assert {p.role for p in roster.person} == set(Role)


def test_a_roster_the_tests_write_as_a_file_reads_back_as_the_same_roster() -> None:
    written = on_call(person("Nurse A", Role.MONITOR, "json://127.0.0.1:9/a"),
                      person("Dr X", Role.CLINICIAN, "json://127.0.0.1:9/x", sessions=("room-*",)),
                      high=5, low=30)
    assert parse_roster(roster_toml(written)) == written
