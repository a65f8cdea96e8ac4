"""The materialize job end to end: registry view version -> Delta table -> Redis, recorded as a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from featurelake.config.settings import load_settings_from_dict
from featurelake.errors import RegistryError
from featurelake.jobs.materialize import materialize_view
from featurelake.lakehouse.online import ClusterClient, FeatureStatus, OnlineReader, ViewRequest
from featurelake.lakehouse.tables import Lakehouse
from featurelake.registry.types import Node
from featurelake.registry.writer import open_registry
from tests.online.helpers import unique_project, user_activity_definitions, write_user_activity

pytestmark = [pytest.mark.spark, pytest.mark.redis]

D0 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory, redis_nodes):
    """One registry + feature table for the module (tests run in file order; archiving is last)."""
    tmp_path = tmp_path_factory.mktemp("materialize_job")
    project = unique_project()
    settings = load_settings_from_dict(
        {"project": project, "home": str(tmp_path), "online": {"nodes": redis_nodes}}, environ={}
    )
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(
        project,
        user_activity_definitions(),
        actor="test",
    )
    vv = registry.get_view_version(project, "user_activity")
    lh = Lakehouse(settings.storage_root)
    write_user_activity(spark, lh, vv.table_name, start=D0, days=4, users=50)  # clicks = u*100 + day
    yield settings, registry, lh, project
    registry.dispose()


def _edge(e) -> tuple:
    return (e.src, e.dst, e.run_id, e.depth)


def _clicks(nodes, project, settings_view, n=50):
    return OnlineReader(ClusterClient(nodes), project=project).read(
        [ViewRequest(settings_view, ("clicks",))],
        [{"user_id": u} for u in range(n)],
        now=D0 + timedelta(days=10),
    )[0]


def test_window_then_incremental(spark, world, redis_nodes) -> None:
    from featurelake.jobs.online import online_view_from_registry

    settings, registry, lh, project = world
    view = online_view_from_registry(registry.get_view_version(project, "user_activity"))
    first = materialize_view(
        spark,
        settings=settings,
        registry=registry,
        lakehouse=lh,
        view="user_activity",
        actor="t",
        start=D0,
        end=D0 + timedelta(days=2, hours=1),
    )
    assert (first.written, first.skipped_older) == (50, 0)
    assert _clicks(redis_nodes, project, view).values == [u * 100 + 1 for u in range(50)]
    run = registry.get_run(first.run_id)
    assert run.status == "succeeded" and run.rows_out == 50
    assert [(t.table, t.version) for t in run.inputs] == [(first.table, first.delta_version)]
    online = Node.data_source(f"redis://{project}/user_activity")
    assert [(t.table, t.version) for t in run.outputs] == [(online.name, None)]
    read = Node.delta_output(first.table, first.delta_version)
    edge = (read, online, first.run_id, 1)
    assert [_edge(e) for e in registry.lineage(project, read, direction="downstream")] == [edge]
    assert [_edge(e) for e in registry.lineage(project, online, direction="upstream")] == [edge]
    assert registry.get_watermark(project, "user_activity", 1, "materialize") == D0 + timedelta(
        days=2, hours=1
    )

    second = materialize_view(
        spark,
        settings=settings,
        registry=registry,
        lakehouse=lh,
        view="user_activity",
        actor="t",
        incremental=True,
        end=D0 + timedelta(days=10),
    )
    # the first run was a window, which proves nothing about older rows: read the whole table
    assert (second.mode, second.start, second.from_version) == ("full", None, None)
    col = _clicks(redis_nodes, project, view)
    assert col.values == [u * 100 + 3 for u in range(50)]
    assert set(col.statuses) == {FeatureStatus.PRESENT}
    # Same Delta version read again: the edge exists once, with the run that first recorded it.
    assert second.delta_version == first.delta_version
    assert [_edge(e) for e in registry.lineage(project, online, direction="upstream")] == [edge]


def test_online_check_and_size(spark, world, redis_nodes) -> None:
    from featurelake.jobs.online import check_online, estimate_online_size, online_view_from_registry
    from featurelake.lakehouse.online import OnlineWriter

    settings, registry, lh, project = world
    now = D0 + timedelta(days=10)
    materialize_view(
        spark,
        settings=settings,
        registry=registry,
        lakehouse=lh,
        view="user_activity",
        actor="t",
        start=D0,
        end=now,
    )
    report = check_online(
        spark, settings=settings, registry=registry, lakehouse=lh, view="user_activity", sample=20, now=now
    )
    assert (report.sampled, report.compared_values, report.mismatches) == (20, 40, 0)
    size = estimate_online_size(
        spark, settings=settings, registry=registry, lakehouse=lh, view="user_activity", sample=10
    )
    assert size.entities == 50 and size.found == 10
    assert size.bytes_per_key > size.view_bytes_per_entity > 0
    # Tamper with every entity online (newer, different values): the check must see it.
    view = online_view_from_registry(registry.get_view_version(project, "user_activity"))
    from featurelake.lakehouse.online.encoding import to_epoch_micros

    OnlineWriter(ClusterClient(redis_nodes), project=project, view=view).write_rows(
        [([u], to_epoch_micros(D0 + timedelta(days=5)), [-1, "zz"]) for u in range(50)]
    )
    bad = check_online(
        spark, settings=settings, registry=registry, lakehouse=lh, view="user_activity", sample=10, now=now
    )
    assert bad.mismatches == 20 and bad.mismatch_rate == 1.0
    from featurelake.lakehouse.online import Command
    from featurelake.lakehouse.online.encoding import redis_key

    keys = [redis_key(project, view.join_keys, [u]) for u in range(50)]
    ClusterClient(redis_nodes).execute([Command(k, ("DEL", k)) for k in keys])  # undo the tampering


def test_feast_materialize_runs_our_engine(spark, world, redis_nodes, tmp_path) -> None:
    import yaml
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.repo_config import RegistryConfig
    from feast.types import Int64, String

    settings, registry, lh, project = world
    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "project": project,
                "home": str(settings.home),
                "online": {"nodes": redis_nodes},
                "spark": {"master": "local[2]"},
            }
        )
    )
    store = FeatureStore(
        config=RepoConfig(
            project=project,
            provider="local",
            registry=RegistryConfig(path=str(tmp_path / "feast.db")),
            online_store={
                "type": "redis",
                "redis_type": "redis_cluster",
                "connection_string": ",".join(redis_nodes),
            },
            batch_engine={
                "type": "featurelake.feast_plugins.materialization_engine.FeaturelakeSparkEngine",
                "featurelake_config": str(cfg),
            },
            entity_key_serialization_version=3,
        )
    )
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    fv = FeatureView(
        name="user_activity",
        entities=[user],
        ttl=timedelta(days=3000),
        online=True,
        source=FileSource(path=str(tmp_path / "unused.parquet"), timestamp_field="event_timestamp"),
        schema=[
            Field(name="user_id", dtype=Int64),
            Field(name="clicks", dtype=Int64),
            Field(name="country", dtype=String),
        ],
    )
    store.apply([user, fv])
    store.materialize(
        start_date=D0, end_date=D0 + timedelta(days=2, hours=1), feature_views=["user_activity"]
    )
    got = store.get_online_features(
        features=["user_activity:clicks", "user_activity:country"],
        entity_rows=[{"user_id": u} for u in range(3)],
    ).to_dict()
    assert got["clicks"] == [1, 101, 201] and got["country"] == ["c1"] * 3
    newest = registry.list_runs(project=project, kind="materialize")[0]
    assert (newest.status, newest.actor) == ("succeeded", "feast")


def test_archived_view_refuses(spark, world) -> None:
    settings, registry, lh, project = world
    registry.set_status(project, "user_activity", None, "deprecated", reason="t", actor="t", force=True)
    registry.set_status(project, "user_activity", "1", "archived", reason="t", actor="t", force=True)
    with pytest.raises(RegistryError, match="archived"):
        materialize_view(
            spark,
            settings=settings,
            registry=registry,
            lakehouse=lh,
            view="user_activity",
            actor="t",
            start=D0,
            end=D0 + timedelta(days=1),
        )
