"""Materializing Spark DataFrames into the Redis cluster from the executors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from lakehouse.online import ClusterClient, FeatureStatus, OnlineReader, OnlineView, ViewRequest
from lakehouse.online.spark_writer import RedisTarget, latest_per_entity, write_online
from tests.online.helpers import unique_project

pytestmark = [pytest.mark.spark, pytest.mark.redis]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VIEW = OnlineView("user_stats", (("user_id", "int64"),), (("clicks", "int64"), ("label", "string")))


def _frame(spark, rows):
    return spark.createDataFrame(
        rows,
        "user_id long, event_timestamp timestamp, created_timestamp timestamp, clicks long, label string",
    )


def _read(nodes, project, ids):
    return OnlineReader(ClusterClient(nodes), project=project).read(
        [ViewRequest(VIEW, ("clicks", "label"))], [{"user_id": i} for i in ids], now=T0 + timedelta(days=30)
    )


def test_latest_per_entity_breaks_ties_by_created(spark) -> None:
    rows = [
        (1, T0, T0, 1, "a"),
        (1, T0 + timedelta(hours=1), T0, 2, "b"),
        (1, T0 + timedelta(hours=1), T0 + timedelta(1), 3, "c"),
        (2, T0, T0, 4, "d"),
    ]
    got = {
        r.user_id: r.label for r in latest_per_entity(_frame(spark, rows), join_keys=["user_id"]).collect()
    }
    assert got == {1: "c", 2: "d"}


def test_materialize_writes_latest_value_per_entity(spark, redis_nodes) -> None:
    project = unique_project()
    n = 500
    rows = [(i, T0 + timedelta(hours=h), T0, i * 10 + h, f"u{i}-h{h}") for i in range(n) for h in (3, 1, 2)]
    stats = write_online(
        _frame(spark, rows), view=VIEW, target=RedisTarget(tuple(redis_nodes), project), partitions=3
    )
    assert (stats.written, stats.skipped_older) == (n, 0)
    clicks, label = _read(redis_nodes, project, range(n + 1))
    assert clicks.values[:n] == [i * 10 + 3 for i in range(n)]
    assert label.values[:n] == [f"u{i}-h3" for i in range(n)]
    assert clicks.statuses[n] == FeatureStatus.NOT_FOUND
    # Re-materializing an older window changes nothing.
    older = [(i, T0, T0, -1, "old") for i in range(n)]
    again = write_online(_frame(spark, older), view=VIEW, target=RedisTarget(tuple(redis_nodes), project))
    assert (again.written, again.skipped_older) == (0, n)


def test_concurrent_overlapping_materializations_end_newest(spark, redis_nodes) -> None:
    """Window A = hours 0-5, window B = hours 3-8, run at the same time: hour 8 wins everywhere."""
    project = unique_project()
    n = 400
    a = [(i, T0 + timedelta(hours=h), T0, h, f"h{h}") for i in range(n) for h in range(0, 6)]
    b = [(i, T0 + timedelta(hours=h), T0, h, f"h{h}") for i in range(n) for h in range(3, 9)]
    # Entities with an even id only have data in window A: their newest is hour 5.
    b = [r for r in b if r[0] % 2 == 1]
    errors: list[BaseException] = []

    def run(rows) -> None:
        try:
            write_online(
                _frame(spark, rows),
                view=VIEW,
                target=RedisTarget(tuple(redis_nodes), project, batch_size=40),
                partitions=2,
            )
        except BaseException as err:  # noqa: BLE001 - surfaced below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(rows,)) for rows in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    clicks, _ = _read(redis_nodes, project, range(n))
    assert clicks.values == [8 if i % 2 else 5 for i in range(n)]


def test_missing_column_is_named(spark, redis_nodes) -> None:
    from featurelake.errors import LakehouseError

    df = _frame(spark, [(1, T0, T0, 1, "a")]).drop("label")
    with pytest.raises(LakehouseError, match=r"\['label'\] are missing"):
        write_online(df, view=VIEW, target=RedisTarget(tuple(redis_nodes), unique_project()))
