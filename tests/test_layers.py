"""The layer contract of DESIGN.md, checked on the source: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level modules it must never import (at any depth, lazily or not)
FORBIDDEN = {
    "featurelake": {"lakehouse", "registry", "jobs", "pyspark"},
    "lakehouse": {"registry", "jobs"},
    "registry": {"lakehouse", "jobs", "pyspark", "delta", "deltalake"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        hit = _imports(path) & FORBIDDEN[package]
        if hit:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(hit)}")
    assert not bad, "layer violations (see DESIGN.md):\n" + "\n".join(bad)


def test_nothing_imports_jobs_outside_jobs() -> None:
    bad = [
        str(p.relative_to(ROOT))
        for pkg in ("featurelake", "lakehouse", "registry", "feature_repo")
        for p in (ROOT / pkg).rglob("*.py")
        if "jobs" in _imports(p)
    ]
    assert not bad, f"only the composition root may import jobs/: {bad}"


def test_pyspark_is_not_imported_at_module_level_by_the_cli_start() -> None:
    import subprocess
    import sys

    code = "import sys, jobs.cli.main; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
