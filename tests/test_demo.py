"""The README's main job, end to end: `featurelake demo run` as a user runs it, then `online check`.

Two processes, as in the README: the demo (generate -> apply -> backfill every view -> describe ->
lineage -> materialize -> online lookup -> training set and its reproduction), then
`featurelake online check` against what the demo wrote. The demo's data is smaller than the
default (the path is the same); Redis is the stack's cluster under a project of its own, since
`make demo`'s own start of the local Redis cluster would collide with the running stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.spark, pytest.mark.redis, pytest.mark.slow]


@pytest.mark.timeout(900)
def test_demo_runs_end_to_end_and_online_matches_offline(tmp_path: Path, redis_nodes: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURELAKE_")}
    env.update(
        FEATURELAKE_HOME=str(tmp_path / "home"),
        FEATURELAKE_PROJECT=f"demo_{uuid.uuid4().hex[:8]}",
        FEATURELAKE_ONLINE_NODES=",".join(redis_nodes),
        FEATURELAKE_ACTOR="ci-demo",
        COLUMNS="200",
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "featurelake.cli.main", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,  # as `make demo` runs it; the repo has no featurelake.yaml: embedded defaults
            timeout=800,
        )

    demo = cli("demo", "run", "--rows", "20000", "--days", "33")
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    out = demo.stdout
    for view in ("user_transaction_stats", "merchant_risk_stats", "user_profile"):
        assert f"{view}__v1" in out, out[-3000:]
    assert "PRESENT" in out and "identical" in out, out[-3000:]
    check = cli("online", "check", "--view", "user_transaction_stats", "--sample", "200", "-o", "json")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    report = json.loads(check.stdout)
    assert report["sampled_entities"] > 0 and report["compared_values"] > 0
    assert report["mismatches"] == 0, report["examples"]
