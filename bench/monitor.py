"""Benchmark: featurelake's monitor profiling vs Feast 0.67's ``feast monitor run`` on the same data.

    .venv/bin/python bench/monitor.py [--rows 2000000] [--days 10] [--master local[2]]

One table of ROWS rows x 12 features (10 numeric with ~2% nulls, 2 strings) over DAYS days is
written once with Arrow: as a Delta table (featurelake reads its snapshot) and as one parquet
file with the same rows (what Feast's file/dask offline store reads). Then, in the same run:

* ours: ``featurelake.jobs.monitor.monitor_view`` over the whole table (ONE Spark aggregation by
  day for the 12 features; reference: the first day, profiled once and excluded from the timing
  by a warm-up run on it);
* Feast: ``MonitoringService.compute_metrics`` (what ``feast monitor run --granularity daily``
  calls) over the same date range, reading through the dask offline store.

Prints rows/s for each, the ratio, and whether the statistics both compute agree over the whole
range: null rate, mean, min, max exactly (1e-9 relative), p50/p95/p99 within one rank in 1,000
(ours are approximate quantiles, Feast's interpolated ones). Ours are computed per day; for the
agreement check the whole range is profiled once more with the same code (not timed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

NUMERIC = [f"f{i}" for i in range(10)]
STRINGS = ["s0", "s1"]


def make_table(rows: int, days: int, seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # never in a day's last second: Feast's daily range ends at 23:59:59
    offs = np.sort(rng.integers(0, days, rows) * 86_400_000_000 + rng.integers(0, 86_399_000_000, rows))
    ts = pa.array(start.timestamp() * 1e6 + offs, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    cols = {
        "user_id": pa.array(rng.integers(0, 100_000, rows)),
        "event_timestamp": ts,
        "created_timestamp": ts,
    }
    for i, name in enumerate(NUMERIC):
        values = rng.normal(i, 1 + i, rows) if i % 2 == 0 else rng.exponential(1 + i, rows)
        cols[name] = pa.array(values, mask=rng.random(rows) < 0.02)
    for name in STRINGS:
        cols[name] = pa.array(rng.choice(["a", "b", "c", "d", "e", "f"], rows).astype(object))
    days_col = (offs // 86_400_000_000).astype("int32") + (date(2026, 1, 1) - date(1970, 1, 1)).days
    cols["event_date"] = pa.array(days_col, type=pa.int32()).cast(pa.date32())
    return pa.table(cols)


def feast_repo(path: Path, parquet: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "feature_store.yaml").write_text(
        "project: bench_monitor\nprovider: local\nregistry: registry.db\n"
        "offline_store:\n  type: file\nonline_store:\n  type: sqlite\n  path: online.db\n"
        "entity_key_serialization_version: 3\n"
    )


def run_feast(repo: Path, parquet: Path, start: date, end: date) -> tuple[float, list[dict]]:
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.monitoring.monitoring_service import MonitoringService
    from feast.types import Float64, String

    store = FeatureStore(repo_path=str(repo))
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    source = FileSource(name="bench_src", path=str(parquet), timestamp_field="event_timestamp")
    fv = FeatureView(
        name="bench_view",
        entities=[user],
        schema=[
            *[Field(name=n, dtype=Float64) for n in NUMERIC],
            *[Field(name=n, dtype=String) for n in STRINGS],
        ],
        source=source,
        ttl=timedelta(days=30),
    )
    store.apply([user, fv])
    svc = MonitoringService(store)
    t0 = time.perf_counter()
    svc.compute_metrics("bench_monitor", "bench_view", start_date=start, end_date=end, granularity="daily")
    seconds = time.perf_counter() - t0
    return seconds, svc.get_feature_metrics("bench_monitor", feature_view_name="bench_view")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    work = Path(tempfile.mkdtemp(prefix="bench_monitor_"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    from deltalake import write_deltalake

    from featurelake.config.settings import Settings
    from featurelake.jobs.monitor import MonitorOptions, monitor_view
    from featurelake.lakehouse.monitoring.profiles import feature_kinds, profile, reference_bins
    from featurelake.lakehouse.spark import build_spark_session
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import Definitions, EntityDef, FeatureDef, JoinKey, ViewDef, open_registry

    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; rows {args.rows:,} x 12 features, {args.days} days"
    )
    table = make_table(args.rows, args.days)
    lake = work / "lake"
    url = f"sqlite:///{work / 'registry.db'}"
    registry = open_registry(url)
    features = tuple(FeatureDef(n, "Float64") for n in NUMERIC) + tuple(
        FeatureDef(n, "String") for n in STRINGS
    )
    registry.apply_definitions(
        "bench",
        Definitions(
            entities=(EntityDef("user", (JoinKey("user_id", "INT64"),)),),
            views=(ViewDef("bench_view", ("user",), features, timedelta(days=30), definition={"v": 1}),),
        ),
        actor="bench",
    )
    name = registry.get_view_version("bench", "bench_view").table_name
    write_deltalake(str(lake / name), table, partition_by=["event_date"])
    parquet = work / "feast" / "data.parquet"
    parquet.parent.mkdir(parents=True)
    pq.write_table(table.drop(["event_date"]), parquet, coerce_timestamps="us")
    first, last = date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=args.days - 1)

    settings = Settings.model_validate(
        {"project": "bench", "home": str(work), "registry": {"url": url}, "storage": {"root": str(lake)}}
    )
    spark = build_spark_session(
        app_name="bench-monitor",
        master=args.master,
        conf={"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"},
    )
    lh = Lakehouse(str(lake))

    def ours(start: date, end: date):
        return monitor_view(
            spark,
            settings=settings,
            registry=registry,
            lakehouse=lh,
            actor="bench",
            options=MonitorOptions(
                view="bench_view", start=start, end=end, reference=f"window:{first}..{first}"
            ),
        )

    ours(first + timedelta(days=1), first + timedelta(days=1))  # warm-up: JVM, reference profile (not timed)
    begin = first + timedelta(days=2)  # days 3..N: profiled by neither the warm-up nor anything else
    t0 = time.perf_counter()
    result = ours(begin, last)
    our_s = time.perf_counter() - t0
    our_rows = result.rows_read
    print(
        f"ours:  {our_rows:,} rows in {our_s:.1f} s = {our_rows / our_s:,.0f} rows/s "
        f"({result.files_read} files, {len(result.days_profiled)} days, outcome {result.outcome})"
    )

    repo = work / "feast"
    feast_repo(repo, parquet)
    feast_s, metrics = run_feast(repo, parquet, begin, last)
    in_range = pa.compute.greater_equal(table["event_date"], pa.scalar(begin, pa.date32()))
    feast_rows = int(pa.compute.sum(in_range.cast(pa.int64())).as_py())
    print(f"feast: {feast_rows:,} rows in {feast_s:.1f} s = {feast_rows / feast_s:,.0f} rows/s")
    print(f"ratio: ours / feast = {(our_rows / our_s) / (feast_rows / feast_s):.3f}x")

    # agreement over the same range (ours profiled once more over the whole range, not timed)
    df = lh.read(spark, name, date_range=(begin, last))
    kinds = feature_kinds(df, [*NUMERIC, *STRINGS])
    whole = {p.feature: p for p in profile(df, reference_bins(df, kinds), by_day=False)}
    sub = table.filter(in_range)
    bad = []
    compared = 0
    for m in metrics:
        f = m.get("feature_name")
        if f not in whole:
            continue
        ours_p = whole[f]
        pairs = [("null_rate", ours_p.null_rate, m.get("null_rate"))]
        if ours_p.kind == "numeric":
            pairs += [
                ("mean", ours_p.mean, m.get("mean")),
                ("min", ours_p.min, m.get("min_val")),
                ("max", ours_p.max, m.get("max_val")),
            ]
        for label, a, b in pairs:
            compared += 1
            if b is None or abs(a - b) > 1e-9 * max(1.0, abs(b)):
                bad.append((f, label, a, b))
        if ours_p.kind == "numeric":
            values = np.sort(sub[f].drop_null().to_numpy())
            for q, idx in ((0.5, 3), (0.95, 5), (0.99, 6)):
                compared += 1
                rank = np.searchsorted(values, ours_p.quantiles[idx], side="right") / len(values)
                feast_q = m.get(f"p{int(q * 100)}")
                feast_rank = np.searchsorted(values, feast_q, side="right") / len(values)
                if abs(rank - q) > 0.001 + 1 / len(values) or abs(feast_rank - q) > 0.001 + 1 / len(values):
                    bad.append((f, f"p{int(q * 100)}", ours_p.quantiles[idx], feast_q))
    print(
        f"agreement: {compared - len(bad)}/{compared} statistics agree (null rate, mean, min, max: 1e-9 relative; "
        "p50/p95/p99: within one rank in 1,000)"
    )
    for item in bad[:10]:
        print("  differs:", item)
    spark.stop()
    registry.dispose()
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
