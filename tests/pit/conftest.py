"""A tiny fraud-like world for the training-set tests: SQLite registry + local Delta tables.

The feature tables are partitioned exactly as the spec says (:func:`featurelake.spec.event_date_of`:
the UTC date of ``event_timestamp - 1 µs``), as a backfill writes them, so partition pruning is
tested against the real layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurelake.lakehouse.transforms import event_date_column

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROJECT = "pit"


def day(d: int, hour: int = 0) -> datetime:
    return T0 + timedelta(days=d - 1, hours=hour)


@dataclass
class World:
    spark: Any
    lakehouse: Any
    registry: Any
    root: Path
    user_table: str
    merchant_table: str

    def write_users(self, rows: list[tuple], *, mode: str = "append", replace_range=None):
        df = self.spark.createDataFrame(
            rows,
            "user_id long, event_timestamp timestamp, created_timestamp timestamp, spend double, txns long",
        ).withColumn("event_date", event_date_column())
        return self.lakehouse.write(
            df, self.user_table, mode=mode, partition_by=["event_date"], replace_range=replace_range
        )

    def write_merchants(self, rows: list[tuple], *, mode: str = "append"):
        df = self.spark.createDataFrame(
            rows, "merchant_id string, event_timestamp timestamp, created_timestamp timestamp, risk double"
        ).withColumn("event_date", event_date_column())
        return self.lakehouse.write(df, self.merchant_table, mode=mode, partition_by=["event_date"])


def definitions(*, user_features=("spend", "txns")):
    from featurelake.registry import Definitions, EntityDef, FeatureDef, JoinKey, ServiceDef, ViewDef

    return Definitions(
        entities=(
            EntityDef(name="user", join_keys=(JoinKey("user_id", "INT64"),)),
            EntityDef(name="merchant", join_keys=(JoinKey("merchant_id", "STRING"),)),
        ),
        views=(
            ViewDef(
                name="user_stats",
                entities=("user",),
                features=tuple(FeatureDef(f, "Float64" if f == "spend" else "Int64") for f in user_features),
                ttl=timedelta(days=2),
                definition={"features": list(user_features)},
            ),
            ViewDef(
                name="merchant_risk",
                entities=("merchant",),
                features=(FeatureDef("risk", "Float64"),),
                ttl=timedelta(days=3),
                definition={"v": 1},
            ),
        ),
        services=(ServiceDef(name="fraud", features=(("user_stats", ("spend",)),)),),
    )


def definitions_v2():
    from featurelake.registry import ServiceDef

    d = definitions()
    return type(d)(
        entities=d.entities,
        views=d.views,
        services=(
            ServiceDef(
                name="fraud", features=(("user_stats", ("spend", "txns")), ("merchant_risk", ("risk",)))
            ),
        ),
    )


@pytest.fixture
def world(spark, tmp_path) -> World:
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import open_registry

    registry = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.apply_definitions(PROJECT, definitions(), actor="tester")
    registry.apply_definitions(PROJECT, definitions_v2(), actor="tester")  # fraud v2 adds merchant features
    lh = Lakehouse(root=str(tmp_path / "lake"))
    w = World(
        spark=spark,
        lakehouse=lh,
        registry=registry,
        root=tmp_path,
        user_table=registry.get_view_version(PROJECT, "user_stats").table_name,
        merchant_table=registry.get_view_version(PROJECT, "merchant_risk").table_name,
    )
    w.write_users(
        [
            (1, day(1), day(1, 1), 10.0, 1),
            (1, day(2), day(2, 1), 20.0, 2),
            (1, day(4), day(4, 1), 40.0, 4),
            (2, day(2), day(2, 1), 200.0, 20),
        ]
    )
    w.write_merchants(
        [("a", day(1), day(1, 1), 0.1), ("a", day(3), day(3, 1), 0.3), ("b", day(1), day(1, 1), 0.9)]
    )
    yield w
    registry.dispose()
