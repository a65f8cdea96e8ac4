"""The installed distribution: one top-level package, ``featurelake``, and nothing else.

Builds the wheel from a copy of the tracked files (so the checkout gains no build/ folder),
installs it into a fresh venv whose only other path is the project venv's site-packages (for
the dependencies; the editable install's finder there is not activated), and runs it from a
folder outside the repository.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_FOLDERS = {
    "featurelake": "featurelake",
    "lakehouse": "featurelake/lakehouse",
    "registry": "featurelake/registry",
    "jobs": "featurelake/jobs",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((ROOT / rel).read_bytes())
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("featurelake-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    site = next((env / "lib").glob("python3.*/site-packages"))
    # dependencies from the project venv, as a plain path: its .pth files (the editable finder) stay inactive
    (site / "zz_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env


def _run(venv: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_wheel_has_one_top_level_package_and_every_module(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"featurelake", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, tops
    # every module of every mapped folder is inside (a sub-package missing from pyproject fails here)
    missing = []
    for folder, target in SOURCE_FOLDERS.items():
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".ini", ".mako"} and "__pycache__" not in path.parts:
                inside = f"{target}/{path.relative_to(ROOT / folder).as_posix()}"
                if inside not in names:
                    missing.append(inside)
    assert not missing, f"files missing from the wheel: {missing}"
    assert "featurelake/registry/migrations/alembic.ini" in names
    # the console's templates and vendored assets ship beside its modules
    for rel in ("templates/base.html", "templates/lineage.html", "static/console.css", "static/lineage.js"):
        assert f"featurelake/console/{rel}" in names, rel
    for vendored in ("cytoscape.min.js", "dagre.min.js", "cytoscape-dagre.js", "cytoscape.LICENSE"):
        assert f"featurelake/console/static/vendor/{vendored}" in names, vendored
    assert any(n.startswith("featurelake/registry/migrations/versions/0001_") for n in names)
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["featurelake"]


def test_installed_wheel_imports_only_featurelake(venv: Path, tmp_path: Path) -> None:
    out = _run(
        venv,
        "import sys, featurelake; print(featurelake.__file__); print('pyspark' in sys.modules); "
        "print(sorted(featurelake.__all__)[:3])",
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    path, spark_loaded, _ = out.stdout.splitlines()
    assert str(venv) in path and str(ROOT) not in path
    assert spark_loaded == "False"
    for old in ("jobs", "lakehouse", "registry"):
        gone = _run(venv, f"import {old}", tmp_path)
        assert gone.returncode != 0 and "ModuleNotFoundError" in gone.stderr, (old, gone.stdout, gone.stderr)


def test_installed_wheel_public_api_resolves(venv: Path, tmp_path: Path) -> None:
    code = (
        "import featurelake\n"
        "for name in featurelake.__all__:\n"
        "    obj = getattr(featurelake, name)\n"
        "    assert obj.__module__.startswith('featurelake'), (name, obj.__module__)\n"
        "print(len(featurelake.__all__))\n"
    )
    out = _run(venv, code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 10


def test_installed_cli_runs(venv: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(venv / "bin" / "featurelake"), "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "backfill" in out.stdout and "training-set" in out.stdout


def test_installed_wheel_creates_a_registry(venv: Path, tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    code = (
        "from featurelake.registry import open_registry\n"
        f"reg = open_registry('sqlite:///{db}')\n"
        "print(reg.migrate())\n"
        "print(reg.list_views('default'))\n"
    )
    out = _run(venv, code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert db.exists()
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master where type='table'")}
    assert {"fl_alembic_version", "fl_audit_log", "fl_feature_view_versions"} <= tables, tables
