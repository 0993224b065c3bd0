"""docs/configuration.md shows every setting as the code describes it."""

from __future__ import annotations

import sys
from pathlib import Path

from vitals.settings import Settings, configuration_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from config_table import PAGE, with_table


def test_the_configuration_page_is_the_table_made_from_the_settings() -> None:
    page = PAGE.read_text()
    assert with_table(page, configuration_table()) == page, (
        "docs/configuration.md differs from the settings: run scripts/config_table.py")


def test_the_table_has_one_row_per_setting_with_its_description() -> None:
    rows = configuration_table().splitlines()[2:]
    assert len(rows) == len(Settings.model_fields)
    for row, (name, info) in zip(rows, Settings.model_fields.items(), strict=True):
        assert row.startswith(f"| `VITALS_{name.upper()}` | {info.description} |")
