"""Feast's own universal offline-store and materialization tests, run against featurelake's plugins.

Feast's tests are not part of this project: they are read from ``$FEATURELAKE_FEAST_TESTS``
(default ``<repo>/../shared/feast-tests/sdk/python``, an unmodified copy of Feast's
``sdk/python/tests``; see its README). This test runs the files in :data:`FEAST_FILES` there, in a
pytest subprocess whose ``FULL_REPO_CONFIGS_MODULE`` is ``featurelake_feast_repo_configs`` (next
to this file): Feast's data-source creators are replaced by ones that write Delta tables,
unpartitioned and partitioned by ``event_date``, read by featurelake's offline store, with the
local stack's Redis cluster as the online store.

It passes only if every Feast test passes except those in :data:`EXPECTED_NOT_PASSING`, each with
its reason; an unexpected failure, error or skip fails it, and so does an expected one that now
passes (the list must be kept exact). It prints the counts. A missing Feast test folder is a
failure, never a skip.

Optional imports of Feast's test modules: testcontainers, minio, python-keycloak, grpcio and
pytest-xdist (for the ``worker_id`` fixture) are installed from PyPI (the ``dev`` extra); the
containers they describe (MinIO, Keycloak, MySQL, PostgreSQL) are never started by these files,
so nothing is stubbed. ``FEAST_IS_LOCAL_TEST=True`` keeps Feast's configuration module from
importing the cloud backends (BigQuery, Snowflake, Redshift), which cannot run here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FEAST_TESTS_ENV = "FEATURELAKE_FEAST_TESTS"
DEFAULT_FEAST_TESTS = REPO_ROOT.parent / "shared" / "feast-tests" / "sdk" / "python"

FEAST_FILES = (
    "tests/integration/offline_store/test_universal_historical_retrieval.py",
    "tests/integration/offline_store/test_universal_materialization.py",
    "tests/integration/offline_store/test_persist.py",
    "tests/integration/offline_store/test_offline_write.py",
    "tests/integration/offline_store/test_push_features_to_offline_store.py",
    "tests/integration/materialization/test_universal_materialization.py",
)

# Feast tests that do not pass, with the reason: "file::test[creator-params]" exactly, or a
# prefix ending in "*".
EXPECTED_NOT_PASSING: dict[str, str] = {
    "test_universal_historical_retrieval.py::test_historical_features_with_entities_from_query[*": (
        "skipped by Feast itself for every non-SQL source ('Offline source is not sql-based'): it "
        "queries a SQL table (BigQuery, Snowflake, Redshift...), a backend featurelake does not provide"
    ),
}


def _feast_tests_root() -> Path:
    root = Path(os.environ.get(FEAST_TESTS_ENV, str(DEFAULT_FEAST_TESTS)))
    if not (root / "tests" / "conftest.py").is_file():
        pytest.fail(
            f"Feast's test suite is not at {root} (no tests/conftest.py there): set {FEAST_TESTS_ENV} to the "
            "folder holding Feast's sdk/python/tests (default ../shared/feast-tests/sdk/python next to the repo)",
            pytrace=False,
        )
    return root


_PARAM = re.compile(r"ParameterSet\(values=\(LOCAL:([A-Za-z]+):[^)]*\), marks=\[[^\]]*\], id=None\)")


def _key(case: ET.Element) -> str:
    """``file.py::test[creator-params]`` from a junit testcase (Feast's ids are long repr strings)."""
    module = case.get("classname", "").rsplit(".", 1)[-1]
    name = _PARAM.sub(lambda m: m.group(1), case.get("name", ""))
    return f"{module}.py::{name}"


def _outcomes(xml_path: Path) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                lines = (child.get("message") or "").splitlines()
                outcome, message = child.tag, (lines[0][:300] if lines else "")
                break
        out[_key(case)] = (outcome, message)
    return out


def _matches(key: str, pattern: str) -> bool:
    return key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern


def _expected(key: str) -> str | None:
    return next((p for p in EXPECTED_NOT_PASSING if _matches(key, p)), None)


def _run_feast_suite(
    root: Path, redis_nodes: list[str], tmp: Path
) -> tuple[dict[str, tuple[str, str]], str, float]:
    xml_path = tmp / "feast-junit.xml"
    ini = tmp / "pytest.ini"
    ini.write_text("[pytest]\n")  # Feast's folder has no ini; ours must not apply to its tests
    env = {
        **os.environ,
        "FULL_REPO_CONFIGS_MODULE": "featurelake_feast_repo_configs",
        "FEAST_IS_LOCAL_TEST": "True",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(root)]),
        "FEATURELAKE_CONFORMANCE_REDIS": ",".join(redis_nodes[:3]),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "GX_ANALYTICS_ENABLED": "false",
        "FEATURELAKE_HOME": str(tmp / "featurelake-home"),
    }
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--integration",
        "-c",
        str(ini),
        "--rootdir",
        str(root),
        "-p",
        "no:cacheprovider",
        "-q",
        "--tb=line",
        "-W",
        "ignore::DeprecationWarning",
        f"--junitxml={xml_path}",
        *FEAST_FILES,
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    if not xml_path.exists():
        pytest.fail(f"Feast's suite did not run (exit {proc.returncode}):\n{tail}", pytrace=False)
    return _outcomes(xml_path), tail, elapsed


