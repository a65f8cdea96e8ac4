"""The Spark <-> Delta bridge: a Spark 4 Python data source backed by pyarrow and delta-rs.

Writing: each Spark task writes Hive-style parquet files (``event_date=2024-01-01/part-...``,
microsecond timestamps, partition columns left out of the file as Delta requires) through
pyarrow's filesystem for the root and returns their ``add`` actions (path, partition values,
size, modification time, statistics) as a commit message. Spark then calls ``commit`` in a
Python worker on the driver host with every task's message; it only hands the actions to the
driver process (a manifest file under a driver-local folder). The driver process commits ONE
Delta transaction with delta-rs (see :mod:`lakehouse.tables`). Nothing here commits, so a failed
job can never change the table: a failing task deletes its own files, and ``abort`` deletes the
files of tasks that had succeeded.

Reading: the driver resolves a snapshot with delta-rs and passes its active files (with their
partition values) to :class:`DeltaBridgeReader`, which reads them with pyarrow in the executors
and adds the partition columns back. Used for S3 (Spark has no S3 filesystem jars here) and
whenever the files' folders do not carry their partition values; local tables are read with
Spark's own parquet reader (faster, see bench/delta_io.py).

Spark lower-cases option keys and rejects ``partitionBy()`` for Python sources: everything
travels in one JSON option, ``spec``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.types import StructType

from lakehouse.stats import FileStats
from lakehouse.storage import StorageRoot

SOURCE_NAME = "featurelake_delta"
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_READ_BATCH_ROWS = 131_072


@dataclass
class WriteSpec:
    """What a write job needs in every task (serialised into the ``spec`` option)."""

    root: str
    storage_options: dict[str, str]
    table: str
    partition_by: list[str]
    write_id: str
    manifest: str  # driver-local file that commit()/abort() write for the driver process

    def to_option(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_option(cls, text: str) -> WriteSpec:
        return cls(**json.loads(text))


@dataclass
class ReadSpec:
    """A snapshot's files to read: ``files`` holds (physical path, partition values, size)."""

    root: str
    storage_options: dict[str, str]
    partition_columns: list[str]
    files: list[tuple[str, dict[str, str | None], int]] = field(default_factory=list)
    num_partitions: int = 2

    def to_option(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_option(cls, text: str) -> ReadSpec:
        data = json.loads(text)
        data["files"] = [tuple(f) for f in data["files"]]
        return cls(**data)


@dataclass
class BridgeCommitMessage(WriterCommitMessage):
    """One task's result: the add actions of the files it wrote (as plain dicts)."""

    adds: list[dict[str, Any]]


def partition_folder(column: str, value: str | None) -> str:
    """The Hive-style folder for one partition value, escaped the way delta-rs escapes it."""
    return f"{column}={HIVE_NULL if value is None else quote(value, safe='')}"


def partition_string(value: Any) -> str | None:
    """A partition value as Delta stores it in ``partitionValues``."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class DeltaBridgeSource(DataSource):
    """``spark.read/write.format("featurelake_delta")``: use :class:`lakehouse.Lakehouse` instead."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> StructType:
        return StructType.fromJson(json.loads(self.options["schema"]))

    def writer(self, schema: StructType, overwrite: bool) -> DeltaBridgeWriter:
        return DeltaBridgeWriter(WriteSpec.from_option(self.options["spec"]), schema)

    def reader(self, schema: StructType) -> DeltaBridgeReader:
        return DeltaBridgeReader(ReadSpec.from_option(self.options["spec"]), schema)


class _FileSet:
    """The open parquet files of one task, one per partition value."""

    def __init__(self, spec: WriteSpec, task: int, attempt: int):
        self.spec = spec
        self.storage = StorageRoot(spec.root, spec.storage_options)
        self.fs = self.storage.filesystem()
        self.base = self.storage.table_path(spec.table)
        self.prefix = f"part-{task:05d}-{spec.write_id}-a{attempt}"
        self.open: dict[tuple[str | None, ...], tuple[pq.ParquetWriter, Any, str, str, FileStats]] = {}
        self.written: list[str] = []

    def _writer(self, key: tuple[str | None, ...], schema: pa.Schema) -> tuple[pq.ParquetWriter, FileStats]:
        entry = self.open.get(key)
        if entry is None:
            folders = [partition_folder(c, v) for c, v in zip(self.spec.partition_by, key, strict=True)]
            name = f"{self.prefix}-{len(self.open):04d}-c000.snappy.parquet"
            rel = "/".join([*folders, name])
            path = f"{self.base}/{rel}"
            if not self.storage.is_s3:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            self.written.append(path)
            sink = self.fs.open_output_stream(path)
            writer = pq.ParquetWriter(
                sink, schema, compression="snappy", coerce_timestamps="us", allow_truncated_timestamps=True
            )
            entry = (writer, sink, path, rel, FileStats(schema))
            self.open[key] = entry
        return entry[0], entry[4]

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        parts = self.spec.partition_by
        data_cols = [c for c in batch.schema.names if c not in parts]
        if not parts:
            self._write_group((), batch.select(data_cols))
            return
        table = pa.Table.from_batches([batch])
        if all(pc.count_distinct(table[c], mode="all").as_py() == 1 for c in parts):
            key = tuple(partition_string(table[c][0].as_py()) for c in parts)
            self._write_group(key, batch.select(data_cols))
            return
        order = pc.sort_indices(table, sort_keys=[(c, "ascending") for c in parts])  # nulls last
        table = table.take(order)
        starts = _run_starts(table, parts)
        for lo, hi in zip(starts, [*starts[1:], table.num_rows], strict=True):
            chunk = table.slice(lo, hi - lo)
            key = tuple(partition_string(chunk[c][0].as_py()) for c in parts)
            self._write_group(key, chunk.select(data_cols))

    def _write_group(self, key: tuple[str | None, ...], data: pa.RecordBatch | pa.Table) -> None:
        writer, stats = self._writer(key, data.schema)
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        writer.write_table(table)
        stats.update(table)

    def close(self) -> list[dict[str, Any]]:
        adds = []
        for key, (writer, sink, _path, rel, stats) in self.open.items():
            writer.close()
            size = sink.tell()
            sink.close()
            adds.append(
                {
                    "path": quote(rel, safe="/="),
                    "size": size,
                    "partition_values": dict(zip(self.spec.partition_by, key, strict=True)),
                    "modification_time": int(time.time() * 1000),
                    "data_change": True,
                    "stats": stats.to_json(),
                    "num_records": stats.num_records,
                }
            )
        self.open.clear()
        return adds

    def abort(self) -> None:
        for writer, sink, *_ in self.open.values():
            for closer in (writer.close, sink.close):
                try:
                    closer()
                except Exception:  # noqa: BLE001,S110 - best effort: the files are removed next
                    pass
        delete_paths(self.storage, self.written)


def _run_starts(table: pa.Table, columns: Sequence[str]) -> list[int]:
    """Row offsets where the (sorted) partition key changes."""
    import numpy as np

    n = table.num_rows
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for c in columns:
        col = table[c].combine_chunks()
        head, tail = col.slice(0, n - 1), col.slice(1)
        differ = pc.fill_null(pc.not_equal(head, tail), False)
        nulls_differ = pc.xor(pc.is_null(head), pc.is_null(tail))
        change[1:] |= pc.or_(differ, nulls_differ).to_numpy(zero_copy_only=False)
    return [int(i) for i in np.flatnonzero(change)]


def delete_paths(storage: StorageRoot, paths: Sequence[str]) -> None:
    """Delete data files, ignoring ones already gone (best effort: orphans are vacuumable)."""
    if not paths:
        return
    fs = storage.filesystem()
    for path in paths:
        try:
            fs.delete_file(path)
        except (FileNotFoundError, OSError):
            pass


class DeltaBridgeWriter(DataSourceArrowWriter):
    """Writes each task's rows as parquet files; commits nothing (the driver does)."""

    def __init__(self, spec: WriteSpec, schema: StructType):
        self.spec = spec

    def write(self, iterator: Iterator[pa.RecordBatch]) -> BridgeCommitMessage:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        task = ctx.partitionId() if ctx else 0
        attempt = ctx.attemptNumber() if ctx else 0
        files = _FileSet(self.spec, task, attempt)
        try:
            for batch in iterator:
                files.write(batch)
            return BridgeCommitMessage(adds=files.close())
        except BaseException:
            files.abort()
            raise

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        adds = [a for m in messages if isinstance(m, BridgeCommitMessage) for a in m.adds]
        _write_manifest(self.spec.manifest, {"status": "committed", "adds": adds})

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        storage = StorageRoot(self.spec.root, self.spec.storage_options)
        base = storage.table_path(self.spec.table)
        paths = [
            f"{base}/{unquote(a['path'])}"
            for m in messages
            if isinstance(m, BridgeCommitMessage)
            for a in m.adds
        ]
        delete_paths(storage, paths)
        _write_manifest(self.spec.manifest, {"status": "aborted", "adds": []})


def _write_manifest(path: str, payload: dict[str, Any]) -> None:
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh)
    os.replace(tmp, path)


