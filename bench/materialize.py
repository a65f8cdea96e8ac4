"""Materialization benchmark: featurelake's Spark job (and, at or below ``online.local_max_rows``,
its no-Spark path, which is what ``featurelake materialize`` runs at that size) vs Feast's local
engine vs Feast's Spark engine vs a raw pipelined HSET loop (the ceiling), same feature table,
same Redis cluster, one run.

The feature table is one parquet dataset in featurelake's layout (user_id, event_timestamp,
created_timestamp, event_date, 10 features: 6 doubles, 3 longs, 1 string), one row per entity.
Each system writes under its own Feast project (so no one's keys are "already newer"), every
system's values are read back and checked on a sample, and all keys are deleted afterwards.
The raw loop runs as many processes as our Spark job has tasks, and encodes the same bytes
(entity key, murmur3 fields, protobuf values) but writes plain HSETs: no newer-wins check.

Usage:
    .venv/bin/python bench/materialize.py                 # 100k entities, stack's Redis cluster
    .venv/bin/python bench/materialize.py --rows 20000 --skip-feast-spark
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from featurelake.lakehouse.online import ClusterClient, Command, OnlineReader, OnlineView, ViewRequest  # noqa: E402
from featurelake.lakehouse.online.cluster import resp_bulk  # noqa: E402
from featurelake.lakehouse.online.encoding import (  # noqa: E402
    encode_column,
    encode_timestamp_column,
    entity_key_column,
    serialize_entity_key,
    to_epoch_micros,
)

END = datetime(2026, 6, 1, tzinfo=UTC)
FEATURES = (
    [(f"d{i}", "double") for i in range(6)] + [(f"n{i}", "int64") for i in range(3)] + [("s0", "string")]
)
VIEW = OnlineView("bench_user", (("user_id", "int64"),), tuple(FEATURES), ttl=timedelta(days=3650))


def stack_nodes() -> list[str]:
    home = Path(os.environ.get("FEATURELAKE_HOME", ROOT / ".featurelake"))
    return json.loads((home / "stack" / "stack.json").read_text())["redis"]["nodes"]


def make_table(path: Path, rows: int) -> None:
    rng = np.random.default_rng(1)
    base = to_epoch_micros(END - timedelta(days=1))
    ts_arr = pa.array(base + rng.integers(0, 86_400_000_000 - 1, rows), pa.int64()).cast(
        pa.timestamp("us", tz="UTC")
    )
    cols = {
        "user_id": pa.array(np.arange(rows, dtype=np.int64)),
        "event_timestamp": ts_arr,
        "created_timestamp": ts_arr,
        "event_date": pa.array([(END - timedelta(days=1)).date()] * rows, pa.date32()),
    }
    for name, kind in FEATURES:
        if kind == "double":
            cols[name] = pa.array(rng.random(rows) * 100)
        elif kind == "int64":
            cols[name] = pa.array(rng.integers(0, 1000, rows))
        else:
            cols[name] = pa.array([f"v{i % 977}" for i in range(rows)])
    path.mkdir(parents=True)
    table = pa.table(cols)
    step = max(1, rows // 4)
    for i in range(0, rows, step):  # 4 files, like a small Delta partition
        pq.write_table(table.slice(i, step), path / f"part-{i:09d}.parquet", coerce_timestamps="us")


# --------------------------------------------------------------------------- systems
def run_ours(spark, path: Path, nodes: list[str], project: str, tasks: int, replica_acks: int = 1) -> float:
    from featurelake.lakehouse.online.spark_writer import RedisTarget, write_online

    df = spark.read.parquet(str(path))
    t = time.perf_counter()
    stats = write_online(
        df, view=VIEW, target=RedisTarget(tuple(nodes), project, replica_acks=replica_acks), partitions=tasks
    )
    elapsed = time.perf_counter() - t
    assert stats.written == df.count(), stats
    return elapsed


def _feast_store(tmp: Path, project: str, nodes: list[str], path: Path, engine: str):
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.repo_config import RegistryConfig
    from feast.types import Float64, Int64, String

    spark_engine = engine == "spark"
    kwargs = {}
    if spark_engine:
        kwargs = {
            "offline_store": {"type": "spark", "spark_conf": {"spark.master": "local[2]"}},
            "batch_engine": {"type": "spark.engine", "partitions": 2},
        }
    config = RepoConfig(
        project=project,
        provider="local",
        registry=RegistryConfig(path=str(tmp / f"{project}.db")),
        online_store={"type": "redis", "redis_type": "redis_cluster", "connection_string": ",".join(nodes)},
        entity_key_serialization_version=3,
        **kwargs,
    )
    store = FeatureStore(config=config)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    if spark_engine:
        source = SparkSource(
            name="bench_src",
            path=str(path),
            file_format="parquet",
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
        )
    else:
        source = FileSource(
            path=str(path), timestamp_field="event_timestamp", created_timestamp_column="created_timestamp"
        )
    dtype = {"double": Float64, "int64": Int64, "string": String}
    fv = FeatureView(
        name=VIEW.name,
        entities=[user],
        ttl=VIEW.ttl,
        source=source,
        online=True,
        schema=[Field(name="user_id", dtype=Int64)] + [Field(name=n, dtype=dtype[k]) for n, k in FEATURES],
    )
    store.apply([user, fv])
    return store


def run_ours_local(path: Path, nodes: list[str], project: str, replica_acks: int = 1) -> float:
    """The job's small-run path (``online.local_max_rows``): pyarrow read, the same writer, no Spark."""
    from featurelake.lakehouse.online.spark_writer import RedisTarget, write_online_local

    t = time.perf_counter()
    table = pq.read_table(str(path))
    stats = write_online_local(
        table, view=VIEW, target=RedisTarget(tuple(nodes), project, replica_acks=replica_acks)
    )
    elapsed = time.perf_counter() - t
    assert stats.written == table.num_rows, stats
    return elapsed


