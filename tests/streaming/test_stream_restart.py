"""Exactly once under a crash: ``kill -9`` the streaming job mid-run, restart it from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.streaming.world import EVENTS, T0, World, make_world, random_events

pytestmark = [pytest.mark.spark, pytest.mark.redis, pytest.mark.slow]

FEATURES = ["txn_count_1h", "txn_amount_sum_1h"]


def _job(world: World) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "featurelake.jobs.stream",
        "--config",
        str(world.config),
        "--view",
        "card_hourly",
        "--max-per-trigger",
        "1",
        "--trigger",
        "0s",
        "--available-now",
    ]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _txns(world: World, table: str) -> list[tuple[str, int]]:
    log = Path(world.settings.storage_root) / table / "_delta_log"
    out = []
    for f in sorted(log.glob("*.json")):
        for line in f.read_text().splitlines():
            action = json.loads(line)
            if "txn" in action:
                out.append((action["txn"]["appId"], action["txn"]["version"]))
    return out


def test_kill_9_mid_run_then_restart_gives_every_window_once(
    spark, tmp_path: Path, redis_nodes: list[str]
) -> None:
    from featurelake.jobs.stream_plan import stream_definition, stream_dir
    from featurelake.lakehouse.aggregations import compute_window_aggregations

    world = make_world(tmp_path, redis_nodes)
    events = random_events(21, 30, cards=3, hours=3)
    for i in range(3):  # one commit per hour of event time: one micro-batch each
        world.append(
            spark,
            [e for e in events if T0 + i * timedelta(hours=1) <= e[1] < T0 + (i + 1) * timedelta(hours=1)],
        )
    status = stream_dir(world.settings, "card_hourly") / "status.json"

    first = _job(world)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and first.poll() is None:
        if status.exists():
            batches = json.loads(status.read_text()).get("last_batch") or {}
            if (batches.get("batch_id") or 0) >= 1:
                break
        time.sleep(0.2)
    assert first.poll() is None, f"the job ended before it could be killed: {first.communicate()[1][-2000:]}"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()

    second = _job(world)
    out, err = second.communicate(timeout=400)
    assert second.returncode == 0, err[-3000:]

    vv = world.registry.assert_usable(world.settings.project, "card_hourly", None, "materialize")
    rows = world.lakehouse.read(spark, vv.table_name).collect()
    keys = [(r.card_id, r.event_timestamp) for r in rows]
    assert len(keys) == len(set(keys)), "a window was committed twice"
    txns = _txns(world, vv.table_name)
    assert len(txns) == len(set(txns)) and len({a for a, _ in txns}) == 1, txns

    d = stream_definition(vv)
    batch = compute_window_aggregations(
        world.lakehouse.read(spark, EVENTS).withColumnRenamed("card", "card_id"),
        keys=["card_id"],
        timestamp_column="ts",
        aggregations=list(d.aggregations),
        start=T0.date() - timedelta(days=1),
        end=T0.date() + timedelta(days=1),
        granularity="hourly",
    )
    expected = {
        (r.card_id, r.event_timestamp): (r.txn_count_1h, r.txn_amount_sum_1h) for r in batch.collect()
    }
    got = {(r.card_id, r.event_timestamp): (r.txn_count_1h, r.txn_amount_sum_1h) for r in rows}
    last = max(e[1] for e in events).replace(tzinfo=None) - timedelta(minutes=10)  # the final watermark
    closed = {k: v for k, v in expected.items() if k[1] <= last}
    assert got == closed  # no window missing, none extra, every count equals the events sent

    latest = {}
    for r in sorted(rows, key=lambda r: r.event_timestamp):
        latest[r.card_id] = r
    online = world.online("card_hourly", sorted(latest), FEATURES)
    for i, card in enumerate(online["card_id"]):
        assert (online["txn_count_1h"][i], online["txn_amount_sum_1h"][i]) == (
            latest[card].txn_count_1h,
            latest[card].txn_amount_sum_1h,
        )
    runs = world.registry.list_runs(world.settings.project, kind="stream", target="card_hourly")
    assert [r.status for r in runs] == ["succeeded", "failed"]  # the killed run was reaped at restart
    world.registry.dispose()
