"""Delta file statistics (``numRecords``, ``minValues``, ``maxValues``, ``nullCount``).

delta-spark and delta-rs skip files by these numbers, so a wrong minimum silently drops rows
from query results. They follow exactly what delta-rs 1.6's own writer (``write_deltalake``)
produces for the same data, which ``tests/lakehouse/test_stats.py`` checks:

- only the first 32 leaf columns of the file get statistics (``delta.dataSkippingNumIndexedCols``);
  partition columns are not in the file and get none; struct fields count as one leaf each;
  list, map and binary columns get none (not even a null count) and are not counted;
- timestamps are truncated to milliseconds (``2024-01-01T01:02:03.456Z``; no fraction when the
  value is a whole second); dates are ``YYYY-MM-DD``; decimals are JSON numbers;
- floats ignore NaN (a column of only NaN has no min/max); float32 values are widened to float64;
- strings longer than 64 bytes are cut at a character boundary; a cut maximum has its last
  character incremented so it stays an upper bound (parquet's statistics truncation);
- nested struct leaves count a null parent as a null.

Values are collected batch by batch, so a file's statistics cost one pass over its data.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat

NUM_INDEXED_COLS = 32
STRING_PREFIX_BYTES = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _has_stats(dtype: pa.DataType) -> bool:
    return not (
        pat.is_list(dtype)
        or pat.is_large_list(dtype)
        or pat.is_fixed_size_list(dtype)
        or pat.is_map(dtype)
        or pat.is_binary(dtype)
        or pat.is_large_binary(dtype)
        or pat.is_fixed_size_binary(dtype)
        or pat.is_null(dtype)
    )


def _leaf_paths(schema: pa.Schema, limit: int) -> list[tuple[tuple[str, ...], pa.DataType]]:
    """The leaf columns that get statistics, in schema order, at most ``limit`` of them."""
    leaves: list[tuple[tuple[str, ...], pa.DataType]] = []

    def walk(prefix: tuple[str, ...], dtype: pa.DataType) -> None:
        if pat.is_struct(dtype):
            for i in range(dtype.num_fields):
                child = dtype.field(i)
                walk((*prefix, child.name), child.type)
        elif _has_stats(dtype):
            leaves.append((prefix, dtype))

    for f in schema:
        walk((f.name,), f.type)
    return leaves if limit < 0 else leaves[:limit]


def _leaf_array(table: pa.Table, path: tuple[str, ...]) -> pa.ChunkedArray:
    col = table.column(path[0])
    for name in path[1:]:
        # flatten() merges the parent's validity into the child: a null struct is a null leaf.
        col = pa.chunked_array(
            [chunk.flatten()[chunk.type.get_field_index(name)] for chunk in col.chunks],
            type=col.type.field(name).type,
        )
    return col


class _Leaf:
    __slots__ = ("dtype", "max", "min", "nulls")

    def __init__(self, dtype: pa.DataType):
        self.dtype = dtype
        self.nulls = 0
        self.min: Any = None
        self.max: Any = None

    def update(self, arr: pa.ChunkedArray) -> None:
        self.nulls += arr.null_count
        if arr.null_count == len(arr):
            return
        if pat.is_timestamp(self.dtype):
            arr = arr.cast(pa.int64())  # compare raw values; formatted at the end
        mm = pc.min_max(arr)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is None or hi is None:
            return
        if isinstance(lo, float) and (math.isnan(lo) or math.isnan(hi)):
            lo, hi = _float_min_max_without_nan(arr)
            if lo is None:
                return
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)


def _float_min_max_without_nan(arr: pa.ChunkedArray) -> tuple[float | None, float | None]:
    clean = pc.filter(arr, pc.invert(pc.is_nan(arr)))
    if len(clean) == 0 or clean.null_count == len(clean):
        return None, None
    mm = pc.min_max(clean)
    return mm["min"].as_py(), mm["max"].as_py()


def _truncate_utf8(value: str, limit: int) -> str:
    return value.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def _increment_utf8(value: str) -> str | None:
    """The smallest string above every string that starts with ``value``'s prefix, or None."""
    for i in range(len(value) - 1, -1, -1):
        code = ord(value[i]) + 1
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            continue
        nxt = chr(code)
        if len(nxt.encode("utf-8")) == len(value[i].encode("utf-8")):
            return value[:i] + nxt
    return None


def string_min(value: str) -> str:
    """A string column's minimum as Delta stats record it (cut to 64 bytes)."""
    if len(value.encode("utf-8")) <= STRING_PREFIX_BYTES:
        return value
    return _truncate_utf8(value, STRING_PREFIX_BYTES)


def string_max(value: str) -> str:
    """A string column's maximum as Delta stats record it (cut and incremented, or whole)."""
    if len(value.encode("utf-8")) <= STRING_PREFIX_BYTES:
        return value
    bumped = _increment_utf8(_truncate_utf8(value, STRING_PREFIX_BYTES))
    return value if bumped is None else bumped


def timestamp_stat(micros: int) -> str:
    """A timestamp (microseconds since the epoch, UTC) as Delta stats record it."""
    seconds, micro = divmod(micros, 1_000_000)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}Z" if micro == 0 else f"{text}.{micro // 1000:03d}Z"


def _json_value(dtype: pa.DataType, value: Any, *, is_max: bool) -> Any:
    if pat.is_timestamp(dtype):
        unit = dtype.unit
        micros = {"s": value * 1_000_000, "ms": value * 1000, "us": value, "ns": value // 1000}[unit]
        return timestamp_stat(micros)
    if pat.is_date(dtype):
        return value.isoformat()
    if pat.is_string(dtype) or pat.is_large_string(dtype):
        return string_max(value) if is_max else string_min(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isinf(value):
        return None  # JSON has no infinity; leave the bound out
    return value


class FileStats:
    """Collects one data file's statistics as batches are written to it.

    Args:
        schema: the file's arrow schema (partition columns excluded).
        num_indexed_cols: how many leaf columns get statistics (Delta's default is 32).
    """

    def __init__(self, schema: pa.Schema, *, num_indexed_cols: int = NUM_INDEXED_COLS):
        self.num_records = 0
        self._leaves = {path: _Leaf(dtype) for path, dtype in _leaf_paths(schema, num_indexed_cols)}

    def update(self, table: pa.Table | pa.RecordBatch) -> None:
        """Add one batch of rows (with the file's columns) to the statistics."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        self.num_records += table.num_rows
        if table.num_rows == 0:
            return
        for path, leaf in self._leaves.items():
            leaf.update(_leaf_array(table, path))

    def to_dict(self) -> dict[str, Any]:
        """The statistics as Delta's ``stats`` object."""
        mins: dict[str, Any] = {}
        maxs: dict[str, Any] = {}
        nulls: dict[str, Any] = {}
        for path, leaf in self._leaves.items():
            _put(nulls, path, leaf.nulls)
            if leaf.min is not None:
                lo = _json_value(leaf.dtype, leaf.min, is_max=False)
                hi = _json_value(leaf.dtype, leaf.max, is_max=True)
                if lo is not None and hi is not None:
                    _put(mins, path, lo)
                    _put(maxs, path, hi)
        return {"numRecords": self.num_records, "minValues": mins, "maxValues": maxs, "nullCount": nulls}

    def to_json(self) -> str:
        """The statistics as the JSON string stored in an ``add`` action."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = target
    for name in path[:-1]:
        node = node.setdefault(name, {})
    node[path[-1]] = value
