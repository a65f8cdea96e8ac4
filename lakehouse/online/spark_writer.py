"""Materialize a Spark DataFrame into the Redis cluster from the executors.

The driver never touches the rows: each executor task opens its own :class:`ClusterClient`,
turns its Arrow batches into newer-wins EVALSHA commands and pipelines them per master
(``mapInArrow``), then returns one stats row; the driver sums them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurelake.errors import LakehouseError
from featurelake.lakehouse.online.cluster import ClusterClient, RetryPolicy
from featurelake.lakehouse.online.layout import OnlineView
from featurelake.lakehouse.online.writer import OnlineWriter, WriteStats

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class RedisTarget:
    """Where and how executors write (everything here is pickled to the executors).

    Attributes:
        nodes: seed nodes ``host:port`` of the cluster.
        project: Feast project name.
        password: AUTH password, if any.
        ssl: use TLS.
        username: Redis 6+ ACL user for ``password`` (None: the default user).
        ssl_ca_file: PEM CA bundle trusted besides the system CAs; the path must exist on every
            executor (ship it with the job), or leave it None for public CAs (ElastiCache).
        key_ttl_seconds: EXPIRE written keys after this many seconds (None: never).
        batch_size: rows per pipelined round.
        replica_acks: replicas of each master that must confirm a round before it counts
            (Redis ``WAIT``; see :class:`OnlineWriter`). 0 trusts the master alone.
        retry: how long a task keeps retrying through a failover before failing.
    """

    nodes: tuple[str, ...]
    project: str
    password: str | None = None
    ssl: bool = False
    key_ttl_seconds: int | None = None
    batch_size: int = 4000
    replica_acks: int = 1
    retry: RetryPolicy = RetryPolicy(
        max_attempts=40, backoff_initial=0.1, backoff_max=1.0, deadline_seconds=90
    )
    username: str | None = None
    ssl_ca_file: str | None = None
    credentials_from: str | None = None  # where password/username came from (error messages)

    def client(self, *, retry: RetryPolicy | None = None) -> ClusterClient:
        """A cluster client with this target's nodes, credentials and TLS options."""
        return ClusterClient(
            self.nodes,
            password=self.password,
            username=self.username,
            ssl=self.ssl,
            ssl_ca_file=self.ssl_ca_file,
            credentials_from=self.credentials_from,
            retry=retry or self.retry,
        )


