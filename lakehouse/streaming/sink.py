"""The exactly-once sink of a streaming feature view: each micro-batch to Delta AND Redis.

Spark's checkpoint guarantees each micro-batch is computed with the same content until it
is marked committed, so a crash anywhere makes Spark REPLAY the batch with the same id. The
sink makes both writes idempotent per batch:

* **Delta**: the append commits a Delta ``txn`` action with the stream's application id and
  the batch id (delta-rs ``CommitProperties(app_transactions=[Transaction(app_id, batch_id)])``)
  in the same commit as the data. Before writing, the sink reads the table's
  ``transaction_version(app_id)``: when it is at or past the batch id, the batch committed
  before the crash and nothing is written again. One commit, so either the rows and the marker
  land together or neither does.
* **Redis**: the latest row per entity goes through the newer-wins writer (an atomic
  compare-and-set on ``_ts:<view>``, replica acknowledgements): writing a replayed batch again
  leaves every hash as it was, and a batch never overwrites a newer value.

Empty batches write nothing (the watermark-only batches Spark runs to close windows often are).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from featurelake.spec import EVENT_DATE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from featurelake.lakehouse.online.layout import OnlineView
    from featurelake.lakehouse.online.spark_writer import RedisTarget
    from featurelake.lakehouse.tables import Lakehouse


@dataclass
class BatchResult:
    """What one micro-batch did.

    Attributes:
        batch_id: Spark's batch id.
        rows: feature rows the batch produced.
        delta_version: the version committed (None: nothing written, or already committed).
        delta_skipped: the batch had committed to Delta before (a replay).
        redis_written: entities written to Redis.
        redis_skipped_older: entities Redis already held newer values for.
        seconds: time spent in the sink.
    """

    batch_id: int
    rows: int
    delta_version: int | None
    delta_skipped: bool
    redis_written: int
    redis_skipped_older: int
    seconds: float


def committed_batch(lakehouse: Lakehouse, table: str, app_id: str) -> int | None:
    """The last batch id the stream ``app_id`` committed to ``table`` (None: none, or no table)."""
    loaded = lakehouse._try_load(table)
    if loaded is None:
        return None
    version = loaded.transaction_version(app_id)
    return None if version is None else int(version)


@dataclass
class FeatureStreamSink:
    """``foreachBatch`` function: feature rows of a batch to the view's Delta table and Redis.

    Attributes:
        lakehouse: the Delta tables.
        table: the view's feature table.
        app_id: the stream's application id (constant across restarts from one checkpoint).
        join_keys: key name -> Feast type name, in entity order.
        features: feature name -> Feast type name, in schema order.
        online_view: the view's online layout (None: Delta only).
        target: the Redis cluster (None: Delta only).
        on_batch: called with each :class:`BatchResult` (progress, status).
    """

    lakehouse: Lakehouse
    table: str
    app_id: str
    join_keys: dict[str, str]
    features: dict[str, str]
    online_view: OnlineView | None = None
    target: RedisTarget | None = None
    on_batch: Callable[[BatchResult], None] | None = None
    results: list[BatchResult] = field(default_factory=list)

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        from featurelake.lakehouse.online.spark_writer import write_online
        from featurelake.lakehouse.online.writer import WriteStats

        started = time.monotonic()
        rows = self.feature_rows(df)
        rows.persist()
        try:
            n = rows.count()
            version = None
            done = committed_batch(self.lakehouse, self.table, self.app_id)
            skipped = done is not None and done >= batch_id
            if n and not skipped:
                info = self.lakehouse.write(
                    rows,
                    self.table,
                    mode="append",
                    partition_by=[EVENT_DATE],
                    app_transaction=(self.app_id, batch_id),
                )
                version = info.version
            stats = WriteStats()
            if n and self.online_view is not None and self.target is not None:
                stats = write_online(rows, view=self.online_view, target=self.target)
        finally:
            rows.unpersist()
        result = BatchResult(
            batch_id=batch_id,
            rows=n,
            delta_version=version,
            delta_skipped=skipped and n > 0,
            redis_written=stats.written,
            redis_skipped_older=stats.skipped_older,
            seconds=round(time.monotonic() - started, 3),
        )
        self.results.append(result)
        if self.on_batch is not None:
            self.on_batch(result)

    def feature_rows(self, df: DataFrame) -> DataFrame:
        """The batch's aggregates in the feature table layout (types cast, created_timestamp, event_date)."""
        from pyspark.sql import functions as F

        from featurelake.lakehouse.transforms import expected_columns, to_feature_layout

        expected = expected_columns(self.join_keys, self.features)
        typed = df.select(*[F.col(c).cast(t).alias(c) for c, t in expected.items()])
        return to_feature_layout(
            typed, join_keys=list(self.join_keys), features=list(self.features), created=datetime.now(UTC)
        )


def sum_results(results: Sequence[BatchResult]) -> dict[str, Any]:
    """Totals over batches (for the run's report)."""
    return {
        "batches": len(results),
        "rows": sum(r.rows for r in results),
        "delta_versions": [r.delta_version for r in results if r.delta_version is not None],
        "replayed_batches_skipped": sum(1 for r in results if r.delta_skipped),
        "redis_written": sum(r.redis_written for r in results),
        "redis_skipped_older": sum(r.redis_skipped_older for r in results),
    }
