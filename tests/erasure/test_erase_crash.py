"""Crash safety: `kill -9` an erasure at several points, run it again, and get the state of an uninterrupted run.

The job's test hook ``FEATURELAKE_ERASE_CRASH_AT=<point>`` SIGKILLs the process at that point:
after a table's delete commit but before the registry heard of it (mid table), between two
tables, before Redis, and before the purge. The resumed run must find its own commit instead of
deleting again, skip every recorded step, and finish the same request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.erasure.world import SUBJECT, USERS, make_world

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["erase", "--entity", f"user_id={SUBJECT}", "--reason", "GDPR ticket 7", "--purge"]


def run(world, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("FEATURELAKE_ERASE_CRASH_AT", None)
    if crash_at:
        env["FEATURELAKE_ERASE_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", "--config", str(world.config), *ARGS],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env=env,
    )


def end_state(world, versions_before: dict[str, int]) -> dict:
    from deltalake import DeltaTable

    requests = world.registry.list_erasure_requests(world.project)
    assert len(requests) == 1 and requests[0].status == "succeeded"
    steps = sorted(
        (
            s.kind,
            s.target.replace(world.project, "PROJECT"),
            s.rows_removed,
            s.version_before,
            s.version_after,
        )
        for s in requests[0].steps
    )
    deletes = {}
    for table in world.tables():
        history = DeltaTable(world.lakehouse.table_uri(table)).history()
        deletes[table] = sum(1 for c in history if c["operation"] == "DELETE")
    return {
        "rows": {t: world.rows(t) for t in world.tables()},
        "commits": {t: world.lakehouse.version(t) - v for t, v in versions_before.items()},
        "deletes": deletes,
        "redis": world.redis_present(USERS),
        "steps": steps,
        "marks": [(m.name, m.version, m.state) for m in world.registry.training_set_erasures(world.project)],
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, redis_nodes) -> dict:
    world = make_world(tmp_path_factory.mktemp("erase_baseline"), redis_nodes)
    before = world.versions()
    out = run(world)
    assert out.returncode == 0, out.stderr
    state = end_state(world, before)
    world.registry.dispose()
    return state


@pytest.mark.parametrize(
    "point", ["after-commit:user_stats__v1", "between-tables", "before-redis", "before-purge"]
)
def test_kill_9_then_rerun_equals_an_uninterrupted_run(tmp_path, redis_nodes, uninterrupted, point) -> None:
    world = make_world(tmp_path, redis_nodes)
    before = world.versions()
    killed = run(world, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    (req,) = world.registry.list_erasure_requests(world.project)
    assert req.status == "running"  # killed: nobody recorded an end
    resumed = run(world)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming erasure request {req.request_id}" in resumed.stdout + resumed.stderr
    state = end_state(world, before)
    assert state == uninterrupted
    # Nothing else was deleted: only the subject is gone, once per table.
    assert state["redis"] == [u != SUBJECT for u in USERS]
    assert state["deletes"]["user_stats__v1"] == 1 and state["deletes"]["merchant_risk__v1"] == 0
    world.registry.dispose()