def latest_per_entity(
    df: DataFrame,
    *,
    join_keys: Sequence[str],
    timestamp_column: str = "event_timestamp",
    created_column: str | None = "created_timestamp",
) -> DataFrame:
    """Keep one row per entity: the latest by event time, ties broken by the latest created time."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = [F.col(timestamp_column).desc()]
    if created_column and created_column in df.columns:
        order.append(F.col(created_column).desc_nulls_last())
    w = Window.partitionBy(*[F.col(k) for k in join_keys]).orderBy(*order)
    return df.withColumn("__rn", F.row_number().over(w)).where(F.col("__rn") == 1).drop("__rn")


def _writer_task(view: OnlineView, target: RedisTarget, timestamp_column: str):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        client = target.client()
        writer = OnlineWriter(
            client,
            project=target.project,
            view=view,
            key_ttl_seconds=target.key_ttl_seconds,
            batch_size=target.batch_size,
            replica_acks=target.replica_acks,
        )
        stats = WriteStats()
        try:
            for batch in batches:
                stats += writer.write_arrow(batch, timestamp_column=timestamp_column)
        finally:
            writer.close()
            client.close()
        yield pa.RecordBatch.from_pydict(
            {"written": [stats.written], "skipped_older": [stats.skipped_older]},
            schema=pa.schema([("written", pa.int64()), ("skipped_older", pa.int64())]),
        )

    return run


def write_online(
    df: DataFrame,
    *,
    view: OnlineView,
    target: RedisTarget,
    timestamp_column: str = "event_timestamp",
    dedupe: bool = True,
    partitions: int | None = None,
) -> WriteStats:
    """Write the latest row per entity of ``df`` into the cluster, from the executors.

    Args:
        df: rows with the view's join keys, ``timestamp_column`` and feature columns.
        view: the view's online layout.
        target: the cluster and write options.
        timestamp_column: the event time column.
        dedupe: keep only the latest row per entity first (skip if ``df`` already is).
        partitions: repartition to this many tasks (None: keep the DataFrame's partitioning).

    Returns:
        Rows written, and rows skipped because Redis already held a newer value.

    Raises:
        LakehouseError: a column the view needs is missing.
        ServiceUnavailableError: (from the driver check) the cluster is unreachable.
    """
    missing = [
        c for c in (*view.join_key_names, timestamp_column, *view.feature_names) if c not in df.columns
    ]
    if missing:
        raise LakehouseError(
            f"cannot materialize view {view.name!r}: columns {missing} are missing from its feature table "
            f"(columns: {df.columns}); re-run the backfill for the current view version"
        )
    # Fail fast, on the driver, with a clear error if the cluster is down.
    probe = target.client(retry=RetryPolicy(max_attempts=3, deadline_seconds=5))
    try:
        probe.refresh()
    finally:
        probe.close()
    cols = [*view.join_key_names, timestamp_column, *view.feature_names]
    if dedupe:
        extra = ["created_timestamp"] if "created_timestamp" in df.columns else []
        df = df.select(*cols, *extra)
        if partitions:
            # Hash-partition by the join keys once: the window below reuses it (no second shuffle).
            df = df.repartition(partitions, *view.join_key_names)
        df = latest_per_entity(df, join_keys=view.join_key_names, timestamp_column=timestamp_column)
    elif partitions:
        df = df.repartition(partitions)
    df = df.select(*cols)
    out = df.mapInArrow(_writer_task(view, target, timestamp_column), "written long, skipped_older long")
    # One small row per task: summing them on the driver saves the extra stage a groupBy needs.
    rows = out.collect()
    return WriteStats(written=sum(r[0] for r in rows), skipped_older=sum(r[1] for r in rows))


def write_online_local(
    table: pa.Table,
    *,
    view: OnlineView,
    target: RedisTarget,
    timestamp_column: str = "event_timestamp",
    created_column: str | None = "created_timestamp",
) -> WriteStats:
    """Write the latest row per entity of an Arrow table from this process, without Spark.

    The small-run path of materialization: the same :class:`OnlineWriter` as the executors
    (newer-wins script, replica acknowledgements, key TTL), so the result in Redis is the same
    as :func:`write_online`'s.

    Raises:
        LakehouseError: a column the view needs is missing, or a join key or timestamp is null.
        ServiceUnavailableError: the cluster is unreachable.
    """
    missing = [
        c
        for c in (*view.join_key_names, timestamp_column, *view.feature_names)
        if c not in table.column_names
    ]
    if missing:
        raise LakehouseError(
            f"cannot materialize view {view.name!r}: columns {missing} are missing from its feature table "
            f"(columns: {table.column_names}); re-run the backfill for the current view version"
        )
    latest = latest_per_entity_arrow(
        table, join_keys=view.join_key_names, timestamp_column=timestamp_column, created_column=created_column
    )
    client = target.client()
    writer = OnlineWriter(
        client,
        project=target.project,
        view=view,
        key_ttl_seconds=target.key_ttl_seconds,
        batch_size=target.batch_size,
        replica_acks=target.replica_acks,
    )
    try:
        if latest.num_rows == 0:
            return WriteStats()
        return writer.write_arrow(latest, timestamp_column=timestamp_column)
    finally:
        writer.close()
        client.close()


def latest_per_entity_arrow(
    table: pa.Table,
    *,
    join_keys: Sequence[str],
    timestamp_column: str = "event_timestamp",
    created_column: str | None = "created_timestamp",
) -> pa.Table:
    """:func:`latest_per_entity` for an Arrow table: the latest row per entity by event time,
    ties broken by the latest created time (nulls last)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table
    order = [(k, "ascending") for k in join_keys] + [(timestamp_column, "descending")]
    if created_column and created_column in table.column_names:
        order.append((created_column, "descending"))
    ranked = table.take(pc.sort_indices(table, sort_keys=order, null_placement="at_end"))
    keys = [ranked.column(k) for k in join_keys]
    # a row starts a new entity when any join key differs from the previous row's
    new = pa.array([True] + [False] * (ranked.num_rows - 1))
    for col in keys:
        col = col.combine_chunks()
        changed = pc.not_equal(col.slice(1), col.slice(0, len(col) - 1))
        new = pc.or_(new, pa.concat_arrays([pa.array([True]), pc.fill_null(changed, True)]))
    return ranked.filter(new)
