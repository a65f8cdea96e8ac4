"""The materialize job end to end: registry view version -> Delta table -> Redis, recorded as a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from featurelake.errors import RegistryError
from jobs.materialize import materialize_view
from jobs.settings import load_settings_from_dict
from lakehouse.online import ClusterClient, FeatureStatus, OnlineReader, ViewRequest
from lakehouse.tables import Lakehouse
from registry.types import Definitions, EntityDef, FeatureDef, JoinKey, ViewDef
from registry.writer import open_registry
from tests.online.helpers import unique_project

pytestmark = [pytest.mark.spark, pytest.mark.redis]

D0 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture()
def world(spark, tmp_path, redis_nodes):
    project = unique_project()
    settings = load_settings_from_dict(
        {"project": project, "home": str(tmp_path), "online": {"nodes": redis_nodes}}, environ={}
    )
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(project, Definitions(
        entities=(EntityDef("user", (JoinKey("user_id", "INT64"),)),),
        views=(ViewDef("user_activity", ("user",), (FeatureDef("clicks", "Int64"), FeatureDef("country", "String")),
                       ttl=timedelta(days=3000)),),
    ), actor="test")
    vv = registry.get_view_version(project, "user_activity")
    lh = Lakehouse(settings.storage_root)
    rows = []
    for day in range(4):  # days 0..3; user u's value on day d is u*100 + d
        ts = D0 + timedelta(days=day + 1)
        rows += [(u, ts, ts, (ts - timedelta(microseconds=1)).date(), u * 100 + day, f"c{day}") for u in range(50)]
    df = spark.createDataFrame(
        rows, "user_id long, event_timestamp timestamp, created_timestamp timestamp, event_date date, clicks long, country string"
    )
    lh.write(df, vv.table_name, partition_by=["event_date"])
    yield settings, registry, lh, project
    registry.dispose()


def _clicks(nodes, project, settings_view, n=50):
    return OnlineReader(ClusterClient(nodes), project=project).read(
        [ViewRequest(settings_view, ("clicks",))], [{"user_id": u} for u in range(n)], now=D0 + timedelta(days=10)
    )[0]


def test_window_then_incremental(spark, world, redis_nodes) -> None:
    from jobs.online import online_view_from_registry

    settings, registry, lh, project = world
    view = online_view_from_registry(registry.get_view_version(project, "user_activity"))
    first = materialize_view(spark, settings=settings, registry=registry, lakehouse=lh, view="user_activity",
                             actor="t", start=D0, end=D0 + timedelta(days=2, hours=1))
    assert (first.written, first.skipped_older) == (50, 0)
    assert _clicks(redis_nodes, project, view).values == [u * 100 + 1 for u in range(50)]
    run = registry.get_run(first.run_id)
    assert run.status == "succeeded" and run.rows_out == 50
    assert [(t.table, t.version) for t in run.inputs] == [(first.table, first.delta_version)]
    assert registry.get_watermark(project, "user_activity", 1, "materialize") == D0 + timedelta(days=2, hours=1)

    second = materialize_view(spark, settings=settings, registry=registry, lakehouse=lh, view="user_activity",
                              actor="t", incremental=True, end=D0 + timedelta(days=10))
    assert second.start == D0 + timedelta(days=2, hours=1)
    col = _clicks(redis_nodes, project, view)
    assert col.values == [u * 100 + 3 for u in range(50)]
    assert set(col.statuses) == {FeatureStatus.PRESENT}


def test_archived_view_refuses(spark, world) -> None:
    settings, registry, lh, project = world
    registry.set_status(project, "user_activity", None, "deprecated", reason="t", actor="t", force=True)
    registry.set_status(project, "user_activity", "1", "archived", reason="t", actor="t", force=True)
    with pytest.raises(RegistryError, match="archived"):
        materialize_view(spark, settings=settings, registry=registry, lakehouse=lh, view="user_activity", actor="t",
                         start=D0, end=D0 + timedelta(days=1))