def run_feast(tmp: Path, path: Path, nodes: list[str], project: str, engine: str) -> float:
    store = _feast_store(tmp, project, nodes, path, engine)
    t = time.perf_counter()
    store.materialize(start_date=END - timedelta(days=2), end_date=END, feature_views=[VIEW.name])
    return time.perf_counter() - t


def _raw_worker(args) -> tuple[float, float]:
    """Plain HSET of the same bytes, packed and pipelined exactly like ours, minus the newer-wins check."""
    path, nodes, project, part, parts, barrier = args
    table = pq.read_table(path)
    n = table.num_rows
    lo, hi = n * part // parts, n * (part + 1) // parts
    table = table.slice(lo, hi - lo).combine_chunks()
    proj = project.encode()
    client = ClusterClient(nodes)
    client.refresh()
    barrier.wait()
    start = time.perf_counter()
    for off in range(0, table.num_rows, 50_000):  # the size of the Arrow batches our executors get
        batch = table.slice(off, 50_000)
        keys = entity_key_column(VIEW.join_keys, [batch.column("user_id").to_pylist()])
        stamps = encode_timestamp_column(batch.column("event_timestamp").cast(pa.int64()).to_numpy())
        cols = [
            [resp_bulk(VIEW.field(name)) + resp_bulk(v) for v in encode_column(kind, batch.column(name))]
            for name, kind in FEATURES
        ]
        head = b"*%d\r\n" % (4 + 2 * len(FEATURES)) + resp_bulk(b"HSET")
        ts_field = resp_bulk(VIEW.ts_field)
        commands = []
        for key, ts, row in zip(keys, stamps, zip(*cols, strict=True), strict=True):
            full = key + proj
            commands.append(
                Command(
                    full,
                    ("HSET", full),
                    None,
                    b"".join((head, resp_bulk(full), ts_field, resp_bulk(ts), *row)),
                )
            )
        for c in range(0, len(commands), 2000):
            client.execute(commands[c : c + 2000])
    return start, time.perf_counter()


def run_raw(path: Path, nodes: list[str], project: str, parallelism: int) -> float:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(parallelism)
        with ctx.Pool(parallelism) as pool:
            spans = pool.map(
                _raw_worker, [(path, nodes, project, p, parallelism, barrier) for p in range(parallelism)]
            )
    return max(e for _, e in spans) - min(s for s, _ in spans)


# --------------------------------------------------------------------------- checks
def check(nodes: list[str], project: str, path: Path, sample: int = 200) -> None:
    table = pq.read_table(path).slice(0, sample).to_pylist()
    cols = OnlineReader(ClusterClient(nodes), project=project).read(
        [ViewRequest(VIEW, tuple(VIEW.feature_names))], [{"user_id": r["user_id"]} for r in table], now=END
    )
    for col in cols:
        expected = [r[col.feature] for r in table]
        if col.values != expected:
            raise AssertionError(f"{project}: {col.feature} differs from the feature table")


