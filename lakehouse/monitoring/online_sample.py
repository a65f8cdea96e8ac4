"""A seeded sample of a view's latest offline rows, the expected side of the monitor's online checks.

The monitor compares these rows with Redis (:mod:`featurelake.lakehouse.online.consistency`):
for skew, the latest row per entity as of the view's latest materialization (the Delta version
and event-time bound it read); for coverage, the latest row per entity of the newest snapshot.
Entities are chosen by a seeded hash of their join keys, not by ``rand()``: the same seed over
the same data picks the same entities whatever the Spark partitioning.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.spec import CREATED_TIMESTAMP, EVENT_TIMESTAMP, partitions_covering

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from featurelake.lakehouse.tables import Lakehouse


def sample_latest_rows(
    spark: SparkSession,
    lakehouse: Lakehouse,
    table: str,
    *,
    version: int,
    join_keys: Sequence[str],
    features: Sequence[str],
    since: datetime | None,
    before: datetime,
    sample: int,
    seed: int,
) -> tuple[list[dict[str, Any]], int]:
    """Up to ``sample`` entities whose latest row (``event_timestamp < before``) is at or after ``since``.

    Only the date partitions of ``since .. before`` are read (all of them when ``since`` is None):
    an entity's latest row at or after ``since`` can only be there.

    Args:
        spark: the Spark session.
        lakehouse: the Delta tables.
        table: the view's feature table.
        version: the Delta version to read.
        join_keys: the entity's join key columns.
        features: the feature columns to return.
        since: the earliest event time kept (the view's TTL cut, or a materialization window's start).
        before: event times strictly before this (a materialization's ``end``; or just after "now").
        sample: at most this many entities.
        seed: the sampling seed.

    Returns:
        (rows as dicts with the join keys, ``event_timestamp`` and the features; files read).
    """
    from pyspark.sql import functions as F

    from featurelake.lakehouse.online.spark_writer import latest_per_entity

    if since is not None and since >= before:
        return [], 0
    date_range = partitions_covering(since, before - timedelta(microseconds=1)) if since else None
    files = lakehouse.files(table, version=version, date_range=date_range)
    if not files:
        return [], 0
    cols = [*join_keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP, *features]  # as materialization reads
    df = lakehouse.read(spark, table, version=version, columns=cols, files=[f.path for f in files])
    cond = F.col(EVENT_TIMESTAMP) < F.lit(before)
    if since is not None:
        cond &= F.col(EVENT_TIMESTAMP) >= F.lit(since)
    latest = latest_per_entity(df.where(cond), join_keys=list(join_keys))
    order = F.xxhash64(F.lit(seed), *[F.col(k) for k in join_keys])
    picked = latest.orderBy(order, *join_keys).limit(sample)
    rows = [r.asDict() for r in picked.select(*join_keys, EVENT_TIMESTAMP, *features).collect()]
    return rows, len(files)
