"""Materialization rounds wait for replicas (Redis WAIT), and a dead replica does not stall them.

Runs on a private throwaway cluster (ports 7201-7206) so the shared stack is never disturbed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from featurelake.lakehouse.online import ClusterClient, FeatureStatus, OnlineReader, OnlineView, ViewRequest
from featurelake.lakehouse.online.cluster import RetryPolicy
from featurelake.lakehouse.online.writer import OnlineWriter
from tests.online.throwaway_cluster import throwaway_cluster

pytestmark = [pytest.mark.slow]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VIEW = OnlineView("ra", (("k", "int64"),), (("v", "int64"),))
MICROS = int(T0.timestamp() * 1_000_000)
PATIENT = RetryPolicy(max_attempts=60, backoff_initial=0.1, backoff_max=1.0, deadline_seconds=60)


def _rows(n: int):  # type: ignore[no-untyped-def]
    return [((i,), MICROS, (i * 7,)) for i in range(n)]


def _read(nodes: list[str], n: int) -> list:  # type: ignore[type-arg]
    cols = OnlineReader(ClusterClient(nodes), project="acks").read(
        [ViewRequest(VIEW, ("v",))], [{"k": i} for i in range(n)], now=T0 + timedelta(hours=1)
    )
    return cols[0].statuses


@pytest.mark.parametrize("acks", [1, 0])
def test_a_round_is_done_once_a_replica_confirmed_it_or_the_replica_is_flagged_failed(
    tmp_path, acks: int
) -> None:
    n = 300
    # A long node timeout keeps the frozen replica unflagged well past the 1.5 s window below,
    # even on a loaded machine.
    with throwaway_cluster(tmp_path / "cluster", node_timeout_ms=6000) as cluster:
        master = cluster.master_of_slot(0)
        # Precondition: the master lists its replica as online (not just the replica's link up).
        replica = cluster.wait_streaming(master)
        # Seeded with the master only: the topology read never waits on the frozen replica.
        client = ClusterClient([f"127.0.0.1:{master}"], retry=PATIENT)
        client.refresh()
        writer = OnlineWriter(client, project="acks", view=VIEW, replica_acks=acks)
        done = threading.Event()
        result: dict = {}

        def run() -> None:
            try:
                result["stats"] = writer.write_rows(_rows(n))
            except BaseException as err:  # noqa: BLE001 - asserted below
                result["error"] = err
            done.set()

        cluster.pause(replica)
        try:
            job = threading.Thread(target=run)
            job.start()
            # Well inside cluster-node-timeout (6 s): the replica is not yet flagged.
            finished_while_unconfirmed = done.wait(1.5)
            # Once the cluster flags the frozen replica (fail?), its master is no longer waited for.
            finished_while_frozen = done.wait(30)
        finally:
            cluster.resume(replica)
        job.join(60)
        writer.close()
        assert "error" not in result, result.get("error")
        assert result["stats"].written == n
        # acks=1: the master holding slot 0 cannot confirm while its replica is frozen.
        assert finished_while_unconfirmed is (acks == 0)
        assert finished_while_frozen
        assert _read(cluster.nodes, n).count(FeatureStatus.PRESENT) == n


def test_a_dead_replica_does_not_stall_writes(tmp_path) -> None:
    n = 300
    with throwaway_cluster(tmp_path / "cluster") as cluster:
        master = cluster.master_of_slot(0)
        cluster.kill(cluster.replica_of(master))
        writer = OnlineWriter(ClusterClient(cluster.nodes, retry=PATIENT), project="acks", view=VIEW)
        stats = writer.write_rows(_rows(n))
        writer.close()
        assert stats.written == n
        # Once the cluster marks the replica failed, its master (still a master) is not waited for.
        assert master in cluster.masters()
        assert _read(cluster.nodes, n).count(FeatureStatus.PRESENT) == n


def test_a_cluster_that_refuses_wait_gets_a_clear_error(tmp_path) -> None:
    """Managed Redis may forbid WAIT (here: an ACL user without it): fail fast, naming the setting."""
    from featurelake.errors import ConfigError

    n = 50
    with throwaway_cluster(tmp_path / "cluster") as cluster:
        for port in cluster.ports:
            cluster.client(port).execute_command(
                "ACL", "SETUSER", "nowait", "on", ">pw", "~*", "&*", "+@all", "-wait"
            )
        client = ClusterClient(cluster.nodes, username="nowait", password="pw", retry=PATIENT)
        writer = OnlineWriter(client, project="acks", view=VIEW, replica_acks=1)
        with pytest.raises(ConfigError, match="online.replica_acks: 0"):
            writer.write_rows(_rows(n))
        writer.close()
        # Failing fast is safe to retry: newer-wins makes a re-run with acks=0 write every row.
        plain = OnlineWriter(
            ClusterClient(cluster.nodes, username="nowait", password="pw"),
            project="acks",
            view=VIEW,
            replica_acks=0,
        )
        assert plain.write_rows(_rows(n)).written == n
        plain.close()
        assert _read(cluster.nodes, n).count(FeatureStatus.PRESENT) == n
