"""Training-set snapshots: content checksums and reading pinned Delta versions as Spark, pandas or Arrow.

A training set is an ordinary Delta table pinned at one version, so any Delta reader
(delta-rs, Polars, DuckDB, delta-spark) reads it too. The checksum is order-independent: the
row count plus the sum, as an exact decimal, of one ``xxhash64`` per row over every column
(in name order) and each column's null flag. Two frames with the same rows in any order and
any partitioning have the same checksum; a changed, missing or extra row changes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from featurelake.errors import LakehouseError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from featurelake.lakehouse.tables import Lakehouse

ExportFormat = Literal["parquet", "csv"]


@dataclass(frozen=True)
class Checksum:
    """Row count and order-independent content hash of a frame."""

    rows: int
    digest: str

    def __str__(self) -> str:
        return f"{self.rows}:{self.digest}"

    @classmethod
    def parse(cls, text: str) -> Checksum:
        """Parse ``"<rows>:<digest>"`` as stored in the registry.

        Raises:
            LakehouseError: the text is not a checksum.
        """
        rows, sep, digest = text.partition(":")
        if not sep or not rows.isdigit():
            raise LakehouseError(f"{text!r} is not a training-set checksum (<rows>:<digest>)")
        return cls(rows=int(rows), digest=digest)


def checksum(df: DataFrame, *, columns: Sequence[str] | None = None) -> Checksum:
    """The order-independent checksum of a Spark DataFrame (one pass, no shuffle of rows).

    Args:
        df: the frame.
        columns: columns to cover (default: all); they are taken in name order, so column
            order does not matter.

    Returns:
        The row count and the digest (the row-hash sum in hex).
    """
    from pyspark.sql import functions as F

    cols = sorted(columns if columns is not None else df.columns)
    # Null flags keep (null, x) and (x, null) apart: xxhash64 skips null inputs.
    row_hash = F.xxhash64(*[F.col(c) for c in cols], *[F.col(c).isNull() for c in cols])
    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        # decimal(38,0) holds 10^19 rows' worth of 64-bit hashes; a long sum would overflow (ANSI error).
        F.coalesce(F.sum(row_hash.cast("decimal(38,0)")), F.lit(0).cast("decimal(38,0)")).alias("s"),
    ).collect()[0]
    total = int(row["s"]) % (1 << 128)
    return Checksum(rows=int(row["n"]), digest=f"{total:032x}")


def read_snapshot_spark(spark: SparkSession, lakehouse: Lakehouse, table: str, version: int) -> DataFrame:
    """A training-set snapshot (table at a pinned version) as a Spark DataFrame."""
    return lakehouse.read(spark, table, version=version)


def read_snapshot_arrow(
    lakehouse: Lakehouse, table: str, version: int, *, columns: Sequence[str] | None = None
) -> pa.Table:
    """A training-set snapshot as an Arrow table, read by delta-rs (no JVM).

    Raises:
        LakehouseError: the table or version does not exist (e.g. vacuumed).
    """
    from deltalake import DeltaTable

    from featurelake.lakehouse.storage import short_error

    if lakehouse.storage.is_s3:
        # Short metadata timeouts first, so an endpoint that is down fails in seconds; the read
        # itself gets the long timeout data files need.
        lakehouse.exists(table)
    try:
        dt = DeltaTable(
            lakehouse.table_uri(table),
            version=version,
            storage_options=lakehouse.storage.delta_options(data=True),
        )
        return dt.to_pyarrow_table(columns=list(columns) if columns else None)
    except Exception as err:  # noqa: BLE001 - delta-rs raises several types; one clear message
        raise LakehouseError(
            f"cannot read training-set table {table!r} at version {version}: {short_error(err)}; "
            "check the name (featurelake training-set list) and that the version was not vacuumed"
        ) from err


def read_snapshot_pandas(lakehouse: Lakehouse, table: str, version: int) -> pd.DataFrame:
    """A training-set snapshot as pandas (timestamps tz-aware UTC), read by delta-rs (no JVM)."""
    return read_snapshot_arrow(lakehouse, table, version).to_pandas()


def export_snapshot(lakehouse: Lakehouse, table: str, version: int, path: Path, *, fmt: ExportFormat) -> int:
    """Write a snapshot to one local file: parquet (microsecond timestamps) or CSV (ISO-8601 UTC).

    Returns:
        The number of rows written.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    data = read_snapshot_arrow(lakehouse, table, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        # Spark 4 rejects nanosecond parquet timestamps: keep microseconds.
        pq.write_table(data, path, coerce_timestamps="us", allow_truncated_timestamps=True)
    else:
        pacsv.write_csv(data, path)
    return data.num_rows
