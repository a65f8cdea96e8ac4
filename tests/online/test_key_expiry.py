"""Redis key expiry after real materializations: a view's own ``ViewSpec.online_key_ttl``
(recorded in its registry definition) overrides ``online.key_ttl_seconds``; views sharing an
entity share one hash, whose expiry a write only ever extends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from featurelake.config.settings import load_settings_from_dict
from featurelake.jobs.materialize import materialize_view
from featurelake.lakehouse.online import ClusterClient, Command
from featurelake.lakehouse.online.encoding import redis_key
from featurelake.lakehouse.tables import Lakehouse
from tests.online.helpers import unique_project

pytestmark = [pytest.mark.spark, pytest.mark.redis]

D0 = datetime(2026, 3, 1, tzinfo=UTC)
N = 20
HOUR, TEN_MINUTES, GLOBAL = 3600, 600, 120
# view -> (join key, its own online_key_ttl: None inherits the global setting, 0 never expires)
VIEWS = {
    "sessions": ("user_id", timedelta(hours=1)),
    "profile": ("user_id", timedelta(minutes=10)),  # shares user_id's hash with sessions
    "ledger": ("account_id", None),
    "devices": ("device_id", timedelta(0)),
}


def _definitions() -> object:
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Int64

    from featurelake.registry.types import Definitions, EntityDef, FeatureDef, JoinKey, ViewDef
    from featurelake.spec import Aggregation, AggregationTransform, ViewSpec, view_definition

    entities, views = [], []
    for key in dict.fromkeys(k for k, _ in VIEWS.values()):
        entities.append(EntityDef(key.removesuffix("_id"), (JoinKey(key, "INT64"),)))
    for name, (key, key_ttl) in VIEWS.items():
        entity = Entity(name=key.removesuffix("_id"), join_keys=[key], value_type=ValueType.INT64)
        fv = FeatureView(
            name=name,
            entities=[entity],
            ttl=timedelta(days=3000),
            source=FileSource(name=f"raw_{name}", path="unused.parquet", timestamp_field="event_timestamp"),
            schema=[Field(name=key, dtype=Int64), Field(name="count_1d", dtype=Int64)],
        )
        spec = None
        if key_ttl is not None:
            spec = ViewSpec(
                view=name,
                transform=AggregationTransform(
                    source=f"raw_{name}",
                    timestamp_column="event_timestamp",
                    entity_columns={key: key},
                    aggregations=[Aggregation(function="count", window="1d")],
                ),
                online_key_ttl=key_ttl,
            )
        views.append(
            ViewDef(
                name,
                (entity.name,),
                (FeatureDef("count_1d", "Int64"),),
                ttl=timedelta(days=3000),
                definition=view_definition(fv, spec),
            )
        )
    return Definitions(entities=tuple(entities), views=tuple(views))


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory, redis_nodes):
    from featurelake.registry.writer import open_registry

    tmp = tmp_path_factory.mktemp("key_expiry")
    project = unique_project()
    settings = load_settings_from_dict(
        {"project": project, "home": str(tmp), "online": {"nodes": redis_nodes}}, environ={}
    )
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(project, _definitions(), actor="t")
    lh = Lakehouse(settings.storage_root)
    ts = D0 + timedelta(days=1)
    for name, (key, _) in VIEWS.items():
        df = spark.createDataFrame(
            [(i, ts, ts, D0.date(), i) for i in range(N)],
            f"{key} long, event_timestamp timestamp, created_timestamp timestamp, event_date date, count_1d long",
        )
        lh.write(df, registry.get_view_version(project, name).table_name, partition_by=["event_date"])
    yield settings, registry, lh
    registry.dispose()


def _materialize(spark, lake, view: str, *, global_ttl: int | None = None) -> None:
    settings, registry, lh = lake
    if global_ttl is not None:
        online = settings.online.model_copy(update={"key_ttl_seconds": global_ttl})
        settings = settings.model_copy(update={"online": online})
    result = materialize_view(
        spark,
        settings=settings,
        registry=registry,
        lakehouse=lh,
        view=view,
        actor="t",
        start=D0,
        end=D0 + timedelta(days=2),
    )
    assert result.written == N


def _ttls(lake, redis_nodes, key: str) -> set[int]:
    """``TTL`` of every entity's hash (-1: no expiry; -2: no such key)."""
    project = lake[0].project
    keys = [redis_key(project, ((key, "int64"),), [i]) for i in range(N)]
    ttls = set(ClusterClient(redis_nodes).execute([Command(k, ("TTL", k)) for k in keys]))
    assert -2 not in ttls, f"missing keys for {key}"
    return ttls


def _within(ttls: set[int], lo: int, hi: int) -> bool:
    return bool(ttls) and all(lo < t <= hi for t in ttls)


def test_view_key_ttl_overrides_the_global_default(spark, lake, redis_nodes) -> None:
    _materialize(spark, lake, "sessions")  # its own 1 h, no global default
    assert _within(_ttls(lake, redis_nodes, "user_id"), HOUR - 60, HOUR)
    _materialize(spark, lake, "ledger")  # neither: no expiry at all
    assert _ttls(lake, redis_nodes, "account_id") == {-1}
    # The global default applies to a view without its own setting, also to keys written
    # before without expiry; a view's timedelta(0) opts out of it.
    _materialize(spark, lake, "ledger", global_ttl=GLOBAL)
    assert _within(_ttls(lake, redis_nodes, "account_id"), 0, GLOBAL)
    _materialize(spark, lake, "devices", global_ttl=GLOBAL)
    assert _ttls(lake, redis_nodes, "device_id") == {-1}


def test_a_shorter_view_ttl_never_shortens_a_shared_hash(spark, lake, redis_nodes) -> None:
    _materialize(spark, lake, "sessions")
    _materialize(spark, lake, "profile")  # 10 min on the same hashes: sessions' hour stays
    assert _within(_ttls(lake, redis_nodes, "user_id"), HOUR - 60, HOUR)
