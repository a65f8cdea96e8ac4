"""Materializing Spark DataFrames into the Redis cluster from the executors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from featurelake.lakehouse.online import ClusterClient, FeatureStatus, OnlineReader, OnlineView, ViewRequest
from featurelake.lakehouse.online.spark_writer import RedisTarget, latest_per_entity, write_online
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


def _windows(n: int) -> tuple[list[tuple], list[tuple]]:
    """Older window A = hours 0-5 for every entity; newer window B = hours 3-8, odd ids only.

    Newest values: hour 8 for odd ids (from B), hour 5 for even ids (only A has them).
    """
    a = [(i, T0 + timedelta(hours=h), T0, h, f"h{h}") for i in range(n) for h in range(0, 6)]
    b = [(i, T0 + timedelta(hours=h), T0, h, f"h{h}") for i in range(n) for h in range(3, 9) if i % 2]
    return a, b


def _write(spark, nodes, project, rows):
    target = RedisTarget(tuple(nodes), project, batch_size=40)
    return write_online(_frame(spark, rows), view=VIEW, target=target, partitions=2)


def test_older_window_after_newer_changes_nothing_it_should_not(spark, redis_nodes) -> None:
    """The newer window lands first; the older one then finds newer values for every odd id."""
    project, n = unique_project(), 400
    a, b = _windows(n)
    newer = _write(spark, redis_nodes, project, b)
    assert (newer.written, newer.skipped_older) == (n // 2, 0)
    older = _write(spark, redis_nodes, project, a)
    assert (older.written, older.skipped_older) == (n // 2, n // 2)  # even ids new, odd ids refused
    clicks, label = _read(redis_nodes, project, range(n))
    assert clicks.values == [8 if i % 2 else 5 for i in range(n)]
    assert label.values == [f"h{8 if i % 2 else 5}" for i in range(n)]


def test_concurrent_overlapping_materializations_end_newest(spark, redis_nodes) -> None:
    """A race: the older window is materialized over and over while the newer one runs (both
    released together by a barrier), then once more after it finished. Without newer-wins that
    last pass would put hour 5 back on every odd id; with it, the pass is refused there."""
    project, n = unique_project(), 400
    a, b = _windows(n)
    barrier, newer_done = threading.Barrier(2), threading.Event()
    older_passes: list = []
    errors: list[BaseException] = []

    def older() -> None:
        try:
            barrier.wait()
            while not newer_done.is_set():
                older_passes.append(_write(spark, redis_nodes, project, a))
            older_passes.append(_write(spark, redis_nodes, project, a))
        except BaseException as err:  # noqa: BLE001 - surfaced below
            errors.append(err)

    def newer() -> None:
        try:
            barrier.wait()
            _write(spark, redis_nodes, project, b)
        except BaseException as err:  # noqa: BLE001 - surfaced below
            errors.append(err)
        finally:
            newer_done.set()

    threads = [threading.Thread(target=older), threading.Thread(target=newer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(older_passes) >= 2
    last = older_passes[-1]
    assert (last.written, last.skipped_older) == (n // 2, n // 2)  # equal times rewrite even ids
    assert sum(p.skipped_older for p in older_passes) >= n // 2
    clicks, _ = _read(redis_nodes, project, range(n))
    assert clicks.values == [8 if i % 2 else 5 for i in range(n)]


def test_missing_column_is_named(spark, redis_nodes) -> None:
    from featurelake.errors import LakehouseError

    df = _frame(spark, [(1, T0, T0, 1, "a")]).drop("label")
    with pytest.raises(LakehouseError, match=r"\['label'\] are missing"):
        write_online(df, view=VIEW, target=RedisTarget(tuple(redis_nodes), unique_project()))
