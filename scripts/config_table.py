"""Rewrites the settings table in docs/configuration.md from the settings' own descriptions.

Run it after adding or changing a setting: `.venv/bin/python scripts/config_table.py`
(tests/test_settings_docs.py fails while the page and the code differ).
"""

from __future__ import annotations

from pathlib import Path

from vitals.settings import configuration_table

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
BEGIN = "<!-- settings table: made by scripts/config_table.py -->\n"
END = "<!-- end of settings table -->\n"


def with_table(page: str, table: str) -> str:
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}{table}{END}{tail}"


if __name__ == "__main__":
    PAGE.write_text(with_table(PAGE.read_text(), configuration_table()))
