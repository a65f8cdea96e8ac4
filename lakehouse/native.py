"""The native path: delta-spark's ``format("delta")`` when the session has Delta's extension.

Production clusters (EMR, Databricks) ship Delta's jars; there :class:`lakehouse.Lakehouse`
writes and reads through delta-spark directly. Delta's jars come from Maven, which these
machines cannot reach, so this path is NOT exercised by the test suite here.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from featurelake.lakehouse.schema import spark_to_arrow, table_arrow_schema
from featurelake.lakehouse.table_model import DateRange, WriteInfo, WriteMode, check_range

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from featurelake.lakehouse.tables import Lakehouse

# Tables stay at protocol reader 1 / writer 2 with no deletion vectors, so delta-rs, Polars and
# DuckDB read them: Databricks turns deletion vectors on for new tables by default (a workspace
# setting), which would move them to reader 3 / writer 7.
PINNED_PROPERTIES: dict[str, str] = {
    "delta.enableDeletionVectors": "false",
    "delta.minReaderVersion": "1",
    "delta.minWriterVersion": "2",
}


def create_pinned_table(spark: SparkSession, uri: str, schema: StructType, parts: list[str]) -> None:
    """Create an empty table at ``uri`` with :data:`PINNED_PROPERTIES` (no-op if it exists).

    Needs delta-spark's jars; not run in tests here.
    """
    from delta.tables import DeltaTable as SparkDeltaTable

    builder = SparkDeltaTable.createIfNotExists(spark).location(uri).addColumns(schema)
    if parts:
        builder = builder.partitionedBy(*parts)
    for key, value in PINNED_PROPERTIES.items():
        builder = builder.property(key, value)
    builder.execute()


def write_native(
    lh: Lakehouse,
    df: DataFrame,
    name: str,
    mode: WriteMode,
    parts: list[str],
    replace_range: DateRange | None,
    allow_new_columns: bool,
    *,
    create: bool = False,
) -> WriteInfo:
    """Write with delta-spark's ``format("delta")`` (needs Delta's jars; not run in tests here).

    A new table (``create``) is first created with :data:`PINNED_PROPERTIES`, then written.
    """
    if create:
        create_pinned_table(df.sparkSession, _spark_uri(lh, name), df.schema, parts)
    writer = df.write.format("delta").option("mergeSchema", str(allow_new_columns).lower())
    if parts:
        writer = writer.partitionBy(*parts)
    if replace_range is not None:
        col = lh._date_column(name, parts, spark_to_arrow(df.schema))
        lo, hi = replace_range
        writer = writer.mode("overwrite").option("replaceWhere", f"{col} >= '{lo}' AND {col} <= '{hi}'")
    else:
        writer = writer.mode(mode)
    writer.save(_spark_uri(lh, name))
    table = lh._load(name)
    last = table.history(limit=1)[0]
    metrics = last.get("operationMetrics", {})
    return WriteInfo(
        table=name,
        version=table.version(),
        operation="replace_range" if replace_range else mode,
        rows=int(metrics.get("numOutputRows", 0)),
        files_added=int(metrics.get("numFiles", 0)),
        files_removed=int(metrics.get("numRemovedFiles", 0)),
        bytes_added=int(metrics.get("numOutputBytes", 0)),
    )


def _spark_uri(lh: Lakehouse, name: str) -> str:
    uri = lh.storage.table_uri(name)
    return "s3a://" + uri[len("s3://") :] if uri.startswith("s3://") else uri


def read_native(
    lh: Lakehouse,
    spark: SparkSession,
    name: str,
    table: DeltaTable,
    parts: list[str],
    selected: list[str],
    date_range: DateRange | None,
    version: int | None,
    as_of: datetime | None,
) -> DataFrame:
    """Read with delta-spark's ``format("delta")`` (needs Delta's jars; not run in tests here)."""
    from pyspark.sql import functions as F

    reader = spark.read.format("delta")
    if version is not None or as_of is not None:
        reader = reader.option("versionAsOf", table.version())
    df = reader.load(_spark_uri(lh, name))
    if date_range is not None:
        col = lh._date_column(name, parts, table_arrow_schema(table))
        lo, hi = check_range("date_range", date_range)
        df = df.where(F.col(col).between(F.lit(lo), F.lit(hi)))
    return df.select(*selected)
