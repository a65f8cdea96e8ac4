"""Backfill benchmark: the window engine vs a naive plain-Spark aggregation, on the demo data.

For each scale (transactions over 90 days of demo data) and each range length (7, 30, 60 days)
it times, on the SAME data in the SAME Spark session:

* engine: ``featurelake.lakehouse.transforms.compute_view`` for ``user_transaction_stats`` (12 features:
  count/sum/mean/max over 1d/7d/30d) written to Spark's ``noop`` sink;
* baseline: the naive plain-Spark way: cross join every user with every period end of the
  range, join the events of the last 30 days on (user, time range), aggregate with
  conditional sums; also written to ``noop``; both results are checked equal;
* job: the full backfill job (read, compute, stage, validate with GX, commit, Z-order).

It then reads ONE user's rows of the 60-day table and reports the fraction of data files
skipped by Delta file statistics, for the files as the job wrote them, after the job's Z-order,
and after a Z-order with 1 MB target files (so each day partition holds several files).

Usage: .venv/bin/python bench/backfill.py [--scales 2000000,10000000] [--ranges 7,30,60]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

VIEW = "user_transaction_stats"
START = date(2024, 1, 1)
DAYS = 90
WINDOWS = {"1d": 1, "7d": 7, "30d": 30}


def naive_baseline(spark, events, *, start: date, end: date):  # type: ignore[no-untyped-def]
    """user_transaction_stats the naive way: users x period ends, range-joined to 30 days of events."""
    from pyspark.sql import functions as F

    ends = spark.createDataFrame(
        [(start + timedelta(days=i + 1),) for i in range((end - start).days + 1)], "d date"
    ).select(F.to_timestamp("d").alias("event_timestamp"))
    users = events.select("user_id").distinct()
    grid = users.crossJoin(ends)
    ev = events.select(F.col("user_id").alias("uid"), F.col("event_timestamp").alias("ts"), "amount")
    joined = grid.join(
        ev,
        (grid.user_id == ev.uid)
        & (ev.ts < grid.event_timestamp)
        & (ev.ts >= grid.event_timestamp - F.expr("INTERVAL 30 DAYS")),
    )
    aggs = []
    for label, days in WINDOWS.items():
        inside = joined.ts >= joined.event_timestamp - F.expr(f"INTERVAL {days} DAYS")
        amount = F.when(inside, joined.amount)
        aggs += [
            F.count(F.when(inside, F.lit(1))).alias(f"txn_count_{label}"),
            F.sum(amount).alias(f"txn_amount_sum_{label}"),
            F.avg(amount).alias(f"txn_amount_mean_{label}"),
            F.max(amount).alias(f"txn_amount_max_{label}"),
        ]
    return joined.groupBy("user_id", "event_timestamp").agg(*aggs)


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def _checksum(df):  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum("txn_count_30d").alias("n30"),
        F.sum("txn_amount_sum_7d").alias("s7"),
        F.sum("txn_amount_max_1d").alias("m1"),
    ).collect()[0]
    return tuple(row)


def skipping(lakehouse, table: str, user_id: int, *, version: int | None = None) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(files that may hold the user by min/max statistics, total files)."""
    files = lakehouse.files(table, version=version)
    hits = 0
    for f in files:
        lo, hi = f.min_values.get("user_id"), f.max_values.get("user_id")
        if lo is None or hi is None or lo <= user_id <= hi:
            hits += 1
    return hits, len(files)


