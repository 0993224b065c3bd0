"""The tree shows the architecture: the shared core wires no role together but through its CLI."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("ingest", "dashboard", "simulators", "notify", "bridges")


def imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


CORE = sorted(p for p in (ROOT / "vitals").rglob("*.py") if "cli" not in p.relative_to(ROOT).parts)


@pytest.mark.parametrize("module", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_shared_core_imports_no_role_only_its_cli_wires_them(module: Path) -> None:
    assert not imported_packages(module) & set(ROLES)


def test_the_cli_is_where_the_roles_are_wired() -> None:
    # The guard above must look at something: the roles are imported, lazily, by the CLI.
    wired = set().union(*(imported_packages(p) for p in (ROOT / "vitals" / "cli").glob("*.py")))
    assert set(ROLES) <= wired


def test_the_image_copies_every_package_the_project_installs() -> None:
    # `pip install .` in the Dockerfile installs only what was copied: a package left out
    # (the notifier once was) imports in the tests and fails in the container.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = pyproject["tool"]["setuptools"]["packages"]["find"]
    packages = {name.rstrip("*") for name in find["include"]}
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    copied = {line.split()[1] for line in dockerfile if line.startswith("COPY ")}
    assert packages <= copied
