"""Writes, reads, time travel and replace_range on real Delta tables on local disk."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable

from featurelake.errors import LakehouseError
from tests.lakehouse.conftest import event_rows, events_df, sorted_rows

pytestmark = pytest.mark.spark


def test_round_trip_is_row_for_row(spark, lake):
    rows = event_rows(3000, days=4)
    info = lake.write(events_df(spark, rows, partitions=3), "events", partition_by=["event_date"])
    assert (info.version, info.rows, info.operation) == (0, 3000, "create")
    back = lake.read(spark, "events")
    assert back.schema.simpleString() == (
        "struct<user_id:bigint,amount:double,merchant:string,event_timestamp:timestamp,event_date:date>"
    )
    assert sorted_rows(back) == sorted(rows)  # microseconds, nulls, UTC and partition values intact
    on_disk = sorted(p.parent.name for p in Path(lake.table_uri("events")).rglob("*.parquet"))
    assert set(on_disk) == {f"event_date={date(2024, 1, d)}" for d in range(1, 5)}


def test_time_travel_by_version_and_timestamp(spark, lake):
    first, second, third = (
        event_rows(500, seed=1),
        event_rows(300, seed=2, id_offset=10_000),
        event_rows(200, seed=3),
    )
    lake.write(events_df(spark, first), "tt", partition_by=["event_date"])
    after_v0 = datetime.now(UTC)
    time.sleep(0.05)
    lake.write(events_df(spark, second), "tt")
    after_v1 = datetime.now(UTC)
    time.sleep(0.05)
    info = lake.write(events_df(spark, third), "tt", mode="overwrite")
    assert info.version == 2 and info.files_removed > 0
    assert sorted_rows(lake.read(spark, "tt", version=0)) == sorted(first)
    assert sorted_rows(lake.read(spark, "tt", version=1)) == sorted(first + second)
    assert sorted_rows(lake.read(spark, "tt")) == sorted(third)
    assert sorted_rows(lake.read(spark, "tt", as_of=after_v0)) == sorted(first)
    assert sorted_rows(lake.read(spark, "tt", as_of=after_v1.replace(tzinfo=None))) == sorted(first + second)
    with pytest.raises(LakehouseError, match=r"no version 7; its versions are 0\.\.2"):
        lake.read(spark, "tt", version=7)
    with pytest.raises(LakehouseError, match="first commit"):
        lake.read(spark, "tt", as_of=datetime(2001, 1, 1, tzinfo=UTC))


def test_replace_range_is_idempotent_and_leaves_other_days_alone(spark, lake):
    base = event_rows(1000, days=5)
    lake.write(events_df(spark, base), "rr", partition_by=["event_date"])
    outside = {
        f.path
        for f in lake.files("rr")
        if f.partition_values["event_date"] not in ("2024-01-02", "2024-01-03")
    }
    fresh = [r for r in event_rows(600, days=2, start=date(2024, 1, 2), seed=99, id_offset=50_000)]
    expected = sorted([r for r in base if r[4] not in (date(2024, 1, 2), date(2024, 1, 3))] + fresh)
    rng = (date(2024, 1, 2), date(2024, 1, 3))
    first = lake.write(events_df(spark, fresh), "rr", replace_range=rng)
    assert sorted_rows(lake.read(spark, "rr")) == expected
    second = lake.write(events_df(spark, fresh), "rr", replace_range=rng)
    assert (first.version, second.version) == (1, 2) and second.operation == "replace_range"
    assert sorted_rows(lake.read(spark, "rr")) == expected  # same contents, not duplicates
    now = {
        f.path
        for f in lake.files("rr")
        if f.partition_values["event_date"] not in ("2024-01-02", "2024-01-03")
    }
    assert now == outside  # files outside the range were not rewritten
    # plain delta-rs sees the same: removes were committed in the same version as the adds
    dt = DeltaTable(lake.table_uri("rr"))
    assert dt.to_pyarrow_table().num_rows == len(expected)
    assert dt.history(limit=1)[0]["operationParameters"]["mode"] == "Overwrite"


def test_replace_range_refuses_rows_outside_the_range(spark, lake):
    lake.write(events_df(spark, event_rows(200)), "rr2", partition_by=["event_date"])
    with pytest.raises(LakehouseError, match=r"outside the range \(2024-01-03: 40 rows"):
        lake.write(
            events_df(spark, event_rows(200)), "rr2", replace_range=(date(2024, 1, 1), date(2024, 1, 2))
        )
    assert lake.version("rr2") == 0 and lake.read(spark, "rr2").count() == 200
    parquet = list(Path(lake.table_uri("rr2")).rglob("*.parquet"))
    assert len(parquet) == len(lake.files("rr2"))  # the refused write's files were removed


def test_failed_job_leaves_version_and_rows_unchanged(spark, lake):
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType

    lake.write(events_df(spark, event_rows(400)), "fail", partition_by=["event_date"])

    @F.udf(DoubleType())
    def explode_on_day_3(amount, day):
        if day == date(2024, 1, 3):
            raise ValueError("boom on 2024-01-03")
        return amount

    bad = events_df(spark, event_rows(400, seed=5, id_offset=9000), partitions=4)
    bad = bad.withColumn("amount", explode_on_day_3("amount", "event_date"))
    with pytest.raises(
        LakehouseError, match=r"failed in Spark, nothing was committed and the table stays at version 0"
    ):
        lake.write(bad, "fail")
    assert lake.version("fail") == 0
    assert lake.read(spark, "fail").count() == 400
    assert lake.read(spark, "fail").where("user_id >= 9000").count() == 0
    # files of tasks that were cut off mid-write are unreferenced and vacuumable
    lake.vacuum("fail", retention=timedelta(0))
    parquet = list(Path(lake.table_uri("fail")).rglob("*.parquet"))
    assert len(parquet) == len(lake.files("fail"))


def test_a_commit_whose_version_cannot_be_found_keeps_its_files(spark, lake, monkeypatch):
    # The commit call returned, so the log may reference the new files: deleting them would leave
    # a version pointing at missing files. The error must say so and the table must stay readable.
    first, second = event_rows(300, seed=1), event_rows(200, seed=2, id_offset=10_000)
    lake.write(events_df(spark, first), "kept", partition_by=["event_date"])
    monkeypatch.setattr(type(lake), "_find_commit", lambda self, name, write_id, since: None)
    with pytest.raises(LakehouseError, match=r"no commit with write id .* its files were kept"):
        lake.write(events_df(spark, second), "kept")
    monkeypatch.undo()
    assert lake.version("kept") == 1
    assert sorted_rows(lake.read(spark, "kept")) == sorted(first + second)


def test_a_refused_commit_removes_the_files_it_wrote(spark, lake, monkeypatch):
    lake.write(events_df(spark, event_rows(100)), "refused", partition_by=["event_date"])
    before = set(Path(lake.table_uri("refused")).rglob("*.parquet"))

    def refuse(self, *args, **kwargs):
        raise RuntimeError("simulated commit conflict")

    from deltalake import DeltaTable as _DT

    monkeypatch.setattr(_DT, "create_write_transaction", refuse)
    with pytest.raises(LakehouseError, match="failed, nothing was committed: .*simulated commit conflict"):
        lake.write(events_df(spark, event_rows(50, seed=3, id_offset=5000)), "refused")
    monkeypatch.undo()
    assert lake.version("refused") == 0
    assert set(Path(lake.table_uri("refused")).rglob("*.parquet")) == before


def test_a_sub_hour_vacuum_retention_is_not_rounded_down_to_zero(spark, lake):
    lake.write(events_df(spark, event_rows(100)), "vac", partition_by=["event_date"])
    lake.write(events_df(spark, event_rows(50, seed=4)), "vac", mode="overwrite")
    replaced = len(list(Path(lake.table_uri("vac")).rglob("*.parquet"))) - len(lake.files("vac"))
    assert replaced > 0
    # the replaced files are seconds old: a 30-minute retention must keep them all
    assert lake.vacuum("vac", retention=timedelta(minutes=30), dry_run=True) == []
    assert len(lake.vacuum("vac", retention=timedelta(0), dry_run=True)) == replaced


def test_projection_and_date_range_prune_partitions(spark, lake):
    rows = event_rows(1000, days=10)
    lake.write(events_df(spark, rows), "pr", partition_by=["event_date"])
    rng = (date(2024, 1, 3), date(2024, 1, 5))
    files = lake.files("pr", date_range=rng)
    assert {f.partition_values["event_date"] for f in files} == {"2024-01-03", "2024-01-04", "2024-01-05"}
    df = lake.read(spark, "pr", columns=["event_date", "user_id"], date_range=rng)
    assert df.columns == ["event_date", "user_id"]
    assert sorted(tuple(r) for r in df.collect()) == sorted(
        (r[4], r[0]) for r in rows if rng[0] <= r[4] <= rng[1]
    )
    assert lake.read(spark, "pr", date_range=(date(2030, 1, 1), date(2030, 1, 2))).count() == 0


def test_schema_changes_are_refused_with_the_difference(spark, lake):
    from pyspark.sql import functions as F

    df = events_df(spark, event_rows(100))
    lake.write(df, "sc", partition_by=["event_date"])
    changed = df.withColumn("user_id", F.col("user_id").cast("string")).drop("merchant")
    with pytest.raises(LakehouseError) as err:
        lake.write(changed, "sc")
    assert "column 'user_id' would change type from long to string" in str(err.value)
    assert "column 'merchant' (string) is missing from the DataFrame" in str(err.value)
    extra = df.withColumn("score", F.lit(0.5))
    with pytest.raises(LakehouseError, match=r"new column\(s\) 'score' \(double\) .* allow_new_columns=True"):
        lake.write(extra, "sc")
    assert lake.version("sc") == 0
    info = lake.write(extra.select("score", *df.columns), "sc", allow_new_columns=True)
    assert info.added_columns == ["score"]
    back = lake.read(spark, "sc")
    assert back.columns[-1] == "score"
    assert back.where("score is null").count() == 100 and back.where("score = 0.5").count() == 100


def test_bad_input_errors_name_the_value_and_the_fix(spark, lake):
    df = events_df(spark, event_rows(50))
    with pytest.raises(LakehouseError, match=r"table 'nope' does not exist under .*lake"):
        lake.read(spark, "nope")
    with pytest.raises(LakehouseError, match=r"partition column 'day' is missing from the DataFrame"):
        lake.write(df, "pc", partition_by=["day"])
    assert not lake.exists("pc")
    lake.write(df, "pc", partition_by=["event_date"])
    with pytest.raises(LakehouseError, match=r"partition column 'event_date' is missing"):
        lake.write(df.drop("event_date"), "pc")
    with pytest.raises(LakehouseError, match=r"partitioned by \['event_date'\], not \['user_id'\]"):
        lake.write(df, "pc", partition_by=["user_id"])
    with pytest.raises(LakehouseError, match="starts after it ends"):
        lake.read(spark, "pc", date_range=(date(2024, 2, 1), date(2024, 1, 1)))
    with pytest.raises(LakehouseError, match=r"mode='upsert' is not a write mode"):
        lake.write(df, "pc", mode="upsert")
    with pytest.raises(LakehouseError, match=r"TIMESTAMP_NTZ"):
        lake.write(
            df.selectExpr("*", "cast(event_timestamp as timestamp_ntz) as t2"), "pc", allow_new_columns=True
        )
    with pytest.raises(LakehouseError, match=r"no column\(s\) 'price'"):
        lake.read(spark, "pc", columns=["price"])
    with pytest.raises(LakehouseError, match="not valid"):
        lake.read(spark, "../etc")
    assert lake.version("pc") == 0


def test_describe_history_vacuum(spark, lake):
    rows = event_rows(600, days=3)
    lake.write(events_df(spark, rows, partitions=2), "dh", partition_by=["event_date"])
    lake.write(events_df(spark, rows, partitions=2), "dh", mode="overwrite")
    info = lake.describe("dh")
    assert (info.version, info.partitions, info.num_rows) == (1, 3, 600)
    assert info.protocol["min_reader_version"] == 1 and info.protocol["min_writer_version"] == 2
    assert info.num_files == len(list(DeltaTable(lake.table_uri("dh")).file_uris()))
    assert [h["version"] for h in lake.history("dh")] == [1, 0]
    assert info.last_optimize is None
    deleted = lake.vacuum("dh", retention=timedelta(0))
    assert len(deleted) == 6  # version 0's files (3 days x 2 tasks)
    with pytest.raises(LakehouseError, match="non-negative timedelta"):
        lake.vacuum("dh", retention=7)


@pytest.mark.spark
def test_a_bad_row_group_setting_is_named_before_anything_is_written(spark, lake):
    spark.conf.set("spark.featurelake.write.rowGroupRows", "lots")
    try:
        with pytest.raises(LakehouseError, match=r"rowGroupRows='lots' is not a positive number"):
            lake.write(spark.range(3), "rg_bad")
    finally:
        spark.conf.unset("spark.featurelake.write.rowGroupRows")
    assert not lake.exists("rg_bad")
