"""get_historical_features and training sets on real Delta tables and a real (SQLite) registry."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from featurelake.errors import DefinitionError, RegistryError
from featurelake.jobs.historical import NoFeatureDataWarning, build_historical, get_historical_features
from featurelake.jobs.training_set import create_training_set, reproduce_training_set
from featurelake.lakehouse.training import (
    checksum,
    export_snapshot,
    read_snapshot_arrow,
    read_snapshot_pandas,
)

pytestmark = pytest.mark.spark

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROJECT = "pit"


def day(d: int, hour: int = 0) -> datetime:
    return T0 + timedelta(days=d - 1, hours=hour)


def entities_pdf(rows):
    return pd.DataFrame(rows, columns=["row_id", "user_id", "merchant_id", "event_timestamp"]).assign(
        event_timestamp=lambda d: pd.to_datetime(d["event_timestamp"], utc=True)
    )


def historical(world, entity_df, **kw):
    return get_historical_features(
        entity_df,
        spark=world.spark,
        lakehouse=world.lakehouse,
        registry=world.registry,
        project=PROJECT,
        **kw,
    )


def by_row(df):
    return {r["row_id"]: r.asDict() for r in df.collect()}


ENTITIES = [
    (1, 1, "a", day(2, 12)),  # user 1: day 2 value; merchant a: day 1 value
    (2, 1, "a", day(4, 0)),  # exactly at user 1's day 4 row; merchant a's day 3 row
    (3, 1, "b", day(7)),  # user 1's day 4 row is 3 days old > 2-day ttl; merchant b too old
    (4, 2, "a", day(3)),  # user 2's day 2 row, 1 day old
    (5, 9, "z", day(3)),  # nobody
]


def test_features_by_reference_from_pandas(world):
    got = by_row(
        historical(world, entities_pdf(ENTITIES), features=["user_stats:spend", "merchant_risk:risk"])
    )
    assert {k: (v["spend"], v["risk"]) for k, v in got.items()} == {
        1: (20.0, 0.1),
        2: (40.0, 0.3),
        3: (None, None),
        4: (200.0, 0.3),
        5: (None, None),
    }


def test_feature_service_versions_and_full_names(world):
    ent = world.spark.createDataFrame(entities_pdf(ENTITIES))
    v1 = historical(world, ent, feature_service="fraud:v1", full_feature_names=True)
    assert v1.columns == ["row_id", "user_id", "merchant_id", "event_timestamp", "user_stats__spend"]
    v2 = by_row(historical(world, ent, feature_service="fraud:v2", full_feature_names=True))
    assert (v2[2]["user_stats__spend"], v2[2]["user_stats__txns"], v2[2]["merchant_risk__risk"]) == (
        40.0,
        4,
        0.3,
    )


def test_entity_table_name_is_read_through_the_lakehouse(world):
    world.lakehouse.write(world.spark.createDataFrame(entities_pdf(ENTITIES)), "labels")
    result = build_historical(
        "labels",
        spark=world.spark,
        lakehouse=world.lakehouse,
        registry=world.registry,
        project=PROJECT,
        feature_service="fraud:v2",
    )
    assert result.entity.table == "labels" and result.entity.version == world.lakehouse.version("labels")
    assert result.frame.count() == len(ENTITIES)
    assert {v.table: v.delta_version for v in result.views} == {
        world.user_table: world.lakehouse.version(world.user_table),
        world.merchant_table: world.lakehouse.version(world.merchant_table),
    }


def test_only_partitions_in_entity_range_minus_ttl_are_read(world):
    # A row on day 20 is outside [day 3 - 2d, day 3]: pruning must skip its partition, and with it
    # a row the join would otherwise never pick anyway. We check the files actually listed. Rows
    # stamped at midnight sit in the partition of the day before (the spec's rule), so the range
    # is event_date_of(day 1 00:00) = 2025-12-31 .. event_date_of(day 3 00:00) = 2026-01-02.
    world.write_users([(1, day(20), day(20), 999.0, 9), (1, day(3, 1), day(3, 1), 31.0, 3)])
    ent = world.spark.createDataFrame(entities_pdf([(1, 1, "a", day(3))]))
    frame = historical(world, ent, features=["user_stats:spend"])
    files = frame.inputFiles()
    assert files and all("event_date=2026-01-19" not in f and "event_date=2026-01-03" not in f for f in files)
    assert any("event_date=2025-12-31" in f for f in files)
    assert any("event_date=2026-01-01" in f for f in files)


# ----- bad input -------------------------------------------------------------------------------


def test_missing_timestamp_and_join_keys_are_named(world):
    bad = pd.DataFrame({"row_id": [1], "user_id": [1], "ts": [pd.Timestamp("2026-01-02", tz="UTC")]})
    with pytest.raises(DefinitionError) as err:
        historical(world, world.spark.createDataFrame(bad), feature_service="fraud:v2")
    assert "'event_timestamp'" in str(err.value) and "'merchant_id'" in str(err.value)
    assert "'user_id'" not in str(err.value).split("join key")[-1]


def test_unknown_feature_view_and_service_are_named(world):
    ent = entities_pdf(ENTITIES)
    with pytest.raises(DefinitionError) as err:
        historical(world, ent, features=["user_stats:nope", "ghost_view:x", "no_colon"])
    text = str(err.value)
    assert "'nope'" in text and "ghost_view" in text and "no_colon" in text and len(err.value.problems) == 3
    with pytest.raises(RegistryError, match="ghost_service"):
        historical(world, ent, feature_service="ghost_service:v1")
    with pytest.raises(RegistryError, match="no version"):
        historical(world, ent, feature_service="fraud:v9")


def test_archived_service_version_is_refused(world):
    world.registry.set_status(
        PROJECT, "fraud", 1, "deprecated", reason="superseded", actor="t", object_type="service"
    )
    world.registry.set_status(
        PROJECT, "fraud", 1, "archived", reason="retired", actor="t", object_type="service"
    )
    with pytest.raises(RegistryError, match="archived"):
        historical(world, entities_pdf(ENTITIES), feature_service="fraud:v1")


def test_no_data_for_the_period_warns_with_the_range(world):
    ent = entities_pdf([(1, 1, "a", day(60))])
    with pytest.warns(NoFeatureDataWarning) as record:
        out = by_row(historical(world, ent, features=["user_stats:spend", "merchant_risk:risk"]))
    messages = {str(w.message).split("'")[1]: str(w.message) for w in record}
    assert set(messages) == {"user_stats", "merchant_risk"}
    # partitions_covering([max ts - ttl, max ts]): a midnight instant's partition is the day before
    assert "2026-02-26..2026-02-28" in messages["user_stats"]  # 2-day ttl
    assert "2026-02-25..2026-02-28" in messages["merchant_risk"]  # 3-day ttl
    assert out[1]["spend"] is None and out[1]["risk"] is None


def test_far_future_timestamps_are_refused(world):
    ent = entities_pdf([(1, 1, "a", datetime(2200, 1, 1, tzinfo=UTC))])
    with pytest.raises(DefinitionError, match="2200-01-01"):
        historical(world, ent, features=["user_stats:spend"])


def test_naive_pandas_timestamps_are_refused_by_default(world):
    ent = entities_pdf(ENTITIES).assign(event_timestamp=lambda d: d["event_timestamp"].dt.tz_localize(None))
    with pytest.raises(DefinitionError, match="naive"):
        historical(world, ent, features=["user_stats:spend"])
    got = by_row(historical(world, ent, features=["user_stats:spend"], naive_timestamps="utc"))
    assert got[1]["spend"] == 20.0


# ----- training sets ---------------------------------------------------------------------------


def test_training_set_pins_versions_and_reproduces_after_appends_and_optimize(world):
    world.lakehouse.write(world.spark.createDataFrame(entities_pdf(ENTITIES)), "labels")
    pinned = {t: world.lakehouse.version(t) for t in (world.user_table, world.merchant_table)}
    created = create_training_set(
        spark=world.spark,
        lakehouse=world.lakehouse,
        registry=world.registry,
        project=PROJECT,
        name="fraud_train",
        service="fraud:v2",
        entities="labels",
        actor="tester",
    )
    ts = world.registry.get_training_set(PROJECT, "fraud_train")
    assert (ts.version, ts.row_count, ts.service, ts.service_version) == (1, len(ENTITIES), "fraud", 2)
    assert {t.table: t.version for t in ts.feature_tables} == pinned
    assert (ts.entity_source.table, ts.entity_source.version) == ("labels", world.lakehouse.version("labels"))
    assert list(ts.features) == ["user_stats:spend", "user_stats:txns", "merchant_risk:risk"]
    assert ts.checksum == str(
        checksum(world.lakehouse.read(world.spark, created.table, version=created.delta_version))
    )
    edges = world.registry.lineage(PROJECT, ts_node(ts), direction="upstream", depth=1)
    assert {(e.src.kind, e.src.name) for e in edges} >= {
        ("data_source", "labels"),
        ("delta_output", world.user_table),
        ("delta_output", world.merchant_table),
        ("feature_service_version", "fraud"),
    }

    # The world moves on: a late value for user 1 on day 2 (would change row 1), a new day,
    # more labels, then compaction + Z-order rewrite every file.
    world.write_users([(1, day(2, 6), day(5), 25.0, 3)])
    world.write_users([(2, day(5), day(5), 5.0, 1)])
    world.lakehouse.write(world.spark.createDataFrame(entities_pdf([(6, 2, "a", day(5))])), "labels")
    world.lakehouse.optimize(world.user_table, zorder_by=["user_id"])
    world.lakehouse.optimize(world.merchant_table, zorder_by=["merchant_id"])

    repro = reproduce_training_set(
        spark=world.spark,
        lakehouse=world.lakehouse,
        registry=world.registry,
        project=PROJECT,
        name="fraud_train",
    )
    assert repro.equal, (repro.expected, repro.got)
    # ...and the comparison can fail: a fresh build on today's tables differs.
    fresh = create_training_set(
        spark=world.spark,
        lakehouse=world.lakehouse,
        registry=world.registry,
        project=PROJECT,
        name="fraud_train",
        service="fraud:v2",
        entities="labels",
        actor="tester",
    )
    assert fresh.version == 2 and fresh.checksum != created.checksum and fresh.rows == len(ENTITIES) + 1


def ts_node(ts):
    from featurelake.registry import Node

    return Node.training_set(ts.name, ts.version)


def test_pandas_entities_are_pinned_as_a_delta_table_and_snapshots_read_without_spark(world, tmp_path):
    created = create_training_set(
        spark=world.spark,
        lakehouse=world.lakehouse,
        registry=world.registry,
        project=PROJECT,
        name="from_pandas",
        service="fraud:v1",
        entities=entities_pdf(ENTITIES),
        actor="tester",
    )
    ts = world.registry.get_training_set(PROJECT, "from_pandas")
    assert ts.entity_source.table == created.table + "__entities" and ts.entity_source.version is not None
    assert reproduce_training_set(
        spark=world.spark,
        lakehouse=world.lakehouse,
        registry=world.registry,
        project=PROJECT,
        name="from_pandas",
    ).equal
    spark_rows = {r["row_id"]: r["spend"] for r in world.lakehouse.read(world.spark, created.table).collect()}
    arrow = read_snapshot_arrow(world.lakehouse, created.table, created.delta_version)
    pdf = read_snapshot_pandas(world.lakehouse, created.table, created.delta_version)
    assert (
        dict(zip(arrow.column("row_id").to_pylist(), arrow.column("spend").to_pylist(), strict=True))
        == spark_rows
    )
    assert str(pdf["event_timestamp"].dt.tz) == "UTC" and len(pdf) == len(ENTITIES)
    n = export_snapshot(world.lakehouse, created.table, created.delta_version, tmp_path / "x.csv", fmt="csv")
    back = pd.read_csv(tmp_path / "x.csv")
    assert n == len(back) == len(ENTITIES) and set(back.columns) == set(pdf.columns)
    export_snapshot(
        world.lakehouse, created.table, created.delta_version, tmp_path / "x.parquet", fmt="parquet"
    )
    again = world.spark.read.parquet(str(tmp_path / "x.parquet"))  # Spark reads it: microsecond timestamps
    assert str(checksum(again)) == created.checksum


def test_failed_build_is_recorded_as_failed(world):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DefinitionError):
            create_training_set(
                spark=world.spark,
                lakehouse=world.lakehouse,
                registry=world.registry,
                project=PROJECT,
                name="bad",
                service="fraud:v2",
                entities=entities_pdf(ENTITIES).drop(columns=["merchant_id"]),
                actor="tester",
            )
    runs = world.registry.list_runs(PROJECT, kind="training-set", target="bad")
    assert [r.status for r in runs] == ["failed"] and "merchant_id" in (runs[0].error or "")
    with pytest.raises(RegistryError):
        world.registry.get_training_set(PROJECT, "bad")


def _build(world, name: str, service: str = "fraud:v2"):
    world.lakehouse.write(world.spark.createDataFrame(entities_pdf(ENTITIES)), "labels", mode="overwrite")
    return create_training_set(
        spark=world.spark,
        lakehouse=world.lakehouse,
        registry=world.registry,
        project=PROJECT,
        name=name,
        service=service,
        entities="labels",
        actor="tester",
    )


def _reproduce(world, name: str):
    return reproduce_training_set(
        spark=world.spark, lakehouse=world.lakehouse, registry=world.registry, project=PROJECT, name=name
    )


def test_a_training_set_is_read_by_name_as_arrow_pandas_and_spark(world):
    from featurelake.jobs.training_set import read_training_set

    first = _build(world, "by_name")
    world.write_users([(1, day(2, 6), day(5), 25.0, 3)])  # changes row 1 for any later build
    second = _build(world, "by_name")
    assert second.checksum != first.checksum

    def read(**kw):
        return read_training_set(
            lakehouse=world.lakehouse, registry=world.registry, project=PROJECT, name="by_name", **kw
        )

    arrow_v1 = read(version=1)
    assert arrow_v1.num_rows == first.rows
    spend_v1 = dict(
        zip(arrow_v1.column("row_id").to_pylist(), arrow_v1.column("spend").to_pylist(), strict=True)
    )
    assert spend_v1[1] == 20.0
    newest = read(as_="pandas")  # default: newest version
    assert dict(zip(newest["row_id"], newest["spend"], strict=True))[1] == 25.0
    assert str(newest["event_timestamp"].dt.tz) == "UTC"
    sdf = read(version=1, as_="spark", spark=world.spark, columns=["row_id", "spend"])
    assert sdf.columns == ["row_id", "spend"]
    assert {r["row_id"]: r["spend"] for r in sdf.collect()} == spend_v1
    assert str(checksum(read(version=1, as_="spark", spark=world.spark))) == first.checksum
    with pytest.raises(RegistryError, match="by_name"):
        read(version=9)
    from featurelake.errors import LakehouseError

    with pytest.raises(LakehouseError, match="spark="):
        read(as_="spark")


def test_an_archived_service_stays_reproducible_but_refuses_new_builds(world):
    _build(world, "archived_later", service="fraud:v1")
    for status in ("deprecated", "archived"):
        world.registry.set_status(
            PROJECT, "fraud", 1, status, reason="retired", actor="t", object_type="service"
        )
    assert _reproduce(world, "archived_later").equal
    with pytest.raises(RegistryError, match="archived"):
        _build(world, "archived_later", service="fraud:v1")


def test_reproduce_reports_different_when_a_pinned_file_was_rewritten(world):
    """The checksum comparison catches storage that changed under a pinned version."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    created = _build(world, "tampered")
    pinned = created.feature_tables[world.user_table]
    dt = DeltaTable(world.lakehouse.table_uri(world.user_table), version=pinned)
    path = next(p for p in dt.file_uris() if "event_date=2026-01-01" in p)
    table = pq.read_table(path)
    pq.write_table(
        table.set_column(table.schema.get_field_index("spend"), "spend", pc.multiply(table["spend"], 2.0)),
        path,
    )
    repro = _reproduce(world, "tampered")
    assert not repro.equal and repro.expected == created.checksum and repro.got != created.checksum
