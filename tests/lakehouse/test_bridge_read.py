"""The bridge reader (the S3 read path): task planning, files split by row groups, schema
evolution and partition values, on local disk and on the stack's S3 server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow.parquet as pq
import pytest

from featurelake.lakehouse.bridge import ReadSpec, plan_read_tasks
from tests.lakehouse.conftest import event_rows, events_df, sorted_rows

MiB = 1 << 20


def _spec(files: list[tuple[str, int]], **kwargs: Any) -> ReadSpec:
    return ReadSpec(
        root="/lake", storage_options={}, partition_columns=[], files=[(p, {}, s) for p, s in files], **kwargs
    )


def test_a_small_table_is_read_by_one_task_per_core():
    files = [(f"f{i}", 2 * MiB + i) for i in range(20)]
    tasks = plan_read_tasks(_spec(files, parallelism=2))
    assert len(tasks) == 2
    assert sorted(p[0] for t in tasks for p in t) == sorted(f for f, _ in files)
    assert all(p[3:] == (0, 1) for t in tasks for p in t)  # whole files, no slices
    assert sorted(len(t) for t in tasks) == [10, 10]


def test_files_larger_than_a_split_are_cut_into_row_group_slices():
    files = [("big", 1000 * MiB), ("small", MiB)]
    tasks = plan_read_tasks(_spec(files, parallelism=2, max_split_bytes=128 * MiB, open_cost_bytes=4 * MiB))
    big = sorted(p[3:] for t in tasks for p in t if p[0] == "big")
    assert big == [(i, 8) for i in range(8)]
    assert [p[3:] for t in tasks for p in t if p[0] == "small"] == [(0, 1)]
    assert len(tasks) == 8  # ceil((1001 MiB + 2 x 4 MiB open cost) / 128 MiB)
    assert all(t for t in tasks)


def test_no_files_plan_no_tasks():
    assert plan_read_tasks(_spec([])) == []


@contextmanager
def _conf(spark: Any, values: dict[str, str]) -> Iterator[None]:
    old = {k: spark.conf.get(k, None) for k in values}
    for k, v in values.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


SMALL_SPLITS = {"spark.sql.files.maxPartitionBytes": "4k", "spark.sql.files.openCostInBytes": "1k"}


def _bridge(lake: Any, spark: Any, name: str, columns: list[str] | None = None) -> Any:
    """Read the latest snapshot through the bridge reader, whatever the storage."""
    from featurelake.lakehouse.schema import table_arrow_schema

    table = lake._load(name)
    arrow = table_arrow_schema(table)
    files = lake._files(name, table, None)
    parts = list(table.metadata().partition_columns)
    return lake._read_bridge(spark, files, arrow, parts, columns or list(arrow.names))


def _evolved_table(spark: Any, lake: Any, name: str) -> tuple[list[tuple], list[tuple]]:
    """A table whose first files have several row groups and lack the later column ``score``."""
    from pyspark.sql import functions as F

    old = event_rows(3000, days=3)
    new = event_rows(500, days=2, seed=3, id_offset=50_000)
    with _conf(spark, {"spark.featurelake.write.rowGroupRows": "200"}):  # row groups of 200 rows
        lake.write(events_df(spark, old, partitions=1), name, partition_by=["event_date"])
    lake.write(
        events_df(spark, new).withColumn("score", F.col("user_id") * 0.5), name, allow_new_columns=True
    )
    return old, new


def _check_evolved(spark: Any, lake: Any, name: str, old: list[tuple], new: list[tuple]) -> None:
    back = _bridge(lake, spark, name)
    assert back.columns == ["user_id", "amount", "merchant", "event_timestamp", "event_date", "score"]
    assert sorted_rows(back) == sorted(old + new)  # partition values restored, row for row
    scores = {r.user_id: r.score for r in back.select("user_id", "score").collect()}
    assert all(scores[r[0]] is None for r in old) and all(scores[r[0]] == r[0] * 0.5 for r in new)
    only = _bridge(lake, spark, name, ["score", "event_date"])  # projection, partition column last
    assert only.columns == ["score", "event_date"] and only.count() == len(old) + len(new)


@pytest.mark.spark
def test_bridge_reads_whole_and_sliced_files_row_for_row(spark, lake):
    old, new = _evolved_table(spark, lake, "ev")
    table = lake._load("ev")
    assert max(pq.ParquetFile(f.path).num_row_groups for f in lake._files("ev", table, None)) >= 5
    _check_evolved(spark, lake, "ev", old, new)
    with _conf(spark, SMALL_SPLITS):
        _check_evolved(spark, lake, "ev", old, new)  # files cut into row-group slices across tasks


@pytest.mark.spark
@pytest.mark.s3
def test_bridge_reads_whole_objects_and_ranged_slices_on_s3(spark, s3_lake):
    old, new = _evolved_table(spark, s3_lake, "ev")
    _check_evolved(spark, s3_lake, "ev", old, new)  # each object fetched with one GET, one ahead
    with _conf(spark, SMALL_SPLITS):
        _check_evolved(spark, s3_lake, "ev", old, new)  # slices: ranged reads
