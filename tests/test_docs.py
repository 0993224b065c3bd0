"""The documentation holds together: every relative link in README.md and docs/ reaches a file
(and a heading, when it names one), the README's module map names every top-level folder, and the
README's test command is the one CI runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

FENCED_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def prose(markdown: str) -> str:
    """The text without code, where brackets and hashes are not links or headings."""
    return INLINE_CODE.sub("", FENCED_BLOCK.sub("", markdown))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = INLINE_CODE.sub(lambda m: m.group(0).strip("`"), heading).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCED_BLOCK.sub("", markdown)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text()))
            if not EXTERNAL.match(target)]


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Zero loss", "zero-loss"),
    ("Using InfluxDB 2.x instead", "using-influxdb-2x-instead"),
    ("Accounts and what the broker enforces (`deploy/mosquitto/acl`)",
     "accounts-and-what-the-broker-enforces-deploymosquittoacl"),
    ("The BLE bridge (`vitals bridge ble`)", "the-ble-bridge-vitals-bridge-ble"),
    ("Devices: standard Bluetooth cuffs", "devices-standard-bluetooth-cuffs"),
])
def test_a_heading_anchor_is_githubs_slug_of_it(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_repeated_heading_gets_a_numbered_anchor() -> None:
    assert anchors("# Devices\n\n## Devices\n") == {"devices", "devices-1"}


def test_headings_and_links_inside_code_are_not_counted() -> None:
    page = "# Title\n\n```toml\n# a comment\n[a](missing.md)\n```\n`[b](missing.md)`\n"
    assert anchors(page) == {"title"}
    assert LINK.findall(prose(page)) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_its_heading(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_pages_do_link_to_each_other() -> None:
    # The guard above must look at something: the README links to every page of docs/.
    linked = {(ROOT / target.partition("#")[0]).resolve()
              for target in relative_links(ROOT / "README.md")}
    pages = {p.resolve() for p in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()


def module_map_folders(readme: str) -> set[str]:
    """The folders named in the first column of the README's module map."""
    table = readme.split("| folder | what it is |", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^\| `([^`/]+)/` \|", table, re.MULTILINE))


def test_the_module_map_names_every_top_level_folder_and_no_other() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    folders = {path.split("/", 1)[0] for path in tracked if "/" in path}
    assert module_map_folders((ROOT / "README.md").read_text()) == folders


def test_the_readmes_test_command_is_the_one_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^scripts/test\.sh\s", readme, re.MULTILINE)
    assert "exec scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
