"""The layer contract of DESIGN.md / ARCHITECTURE.md, checked on the source: who may import whom.

Every module of the one installed package ``featurelake`` belongs to a room; a room may import
only the rooms listed for it. Imports inside functions count (a lazy import is still a
dependency); imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# folder in the repository -> the package it installs as (pyproject's package-dir)
PACKAGE_DIRS = {
    "featurelake": "featurelake",
    "lakehouse": "featurelake.lakehouse",
    "registry": "featurelake.registry",
    "jobs": "featurelake.jobs",
}

# room -> module prefixes that belong to it (longest prefix wins)
ROOMS = {
    "kernel": [
        "featurelake.errors",
        "featurelake.spec",
        "featurelake.repo",
        "featurelake.actor",
        "featurelake.monitors",
        "featurelake.expectations",
        "featurelake.stream_spec",
        "featurelake.config",
    ],
    "lakehouse": ["featurelake.lakehouse"],
    "registry": ["featurelake.registry"],
    "localstack": ["featurelake.localstack"],
    "jobs": ["featurelake.jobs"],
    "cli": ["featurelake.cli"],
    "server": ["featurelake.server"],
    "feast_plugins": ["featurelake.feast_plugins"],
    "monitoring": ["featurelake.monitoring"],
    "console": ["featurelake.console"],
    "access_control": ["featurelake.access_control"],
}

# room -> rooms it may import (besides itself). The application rooms (cli, server,
# feast_plugins) sit on top of jobs/, the composition root; nothing below imports them or jobs/.
ALLOWED = {
    "kernel": set(),
    "lakehouse": {"kernel"},
    "registry": {"kernel"},
    "localstack": {"kernel"},
    "access_control": {"kernel"},
    "jobs": {"kernel", "lakehouse", "registry", "localstack"},
    "server": {"kernel", "jobs", "lakehouse", "registry", "access_control"},
    "feast_plugins": {"kernel", "jobs", "lakehouse", "registry"},
    "monitoring": {"kernel", "jobs", "lakehouse", "registry"},
    "console": {"kernel", "jobs", "lakehouse", "registry", "access_control"},
    "cli": {
        "kernel",
        "jobs",
        "lakehouse",
        "registry",
        "localstack",
        "server",
        "monitoring",
        "console",
        "access_control",
    },
}

# third-party engines a room must never import
ENGINES_FORBIDDEN = {
    "kernel": {"pyspark", "deltalake", "delta"},
    "registry": {"pyspark", "deltalake", "delta"},
}

OLD_TOP_LEVEL = {"jobs", "lakehouse", "registry"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if "versions" in parts:  # Alembic revision scripts, loaded by Alembic from files
                continue
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _room(module: str) -> str | None:
    best = None
    for room, prefixes in ROOMS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best[1])
            ):
                best = (room, prefix)
    return best[0] if best else None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of what ``path`` imports at run time (modules, or the package of a name)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_nodes(tree)
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                names.add(sub if sub in MODULES else target)
    return names


GRAPH = {module: {m for m in _imports(path, module) if m in MODULES} for module, path in MODULES.items()}


def test_every_module_is_in_a_room() -> None:
    homeless = sorted(m for m in MODULES if m != "featurelake" and _room(m) is None)
    assert not homeless, f"modules in no room of ROOMS (add them or move them): {homeless}"


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_room_imports_only_what_it_may(room: str) -> None:
    bad = []
    for module, path in MODULES.items():
        if _room(module) != room:
            continue
        raw = _imports(path, module)
        for target in sorted(raw):
            top = target.split(".")[0]
            if top in OLD_TOP_LEVEL:
                bad.append(f"{path.relative_to(ROOT)} imports {target} (use featurelake.{target})")
            if top in ENGINES_FORBIDDEN.get(room, set()):
                bad.append(f"{path.relative_to(ROOT)} imports {target} (no engine in the {room} room)")
            other = _room(target) if target in MODULES else None
            if other and other != room and other not in ALLOWED[room]:
                bad.append(f"{path.relative_to(ROOT)} ({room}) imports {target} ({other})")
    assert not bad, "layer violations (see ARCHITECTURE.md):\n" + "\n".join(bad)


def test_nothing_below_the_application_imports_jobs() -> None:
    bad = [
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if _room(t) == "jobs" and _room(m) in {"kernel", "lakehouse", "registry", "localstack"}
    ]
    bad += [
        str(p.relative_to(ROOT))
        for p in (ROOT / "feature_repo").rglob("*.py")
        if any(n.split(".")[:2] == ["featurelake", "jobs"] for n in _imports(p, "feature_repo"))
    ]
    assert not bad, f"only the application rooms may import the composition root (featurelake.jobs): {bad}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_detector_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    cycles = _cycles(GRAPH)
    assert not cycles, "import circles (break them with a shared lower module):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_old_top_level_imports_anywhere() -> None:
    """tests/, bench/ and feature_repo/ import featurelake.* too (an installed wheel has nothing else)."""
    bad = []
    for folder in ("tests", "bench", "feature_repo"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in _imports(path, f"{folder}.x"):
                if name.split(".")[0] in OLD_TOP_LEVEL:
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "code",
    [
        "import sys, featurelake; print('pyspark' in sys.modules)",
        "import sys, featurelake.cli.main; print('pyspark' in sys.modules)",
    ],
)
def test_import_starts_no_spark(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_public_api_list_matches_its_lazy_table() -> None:
    import featurelake

    assert sorted(featurelake.__all__) == sorted(featurelake._PUBLIC)
