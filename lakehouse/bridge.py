"""The Spark <-> Delta bridge: a Spark 4 Python data source backed by pyarrow and delta-rs.

Writing: each Spark task writes Hive-style parquet files (``event_date=2024-01-01/part-...``,
microsecond timestamps, partition columns left out of the file as Delta requires) through
pyarrow's filesystem for the root and returns their ``add`` actions (path, partition values,
size, modification time, statistics) as a commit message. Spark then calls ``commit`` in a
Python worker on the driver host with every task's message; it only hands the actions to the
driver process (a manifest file under a driver-local folder). The driver process commits ONE
Delta transaction with delta-rs (see :mod:`featurelake.lakehouse.tables`). Nothing here commits, so a failed
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

from featurelake.errors import LakehouseError
from featurelake.lakehouse.stats import FileStats
from featurelake.lakehouse.storage import StorageRoot

SOURCE_NAME = "featurelake_delta"
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_READ_BATCH_ROWS = 131_072
# Writes: a row group is flushed at this many rows (pyarrow's default) or this much Arrow data,
# and a task buffers at most TASK_BUFFER_BYTES across its partitions (the largest is flushed).
ROW_GROUP_ROWS = 1_048_576
ROW_GROUP_ROWS_CONF = "spark.featurelake.write.rowGroupRows"
ROW_GROUP_BYTES = 64 * 1024 * 1024
TASK_BUFFER_BYTES = 128 * 1024 * 1024
# On S3, files up to this size are fetched with one GET (then decoded from memory): fewer round
# trips than ranged reads of each column chunk, at the cost of reading unselected columns.
_WHOLE_OBJECT_BYTES = 64 * 1024 * 1024
# Objects downloading ahead of the one being decoded, per task (bounds memory per task to about
# _PREFETCH + 1 objects).
_PREFETCH = 2


def session_row_group_rows(spark: Any) -> int:
    """Rows per parquet row group for writes in this session (``ROW_GROUP_ROWS_CONF``, else 1Mi).

    Raises:
        LakehouseError: the setting is not a positive whole number.
    """
    value = spark.conf.get(ROW_GROUP_ROWS_CONF, str(ROW_GROUP_ROWS))
    rows = int(value) if str(value).strip().isdigit() else 0
    if rows <= 0:
        raise LakehouseError(
            f"{ROW_GROUP_ROWS_CONF}={value!r} is not a positive number of rows; "
            f"unset it (default {ROW_GROUP_ROWS:,}) or set e.g. 131072"
        )
    return rows


@dataclass
class WriteSpec:
    """What a write job needs in every task (serialised into the ``spec`` option)."""

    root: str
    storage_options: dict[str, str]
    table: str
    partition_by: list[str]
    write_id: str
    manifest: str  # driver-local file that commit()/abort() write for the driver process
    row_group_rows: int = ROW_GROUP_ROWS  # Spark conf ROW_GROUP_ROWS_CONF overrides it per session

    def to_option(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_option(cls, text: str) -> WriteSpec:
        return cls(**json.loads(text))


@dataclass
class ReadSpec:
    """A snapshot's files to read and how to split them into Spark tasks.

    ``files`` holds (physical path, partition values, size in bytes). Tasks are planned the way
    Spark plans its own file scans (``FilePartition.maxSplitBytes``): about one task per core for
    small tables, at most ``max_split_bytes`` (plus ``open_cost_bytes`` per file) per task for
    large ones, with files larger than a split cut into row-group ranges.
    """

    root: str
    storage_options: dict[str, str]
    partition_columns: list[str]
    files: list[tuple[str, dict[str, str | None], int]] = field(default_factory=list)
    parallelism: int = 2
    max_split_bytes: int = 128 * 1024 * 1024
    open_cost_bytes: int = 4 * 1024 * 1024

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
        # Rows waiting to become one row group, per partition: Spark hands a task its rows in
        # small Arrow batches (maxRecordsPerBatch, 10,000 by default, fewer per partition value),
        # and one row group per batch made files of ~1,000-row row groups that every reader pays for.
        self.pending: dict[tuple[str | None, ...], list[pa.Table]] = {}
        self.pending_rows: dict[tuple[str | None, ...], int] = {}
        self.pending_bytes: dict[tuple[str | None, ...], int] = {}

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
        self._writer(key, data.schema)  # the file exists from the first row on (abort removes it)
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        self.pending.setdefault(key, []).append(table)
        self.pending_rows[key] = self.pending_rows.get(key, 0) + table.num_rows
        self.pending_bytes[key] = self.pending_bytes.get(key, 0) + table.nbytes
        if self.pending_rows[key] >= self.spec.row_group_rows or self.pending_bytes[key] >= ROW_GROUP_BYTES:
            self._flush(key)
        while sum(self.pending_bytes.values()) > TASK_BUFFER_BYTES:  # many partitions in one task
            self._flush(max(self.pending_bytes, key=self.pending_bytes.__getitem__))

    def _flush(self, key: tuple[str | None, ...]) -> None:
        tables = self.pending.pop(key, [])
        self.pending_rows.pop(key, None)
        self.pending_bytes.pop(key, None)
        if not tables:
            return
        writer, stats = self._writer(key, tables[0].schema)
        table = pa.concat_tables(tables)
        writer.write_table(table, row_group_size=max(1, min(table.num_rows, self.spec.row_group_rows)))
        stats.update(table)

    def close(self) -> list[dict[str, Any]]:
        for key in list(self.pending):
            self._flush(key)
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


# A piece of work for one read task: (path, partition values, size, slice, slices). A file bigger
# than a split is read by several tasks, slice i of n reading the i-th n-th of its row groups.
_Piece = tuple[str, dict[str, str | None], int, int, int]


def plan_read_tasks(spec: ReadSpec) -> list[list[_Piece]]:
    """Group a snapshot's files into read tasks, balanced by bytes (see :class:`ReadSpec`).

    Every task costs a Python worker round trip (~0.1 s measured, bench/delta_io.py), so a small
    table gets one task per core rather than many small ones.
    """
    if not spec.files:
        return []
    cost = spec.open_cost_bytes
    total = sum(size + cost for _, _, size in spec.files)
    split = min(spec.max_split_bytes, max(cost, -(-total // max(1, spec.parallelism))))
    pieces: list[tuple[_Piece, int]] = []
    for path, values, size in spec.files:
        slices = max(1, -(-size // split))  # ceil
        pieces.extend(((path, values, size, i, slices), size // slices + cost) for i in range(slices))
    n = max(1, min(len(pieces), -(-total // split)))
    groups: list[list[_Piece]] = [[] for _ in range(n)]
    loads = [0] * n
    for piece, weight in sorted(pieces, key=lambda p: -p[1]):  # largest first onto the lightest task
        i = loads.index(min(loads))
        groups[i].append(piece)
        loads[i] += weight
    return groups


class DeltaBridgeReader(DataSourceReader):
    """Reads a snapshot's parquet files with pyarrow and adds the partition columns back.

    Batches go to Spark as ``pyarrow.RecordBatch`` in exactly the output schema, which Spark hands
    to the JVM as Arrow without converting rows in Python. On S3 each file of up to
    ``_WHOLE_OBJECT_BYTES`` is fetched with one GET, the next ``_PREFETCH`` files downloading in
    background threads while the current one is decoded and sent; larger files (or slices of
    them) are read with ranged, pre-buffered requests.
    """

    def __init__(self, spec: ReadSpec, schema: StructType):
        from pyspark.sql.pandas.types import to_arrow_schema

        self.spec = spec
        self.schema = schema
        self.arrow_schema = to_arrow_schema(schema, timezone="UTC")

    def partitions(self) -> Sequence[InputPartition]:
        return [InputPartition(g) for g in plan_read_tasks(self.spec)]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        storage = StorageRoot(self.spec.root, self.spec.storage_options)
        fs = storage.filesystem()
        target = self.arrow_schema
        parts = set(self.spec.partition_columns)
        data_fields = [f for f in target if f.name not in parts]
        pieces: list[_Piece] = [tuple(p) for p in partition.value]  # type: ignore[misc]
        for (_path, values, _size, index, slices), source in _open_sources(fs, storage.is_s3, pieces):
            pf = pq.ParquetFile(source, pre_buffer=True)
            present = set(pf.schema_arrow.names)
            wanted = [f.name for f in data_fields if f.name in present]
            groups = None
            if slices > 1:
                n = pf.num_row_groups
                groups = list(range(n * index // slices, n * (index + 1) // slices))
                if not groups:
                    continue
            conform = _Conformer(target, parts, values)
            for batch in pf.iter_batches(batch_size=_READ_BATCH_ROWS, row_groups=groups, columns=wanted):
                yield conform(batch)


def _open_sources(fs: Any, is_s3: bool, pieces: list[_Piece]) -> Iterator[tuple[_Piece, Any]]:
    """Each piece with something pyarrow can read it from; on S3, whole objects prefetched one ahead."""
    if not is_s3:
        for piece in pieces:
            with fs.open_input_file(piece[0]) as fh:
                yield piece, fh
        return
    from concurrent.futures import Future, ThreadPoolExecutor

    def fetch(piece: _Piece) -> Any:
        path, _values, size, _index, slices = piece
        if slices == 1 and size <= _WHOLE_OBJECT_BYTES:
            with fs.open_input_stream(path) as stream:  # one GET, no HEAD
                return pa.BufferReader(stream.read_buffer())
        return None  # opened lazily below: ranged reads

    with ThreadPoolExecutor(max_workers=_PREFETCH, thread_name_prefix="featurelake-prefetch") as pool:
        ahead: list[Future[Any]] = [pool.submit(fetch, p) for p in pieces[:_PREFETCH]]
        for i, piece in enumerate(pieces):
            source = ahead.pop(0).result()
            ahead.extend(pool.submit(fetch, p) for p in pieces[i + _PREFETCH : i + _PREFETCH + 1])
            if source is None:
                with fs.open_input_file(piece[0]) as fh:
                    yield piece, fh
            else:
                yield piece, source


class _Conformer:
    """Turns one file's batches into the read schema: partition values added back, columns
    missing from the file (added to the table later) as nulls, types cast where they differ."""

    def __init__(self, target: pa.Schema, parts: set[str], values: dict[str, str | None]):
        self.target = target
        self.constants: dict[str, pa.Scalar] = {}
        for f in target:
            if f.name in parts:
                raw = values.get(f.name)
                self.constants[f.name] = (
                    pa.scalar(None, f.type) if raw is None else pa.scalar(raw).cast(f.type)
                )

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        names = set(batch.schema.names)
        arrays = []
        for f in self.target:
            if f.name in self.constants:
                arrays.append(pa.repeat(self.constants[f.name], n))
            elif f.name in names:
                col = batch.column(f.name)
                arrays.append(col if col.type == f.type else col.cast(f.type))
            else:  # a column added to the table after this file was written
                arrays.append(pa.nulls(n, f.type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.target)
