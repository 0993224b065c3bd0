"""`VITALS_TIMEZONE`: the clinic's zone, checked at start-up."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from vitals.cli import main
from vitals.settings import Settings


def test_the_default_zone_is_utc():
    assert Settings().zone.key == "UTC"


def test_an_iana_zone_is_taken():
    assert Settings(timezone="Europe/Berlin").zone.key == "Europe/Berlin"


def test_an_unknown_zone_fails_the_settings_naming_it():
    with pytest.raises(ValidationError, match="unknown time zone 'Europe/Atlantis'"):
        Settings(timezone="Europe/Atlantis")


def test_a_command_with_an_unknown_zone_fails_fast_naming_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("VITALS_TIMEZONE", "Europe/Atlantis")
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path))

    result = CliRunner().invoke(main, ["export", "s1"])

    assert result.exit_code != 0
    [error] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: VITALS_TIMEZONE:")
    assert "unknown time zone 'Europe/Atlantis'" in error
