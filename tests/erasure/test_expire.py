"""Retention: `featurelake table expire` deletes partitions older than a view's retention, as runs.

Real Delta tables (delta-rs) and a SQLite registry; the view ``user_stats`` keeps 1 day.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.erasure.world import DAY0, USERS, make_world

pytestmark = pytest.mark.redis  # the world also fills Redis
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(tmp_path, redis_nodes):
    w = make_world(tmp_path, redis_nodes, retention_days=1)
    yield w
    w.registry.dispose()


def cli(world, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", "--config", str(world.config), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def partitions(world, table: str) -> list[str]:
    return sorted({f.partition_values["event_date"] for f in world.lakehouse.files(table)})


def test_dry_run_lists_and_a_pinned_training_set_makes_it_refuse(world) -> None:
    before = world.versions()
    dry = cli(world, "table", "expire", "--view", "user_stats", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    (plan,) = json.loads(dry.stdout)["tables"]
    # Run today (long after March 2026): every partition is older than 1 day.
    assert plan["partitions"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert (plan["files"], plan["rows"]) == (3, 3 * len(USERS))
    assert plan["blocking_training_sets"] == ["fraud_train@1"]
    refused = cli(world, "table", "expire", "--view", "user_stats")
    assert refused.returncode == 1
    assert (
        "refused: training sets fraud_train@1 pin files it would remove; rerun with --force" in refused.stderr
    )
    assert world.versions() == before
    assert world.registry.list_runs(world.project, kind="maintenance") == []
    bad = cli(world, "table", "expire", "--view", "merchant_risk")
    assert bad.returncode == 2 and "view 'merchant_risk' has no retention" in bad.stderr  # bad input


def test_expire_drops_old_partitions_in_one_commit_and_records_a_run(world) -> None:
    from featurelake.jobs.expire import run_expiry

    before = world.versions()
    kept = [r for r in world.rows("user_stats__v1") if "2026-03-01" not in r[1]]
    result = run_expiry(
        registry=world.registry,
        lakehouse=world.lakehouse,
        project=world.project,
        actor="ops",
        force=True,
        today=DAY0 + timedelta(days=2),  # cutoff 2026-03-02: only 2026-03-01 expires
    )
    (t,) = result.tables
    assert (t.table, t.partitions, t.rows_removed) == ("user_stats__v1", ["2026-03-01"], len(USERS))
    assert (t.version_before, t.version_after) == (before["user_stats__v1"], before["user_stats__v1"] + 1)
    assert partitions(world, "user_stats__v1") == ["2026-03-02", "2026-03-03"]
    assert sorted(world.rows("user_stats__v1")) == sorted(kept)
    assert world.versions() == {**before, "user_stats__v1": before["user_stats__v1"] + 1}
    # A partition-level delete: whole files leave, nothing is rewritten.
    commit = world.lakehouse.history("user_stats__v1", limit=1)[0]
    assert commit["operationMetrics"]["num_added_files"] == 0
    assert commit["operationMetrics"]["num_removed_files"] == 1
    (run,) = world.registry.list_runs(world.project, kind="maintenance")
    assert (run.status, run.target, run.rows_out, run.report["partitions"]) == (
        "succeeded",
        "user_stats__v1",
        len(USERS),
        ["2026-03-01"],
    )
    assert run.report["training_sets_affected"] == ["fraud_train@1"]
    # Nothing left to expire: a second run changes nothing.
    again = run_expiry(
        registry=world.registry,
        lakehouse=world.lakehouse,
        project=world.project,
        actor="ops",
        today=DAY0 + timedelta(days=2),
    )
    assert (
        again.tables[0].files == 0
        and world.lakehouse.version("user_stats__v1") == before["user_stats__v1"] + 1
    )
