"""The streaming job on real Spark, real Delta tables and the stack's Redis cluster."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from tests.streaming.world import EVENTS, T0, World, make_world, random_events

pytestmark = [pytest.mark.spark, pytest.mark.redis]

CARD_TXN = [
    "txn_count_1h",
    "txn_amount_sum_2h",
    "txn_amount_max_2h",
    "txn_amount_last_2h",
    "txn_amount_mean_2h",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, redis_nodes: list[str]) -> World:
    w = make_world(tmp_path_factory.mktemp("stream"), redis_nodes)
    yield w
    w.registry.dispose()


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_delta_source_reads_each_commit_exactly_once(spark, tmp_path) -> None:
    from featurelake.lakehouse.streaming.delta_source import SOURCE_NAME, DeltaStreamSpec, register
    from featurelake.lakehouse.tables import Lakehouse

    lh = Lakehouse(str(tmp_path / "data"))
    w = World(tmp_path, tmp_path, None, lh, None)
    sent = []
    for seed in (1, 2):
        rows = random_events(seed, 7)
        sent += rows
        w.append(spark, rows)
    register(spark)
    spec = DeltaStreamSpec(root=str(tmp_path / "data"), table=EVENTS, max_versions_per_trigger=1)
    seen: list[tuple] = []

    def run() -> None:
        q = (
            spark.readStream.format(SOURCE_NAME)
            .option("spec", spec.to_option())
            .load()
            .writeStream.foreachBatch(
                lambda df, _: seen.extend((r.card, r.ts, r.amount) for r in df.collect())
            )
            .option("checkpointLocation", str(tmp_path / "ck"))
            .start()
        )
        q.processAllAvailable()
        q.stop()

    run()
    more = random_events(3, 5)
    sent += more
    w.append(spark, more)
    w.lakehouse.optimize(EVENTS)  # a rewrite adds no rows: the stream must not read them again
    run()
    run()  # nothing new: nothing read
    assert sorted(seen) == sorted((c, ts.replace(tzinfo=None), a) for c, ts, a in sent)


def _batch_values(spark, world: World, view: str) -> dict[tuple, tuple]:
    from featurelake.jobs.stream_plan import stream_definition
    from featurelake.lakehouse.aggregations import compute_window_aggregations

    vv = world.registry.assert_usable(world.settings.project, view, None, "materialize")
    d = stream_definition(vv)
    events = world.lakehouse.read(spark, EVENTS).withColumnRenamed("card", "card_id")
    df = compute_window_aggregations(
        events,
        keys=["card_id"],
        timestamp_column="ts",
        aggregations=list(d.aggregations),
        start=T0.date() - timedelta(days=1),
        end=T0.date() + timedelta(days=1),
        granularity="hourly",
    )
    return {(r.card_id, r.event_timestamp): tuple(r[f] for f in CARD_TXN) for r in df.collect()}


def test_stream_equals_batch_and_redis_equals_delta(spark, world: World) -> None:
    from featurelake.jobs.stream import StreamOptions, run_stream

    events = random_events(10, 90, hours=6)
    for i in range(3):  # three commits, in event-time order (two hours each): three micro-batches
        lo, hi = T0 + i * timedelta(hours=2), T0 + (i + 1) * timedelta(hours=2)
        world.append(spark, [e for e in events if lo <= e[1] < hi])
    options = StreamOptions(view="card_txn", available_now=True, max_per_trigger=1, trigger=timedelta(0))
    result = run_stream(spark, world.settings, options, actor="tests", registry=world.registry)

    rows = world.feature_rows(spark, "card_txn")
    keys = [(r.card_id, r.event_timestamp) for r in rows]
    assert len(keys) == len(set(keys)), "a (card, window end) was written twice"
    assert result.late_rows_dropped == 0 and len(result.batches) >= 3
    batch = _batch_values(spark, world, "card_txn")
    assert len(rows) >= 10
    for r in rows:  # every window the stream closed has the batch engine's values
        expected = batch[(r.card_id, r.event_timestamp)]
        got = tuple(r[f] for f in CARD_TXN)
        assert all(_same(a, b) for a, b in zip(got, expected, strict=True)), (r, expected)
    # the windows still open (within the watermark of the last event) are the only ones missing
    last_event = max(e[1] for e in events).replace(tzinfo=None)
    assert {k for k in batch if k[1] <= last_event - timedelta(minutes=10)} <= set(keys)

    latest = {}
    for r in sorted(rows, key=lambda r: r.event_timestamp):
        latest[r.card_id] = r
    online = world.online("card_txn", sorted(latest), CARD_TXN)
    for i, card in enumerate(online["card_id"]):
        for f in CARD_TXN:
            assert _same(online[f][i], latest[card][f]), (card, f)

    runs = world.registry.list_runs(world.settings.project, kind="stream", target="card_txn")
    assert runs[0].run_id == result.run_id and runs[0].status == "succeeded"
    versions = [o.version for o in runs[0].outputs]
    assert versions == result.delta_versions and versions == sorted(versions) and len(versions) >= 1


def test_late_events_inside_the_watermark_count_later_ones_are_dropped_and_counted(
    spark, world: World
) -> None:
    import pyarrow as pa

    from featurelake.jobs.materialize import redis_target
    from featurelake.jobs.stream import StreamOptions, run_stream
    from featurelake.jobs.stream_plan import read_status
    from featurelake.lakehouse.streaming.event_log import append_events, encode_rows, event_log_key

    world.append(spark, [(99, T0, 1.0)])  # the source table gives the event schema (another card)
    client = redis_target(world.settings).client()
    key = event_log_key(world.settings.project, "card_hourly")

    def push(events: list[tuple]) -> None:
        table = pa.table(
            {
                "card": [e[0] for e in events],
                "ts": pa.array([e[1] for e in events], pa.timestamp("us", tz="UTC")),
                "amount": [e[2] for e in events],
            }
        )
        append_events(client, key, encode_rows(table))

    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    options = StreamOptions(view="card_hourly", source="redis", available_now=True, trigger=timedelta(0))
    push([(7, T0 + 10 * m, 1.0), (7, T0 + h + 10 * m, 2.0), (7, T0 + 3 * h + 15 * m, 4.0)])
    first = run_stream(spark, world.settings, options, actor="tests", registry=world.registry)
    # card_hourly's spec says watermark="20m": the watermark is now 02:55, so the windows ending
    # 01:00 and 02:00 are closed and the one ending 03:00 is open (with the default 10m: 03:05, closed)
    push(
        [
            (7, T0 + 2 * h + 50 * m, 8.0),  # late, but its window (02:00-03:00) is open: counted
            (7, T0 + h + 30 * m, 16.0),  # its window (01:00-02:00) closed: dropped and counted
            (7, T0 + 4 * h + 40 * m, 32.0),  # moves the watermark to 04:20: closes 02:00-04:00
        ]
    )
    second = run_stream(spark, world.settings, options, actor="tests", registry=world.registry)
    client.close()
    rows = {r.event_timestamp: r for r in world.feature_rows(spark, "card_hourly") if r.card_id == 7}
    t0 = T0.replace(tzinfo=None)  # Spark returns naive UTC times
    assert {ts: (r.txn_count_1h, r.txn_amount_sum_1h) for ts, r in rows.items()} == {
        t0 + h: (1, 1.0),
        t0 + 2 * h: (1, 2.0),
        t0 + 3 * h: (1, 8.0),
        t0 + 4 * h: (1, 4.0),
    }
    assert first.late_rows_dropped == 0
    assert second.late_rows_dropped == 1
    status = read_status(world.settings, "card_hourly")  # what `featurelake stream status` shows
    assert status["late_rows_dropped"] == 1 and status["watermark_delay_seconds"] == 20 * 60
    runs = world.registry.list_runs(world.settings.project, kind="stream", target="card_hourly")
    assert runs[0].report["late_rows_dropped"] == 1


def test_a_second_stream_of_a_view_and_another_views_checkpoint_are_refused(spark, world: World) -> None:
    import os
    import socket

    from featurelake.errors import ConfigError, RunConflictError
    from featurelake.jobs.stream import StreamOptions, run_stream
    from featurelake.jobs.stream_plan import claim_checkpoint, default_checkpoint

    if not world.lakehouse.exists(EVENTS):
        world.append(spark, [(99, T0, 1.0)])
    # a live stream of card_txn (this process is alive, so it is not reaped)
    running = world.registry.start_run(
        world.settings.project,
        "stream",
        {"view": "card_txn", "pid": os.getpid(), "host": socket.gethostname()},
        "tests",
        target="card_txn",
        exclusive_span=("0001-01-01", "9999-12-31"),
    )
    try:
        with pytest.raises(RunConflictError, match=running):
            run_stream(
                spark,
                world.settings,
                StreamOptions(view="card_txn", available_now=True),
                actor="tests",
                registry=world.registry,
            )
    finally:
        world.registry.finish_run(running, status="failed", error="test")
    theirs = default_checkpoint(world.settings, "card_hourly")
    claim_checkpoint(theirs, project=world.settings.project, view="card_hourly", source="redis")
    with pytest.raises(ConfigError, match="card_hourly"):
        run_stream(
            spark,
            world.settings,
            StreamOptions(view="card_txn", checkpoint=theirs, available_now=True),
            actor="tests",
            registry=world.registry,
        )