class DeltaBridgeReader(DataSourceReader):
    """Reads a snapshot's parquet files with pyarrow and adds the partition columns back."""

    def __init__(self, spec: ReadSpec, schema: StructType):
        from pyspark.sql.pandas.types import to_arrow_schema

        self.spec = spec
        self.schema = schema
        self.arrow_schema = to_arrow_schema(schema, timezone="UTC")

    def partitions(self) -> Sequence[InputPartition]:
        files = sorted(self.spec.files, key=lambda f: -f[2])
        n = max(1, min(self.spec.num_partitions, len(files)))
        groups: list[list[tuple[str, dict[str, str | None], int]]] = [[] for _ in range(n)]
        loads = [0] * n
        for f in files:  # largest first onto the lightest group: balanced tasks
            i = loads.index(min(loads))
            groups[i].append(f)
            loads[i] += f[2]
        return [InputPartition(g) for g in groups]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        storage = StorageRoot(self.spec.root, self.spec.storage_options)
        fs = storage.filesystem()
        target = self.arrow_schema
        parts = set(self.spec.partition_columns)
        data_fields = [f for f in target if f.name not in parts]
        for path, values, _size in partition.value:
            with fs.open_input_file(path) as fh:
                pf = pq.ParquetFile(fh)
                present = set(pf.schema_arrow.names)
                wanted = [f.name for f in data_fields if f.name in present]
                for batch in pf.iter_batches(batch_size=_READ_BATCH_ROWS, columns=wanted):
                    yield _conform(batch, target, parts, values)


def _conform(
    batch: pa.RecordBatch, target: pa.Schema, parts: set[str], values: dict[str, str | None]
) -> pa.RecordBatch:
    n = batch.num_rows
    arrays = []
    for f in target:
        if f.name in parts:
            raw = values.get(f.name)
            scalar = pa.scalar(None, f.type) if raw is None else pa.scalar(raw).cast(f.type)
            arrays.append(pa.repeat(scalar, n))
        elif f.name in batch.schema.names:
            col = batch.column(f.name)
            arrays.append(col if col.type == f.type else col.cast(f.type))
        else:  # a column added to the table after this file was written
            arrays.append(pa.nulls(n, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=target)
