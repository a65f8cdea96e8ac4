"""Erasure with Spark: readers through the Lakehouse, training sets rewritten and reproduced, purge.

A real point-in-time training set is built with Spark, the subject is erased with
``rewrite_training_sets``, and then: Spark reads no subject row and every other row is unchanged
(checksums); the rewritten training set exports without the subject and reproduces exactly;
after ``purge`` the old version reports the erasure request instead of a silent difference.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from featurelake.config.settings import load_settings_from_dict
from featurelake.errors import LakehouseError
from featurelake.jobs.erase import run_erasure
from featurelake.jobs.erase_plan import parse_keys
from featurelake.jobs.training_set import create_training_set, reproduce_training_set
from featurelake.lakehouse.tables import Lakehouse
from featurelake.lakehouse.training import checksum, export_snapshot
from featurelake.registry import (
    Definitions,
    EntityDef,
    FeatureDef,
    JoinKey,
    ServiceDef,
    ViewDef,
    open_registry,
)
from tests.online.helpers import unique_project

pytestmark = [pytest.mark.spark, pytest.mark.redis]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SUBJECT = 42


def test_rewrite_training_sets_then_purge(spark, tmp_path, redis_nodes) -> None:
    from pyspark.sql import functions as F

    project = unique_project()
    settings = load_settings_from_dict(
        {"project": project, "home": str(tmp_path), "online": {"nodes": redis_nodes, "replica_acks": 0}},
        environ={},
    )
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(
        project,
        Definitions(
            entities=(EntityDef("user", (JoinKey("user_id", "INT64"),)),),
            views=(ViewDef("user_stats", ("user",), (FeatureDef("spend", "Float64"),), timedelta(days=5)),),
            services=(ServiceDef("fraud", (("user_stats", ("spend",)),)),),
        ),
        actor="t",
    )
    lh = Lakehouse(settings.storage_root)
    table = "user_stats__v1"
    for d in range(3):  # one write per day: several files
        ts = T0 + timedelta(days=d)
        rows = [(u, ts, ts, float(u * 10 + d)) for u in (1, 2, 3, SUBJECT)]
        df = spark.createDataFrame(
            rows, "user_id long, event_timestamp timestamp, created_timestamp timestamp, spend double"
        ).selectExpr("*", "to_date(event_timestamp) AS event_date")
        lh.write(df, table, partition_by=["event_date"])
    labels = pd.DataFrame(
        {"user_id": [1, 2, SUBJECT, SUBJECT, 3], "event_timestamp": [T0 + timedelta(days=2, hours=5)] * 5}
    )
    created = create_training_set(
        spark=spark,
        lakehouse=lh,
        registry=registry,
        project=project,
        name="train",
        service="fraud:v1",
        entities=labels,
        actor="t",
    )
    v_before = lh.version(table)
    others_before = checksum(lh.read(spark, table).where(F.col("user_id") != SUBJECT))
    keys = parse_keys(registry, project, [f"user_id={SUBJECT}"])

    result = run_erasure(
        settings=settings,
        registry=registry,
        lakehouse=lh,
        keys=keys,
        reason="GDPR ticket 11",
        actor="dpo",
        rewrite_training_sets=True,
        spark=spark,
    )
    # Spark through the Lakehouse: no subject row; every other row unchanged (checksum).
    now = lh.read(spark, table)
    assert now.where(F.col("user_id") == SUBJECT).count() == 0
    assert checksum(now) == others_before
    # The training set got a new version without the subject; the old one is superseded.
    (entry,) = result.training_sets
    assert (entry["name"], entry["version"], entry["state"], entry["superseded_by"]) == (
        "train",
        1,
        "superseded",
        2,
    )
    marks = registry.training_set_erasures(project, "train", 1)
    assert [(m.state, m.superseded_by) for m in marks] == [("superseded", 2)]
    v2 = registry.get_training_set(project, "train", 2)
    assert v2.row_count == created.rows - 2
    exported = tmp_path / "train_v2.parquet"
    assert export_snapshot(lh, v2.output.table, v2.output.version, exported, fmt="parquet") == 3
    assert SUBJECT not in pd.read_parquet(exported)["user_id"].tolist()
    # Before a purge the old version still reproduces (time travel keeps the files).
    assert reproduce_training_set(
        spark=spark, lakehouse=lh, registry=registry, project=project, name="train", version=1
    ).equal

    purge = run_erasure(
        settings=settings,
        registry=registry,
        lakehouse=lh,
        keys=keys,
        reason="purge ticket 11",
        actor="dpo",
        purge=True,
    )
    assert {p["table"] for p in purge.purged} >= {table, created.table, created.table + "__entities"}
    # Time travel to before the erasure no longer returns the subject: its files are gone.
    with pytest.raises(Exception, match="(?i)not exist|not found|no such file"):
        lh.read(spark, table, version=v_before).where(F.col("user_id") == SUBJECT).count()
    with pytest.raises(
        LakehouseError, match=f"cannot be reproduced because of erasure request.*{result.request_id}"
    ):
        reproduce_training_set(
            spark=spark, lakehouse=lh, registry=registry, project=project, name="train", version=1
        )
    # The new version is consistent: rebuilt from its pinned (post-erasure) inputs it is equal,
    # also after the purge (it pins the versions after the erasure).
    assert reproduce_training_set(
        spark=spark, lakehouse=lh, registry=registry, project=project, name="train", version=2
    ).equal
    registry.dispose()
