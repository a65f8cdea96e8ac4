"""Concurrent applies end consistent: no duplicate or missing version numbers, no lost version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from race_worker import definitions

from featurelake.registry import Registry
from featurelake.registry.database import write_transaction
from featurelake.registry.stores import definitions as definitions_store
from featurelake.registry.stores.projects import stable_hash
from featurelake.registry.versioning import canonical_view

WORKER = Path(__file__).with_name("race_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _race(url: str, project: str, *, workers: int, steps: int) -> list[str]:
    start = time.time() + 3.0  # every process imported and connected before the gun
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{WORKER.parent}"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), url, project, str(start), str(steps), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(workers)
    ]
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outputs.append(out)
    return outputs


def _check_consistent(reg: Registry, project: str, steps: int) -> None:
    versions = reg.list_view_versions(project, "race_view")
    pairs = [(v.major, v.minor) for v in versions]
    assert len(pairs) == len(set(pairs)), f"duplicate version numbers: {pairs}"
    majors = sorted({m for m, _ in pairs})
    assert majors == list(range(1, len(majors) + 1)), f"gap in major versions: {majors}"
    for major in majors:
        minors = sorted(n for m, n in pairs if m == major)
        assert minors == list(range(len(minors))), f"gap in minor versions of {major}: {minors}"
    assert all(v.table_name == f"race_view__v{v.major}" for v in versions)
    # no lost version: every definition either process applied is stored
    entities = {e.name: e for e in definitions(0).entities}
    stored = {v.definition_hash for v in versions}
    for step in range(steps):
        assert stable_hash(canonical_view(definitions(step).views[0], entities)) in stored
    # consecutive versions always differ (a lost race never re-inserts a no-op)
    hashes = [v.definition_hash for v in versions]
    assert all(a != b for a, b in zip(hashes, hashes[1:], strict=False))
    created = reg.audit(project=project, action="view_version.create", limit=10_000)
    assert len(created) == len(versions)


class RaceContract:
    def test_same_repo_applied_by_four_processes_at_once_gives_one_version(
        self, url: str, reg: Registry, project: str
    ) -> None:
        outputs = _race(url, project, workers=4, steps=1)
        kinds = sorted(line.split()[1] for out in outputs for line in out.splitlines())
        assert kinds == ["added", "unchanged", "unchanged", "unchanged"]
        assert [v.version for v in reg.list_view_versions(project, "race_view")] == ["1.0"]
        assert [s.version for s in reg.list_service_versions(project, "race_service")] == [1]

    def test_racing_sequences_of_changes_stay_consistent(self, url: str, reg: Registry, project: str) -> None:
        _race(url, project, workers=2, steps=6)
        _check_consistent(reg, project, steps=6)


class TestSQLiteRace(RaceContract):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'race.db'}"

    @pytest.fixture
    def reg(self, url: str):  # type: ignore[no-untyped-def]
        from featurelake.registry import open_registry

        reg = open_registry(url)
        yield reg
        reg.dispose()


@pytest.mark.postgres
class TestPostgresRace(RaceContract):
    @pytest.fixture
    def url(self, fresh_pg_url: str, pg_registry: Registry) -> str:
        return fresh_pg_url

    @pytest.fixture
    def reg(self, pg_registry: Registry) -> Registry:
        return pg_registry


@pytest.mark.postgres
def test_apply_that_planned_before_a_concurrent_commit_reports_what_it_did(
    pg_registry: Registry, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """READ COMMITTED interleaving: B plans while A's apply is uncommitted, A commits, B writes.

    Without serializing applies per project, B's plan says "added" but its writes find A's
    rows and do nothing: B would report a change it did not make.
    """
    defs = definitions(0)
    a_committed = threading.Event()
    original_plan = definitions_store.plan

    def plan_then_wait(conn, project_name, d):  # type: ignore[no-untyped-def]
        result = original_plan(conn, project_name, d)
        if threading.current_thread().name == "apply-b":
            assert a_committed.wait(30)
        return result

    outcome: dict = {}
    with write_transaction(pg_registry._engine) as conn_a:
        plan_a = definitions_store.apply(conn_a, project, defs, actor="a")
        monkeypatch.setattr(definitions_store, "plan", plan_then_wait)

        def run_b() -> None:
            try:
                outcome["plan"] = pg_registry.apply_definitions(project, defs, actor="b")
            except BaseException as err:  # noqa: BLE001 - asserted below
                outcome["error"] = err

        b = threading.Thread(target=run_b, name="apply-b")
        b.start()
        time.sleep(0.5)  # let B plan (or block) while A is uncommitted
    a_committed.set()
    b.join(60)
    assert not b.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert [c.kind for c in plan_a.changes if c.object_type == "view"] == ["added"]
    assert {c.kind for c in outcome["plan"].changes} == {"unchanged"}
    assert [v.version for v in pg_registry.list_view_versions(project, "race_view")] == ["1.0"]


@pytest.mark.postgres
@pytest.mark.slow
def test_two_featurelake_apply_processes_update_both_registries_consistently(
    fresh_pg_url: str, pg_registry: Registry, tmp_path: Path
) -> None:
    """`featurelake apply` of the demo repo twice at once, sharing PostgreSQL with Feast's registry.

    Feast's SQL registry alone raises a unique violation on its version history when two applies
    race; the apply lock makes the second a no-op on both registries.
    """
    import shutil

    import sqlalchemy as sa

    repo = tmp_path / "feature_repo"
    shutil.copytree(ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("__pycache__"))
    project = f"race_{os.getpid()}"

    def cli(i: int) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURELAKE_")}
        env.update(
            FEATURELAKE_REGISTRY_URL=fresh_pg_url,
            FEATURELAKE_PROJECT=project,
            FEATURELAKE_HOME=str(tmp_path / f"home{i}"),
            FEATURELAKE_ACTOR=f"ci-{i}",
        )
        return subprocess.Popen(
            [sys.executable, "-m", "featurelake.cli.main", "apply", "--repo", str(repo), "-o", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )

    procs = [cli(0), cli(1)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    kinds = sorted(
        ",".join(sorted({c["kind"] for c in json.loads(out)["changes"] if c["object_type"] == "view"}))
        for _, out, _ in results
    )
    assert kinds == ["added", "unchanged"], kinds  # one did the work, the other found it done
    for view in ("user_transaction_stats", "merchant_risk_stats", "user_profile"):
        assert [v.version for v in pg_registry.list_view_versions(project, view)] == ["1.0"]
    with pg_registry.engine.connect() as conn:
        feast_views = (
            conn.execute(
                sa.text("SELECT feature_view_name FROM feature_views WHERE project_id = :p ORDER BY 1"),
                {"p": project},
            )
            .scalars()
            .all()
        )
    assert feast_views == ["merchant_risk_stats", "user_profile", "user_transaction_stats"]
