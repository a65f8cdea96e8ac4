"""Helpers shared by the online-store tests."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any


def user_activity_definitions() -> Any:
    """One entity ``user`` and one view ``user_activity`` (clicks Int64, country String, long TTL).

    The view the materialization tests register; returns ``featurelake.registry.types.Definitions``.
    """
    from featurelake.registry.types import Definitions, EntityDef, FeatureDef, JoinKey, ViewDef

    return Definitions(
        entities=(EntityDef("user", (JoinKey("user_id", "INT64"),)),),
        views=(
            ViewDef(
                "user_activity",
                ("user",),
                (FeatureDef("clicks", "Int64"), FeatureDef("country", "String")),
                ttl=timedelta(days=3000),
            ),
        ),
    )


def write_user_activity(spark: Any, lakehouse: Any, table: str, *, start: Any, days: int, users: int) -> None:
    """Write ``user_activity`` rows: user ``u`` on day ``d`` (event time ``start + d + 1 days``)
    has ``clicks = u * 100 + d`` and ``country = f"c{d}"``, so the newest value is known by heart."""
    rows = []
    for day in range(days):
        ts = start + timedelta(days=day + 1)
        rows += [
            (u, ts, ts, (ts - timedelta(microseconds=1)).date(), u * 100 + day, f"c{day}")
            for u in range(users)
        ]
    df = spark.createDataFrame(
        rows,
        "user_id long, event_timestamp timestamp, created_timestamp timestamp, event_date date, "
        "clicks long, country string",
    )
    lakehouse.write(df, table, partition_by=["event_date"])


def unique_project() -> str:
    """A project name no other test (or engineer) uses, so keys never collide."""
    return "t" + uuid.uuid4().hex[:12]


def feast_store(
    tmp: Path, project: str, nodes: list[str], ttl: timedelta = timedelta(days=1)
) -> tuple[Any, Any, Any]:
    """A Feast FeatureStore on the cluster with one entity and two views (applied)."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.repo_config import RegistryConfig
    from feast.types import Bool, Float32, Float64, Int64, String

    config = RepoConfig(
        project=project,
        provider="local",
        registry=RegistryConfig(path=str(tmp / "registry.db")),
        online_store={"type": "redis", "redis_type": "redis_cluster", "connection_string": ",".join(nodes)},
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config)
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    source = FileSource(path=str(tmp / "unused.parquet"), timestamp_field="event_timestamp")
    stats = FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=ttl,
        source=source,
        online=True,
        schema=[
            Field(name="driver_id", dtype=Int64),
            Field(name="conv_rate", dtype=Float64),
            Field(name="trips", dtype=Int64),
            Field(name="city", dtype=String),
            Field(name="active", dtype=Bool),
            Field(name="score", dtype=Float32),
        ],
    )
    profile = FeatureView(
        name="driver_profile",
        entities=[driver],
        ttl=ttl,
        source=source,
        online=True,
        schema=[
            Field(name="driver_id", dtype=Int64),
            Field(name="rating", dtype=Float64),
            Field(name="vehicle", dtype=String),
        ],
    )
    store.apply([driver, stats, profile])
    return store, stats, profile
