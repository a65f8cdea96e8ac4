"""The docs stay true to the code: every `make X` and `featurelake X` they name exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z_-]+):", (ROOT / "Makefile").read_text(), flags=re.M))


def test_make_targets_named_in_docs_exist() -> None:
    targets = _make_targets()
    missing = []
    for doc in DOCS:
        for name in re.findall(r"`make ([a-zA-Z_-]+)", doc.read_text()):
            if name not in targets:
                missing.append(f"{doc.name}: make {name}")
    assert not missing, f"docs name make targets that do not exist: {missing}"


def test_cli_commands_named_in_docs_exist() -> None:
    from featurelake.cli.main import _COMMANDS

    missing = []
    for doc in DOCS:
        for name in re.findall(r"`featurelake ([a-z][a-z-]*)", doc.read_text()):
            if name not in _COMMANDS:
                missing.append(f"{doc.name}: featurelake {name}")
    assert not missing, f"docs name CLI commands that do not exist: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make test" in (ROOT / "README.md").read_text()
