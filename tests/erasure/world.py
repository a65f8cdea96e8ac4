"""A tiny world for the erasure tests: SQLite registry, local Delta tables, a Redis project.

Tables are written with delta-rs (no JVM), so the crash tests can build many worlds quickly:
- ``user_stats__v1`` (view ``user_stats``, keyed on ``user_id``): users 1..6 and 42, three days,
  one write per day (several files);
- ``merchant_risk__v1`` (view ``merchant_risk``, keyed on ``merchant_id``): never touched;
- ``raw_tx`` (registered source ``raw_tx``): user_id + merchant_id rows;
- a training set ``fraud_train`` v1 whose entity and output tables hold user 42.
Redis holds every user's hash (view ``user_stats``) and every merchant's, in the world's project.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

USERS = [1, 2, 3, 4, 5, 6, 42]
MERCHANTS = ["a", "b", "c"]
DAY0 = date(2026, 3, 1)
SUBJECT = 42
PAIRS = [(SUBJECT, "a"), (1, "a"), (SUBJECT, "c")]  # (user_id, merchant_id) hashes of user_merchant
TS_TABLE = "training_set__fraud_train__0001"
TS_ENTITIES = TS_TABLE + "__entities"


@dataclass
class World:
    root: Path
    config: Path
    settings: Any
    registry: Any
    lakehouse: Any
    project: str
    nodes: list[str]

    @property
    def user_table(self) -> str:
        return "user_stats__v1"

    def tables(self) -> list[str]:
        return ["user_stats__v1", "merchant_risk__v1", "raw_tx", TS_ENTITIES, TS_TABLE]

    def versions(self) -> dict[str, int]:
        return {t: self.lakehouse.version(t) for t in self.tables()}

    def rows(self, table: str, version: int | None = None) -> list[tuple]:
        """Every row of a table (delta-rs), sorted, as tuples."""
        from deltalake import DeltaTable

        dt = DeltaTable(self.lakehouse.table_uri(table), version=version)
        data = dt.to_pyarrow_table()
        cols = sorted(data.column_names)
        return sorted(tuple(str(r[c]) for c in cols) for r in data.to_pylist())

    def redis_present(self, values: list[int]) -> list[bool]:
        from featurelake.lakehouse.online import ClusterClient, Command
        from featurelake.lakehouse.online.encoding import redis_key

        client = ClusterClient(self.nodes)
        keys = [redis_key(self.project, [("user_id", "int64")], [v]) for v in values]
        return [bool(int(r)) for r in client.execute([Command(k, ("EXISTS", k)) for k in keys])]


def pair_keys_present(world: World) -> list[bool]:
    """Whether each of PAIRS' user_merchant hashes exists."""
    from featurelake.jobs.online import online_view_from_registry
    from featurelake.lakehouse.online import ClusterClient, Command
    from featurelake.lakehouse.online.encoding import redis_key

    view = online_view_from_registry(world.registry.get_view_version(world.project, "user_merchant"))
    keys = [redis_key(world.project, view.join_keys, list(p)) for p in PAIRS]
    return [
        bool(int(r)) for r in ClusterClient(world.nodes).execute([Command(k, ("EXISTS", k)) for k in keys])
    ]


def definitions(retention_days: int | None = None) -> Any:
    from featurelake.registry import (
        Definitions,
        EntityDef,
        FeatureDef,
        JoinKey,
        ServiceDef,
        SourceDef,
        ViewDef,
    )

    spec = {} if retention_days is None else {"non_breaking": {"spec": {"retention_days": retention_days}}}
    return Definitions(
        entities=(
            EntityDef("user", (JoinKey("user_id", "INT64"),)),
            EntityDef("merchant", (JoinKey("merchant_id", "STRING"),)),
        ),
        sources=(SourceDef("raw_tx", "FileSource", "/somewhere/raw_tx", timestamp_field="event_timestamp"),),
        views=(
            ViewDef(
                "user_stats",
                ("user",),
                (FeatureDef("spend", "Float64"), FeatureDef("txns", "Int64")),
                timedelta(days=3000),
                source="raw_tx",
                definition=spec,
            ),
            ViewDef("merchant_risk", ("merchant",), (FeatureDef("risk", "Float64"),), timedelta(days=3000)),
            # keyed on two entities; never backfilled (no table), but materialized: Redis only
            ViewDef("user_merchant", ("user", "merchant"), (FeatureDef("n", "Int64"),), timedelta(days=3000)),
        ),
        services=(ServiceDef("fraud", (("user_stats", ("spend", "txns")), ("merchant_risk", ("risk",)))),),
    )


