"""Delta I/O throughput: our write/read (delta-rs bridge) vs Spark's native parquet, same data, one run.

Usage:
    .venv/bin/python bench/delta_io.py [--rows 2000000] [--days 10] [--repeat 1]
    .venv/bin/python bench/delta_io.py --only-read --repeat 3        # skip the timed writes
    .venv/bin/python bench/delta_io.py --s3 --s3-rows 200000         # also read from the stack's S3

Prints rows/s for each and the ratios (targets: write >= 0.70, read >= 0.80 of native parquet).
Each read path is warmed up once on a small table first (its first read in a session pays
JVM class loading and, for the bridge, Python worker start-up; printed as "cold first read"),
then timed ``--repeat`` times; the median is reported. ``--s3`` writes a smaller table to the
local stack's S3 server (``stack.json``'s ``s3`` entry, under a fresh prefix removed afterwards)
and compares the bridge reader there with the same reader and native parquet on local disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.lakehouse import Lakehouse
from featurelake.lakehouse.schema import table_arrow_schema
from featurelake.lakehouse.spark import build_spark_session

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _median_timed(fn, repeat: int) -> tuple[float, object]:
    runs = [_timed(fn) for _ in range(max(1, repeat))]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def frame(spark: SparkSession, n: int, days: int) -> DataFrame:
    return spark.range(n).select(
        (F.col("id") % 100_000).alias("user_id"),
        F.round(F.rand(1) * 500, 2).alias("amount"),
        (F.rand(2) * 10).cast("int").alias("n_tx"),
        F.concat(F.lit("m"), (F.col("id") % 97).cast("string")).alias("merchant"),
        F.timestamp_micros(F.lit(1_704_067_200_000_000) + F.col("id") * 1_000).alias("event_timestamp"),
        F.date_add(F.lit(date(2024, 1, 1)), (F.col("id") % days).cast("int")).alias("event_date"),
    )


def scan(df: DataFrame) -> list:
    return df.agg(
        F.count("*"), F.sum("amount"), F.max("event_timestamp"), F.countDistinct("merchant")
    ).collect()


def bridge_read(spark: SparkSession, lake: Lakehouse, name: str) -> DataFrame:
    """The S3 read path (pyarrow in the executors) whatever the storage, on the latest snapshot."""
    table = lake._load(name)
    arrow = table_arrow_schema(table)
    files = lake._files(name, table, None)
    return lake._read_bridge(spark, files, arrow, list(table.metadata().partition_columns), list(arrow.names))


def check_same(expected: list, *others: list) -> None:
    """Same rows: count, max and distinct exactly; the float sum up to summation order."""
    e = expected[0]
    for r in others:
        assert (r[0][0], r[0][2], r[0][3]) == (e[0], e[2], e[3]), (r, expected)
        assert abs(r[0][1] - e[1]) < 1e-6 * abs(e[1])


def line(label: str, secs: float, n: int) -> str:
    return f"{label:<46} {secs:7.2f} s  {n / secs / 1e6:6.2f} M rows/s"


def s3_lake() -> tuple[Lakehouse, str]:
    home = Path(os.environ.get("FEATURELAKE_HOME", ROOT / ".featurelake"))
    s3 = json.loads((home / "stack" / "stack.json").read_text())["s3"]
    prefix = f"bench/delta-io-{uuid.uuid4().hex[:10]}"
    options = {
        "AWS_ENDPOINT_URL": s3["endpoint_url"],
        "AWS_ACCESS_KEY_ID": s3["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": s3["secret_access_key"],
        "AWS_REGION": s3["region"],
        "AWS_ALLOW_HTTP": "true",
    }
    return Lakehouse(f"s3://{s3['bucket']}/{prefix}", options), f"{s3['bucket']}/{prefix}"


def run_s3(spark: SparkSession, work: str, n: int, days: int, repeat: int) -> None:
    """Bridge reader on S3 vs the same reader and native parquet on local disk (same data)."""
    lake_s3, prefix = s3_lake()
    try:
        df = frame(spark, n, days).cache()
        df.count()
        local = Lakehouse(f"{work}/lake-s3cmp")
        native_dir = f"{work}/native-s3cmp"
        local.write(df, "t", partition_by=["event_date"])
        df.write.partitionBy("event_date").parquet(native_dir)
        t_up, _ = _timed(lambda: lake_s3.write(df, "t", partition_by=["event_date"]))
        scan(bridge_read(spark, lake_s3, "t"))  # warm-up: first S3 client in each worker
        t_native, r1 = _median_timed(lambda: scan(spark.read.parquet(native_dir)), repeat)
        t_local, r2 = _median_timed(lambda: scan(bridge_read(spark, local, "t")), repeat)
        t_s3, r3 = _median_timed(lambda: scan(bridge_read(spark, lake_s3, "t")), repeat)
        check_same(r1, r2, r3)
        assert r1[0][0] == n
        print(f"S3 (moto_server, same data) rows={n:,} days={days} repeat={repeat}")
        print(line("write: Lakehouse.write to S3", t_up, n))
        print(line("read+scan: native parquet (local disk)", t_native, n))
        print(
            line("read+scan: bridge reader (local disk)", t_local, n) + f"   ratio {t_native / t_local:.2f}"
        )
        print(
            line("read+scan: bridge reader (S3)", t_s3, n)
            + f"   ratio {t_native / t_s3:.2f} (vs bridge local {t_local / t_s3:.2f})"
        )
        df.unpersist()
    finally:
        fs = lake_s3.storage.filesystem()
        fs.delete_dir_contents(prefix, missing_dir_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1, help="timed reads per path (median reported)")
    ap.add_argument("--only-read", action="store_true", help="write the tables untimed; time reads only")
    ap.add_argument("--s3", action="store_true", help="also read from the local stack's S3 server")
    ap.add_argument("--s3-rows", type=int, default=200_000)
    args = ap.parse_args()
    spark = build_spark_session(
        app_name="bench-delta-io",
        master="local[2]",
        conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"},
    )
    work = tempfile.mkdtemp(prefix="bench-delta-io-")
    n = args.rows
    df = frame(spark, n, args.days).cache()
    df.count()
    lake = Lakehouse(f"{work}/lake")
    native_dir = f"{work}/native"
    lake.write(df.limit(1000), "warmup", partition_by=["event_date"])  # JVM/worker warm-up for both paths
    df.limit(1000).write.partitionBy("event_date").parquet(f"{work}/warm")

    write_native = lambda: df.write.partitionBy("event_date").mode("overwrite").parquet(native_dir)  # noqa: E731
    write_ours = lambda: lake.write(df, "bench", partition_by=["event_date"])  # noqa: E731
    t_native_w, _ = _timed(write_native)
    t_ours_w, info = _timed(write_ours)
    assert info.rows == n  # type: ignore[attr-defined]

    # Each read path's first read in this session, on the 1000-row tables (start-up costs).
    t_cold_native, _ = _timed(lambda: scan(spark.read.parquet(f"{work}/warm")))
    t_cold_ours, _ = _timed(lambda: scan(lake.read(spark, "warmup")))
    t_cold_bridge, _ = _timed(lambda: scan(bridge_read(spark, lake, "warmup")))

    t_native_r, r1 = _median_timed(lambda: scan(spark.read.parquet(native_dir)), args.repeat)
    t_ours_r, r2 = _median_timed(lambda: scan(lake.read(spark, "bench")), args.repeat)
    t_bridge_r, r3 = _median_timed(lambda: scan(bridge_read(spark, lake, "bench")), args.repeat)
    check_same(r1, r2, r3)
    assert r1[0][0] == n

    print(f"rows={n:,} days={args.days} cores=2 (local[2]) repeat={args.repeat}")
    if not args.only_read:
        print(line("write: Spark native parquet (partitionBy)", t_native_w, n))
        print(
            line("write: Lakehouse.write (delta-rs commit)", t_ours_w, n)
            + f"   ratio {t_native_w / t_ours_w:.2f}"
        )
    print(line("read+scan: Spark native parquet", t_native_r, n))
    print(
        line("read+scan: Lakehouse.read (local, parquet)", t_ours_r, n)
        + f"   ratio {t_native_r / t_ours_r:.2f}"
    )
    print(
        line("read+scan: bridge reader (S3 path, pyarrow)", t_bridge_r, n)
        + f"   ratio {t_native_r / t_bridge_r:.2f}"
    )
    print(
        f"cold first read (1000 rows): native {t_cold_native:.2f} s, Lakehouse.read {t_cold_ours:.2f} s, "
        f"bridge {t_cold_bridge:.2f} s"
    )
    df.unpersist()
    if args.s3:
        run_s3(spark, work, args.s3_rows, args.days, args.repeat)
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
