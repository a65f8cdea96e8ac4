"""`spark-submit jobs/materialize.py` on the local stack's standalone cluster: executors in their
own JVMs and Python workers write Redis; the run is recorded in the registry."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from featurelake.config.settings import load_settings_from_dict
from featurelake.lakehouse.online import ClusterClient, FeatureStatus, OnlineReader, ViewRequest
from featurelake.lakehouse.tables import Lakehouse
from featurelake.registry.writer import open_registry
from tests.online.helpers import unique_project, user_activity_definitions, write_user_activity
from tests.spark_submit import spark_submit_command

pytestmark = [pytest.mark.spark, pytest.mark.redis, pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
D0 = datetime(2026, 2, 1, tzinfo=UTC)
USERS = 300


def test_spark_submit_materializes_on_the_cluster(spark, tmp_path, redis_nodes, spark_master) -> None:
    from featurelake.jobs.online import online_view_from_registry

    project = unique_project()
    settings = load_settings_from_dict(
        {"project": project, "home": str(tmp_path), "online": {"nodes": redis_nodes}}, environ={}
    )
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(project, user_activity_definitions(), actor="test")
    vv = registry.get_view_version(project, "user_activity")
    # user u's value on day d is u*100 + d: the newest is day 2
    write_user_activity(spark, Lakehouse(settings.storage_root), vv.table_name, start=D0, days=3, users=USERS)

    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURELAKE_")}
    env.update(
        FEATURELAKE_HOME=str(tmp_path),
        FEATURELAKE_PROJECT=project,
        FEATURELAKE_ONLINE_NODES=",".join(redis_nodes),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    cmd = spark_submit_command(
        REPO / "jobs" / "materialize.py",
        "--view",
        "user_activity",
        "--incremental",
        "--actor",
        "cluster-job",
        master=spark_master,
    )
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"{USERS} entities written" in proc.stdout, proc.stdout[-2000:]

    view = online_view_from_registry(vv)
    col = OnlineReader(ClusterClient(redis_nodes), project=project).read(
        [ViewRequest(view, ("clicks",))],
        [{"user_id": u} for u in range(USERS)],
        now=D0 + timedelta(days=4),
    )[0]
    assert set(col.statuses) == {FeatureStatus.PRESENT}
    assert col.values == [u * 100 + 2 for u in range(USERS)]
    runs = registry.list_runs(project, kind="materialize")
    assert [(r.status, r.actor, r.rows_out) for r in runs] == [("succeeded", "cluster-job", USERS)]
    assert runs[0].params["spark_master"] == spark_master  # ran on the cluster, not local[*]
    registry.dispose()
