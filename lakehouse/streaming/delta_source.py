"""A Delta table read as a stream: a Spark 4 Python streaming data source over the Delta log.

Delta's own streaming source lives in delta-spark's jars (Maven, unreachable here), so this
source reads the log with delta-rs, like the batch bridge (:mod:`featurelake.lakehouse.bridge`):

* an offset is ``{"version": V}``: every row committed up to Delta version ``V`` has been read;
* a micro-batch from ``V`` to ``W`` reads the data files the commits ``V+1 .. W`` added
  (:func:`featurelake.lakehouse.changes.changed_files`: appends, overwrites and backfills
  count, OPTIMIZE/Z-order rewrites do not), planned into tasks and read with pyarrow in the
  executors by the bridge's reader;
* the initial offset is ``{"version": -1}`` (the first batch reads the snapshot at the latest
  version in full) or, with the ``startingVersion`` option, ``startingVersion - 1``;
* ``max_versions_per_trigger`` caps the commits a micro-batch takes (default: all available).

Offsets are versions, so a restarted query re-reads exactly the batch it had planned and not
committed (Spark's checkpoint holds the offsets), and rows are never seen twice by committed
batches. When the log range of a batch was cleaned up (log retention) the batch reads the
whole snapshot at ``W`` instead (never nothing), and says so in the driver's log.

Usage::

    spark.dataSource.register(DeltaStreamSource)
    df = (spark.readStream.format("featurelake_delta_stream")
          .option("spec", DeltaStreamSpec(root=..., table="raw_events").to_option()).load())
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.types import StructType

from featurelake.errors import LakehouseError

SOURCE_NAME = "featurelake_delta_stream"
log = logging.getLogger(__name__)


@dataclass
class DeltaStreamSpec:
    """What the stream reads (one JSON option, as Spark lower-cases option keys).

    Attributes:
        root: the lakehouse storage root.
        table: the Delta table to follow.
        storage_options: storage options of the root (S3 endpoint, credentials).
        starting_version: first version whose rows are read; None: the latest snapshot in full.
        max_versions_per_trigger: commits per micro-batch at most (None: all available).
        parallelism: read tasks for a large batch (the bridge plans by bytes).
    """

    root: str
    table: str
    storage_options: dict[str, str] = field(default_factory=dict)
    starting_version: int | None = None
    max_versions_per_trigger: int | None = None
    parallelism: int = 2

    def to_option(self) -> str:
        """The spec as the ``spec`` option's text."""
        return json.dumps(asdict(self))

    @classmethod
    def from_option(cls, text: str) -> DeltaStreamSpec:
        """Parse the ``spec`` option."""
        return cls(**json.loads(text))


def stream_schema(root: str, table: str, storage_options: dict[str, str] | None = None) -> StructType:
    """The Spark schema of a Delta table (partition columns included), for ``readStream.schema``.

    Raises:
        LakehouseError: the table does not exist or cannot be read.
    """
    from featurelake.lakehouse.schema import arrow_to_spark, table_arrow_schema
    from featurelake.lakehouse.tables import Lakehouse

    lakehouse = Lakehouse(root, storage_options or {})
    return arrow_to_spark(table_arrow_schema(lakehouse._load(table)))


class DeltaStreamSource(DataSource):
    """``spark.readStream.format("featurelake_delta_stream")``: see the module docstring."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> StructType:
        spec = DeltaStreamSpec.from_option(self.options["spec"])
        return stream_schema(spec.root, spec.table, spec.storage_options)

    def streamReader(self, schema: StructType) -> DeltaStreamReader:
        return DeltaStreamReader(DeltaStreamSpec.from_option(self.options["spec"]), schema)


class DeltaStreamReader(DataSourceStreamReader):
    """Plans micro-batches from Delta versions and reads their added files in the executors."""

    def __init__(self, spec: DeltaStreamSpec, schema: StructType):
        self.spec = spec
        self.schema = schema

    def _lakehouse(self) -> Any:
        from featurelake.lakehouse.tables import Lakehouse

        return Lakehouse(self.spec.root, self.spec.storage_options)

    def initialOffset(self) -> dict:
        start = self.spec.starting_version
        return {"version": -1 if start is None else start - 1}

    def latestOffset(self, start: dict | None = None, limit: Any = None) -> dict:
        latest = self._lakehouse().version(self.spec.table)
        cap = self.spec.max_versions_per_trigger
        if start is not None and cap:
            # from -1 the first batch reads the snapshot of version cap - 1 in full
            latest = min(latest, max(int(start["version"]), -1) + cap)
        return {"version": latest}

    def reportLatestOffset(self) -> dict | None:
        return {"version": self._lakehouse().version(self.spec.table)}

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        from featurelake.lakehouse.bridge import ReadSpec, plan_read_tasks
        from featurelake.lakehouse.changes import ChangesUnavailable, changed_files

        first, last = int(start["version"]), int(end["version"])
        if last <= first:
            return []
        lakehouse = self._lakehouse()
        table = lakehouse._load(self.spec.table, version=last)
        parts = list(table.metadata().partition_columns)
        if first < 0:
            files = lakehouse._files(self.spec.table, table, None)
        else:
            try:
                files = changed_files(lakehouse, self.spec.table, since_version=first, to_version=last).files
            except ChangesUnavailable as err:
                log.warning("%s; the batch reads the snapshot at version %d in full", err, last)
                files = lakehouse._files(self.spec.table, table, None)
        spec = ReadSpec(
            root=self.spec.root,
            storage_options=self.spec.storage_options,
            partition_columns=[p for p in parts if p in self.schema.fieldNames()],
            files=[(f.path, f.partition_values, f.size_bytes) for f in files],
            parallelism=self.spec.parallelism,
        )
        return [_Task(spec.to_option(), group) for group in plan_read_tasks(spec)]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        from featurelake.lakehouse.bridge import DeltaBridgeReader, ReadSpec

        task: _Task = partition  # type: ignore[assignment]
        reader = DeltaBridgeReader(ReadSpec.from_option(task.spec), self.schema)
        yield from reader.read(InputPartition(task.pieces))

    def commit(self, end: dict) -> None:
        """Nothing to release: Spark's checkpoint holds the offsets (versions)."""


class _Task(InputPartition):
    """One read task: the bridge's read spec and this task's pieces of files."""

    def __init__(self, spec: str, pieces: list[Any]):
        super().__init__(pieces)
        self.spec = spec
        self.pieces = pieces


def register(spark: Any) -> None:
    """Register the source with a Spark session (idempotent).

    Raises:
        LakehouseError: the session cannot register Python data sources.
    """
    try:
        spark.dataSource.register(DeltaStreamSource)
    except Exception as err:  # noqa: BLE001 - Py4J errors alike
        raise LakehouseError(f"cannot register the Delta stream source with Spark: {err}") from err