def cleanup(nodes: list[str], project: str, rows: int) -> None:
    client = ClusterClient(nodes)
    proj = project.encode()
    for lo in range(0, rows, 5000):
        keys = [serialize_entity_key(VIEW.join_keys, [i]) + proj for i in range(lo, min(rows, lo + 5000))]
        client.execute([Command(k, ("DEL", k)) for k in keys])


OURS = "featurelake Spark job (replica_acks=1)"
OURS_LOCAL = "featurelake local path, no Spark"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=2, help="Spark write tasks = raw loop processes")
    parser.add_argument("--skip-feast-local", action="store_true")
    parser.add_argument("--skip-feast-spark", action="store_true")
    parser.add_argument(
        "--local-max-rows",
        type=int,
        default=250_000,
        help="online.local_max_rows: at or below it the job writes without Spark, and so is timed that way too",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    nodes = stack_nodes()
    tmp = Path(tempfile.mkdtemp(prefix="fl-bench-mat-"))
    tag = uuid.uuid4().hex[:6]
    names = ("ours", "ours_local", "ours_noack", "feast_local", "feast_spark", "raw")
    projects = {k: f"bench_{k}_{tag}" for k in names}
    load_before = os.getloadavg()[0]
    results: dict[str, float] = {}
    try:
        path = tmp / "feature_table"
        make_table(path, args.rows)
        from featurelake.lakehouse.spark import build_spark_session

        spark = build_spark_session(
            app_name="bench-materialize",
            master=f"local[{args.tasks}]",
            conf={"spark.sql.shuffle.partitions": str(args.tasks), "spark.ui.enabled": "false"},
        )
        run_ours(spark, path, nodes, f"warm_{tag}", args.tasks)  # JIT the Python workers and the JVM once
        cleanup(nodes, f"warm_{tag}", args.rows)
        results[OURS] = run_ours(spark, path, nodes, projects["ours"], args.tasks)
        check(nodes, projects["ours"], path)
        if args.rows <= args.local_max_rows:
            # What `featurelake materialize` runs at this size: the no-Spark path.
            results[OURS_LOCAL] = run_ours_local(path, nodes, projects["ours_local"])
            check(nodes, projects["ours_local"], path)
        # The same job without waiting for replicas (online.replica_acks: 0): what durability costs.
        results["featurelake Spark job, replica_acks=0"] = run_ours(
            spark, path, nodes, projects["ours_noack"], args.tasks, replica_acks=0
        )
        check(nodes, projects["ours_noack"], path)
        results["raw pipelined HSET loop (ceiling)"] = run_raw(path, nodes, projects["raw"], args.tasks)
        check(nodes, projects["raw"], path)
        if not args.skip_feast_local:
            results["Feast local engine"] = run_feast(tmp, path, nodes, projects["feast_local"], "local")
            check(nodes, projects["feast_local"], path)
        if not args.skip_feast_spark:
            results["Feast Spark engine"] = run_feast(tmp, path, nodes, projects["feast_spark"], "spark")
            check(nodes, projects["feast_spark"], path)
    finally:
        for p in projects.values():
            cleanup(nodes, p, args.rows)
        shutil.rmtree(tmp, ignore_errors=True)

    ours = results.get(OURS_LOCAL, results[OURS])  # the path the job picks at this size
    raw = results["raw pipelined HSET loop (ceiling)"]
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{args.rows:,} entities x {len(FEATURES)} features; {args.tasks} tasks/processes; Redis {','.join(nodes[:1])}...; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(
        f"ours = {OURS_LOCAL if OURS_LOCAL in results else OURS} (what `featurelake materialize` runs at this size)"
    )
    print(f"{'system':<40} {'seconds':>8} {'rows/s':>10} {'vs ours':>10}")
    for name, secs in results.items():
        rate = args.rows / secs
        print(f"{name:<40} {secs:>8.2f} {rate:>10,.0f} {secs / ours:>9.2f}x")
    print(
        f"\nours vs Feast local: {results.get('Feast local engine', float('nan')) / ours:.1f}x faster (target >= 10x); "
        f"ours = {raw / ours:.0%} of the raw ceiling (target >= 85% at 1M and above)"
    )


if __name__ == "__main__":
    main()
