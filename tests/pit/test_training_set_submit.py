"""`spark-submit jobs/training_set.py` on the local stack's standalone cluster (executors in their own JVMs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from featurelake.lakehouse.training import checksum
from tests.spark_submit import spark_submit_command

pytestmark = [pytest.mark.spark, pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def test_spark_submit_on_the_cluster_builds_the_same_training_set(world, spark_master, tmp_path):
    labels = pd.DataFrame(
        {
            "row_id": range(6),
            "user_id": [1, 2, 1, 2, 1, 3],
            "merchant_id": ["a", "a", "b", "b", "a", "a"],
            "event_timestamp": pd.to_datetime(
                [
                    "2026-01-02 12:00",
                    "2026-01-03 00:00",
                    "2026-01-04 00:00",
                    "2026-01-04 06:00",
                    "2026-01-06 00:00",
                    "2026-01-03 00:00",
                ],
                utc=True,
            ),
        }
    )
    # entities given as a path to a Delta folder outside the storage root
    from featurelake.lakehouse.tables import Lakehouse

    outside = Lakehouse(root=str(tmp_path / "elsewhere"))
    outside.write(world.spark.createDataFrame(labels), "labels")
    env = {
        **os.environ,
        "FEATURELAKE_HOME": str(world.root / "home"),
        "FEATURELAKE_PROJECT": "pit",
        "FEATURELAKE_STORAGE_ROOT": str(world.root / "lake"),
        "FEATURELAKE_REGISTRY_URL": f"sqlite:///{world.root / 'registry.db'}",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    env.pop("FEATURELAKE_CONFIG", None)
    cmd = spark_submit_command(
        REPO / "jobs" / "training_set.py",
        "--service",
        "fraud:v2",
        "--entities",
        str(tmp_path / "elsewhere" / "labels"),
        "--name",
        "submitted",
        master=spark_master,
    )
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training set submitted v1: 6 rows" in proc.stdout

    ts = world.registry.get_training_set("pit", "submitted")
    assert ts.row_count == 6
    # The cluster's result equals an in-process local build of the same inputs.
    from featurelake.jobs.historical import build_historical

    local = build_historical(
        str(tmp_path / "elsewhere" / "labels"),
        spark=world.spark,
        lakehouse=world.lakehouse,
        registry=world.registry,
        project="pit",
        feature_service="fraud:v2",
    )
    assert str(checksum(local.frame)) == ts.checksum
