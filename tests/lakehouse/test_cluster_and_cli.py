"""The tour job on the stack's Spark standalone cluster, and the `featurelake table` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.lakehouse.conftest import event_rows, events_df

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.cluster
@pytest.mark.slow
def test_delta_tour_runs_on_the_standalone_cluster(spark_master, tmp_path):
    root = tmp_path / "lake"
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "FEATURELAKE_HOME": str(tmp_path / "home"),
    }
    proc = subprocess.run(
        [
            str(BIN / "spark-submit"),
            "--master",
            spark_master,
            "--conf",
            "spark.driver.host=127.0.0.1",
            "--conf",
            "spark.executor.cores=1",
            "--conf",
            "spark.cores.max=2",
            "--conf",
            "spark.ui.enabled=false",
            str(REPO / "jobs" / "delta_tour.py"),
            "--root",
            str(root),
            "--rows",
            "5000",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Spark master {spark_master}" in proc.stdout
    assert "unchanged by optimize: True" in proc.stdout
    dt = DeltaTable(str(root / "delta_tour"))
    assert dt.version() == 3 and dt.protocol().min_writer_version == 2
    ops = [h["operation"] for h in dt.history()]
    assert ops == ["OPTIMIZE", "WRITE", "WRITE", "CREATE TABLE"]


@pytest.mark.spark
def test_table_cli_describe_history_optimize_vacuum(spark, tmp_path):
    from featurelake.lakehouse import Lakehouse

    root = tmp_path / "lake"
    lake = Lakehouse(str(root))
    lake.write(events_df(spark, event_rows(500, days=2)), "cli_t", partition_by=["event_date"])
    lake.write(events_df(spark, event_rows(500, days=2)), "cli_t")
    env = {**os.environ, "FEATURELAKE_STORAGE_ROOT": str(root), "FEATURELAKE_HOME": str(tmp_path / "home")}

    def fl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "featurelake"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    out = fl("table", "describe", "cli_t", "--output", "json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["version"], info["num_rows"], info["partitions"]) == (1, 1000, 2)
    assert info["protocol"]["min_writer_version"] == 2 and info["last_optimize"] is None
    opt = fl("table", "optimize", "cli_t", "--zorder-by", "user_id", "--output", "json")
    assert opt.returncode == 0, opt.stderr
    assert json.loads(opt.stdout)["version"] == 2
    text = fl("table", "describe", "cli_t")
    assert "version          2" in text.stdout and "Z-order by user_id" in text.stdout
    hist = json.loads(fl("table", "history", "cli_t", "--output", "json").stdout)
    assert [h["version"] for h in hist] == [2, 1, 0]
    vac = json.loads(fl("table", "vacuum", "cli_t", "--retention-hours", "0", "--output", "json").stdout)
    assert len(vac["files"]) == 8  # 2 writes x 2 tasks x 2 days, all replaced by the optimize
    assert lake.read(spark, "cli_t").count() == 1000
    missing = fl("table", "describe", "nope")
    assert missing.returncode == 2 and "table 'nope' does not exist" in missing.stderr