def _ts(d: int) -> datetime:
    return datetime(DAY0.year, DAY0.month, DAY0.day, tzinfo=UTC) + timedelta(days=d, hours=1)


def _write(lakehouse: Any, table: str, data: dict[str, Any], *, partitioned: bool = True) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(
        lakehouse.table_uri(table),
        pa.table(data),
        mode="append",
        partition_by=["event_date"] if partitioned else None,
    )


def user_rows(day: int) -> dict[str, Any]:
    import pyarrow as pa

    return {
        "user_id": pa.array(USERS, pa.int64()),
        "event_timestamp": pa.array([_ts(day)] * len(USERS), pa.timestamp("us", tz="UTC")),
        "created_timestamp": pa.array([_ts(day)] * len(USERS), pa.timestamp("us", tz="UTC")),
        "spend": pa.array([u * 10.0 + day for u in USERS], pa.float64()),
        "txns": pa.array([u + day for u in USERS], pa.int64()),
        "event_date": pa.array([DAY0 + timedelta(days=day)] * len(USERS), pa.date32()),
    }


def make_world(tmp: Path, nodes: list[str], *, retention_days: int | None = None, days: int = 3) -> World:
    import pyarrow as pa

    from featurelake.config.settings import load_settings
    from featurelake.jobs.online import online_view_from_registry
    from featurelake.jobs.wiring import lakehouse_from_settings
    from featurelake.lakehouse.online import ClusterClient, OnlineWriter
    from featurelake.lakehouse.online.encoding import to_epoch_micros
    from featurelake.registry import open_registry

    project = "e" + uuid.uuid4().hex[:10]
    config = tmp / "featurelake.yaml"
    config.write_text(
        f"project: {project}\nhome: {tmp}\nonline:\n  nodes: [{', '.join(nodes)}]\n  replica_acks: 0\n"
    )
    settings = load_settings(str(config))
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(project, definitions(retention_days), actor="tester")
    lh = lakehouse_from_settings(settings)
    for d in range(days):
        _write(lh, "user_stats__v1", user_rows(d))
    _write(
        lh,
        "merchant_risk__v1",
        {
            "merchant_id": pa.array(MERCHANTS),
            "event_timestamp": pa.array([_ts(0)] * 3, pa.timestamp("us", tz="UTC")),
            "risk": pa.array([0.1, 0.2, 0.3]),
            "event_date": pa.array([DAY0] * 3, pa.date32()),
        },
    )
    _write(
        lh,
        "raw_tx",
        {
            "user_id": pa.array([1, 42, 2, 42], pa.int64()),
            "merchant_id": pa.array(["a", "b", "a", "c"]),
            "amount": pa.array([5.0, 6.0, 7.0, 8.0]),
            "event_date": pa.array([DAY0] * 4, pa.date32()),
        },
    )
    entities = {
        "user_id": pa.array([1, 42, 3], pa.int64()),
        "event_timestamp": pa.array([_ts(2)] * 3, pa.timestamp("us", tz="UTC")),
    }
    _write(lh, TS_ENTITIES, entities, partitioned=False)
    _write(lh, TS_TABLE, {**entities, "spend": pa.array([12.0, 422.0, 32.0])}, partitioned=False)
    registry.register_training_set(
        project,
        "fraud_train",
        service="fraud",
        service_version=1,
        entity_source={"table": TS_ENTITIES, "version": 0},
        feature_tables=[{"table": "user_stats__v1", "version": days - 1}],
        features=["user_stats:spend"],
        output={"table": TS_TABLE, "version": 0},
        row_count=3,
        checksum="3:0",
        actor="tester",
    )
    client = ClusterClient(nodes)
    view = online_view_from_registry(registry.get_view_version(project, "user_stats"))
    last = to_epoch_micros(_ts(days - 1))
    OnlineWriter(client, project=project, view=view, replica_acks=0).write_rows(
        [([u], last, [u * 10.0, u]) for u in USERS]
    )
    mview = online_view_from_registry(registry.get_view_version(project, "merchant_risk"))
    OnlineWriter(client, project=project, view=mview, replica_acks=0).write_rows(
        [([m], last, [0.5]) for m in MERCHANTS]
    )
    pview = online_view_from_registry(registry.get_view_version(project, "user_merchant"))
    OnlineWriter(client, project=project, view=pview, replica_acks=0).write_rows(
        [(list(pair), last, [7]) for pair in PAIRS]
    )
    return World(tmp, config, settings, registry, lh, project, list(nodes))