def run_scale(spark, rows: int, ranges: list[int], workdir: Path) -> list[str]:  # type: ignore[no-untyped-def]
    from featurelake.config.settings import load_settings_from_dict
    from featurelake.jobs.apply import apply_repo
    from featurelake.jobs.backfill import BackfillOptions, run_backfill
    from featurelake.lakehouse.demo_data import generate
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.lakehouse.transforms import compute_view, computed_at, pin_sources, source_ranges
    from featurelake.registry import open_registry
    from featurelake.repo import load_repo

    home = workdir / f"scale_{rows}"
    settings = load_settings_from_dict(
        {
            "home": str(home),
            "feature_repo": str(REPO_ROOT / "feature_repo"),
            "storage": {"root": str(home / "data")},
            "registry": {"url": f"sqlite:///{home / 'registry.db'}"},
        },
        environ={},
    )
    _, gen_s = _timed(
        lambda: generate(None, settings.storage_root, rows=rows, seed=7, start=START, days=DAYS)
    )
    registry = open_registry(settings.registry_url)
    apply_repo(
        registry,
        project=settings.project,
        repo_path=settings.feature_repo,
        actor="bench",
        registry_url=settings.registry_url,
        online_nodes=[],
        feast=False,
    )
    lh = Lakehouse(settings.storage_root)
    spec = load_repo(settings.feature_repo).view_specs[VIEW]
    vv = registry.get_view_version(settings.project, VIEW)
    keys = {k.name: k.dtype for k in vv.entities}
    feats = {f.name: f.dtype for f in vv.features}
    snaps = pin_sources(lh, spec.source_tables(), view=VIEW)
    lines = [f"scale {rows:,} transactions over {DAYS} days (generated in {gen_s:.0f}s)"]
    end = START + timedelta(days=DAYS - 1)
    last_out = None
    # warm-up (JIT, Python workers), untimed: the smallest range once through both paths
    warm = end - timedelta(days=min(ranges) - 1)
    compute_view(
        spark,
        lh,
        spec,
        start=warm,
        end=end,
        snapshots=snaps,
        join_keys=keys,
        features=feats,
        created=computed_at(snaps),
    ).df.write.format("noop").mode("overwrite").save()
    ((wlo, whi),) = source_ranges(spec, start=warm, end=end).values()
    naive_baseline(
        spark, lh.read(spark, "raw_transactions", date_range=(wlo, whi)), start=warm, end=end
    ).write.format("noop").mode("overwrite").save()
    for n in ranges:
        start = end - timedelta(days=n - 1)
        ((lo, hi),) = source_ranges(spec, start=start, end=end).values()
        files = lh.files("raw_transactions", date_range=(lo, hi))
        events = sum(f.num_records or 0 for f in files)
        computed = compute_view(
            spark,
            lh,
            spec,
            start=start,
            end=end,
            snapshots=snaps,
            join_keys=keys,
            features=feats,
            created=computed_at(snaps),
        )
        _, eng_s = _timed(lambda df=computed.df: df.write.format("noop").mode("overwrite").save())
        raw = lh.read(spark, "raw_transactions", date_range=(lo, hi))
        base = naive_baseline(spark, raw, start=start, end=end)
        _, base_s = _timed(lambda df=base: df.write.format("noop").mode("overwrite").save())
        mine, theirs = _checksum(computed.df), _checksum(base)
        same = mine[:2] == theirs[:2] and all(
            abs(a - b) <= 1e-9 * max(1.0, abs(b)) for a, b in zip(mine[2:], theirs[2:], strict=True)
        )
        options = BackfillOptions(view=VIEW, start=start, end=end)
        result, job_s = _timed(lambda o=options: run_backfill(spark, settings, o, actor="bench"))
        last_out = result
        lines.append(
            f"  {n:>2} days: {events:>11,} events read | engine {eng_s:6.1f}s ({events / eng_s:>9,.0f} ev/s) | "
            f"naive Spark {base_s:6.1f}s ({events / base_s:>9,.0f} ev/s) | speed-up x{base_s / eng_s:4.1f} | "
            f"results equal: {same} | full job {job_s:6.1f}s ({result.rows_written:,} rows)"
        )
    if last_out is not None:
        table = last_out.table
        user = int(lh.read(spark, table, columns=["user_id"]).limit(1).collect()[0].user_id)
        before = skipping(lh, table, user, version=last_out.outputs[0]["version"])
        after = skipping(lh, table, user)
        lh.optimize(table, zorder_by=["user_id"], target_size=1_000_000)
        small = skipping(lh, table, user)
        for label, (hit, total) in (
            ("as written by Spark", before),
            ("after the job's Z-order", after),
            ("after Z-order, 1 MB files", small),
        ):
            lines.append(
                f"  single-user read ({ranges[-1]} days), {label:<26}: reads {hit:>4} of {total:>4} files, "
                f"skips {1 - hit / total:6.1%}"
            )
    registry.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="2000000,10000000", help="Comma-separated transaction counts.")
    parser.add_argument("--ranges", default="7,30,60", help="Comma-separated range lengths in days.")
    parser.add_argument(
        "--workdir", default=None, help="Where to write data (default: a temp folder, removed)."
    )
    args = parser.parse_args()
    from featurelake.lakehouse.spark import build_spark_session

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="featurelake-bench-"))
    spark = build_spark_session(
        app_name="bench-backfill",
        master="local[2]",
        conf={"spark.sql.shuffle.partitions": "8", "spark.ui.enabled": "false", "spark.driver.memory": "6g"},
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, Spark {spark.version}"
    )
    try:
        for rows in [int(s) for s in args.scales.split(",")]:
            t0 = time.perf_counter()
            for line in run_scale(spark, rows, [int(r) for r in args.ranges.split(",")], workdir):
                print(line, flush=True)
            print(f"  (scale done in {time.perf_counter() - t0:.0f}s)", flush=True)
    finally:
        spark.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
