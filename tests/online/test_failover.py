"""Kill a Redis master in the middle of a materialization: the job completes after failover.

Runs on a private throwaway cluster (ports 7201-7206) so the shared stack is never disturbed.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from featurelake.lakehouse.online import ClusterClient, FeatureStatus, OnlineReader, OnlineView, ViewRequest
from featurelake.lakehouse.online.encoding import redis_key
from featurelake.lakehouse.online.spark_writer import RedisTarget, write_online
from tests.online.throwaway_cluster import throwaway_cluster

pytestmark = [pytest.mark.spark, pytest.mark.slow]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VIEW = OnlineView("fo", (("k", "int64"),), (("v", "int64"),))


def _keys_written(ports: list[int]) -> int:
    total = 0
    for port in ports:
        try:
            r = redis.Redis(port=port, socket_timeout=0.3)
            if r.info("replication")["role"] == "master":
                total += r.dbsize()
        except redis.RedisError:
            pass
    return total


def test_master_killed_mid_job_completes_with_newest_values(spark, tmp_path) -> None:
    n = 40_000
    rows = (
        spark.range(n)
        .selectExpr("id as k", "explode(array(1, 3, 2)) as h")
        .selectExpr(
            "k",
            f"timestamp'{T0:%Y-%m-%d %H:%M:%S}' + make_interval(0,0,0,0,h,0,0) as event_timestamp",
            "k * 10 + h as v",
        )
    )
    with throwaway_cluster(tmp_path / "cluster") as cluster:
        victim = cluster.master_of_slot(0)
        target = RedisTarget(tuple(cluster.nodes), "failover", batch_size=200)
        result: dict = {}

        def run() -> None:
            try:
                result["stats"] = write_online(rows, view=VIEW, target=target, partitions=2)
            except BaseException as err:  # noqa: BLE001 - asserted below
                result["error"] = err

        job = threading.Thread(target=run)
        job.start()
        deadline = time.monotonic() + 120
        while _keys_written(cluster.live_ports()) < 2000 and job.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.is_alive(), "the job finished before the master could be killed; raise n"
        cluster.kill(victim)
        job.join(timeout=180)
        assert not job.is_alive()
        assert "error" not in result, result.get("error")
        assert result["stats"].written + result["stats"].skipped_older == n
        assert victim not in cluster.masters()  # a replica took over
        cols = OnlineReader(ClusterClient(cluster.nodes), project="failover").read(
            [ViewRequest(VIEW, ("v",))], [{"k": i} for i in range(n)], now=T0 + timedelta(days=1)
        )
        assert cols[0].statuses.count(FeatureStatus.PRESENT) == n
        assert cols[0].values == [i * 10 + 3 for i in range(n)]
        # Keys of the dead master's slots were served by its promoted replica.
        assert (
            ClusterClient(cluster.nodes).node_for(redis_key("failover", VIEW.join_keys, [0]))
            != f"127.0.0.1:{victim}"
        )
