"""Other engines read our tables; our file statistics equal delta-rs's own; Z-order skips files."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from tests.lakehouse.conftest import event_rows, events_df

pytestmark = pytest.mark.spark


def test_deltalake_and_polars_read_our_table(spark, lake):
    rows = event_rows(1500, days=3)
    lake.write(events_df(spark, rows), "interop", partition_by=["event_date"])
    lake.write(events_df(spark, rows[:100]), "interop")
    expected = sorted(rows + rows[:100])
    dt = DeltaTable(lake.table_uri("interop"))
    assert dt.protocol().min_reader_version == 1 and dt.protocol().min_writer_version == 2
    got = dt.to_pyarrow_table().to_pylist()
    cols = ["user_id", "amount", "merchant", "event_timestamp", "event_date"]
    as_rows = sorted(
        tuple(r[c].replace(tzinfo=None) if c == "event_timestamp" else r[c] for c in cols) for r in got
    )
    assert as_rows == expected
    frame = pl.read_delta(lake.table_uri("interop"))
    assert frame.schema["event_timestamp"] == pl.Datetime("us", "UTC")
    polars_rows = sorted(
        tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in r)
        for r in frame.select(cols).rows()
    )
    assert polars_rows == expected


def _stats_by_partition(uri: str) -> dict[str, dict]:
    """Each add action's parsed stats, keyed by its partition values (read from the log files)."""
    out = {}
    for f in sorted(Path(uri, "_delta_log").glob("*.json")):
        for line in f.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                out[json.dumps(action["add"]["partitionValues"], sort_keys=True)] = json.loads(
                    action["add"]["stats"]
                )
    return out


STATS_SCHEMA = (
    "b boolean, i8 tinyint, i16 smallint, i32 int, i64 long, f32 float, f64 double, dec decimal(10,2), "
    "s string, d date, ts timestamp, st struct<x:int, y:string, z:struct<w:double>>, lst array<long>, "
    "m map<string,int>, bin binary, event_date date"
)


def _stats_rows() -> list[tuple]:
    big = "x" * 70
    rows = []
    for i in range(40):
        day = date(2024, 1, 1 + i % 2)
        rows.append(
            (
                None if i % 5 == 0 else i % 2 == 0,
                i - 20,
                None if i % 7 == 0 else -i * 3,
                i * 1000,
                2**40 + i,
                float("nan") if i == 3 else i / 10,
                None if i % 4 == 0 else (i - 15) * 1.25,
                None if i % 9 == 0 else Decimal(i * 7) / 4,
                ["é" * 40, big, "ab", "\U0010ffff" * 20, None][i % 5] + ("" if i % 5 == 4 else str(i))
                if i % 5 != 4
                else None,
                date(2020, 1, 1 + i % 28),
                datetime(2024, 1, 1, 0, 0, i % 60, 500 + i * 997, tzinfo=UTC).replace(tzinfo=None)
                if i % 6
                else None,
                None
                if i % 8 == 0
                else (i, None if i % 3 == 0 else f"y{i}", None if i % 4 == 1 else (i / 3,)),
                [i, i + 1],
                {"k": i},
                bytes([i]),
                day,
            )
        )
    return rows


def test_file_statistics_equal_delta_rs_writer(spark, lake, tmp_path):
    rows = _stats_rows()
    df = spark.createDataFrame(rows, STATS_SCHEMA).coalesce(1)  # one file per partition on both sides
    lake.write(df, "stats", partition_by=["event_date"])
    ref_uri = str(tmp_path / "ref")
    arrow = pa.Table.from_batches(df.toArrow().to_batches())
    arrow = arrow.cast(
        pa.schema([f.with_type(pa.timestamp("us", "UTC")) if f.name == "ts" else f for f in arrow.schema])
    )
    write_deltalake(ref_uri, arrow, partition_by=["event_date"])
    ours, theirs = _stats_by_partition(lake.table_uri("stats")), _stats_by_partition(ref_uri)
    assert set(ours) == set(theirs) and len(ours) == 2
    for key in ours:
        assert ours[key] == theirs[key], key


def test_many_columns_get_stats_only_for_the_first_32(spark, lake, tmp_path):
    from pyspark.sql import functions as F

    df = spark.range(50).select(
        *(F.col("id") * k for k in range(40)), F.lit(date(2024, 1, 1)).alias("event_date")
    )
    df = df.toDF(*[f"c{k:02d}" for k in range(40)], "event_date").coalesce(1)
    lake.write(df, "wide", partition_by=["event_date"])
    ref_uri = str(tmp_path / "wide_ref")
    write_deltalake(ref_uri, df.toArrow(), partition_by=["event_date"])
    ours, theirs = _stats_by_partition(lake.table_uri("wide")), _stats_by_partition(ref_uri)
    assert ours == theirs
    assert len(next(iter(ours.values()))["minValues"]) == 32


def test_zorder_makes_a_single_user_predicate_touch_few_files(spark, lake):
    from pyspark.sql import functions as F

    n, users = 40_000, 4_000
    df = spark.range(n).select(
        ((F.col("id") * 7919) % users).alias("user_id"),
        F.round(F.rand(3) * 100, 2).alias("amount"),
        F.sha2(F.col("id").cast("string"), 256).alias("payload"),
        F.lit(date(2024, 1, 1)).alias("event_date"),
    )
    lake.write(df.repartition(16), "zorder", partition_by=["event_date"])
    user = 1234

    def fraction() -> float:
        files = lake.files("zorder")
        hit = [f for f in files if f.min_values["user_id"] <= user <= f.max_values["user_id"]]
        return len(hit) / len(files)

    before = fraction()
    metrics = lake.optimize("zorder", zorder_by=["user_id"], target_size=128 * 1024)
    after = fraction()
    print(
        f"files touched by user_id={user}: before {before:.2f}, after Z-order {after:.2f} "
        f"({metrics['numFilesAdded']} files)"
    )
    assert before > 0.9
    assert metrics["numFilesAdded"] >= 8 and after <= 0.25
    back = lake.read(spark, "zorder")
    assert back.count() == n and back.where(f"user_id = {user}").count() == n // users
    assert lake.describe("zorder").last_optimize["zorder_by"] == ["user_id"]