@pytest.mark.spark
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_feast_universal_suite_against_featurelake(redis_nodes: list[str], tmp_path: Path) -> None:
    root = _feast_tests_root()
    outcomes, tail, elapsed = _run_feast_suite(root, redis_nodes, tmp_path)
    assert outcomes, f"no Feast test ran:\n{tail}"

    passed = sorted(k for k, (o, _) in outcomes.items() if o == "passed")
    unexpected = {k: v for k, v in outcomes.items() if v[0] != "passed" and _expected(k) is None}
    now_passing = [k for k in passed if _expected(k) is not None]
    unused = [p for p in EXPECTED_NOT_PASSING if not any(_matches(k, p) for k in outcomes)]
    allowed = {k: v for k, v in outcomes.items() if v[0] != "passed" and _expected(k) is not None}

    print(f"\nFeast conformance: {len(passed)} passed of {len(outcomes)} Feast tests in {elapsed:.0f} s")
    for key, (outcome, _) in sorted(allowed.items()):
        print(f"  expected {outcome}: {key}\n    reason: {EXPECTED_NOT_PASSING[_expected(key) or '']}")
    problems: list[str] = []
    problems += [f"{k}: unexpected {o}: {m}" for k, (o, m) in sorted(unexpected.items())]
    problems += [f"{k}: passes now; remove it from EXPECTED_NOT_PASSING" for k in now_passing]
    problems += [f"EXPECTED_NOT_PASSING pattern {p!r} matches no Feast test; remove it" for p in unused]
    assert not problems, "\n".join(problems) + f"\n--- end of Feast's output ---\n{tail}"


def test_junit_keys_name_the_creator() -> None:
    """The key of a parametrized Feast test names our creator and keeps its other parameters."""
    case = ET.fromstring(
        '<testcase classname="tests.integration.offline_store.test_persist" name="test_x[ParameterSet('
        'values=(LOCAL:FeaturelakePartitionedDelta:redis_cluster:python_fs:False,), marks=[], id=None)-full:True]"/>'
    )
    assert _key(case) == "test_persist.py::test_x[FeaturelakePartitionedDelta-full:True]"
    assert _expected(
        "test_universal_historical_retrieval.py::test_historical_features_with_entities_from_query[A-B]"
    )
    assert _expected("test_persist.py::test_x[A]") is None


def test_a_missing_feast_suite_fails_with_the_variable_named(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FEAST_TESTS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(pytest.fail.Exception, match=FEAST_TESTS_ENV):
        _feast_tests_root()
