"""Streaming benchmark: featurelake's streaming job vs a plain Structured Streaming sink, same run.

Both read the same raw events (a Delta table of ``--commits`` commits, ``--events`` events of
``--cards`` cards over 6 hours) through the same Delta stream source and the same watermarked
hourly window aggregation (the test repo's ``card_hourly`` view: count and sum per card-hour),
one source commit per micro-batch, on the same Spark session, and write every closed window:

* **featurelake**: ``run_stream`` (``featurelake stream run --available-now``): each micro-batch
  appended to the view's Delta table in one delta-rs commit carrying the stream's ``txn`` (the
  exactly-once check first), the latest row per card to Redis in Feast's format through the
  newer-wins Lua writer with replica acknowledgements, the registry run and the status file.
* **baseline**: ``foreachBatch`` that collects the batch, appends it to another Delta table with
  a plain ``write_deltalake`` (no txn, no check) and writes each row with raw redis-py cluster
  pipelines (``HSET`` of the two values as text: no Feast encoding, no newer-wins, no WAIT):
  what a hand-written sink does, without its guarantees.

The baseline runs before AND after ours (the first streaming query of a session pays for
starting Python workers); the ratio uses the faster of the two. Printed: events/s through to
Redis + Delta (events / wall time of the query, JVM already up), micro-batch sink seconds p50 /
p99, and the ratio. Not measured here (see BENCHMARKS.md): latency
under an offered open-loop rate and Feast's ``FeatureStore.push``.

Usage:
    .venv/bin/python bench/stream.py                    # 20,000 events, 6 commits, stack's Redis
    .venv/bin/python bench/stream.py --events 5000 --commits 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.streaming.world import EVENTS, T0, make_world  # noqa: E402


def stack_nodes() -> list[str]:
    home = Path(os.environ.get("FEATURELAKE_HOME", ROOT / ".featurelake"))
    return json.loads((home / "stack" / "stack.json").read_text())["redis"]["nodes"]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def baseline(spark, world, *, checkpoint: str, table: str) -> tuple[float, list[float], int]:
    """The plain sink; returns (seconds, per-batch seconds, rows written)."""
    import redis
    from deltalake import write_deltalake

    from featurelake.lakehouse.aggregations import WindowAggregation
    from featurelake.lakehouse.streaming import delta_source
    from featurelake.lakehouse.streaming.aggregations import stream_window_aggregations

    delta_source.register(spark)
    spec = delta_source.DeltaStreamSpec(
        root=world.settings.storage_root, table=EVENTS, max_versions_per_trigger=1, parallelism=2
    )
    events = spark.readStream.format(delta_source.SOURCE_NAME).option("spec", spec.to_option()).load()
    features = stream_window_aggregations(
        events.withColumnRenamed("card", "card_id"),
        keys=["card_id"],
        timestamp_column="ts",
        aggregations=[
            WindowAggregation("txn_count_1h", "count", None, timedelta(hours=1)),
            WindowAggregation("txn_amount_sum_1h", "sum", "amount", timedelta(hours=1)),
        ],
        granularity="hourly",
        watermark=timedelta(minutes=20),
    )
    host, port = world.settings.online.nodes[0].split(":")
    client = redis.RedisCluster(host=host, port=int(port))
    target = str(Path(world.settings.storage_root) / table)
    seconds: list[float] = []
    rows_out = [0]

    def sink(df, batch_id: int) -> None:
        started = time.monotonic()
        table = df.toArrow()
        if table.num_rows:
            write_deltalake(target, table, mode="append")
            pipe = client.pipeline(transaction=False)
            for card, ts, n, s in zip(
                *(table.column(c).to_pylist() for c in table.column_names), strict=True
            ):
                pipe.hset(
                    f"bench:{world.settings.project}:{card}", mapping={"n": n, "s": s, "ts": ts.isoformat()}
                )
            pipe.execute()
            rows_out[0] += table.num_rows
        seconds.append(time.monotonic() - started)

    started = time.monotonic()
    query = (
        features.writeStream.outputMode("append")
        .foreachBatch(sink)
        .option("checkpointLocation", checkpoint)
        .trigger(processingTime="0 seconds")
        .start()
    )
    query.processAllAvailable()
    query.stop()
    took = time.monotonic() - started
    for key in client.scan_iter(match=f"bench:{world.settings.project}:*", count=1000):
        client.delete(key)
    client.close()
    return took, seconds, rows_out[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--cards", type=int, default=1_000)
    parser.add_argument("--commits", type=int, default=6)
    args = parser.parse_args()

    from featurelake.jobs.stream import StreamOptions, run_stream
    from featurelake.lakehouse.spark import build_spark_session

    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    world = make_world(tmp, stack_nodes())
    spark = build_spark_session(
        app_name="bench-stream",
        master="local[2]",
        conf={"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"},
    )
    rnd = random.Random(7)
    step = timedelta(hours=6) / args.commits
    per = args.events // args.commits
    for i in range(args.commits):  # in event-time order, one commit per slice of event time
        rows = [
            (
                rnd.randint(1, args.cards),
                T0 + i * step + timedelta(seconds=rnd.random() * step.total_seconds()),
                float(rnd.randint(1, 50)),
            )
            for _ in range(per)
        ]
        world.append(spark, rows)
    world.append(spark, [(args.cards + 1, T0 + timedelta(hours=8), 1.0)])  # closes every window
    sent = per * args.commits + 1

    # the baseline runs before AND after ours, so neither side alone pays the session's warm-up
    cold = baseline(spark, world, checkpoint=str(tmp / "ck-base-1"), table="baseline_1")
    options = StreamOptions(view="card_hourly", available_now=True, max_per_trigger=1, trigger=timedelta(0))
    started = time.monotonic()
    result = run_stream(spark, world.settings, options, actor="bench", registry=world.registry)
    ours = time.monotonic() - started
    ours_batches = [b["seconds"] for b in result.batches]
    ours_rows = sum(b["rows"] for b in result.batches)
    warm = baseline(spark, world, checkpoint=str(tmp / "ck-base-2"), table="baseline_2")
    base = min(cold[0], warm[0])
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"{sent} events of {args.cards} cards in {args.commits + 1} commits; rows (card-hours) written: "
        f"featurelake {ours_rows}, baseline {cold[2]} / {warm[2]}"
    )
    print(
        f"featurelake stream     : {sent / ours:7.0f} events/s ({ours:.1f} s, {len(ours_batches)} batches); "
        f"sink per batch p50 {_pct(ours_batches, 0.5):.2f} s p99 {_pct(ours_batches, 0.99):.2f} s"
    )
    for label, (took, batches, _) in (("before", cold), ("after", warm)):
        print(
            f"plain foreachBatch ({label:6}): {sent / took:7.0f} events/s ({took:.1f} s, {len(batches)} batches); "
            f"sink per batch p50 {_pct(batches, 0.5):.2f} s p99 {_pct(batches, 0.99):.2f} s"
        )
    print(f"ratio (featurelake / faster baseline throughput): {base / ours:.2f}")
    cleanup(world, args.cards + 1)
    world.registry.dispose()
    spark.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def cleanup(world, cards: int) -> None:
    """Delete the keys our stream wrote (one hash per card, under the run's own project)."""
    import redis

    from featurelake.lakehouse.online.encoding import redis_key

    host, port = world.settings.online.nodes[0].split(":")
    client = redis.RedisCluster(host=host, port=int(port))
    for card in range(1, cards + 1):
        client.delete(redis_key(world.settings.project, (("card_id", "int64"),), [card]))
    client.close()


if __name__ == "__main__":
    sys.exit(main())
