"""A Redis master killed during a micro-batch: the stream waits for its replica's promotion and
ends with exact values in Redis and Delta.

Runs on a private throwaway cluster (ports 7261-7266, not the shared stack's 7101-7106 nor the
7201-7206 of tests/online) so no other test's nodes are ever killed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.online.throwaway_cluster import ThrowawayCluster
from tests.streaming.world import T0, make_world

pytestmark = [pytest.mark.spark, pytest.mark.slow]

PORTS = list(range(7261, 7267))
FEATURES = ["txn_count_1h", "txn_amount_sum_1h"]


def test_a_master_killed_during_a_batch_the_stream_ends_exact(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.crc import key_slot

    import featurelake.lakehouse.online.spark_writer as spark_writer
    from featurelake.jobs.stream import StreamOptions, run_stream
    from featurelake.lakehouse.online.encoding import redis_key

    cluster = ThrowawayCluster(tmp_path / "cluster", ports=PORTS)
    cluster.start()
    try:
        world = make_world(tmp_path / "world", cluster.nodes)
        project = world.settings.project
        # hourly events of cards 1..3 over 4 hours, one commit per hour (one micro-batch each),
        # and a last event 2 h later that closes every window of cards 1..3
        sent = [
            (card, T0 + timedelta(hours=h, minutes=7 * card + m), float(card + h + m))
            for h in range(4)
            for card in (1, 2, 3)
            for m in (0, 20)
        ]
        for h in range(4):
            world.append(
                spark, [e for e in sent if T0 + timedelta(hours=h) <= e[1] < T0 + timedelta(hours=h + 1)]
            )
        world.append(spark, [(999, T0 + timedelta(hours=6), 1.0)])
        victim = cluster.master_of_slot(key_slot(redis_key(project, (("card_id", "int64"),), [1])))
        real = spark_writer.write_online
        calls: list[int] = []

        def write_killing_the_master_once(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:  # the second batch: its Delta commit is done, its Redis write not begun
                cluster.kill(victim)
            return real(*args, **kwargs)

        monkeypatch.setattr(spark_writer, "write_online", write_killing_the_master_once)
        options = StreamOptions(
            view="card_hourly", available_now=True, max_per_trigger=1, trigger=timedelta(0)
        )
        result = run_stream(spark, world.settings, options, actor="tests", registry=world.registry)

        assert len(calls) >= 3, "the master must die before a batch that is not the last"
        assert victim not in cluster.live_ports() and victim not in cluster.masters()  # a replica took over
        expected: dict = {}
        for card, ts, amount in sent:
            end = (ts.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).replace(tzinfo=None)
            n, s = expected.get((card, end), (0, 0.0))
            expected[(card, end)] = (n + 1, s + amount)
        rows = [r for r in world.feature_rows(spark, "card_hourly") if r.card_id != 999]
        assert {
            (r.card_id, r.event_timestamp): (r.txn_count_1h, r.txn_amount_sum_1h) for r in rows
        } == expected
        assert len(rows) == len(expected)  # none twice
        online = world.online("card_hourly", [1, 2, 3], FEATURES)
        for i, card in enumerate(online["card_id"]):
            last = max(end for c, end in expected if c == card)
            assert (online["txn_count_1h"][i], online["txn_amount_sum_1h"][i]) == expected[(card, last)]
        assert result.late_rows_dropped == 0
        world.registry.dispose()
    finally:
        cluster.stop()
