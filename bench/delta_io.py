"""Delta I/O throughput: our write/read (delta-rs bridge) vs Spark's native parquet, same data, one run.

Usage: .venv/bin/python bench/delta_io.py [--rows 2000000] [--days 10]
Prints rows/s for each and the ratios (targets: write >= 0.70, read >= 0.80 of native parquet).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date

from pyspark.sql import functions as F

from lakehouse import Lakehouse
from lakehouse.spark import build_spark_session


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=10)
    args = ap.parse_args()
    spark = build_spark_session(
        app_name="bench-delta-io",
        master="local[2]",
        conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"},
    )
    work = tempfile.mkdtemp(prefix="bench-delta-io-")
    n = args.rows
    df = (
        spark.range(n)
        .select(
            (F.col("id") % 100_000).alias("user_id"),
            F.round(F.rand(1) * 500, 2).alias("amount"),
            (F.rand(2) * 10).cast("int").alias("n_tx"),
            F.concat(F.lit("m"), (F.col("id") % 97).cast("string")).alias("merchant"),
            F.timestamp_micros(F.lit(1_704_067_200_000_000) + F.col("id") * 1_000).alias("event_timestamp"),
            F.date_add(F.lit(date(2024, 1, 1)), (F.col("id") % args.days).cast("int")).alias("event_date"),
        )
        .cache()
    )
    df.count()
    lake = Lakehouse(f"{work}/lake")
    native_dir = f"{work}/native"
    lake.write(df.limit(1000), "warmup", partition_by=["event_date"])  # JVM/worker warm-up for both paths
    df.limit(1000).write.partitionBy("event_date").parquet(f"{work}/warm")

    t_native_w, _ = _timed(lambda: df.write.partitionBy("event_date").mode("overwrite").parquet(native_dir))
    t_ours_w, info = _timed(lambda: lake.write(df, "bench", partition_by=["event_date"]))
    assert info.rows == n

    def scan(frame):
        return frame.agg(
            F.count("*"), F.sum("amount"), F.max("event_timestamp"), F.countDistinct("merchant")
        ).collect()

    t_native_r, r1 = _timed(lambda: scan(spark.read.parquet(native_dir)))
    t_ours_r, r2 = _timed(lambda: scan(lake.read(spark, "bench")))
    from lakehouse.tables import Lakehouse as _L  # the S3 path: pyarrow reader in the executors

    table = lake._load("bench")
    files = lake._files("bench", table, None)
    from lakehouse.schema import table_arrow_schema

    arrow = table_arrow_schema(table)
    t_bridge_r, r3 = _timed(
        lambda: scan(_L._read_bridge(lake, spark, files, arrow, ["event_date"], list(arrow.names)))
    )
    for r in (r2, r3):  # same rows: count, max and distinct exactly; the float sum up to summation order
        assert (r[0][0], r[0][2], r[0][3]) == (r1[0][0], r1[0][2], r1[0][3]) and r1[0][0] == n
        assert abs(r[0][1] - r1[0][1]) < 1e-6 * abs(r1[0][1])

    def line(label: str, secs: float) -> str:
        return f"{label:<46} {secs:7.2f} s  {n / secs / 1e6:6.2f} M rows/s"

    print(f"rows={n:,} days={args.days} cores=2 (local[2])")
    print(line("write: Spark native parquet (partitionBy)", t_native_w))
    print(
        line("write: Lakehouse.write (delta-rs commit)", t_ours_w) + f"   ratio {t_native_w / t_ours_w:.2f}"
    )
    print(line("read+scan: Spark native parquet", t_native_r))
    print(
        line("read+scan: Lakehouse.read (local, parquet)", t_ours_r) + f"   ratio {t_native_r / t_ours_r:.2f}"
    )
    print(
        line("read+scan: bridge reader (S3 path, pyarrow)", t_bridge_r)
        + f"   ratio {t_native_r / t_bridge_r:.2f}"
    )
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
