"""Exactly once under crashes: ``kill -9`` the streaming job several times, at seeded random
points while it processes its micro-batches, restart it from its checkpoint each time, and at
the end every card's windows hold exactly the events sent, in Delta and in Redis, and the Delta
log holds each batch's commit once.

A kill lands either right after a batch's Delta commit appears (before its Redis write and
before Spark records the batch: the restart replays it and must commit nothing twice) or at a
random moment after one of the run's own batches finished (anywhere in the next one).

The seed is printed (``-s``, or in the failure report); ``FEATURELAKE_KILL_SEED=N`` replays a run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.streaming.world import T0, World, make_world

pytestmark = [pytest.mark.spark, pytest.mark.redis, pytest.mark.slow]

FEATURES = ["txn_count_1h", "txn_amount_sum_1h"]
KILLS = 3
COMMITS = 6  # source commits, one hour of events each: one micro-batch each (--max-per-trigger 1)
SENTINEL = 999  # a card whose one event, 2 h after the rest, moves the watermark past every window


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
    # its own session: kill -9 takes the whole job at once (driver, JVM, Python workers)
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )


def _log_actions(world: World, table: str) -> list[dict]:
    log = Path(world.settings.storage_root) / table / "_delta_log"
    return [
        [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        for f in sorted(log.glob("*.json"))
    ]


def _own_batches(status: Path, pid: int) -> int:
    """Batches the job ``pid`` has finished (the status file of a killed run is ignored)."""
    try:
        found = json.loads(status.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return int(found.get("batches") or 0) if found.get("pid") == pid else 0


def _oracle(events: list[tuple[int, datetime, float]]) -> dict[tuple[int, datetime], tuple[int, float]]:
    """(card, hour end) -> (count, sum), by hand from the events sent."""
    out: dict[tuple[int, datetime], tuple[int, float]] = {}
    for card, ts, amount in events:
        end = (ts.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).replace(tzinfo=None)
        n, s = out.get((card, end), (0, 0.0))
        out[(card, end)] = (n + 1, s + amount)
    return out


def test_kill_9_at_random_points_then_restart_gives_every_event_once(
    spark, tmp_path: Path, redis_nodes: list[str]
) -> None:
    from featurelake.jobs.stream_plan import stream_dir

    seed = int(os.environ.get("FEATURELAKE_KILL_SEED") or random.randrange(1_000_000))
    print(f"kill seed {seed} (FEATURELAKE_KILL_SEED={seed} replays it)")
    rnd = random.Random(seed)
    world = make_world(tmp_path, redis_nodes)
    step = timedelta(hours=1)
    sent = []
    for i in range(COMMITS):  # in event-time order, one commit per hour of event time
        part = [
            (
                rnd.randint(1, 3),
                T0 + i * step + timedelta(seconds=rnd.randrange(3600)),
                float(rnd.randint(1, 50)),
            )
            for _ in range(4)
        ]
        world.append(spark, part)
        sent += part
    world.append(
        spark, [(SENTINEL, T0 + timedelta(hours=COMMITS + 2), 1.0)]
    )  # closes every card's last window
    status = stream_dir(world.settings, "card_hourly") / "status.json"
    table_log = Path(world.settings.storage_root) / world.table("card_hourly") / "_delta_log"

    def commits_so_far() -> int:
        return len(list(table_log.glob("*.json"))) if table_log.exists() else 0

    # at least one kill right after a Delta commit, the others either way
    modes = ["after_delta_commit"] + [rnd.choice(["after_delta_commit", "random"]) for _ in range(KILLS - 1)]
    rnd.shuffle(modes)
    kills = []
    for k, mode in enumerate(modes):
        job = _job(world)
        before = commits_so_far()
        delay = round(rnd.uniform(0.0, 1.5), 2) if mode == "random" else 0.0
        deadline = time.monotonic() + 300
        while job.poll() is None and time.monotonic() < deadline:
            if mode == "random" and _own_batches(status, job.pid) >= 1:
                time.sleep(delay)
                break
            if mode == "after_delta_commit" and commits_so_far() > before:
                break
            time.sleep(0.02)
        assert job.poll() is None, (
            f"seed {seed}: run {k} ended before kill -9 ({_own_batches(status, job.pid)} batch(es)): "
            f"{job.communicate()[1][-2000:]}"
        )
        os.killpg(job.pid, signal.SIGKILL)
        job.communicate()
        kills.append((mode, delay, _own_batches(status, job.pid), commits_so_far()))
    print(f"seed {seed}: kill -9 (mode, delay s, batches the run finished, Delta commits) = {kills}")

    last = _job(world)
    out, err = last.communicate(timeout=400)
    assert last.returncode == 0, err[-3000:]

    vv = world.registry.assert_usable(world.settings.project, "card_hourly", None, "materialize")
    rows = [r for r in world.lakehouse.read(spark, vv.table_name).collect() if r.card_id != SENTINEL]
    keys = [(r.card_id, r.event_timestamp) for r in rows]
    assert len(keys) == len(set(keys)), f"seed {seed}: a window was committed twice"
    expected = _oracle(sent)
    got = {(r.card_id, r.event_timestamp): (r.txn_count_1h, r.txn_amount_sum_1h) for r in rows}
    assert got == expected, f"seed {seed}"  # no window missing, none extra, none counted twice
    per_card = Counter(card for card, _, _ in sent)
    assert {c: sum(n for (card, _), (n, _) in got.items() if card == c) for c in per_card} == per_card

    # the Delta log: every data commit of the stream carries one txn, and no txn is there twice
    commits = _log_actions(world, vv.table_name)
    txns = [(a["txn"]["appId"], a["txn"]["version"]) for c in commits for a in c if "txn" in a]
    data_commits = [c for c in commits if any("add" in a for a in c)]
    assert len(txns) == len(set(txns)) == len(data_commits), f"seed {seed}: {txns}"
    assert len({app for app, _ in txns}) == 1

    # Redis: every card's latest window, as sent
    latest: dict[int, datetime] = {}
    for card, end in expected:
        latest[card] = max(latest.get(card, end), end)
    online = world.online("card_hourly", sorted(latest), FEATURES)
    for i, card in enumerate(online["card_id"]):
        got_online = (online["txn_count_1h"][i], online["txn_amount_sum_1h"][i])
        assert got_online == expected[(card, latest[card])], f"seed {seed}: card {card}"

    runs = world.registry.list_runs(world.settings.project, kind="stream", target="card_hourly")
    # the killed runs were reaped at each restart
    assert [r.status for r in runs] == ["succeeded"] + ["failed"] * KILLS, f"seed {seed}"
    world.registry.dispose()
