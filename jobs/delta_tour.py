"""A small Spark job that writes, reads, time-travels and optimizes a Delta table, saying what it did.

Run it with ``.venv/bin/spark-submit jobs/delta_tour.py`` (any ``--master``) or
``.venv/bin/python -m featurelake.jobs.delta_tour``; with no settings file it uses the embedded defaults
(tables under ``.featurelake/data``, Spark ``local[*]``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta

from featurelake.config.settings import load_settings
from featurelake.jobs.wiring import lakehouse_from_settings


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="delta_tour", description=__doc__.splitlines()[0])
    p.add_argument(
        "--config", default=None, help="settings file (default: ./featurelake.yaml or embedded defaults)"
    )
    p.add_argument("--root", default=None, help="storage root to use instead of the settings' one")
    p.add_argument("--table", default="delta_tour", help="table name (default: delta_tour)")
    p.add_argument("--rows", type=int, default=20_000, help="rows per write (default: 20000)")
    p.add_argument("--users", type=int, default=2_000, help="distinct user ids (default: 2000)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the tour; returns the process exit code."""
    args = _parse(argv)
    settings = load_settings(args.config)
    if args.root:
        settings = settings.model_copy(
            update={"storage": settings.storage.model_copy(update={"root": args.root})}
        )
    from pyspark.sql import functions as F

    from featurelake.lakehouse import Lakehouse
    from featurelake.lakehouse.spark import build_spark_session

    under_submit = bool(os.environ.get("PYSPARK_GATEWAY_PORT"))  # spark-submit already chose the master
    spark = build_spark_session(
        app_name="featurelake-delta-tour",
        master=None if under_submit else settings.spark.master,
        conf={"spark.ui.showConsoleProgress": "false", **settings.spark.conf},
    )
    lh: Lakehouse = lakehouse_from_settings(settings)
    name, start, days = args.table, date(2024, 1, 1), 7
    say = print
    say(f"Spark master {spark.sparkContext.master}; table {lh.table_uri(name)}")

    def events(seed: int, n: int, first: date, ndays: int):
        return (
            spark.range(n)
            .select(
                ((F.col("id") * 7919 + seed) % args.users).alias("user_id"),
                F.round(F.rand(seed) * 500, 2).alias("amount"),
                F.date_add(F.lit(first), (F.col("id") % ndays).cast("int")).alias("event_date"),
            )
            .withColumn(
                "event_timestamp",
                F.timestamp_micros(
                    F.unix_micros(F.col("event_date").cast("timestamp"))
                    + (F.rand(seed + 1) * 86_400_000_000).cast("long")
                ),
            )
        )

    t = time.perf_counter()
    info = lh.write(events(1, args.rows, start, days), name, mode="overwrite", partition_by=["event_date"])
    say(
        f"1. wrote {info.rows} rows in {info.files_added} files -> version {info.version} ({time.perf_counter() - t:.1f}s)"
    )
    info = lh.write(events(2, args.rows // 2, start, days), name)
    say(f"2. appended {info.rows} rows -> version {info.version}")
    day = start + timedelta(days=2)
    info = lh.write(events(3, args.rows // 10, day, 1), name, replace_range=(day, day))
    say(
        f"3. replaced partition {day} with {info.rows} rows (removed {info.files_removed} files) -> version {info.version}"
    )
    latest = lh.read(spark, name)
    total = latest.count()
    on_day = lh.read(spark, name, date_range=(day, day)).count()
    say(f"4. read version {lh.version(name)}: {total} rows; date_range {day} alone: {on_day} rows")
    first_version = info.version - 2
    say(
        f"5. time travel to version {first_version}: {lh.read(spark, name, version=first_version).count()} rows"
    )
    user = 42 % args.users

    def touched() -> tuple[int, int]:
        files = lh.files(name)
        hit = [
            f for f in files if f.min_values.get("user_id", user) <= user <= f.max_values.get("user_id", user)
        ]
        return len(hit), len(files)

    before = touched()
    metrics = lh.optimize(name, zorder_by=["user_id"], target_size=64 * 1024)
    after = touched()
    say(
        f"6. optimize + Z-order by user_id -> version {metrics['version']}: {metrics.get('numFilesRemoved')} files "
        f"rewritten into {metrics.get('numFilesAdded')}; files that may hold user {user}: "
        f"{before[0]}/{before[1]} before, {after[0]}/{after[1]} after"
    )
    assert_same = lh.read(spark, name).count()
    d = lh.describe(name)
    say(
        f"7. {name}: version {d.version}, {d.partitions} partitions, {d.num_files} files, {d.size_bytes} bytes, "
        f"{assert_same} rows (unchanged by optimize: {assert_same == total}), protocol "
        f"{d.protocol['min_reader_version']}/{d.protocol['min_writer_version']}"
    )
    spark.stop()
    return 0 if assert_same == total else 1


if __name__ == "__main__":
    sys.exit(main())
