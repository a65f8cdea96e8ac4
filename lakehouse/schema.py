"""Schemas: Spark <-> arrow <-> Delta, and the checks that keep a table readable.

A write may not change a column's type or drop a column (old files would no longer match the
table); new nullable columns are added only when the caller says so. Every field of a table we
create is nullable, as Spark's own parquet writer does, so nullability never blocks an append.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.types as pat

from featurelake.errors import LakehouseError

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from deltalake import Schema as DeltaSchema
    from pyspark.sql.types import StructType

_PARTITION_TYPES = (pat.is_date32, pat.is_string, pat.is_large_string, pat.is_integer, pat.is_boolean)


def _nullable(dtype: pa.DataType) -> pa.DataType:
    if pat.is_struct(dtype):
        return pa.struct([pa.field(f.name, _nullable(f.type), nullable=True) for f in dtype])
    return dtype


def spark_to_arrow(schema: StructType) -> pa.Schema:
    """The arrow schema of a Spark schema: timestamps as microseconds in UTC, all fields nullable.

    Raises:
        LakehouseError: a column is TIMESTAMP_NTZ (it would raise the table's Delta protocol).
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow = to_arrow_schema(schema, timezone="UTC")
    ntz = [f.name for f in arrow if _contains_ntz(f.type)]
    if ntz:
        raise LakehouseError(
            f"column(s) {', '.join(ntz)} are TIMESTAMP_NTZ, which needs Delta reader 3 / writer 7 and would make "
            "the table unreadable by older engines; cast them to TIMESTAMP (UTC): "
            "df.withColumn(c, F.col(c).cast('timestamp'))"
        )
    return pa.schema([pa.field(f.name, _nullable(f.type), nullable=True) for f in arrow])


def _contains_ntz(dtype: pa.DataType) -> bool:
    if pat.is_timestamp(dtype):
        return dtype.tz is None
    if pat.is_struct(dtype):
        return any(_contains_ntz(f.type) for f in dtype)
    if pat.is_list(dtype) or pat.is_large_list(dtype):
        return _contains_ntz(dtype.value_type)
    if pat.is_map(dtype):
        return _contains_ntz(dtype.key_type) or _contains_ntz(dtype.item_type)
    return False


def arrow_to_spark(schema: pa.Schema) -> StructType:
    """The Spark schema of a table's arrow schema (timestamps with a zone become TIMESTAMP)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema, prefer_timestamp_ntz=True)


def delta_schema(arrow: pa.Schema) -> DeltaSchema:
    """The delta-rs schema of an arrow schema."""
    from deltalake import Schema

    return Schema.from_arrow(arrow)


def table_arrow_schema(table: DeltaTable) -> pa.Schema:
    """A Delta table's schema as a pyarrow schema (delta-rs 1.x returns an arro3 schema)."""
    return pa.schema(table.schema().to_arrow())


def delta_types(arrow: pa.Schema) -> dict[str, Any]:
    """Column name -> Delta type (a name like ``long`` or a JSON object for nested types)."""
    fields = json.loads(delta_schema(arrow).to_json())["fields"]
    return {f["name"]: f["type"] for f in fields}


def type_name(dtype: Any) -> str:
    """A Delta type as text for messages."""
    return dtype if isinstance(dtype, str) else json.dumps(dtype, separators=(",", ":"))


@dataclass(frozen=True)
class SchemaDiff:
    """How a DataFrame's columns differ from a table's."""

    changed: list[tuple[str, str, str]]  # column, table type, DataFrame type
    dropped: list[tuple[str, str]]  # column, table type
    added: list[tuple[str, str]]  # column, DataFrame type

    @property
    def is_same(self) -> bool:
        return not (self.changed or self.dropped or self.added)


def diff_schemas(table: pa.Schema, frame: pa.Schema) -> SchemaDiff:
    """Compare a table's schema with a DataFrame's, by column name."""
    old, new = delta_types(table), delta_types(frame)
    return SchemaDiff(
        changed=[(c, type_name(t), type_name(new[c])) for c, t in old.items() if c in new and new[c] != t],
        dropped=[(c, type_name(t)) for c, t in old.items() if c not in new],
        added=[(c, type_name(t)) for c, t in new.items() if c not in old],
    )


def check_partition_columns(name: str, arrow: pa.Schema, partition_by: list[str]) -> None:
    """Refuse partition columns the DataFrame lacks or whose type cannot be a partition.

    Raises:
        LakehouseError: naming every missing or unsupported column.
    """
    problems = []
    for col in partition_by:
        if col not in arrow.names:
            problems.append(
                f"partition column {col!r} is missing from the DataFrame written to table {name!r} "
                f"(columns: {', '.join(arrow.names)}); add it, e.g. df.withColumn({col!r}, F.to_date('event_timestamp'))"
            )
        elif not any(check(arrow.field(col).type) for check in _PARTITION_TYPES):
            problems.append(
                f"partition column {col!r} of table {name!r} has type {arrow.field(col).type}; "
                "partition by a date, string, integer or boolean column"
            )
    if len(arrow.names) <= len(partition_by) and not problems:
        problems.append(
            f"table {name!r} would have no data columns besides its partition columns {partition_by}"
        )
    if problems:
        raise LakehouseError("; ".join(problems))
