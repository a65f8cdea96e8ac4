"""Delta tables read and written by Spark: the :class:`Lakehouse` facade.

Writes run in Spark executors (:mod:`featurelake.lakehouse.bridge` writes parquet files and returns their
``add`` actions) and the driver commits ONE Delta transaction with delta-rs, so a job that
fails anywhere leaves the table at its previous version. Reads resolve a snapshot with delta-rs
(latest, a version, or a timestamp), prune partitions by date and read the active files in
Spark. Tables stay at protocol reader 1 / writer 2, readable by delta-spark, delta-rs, Polars
and DuckDB.

When the Spark session already has Delta's extension (``spark.sql.extensions`` contains
``io.delta.sql.DeltaSparkSessionExtension``, as on EMR or Databricks), ``write`` and ``read`` use
``format("delta")`` natively instead. That path needs Delta's jars, which cannot be installed
here, so it is not exercised by the test suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc

from featurelake.errors import LakehouseError, TableNotFoundError
from featurelake.lakehouse.schema import (
    arrow_to_spark,
    check_partition_columns,
    delta_schema,
    diff_schemas,
    spark_to_arrow,
    table_arrow_schema,
)
from featurelake.lakehouse.storage import StorageRoot, is_not_found
from featurelake.lakehouse.storage import short_error as _short
from featurelake.lakehouse.table_model import (
    META_OPERATION,
    META_WRITE_ID,
    DataFile,
    DateRange,
    TableInfo,
    WriteInfo,
    WriteMode,
    check_name,
    check_range,
)

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

_DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"


def _is_native_delta(spark: SparkSession) -> bool:
    try:
        return _DELTA_EXTENSION in (spark.conf.get("spark.sql.extensions", "") or "")
    except Exception:  # noqa: BLE001 - a conf lookup failing means "no extension"
        return False


class Lakehouse:
    """Delta tables under one storage root, written and read by Spark.

    Args:
        root: a local folder or ``s3://bucket/prefix``.
        storage_options: delta-rs storage options for S3 (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
            ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ALLOW_HTTP``); empty for local folders.
        max_commit_retries: how often a commit is retried when another writer committed first.

    Example:
        >>> lh = Lakehouse(root="/tmp/lake")
        >>> info = lh.write(df, "user_features", partition_by=["event_date"])
        >>> lh.read(spark, "user_features", date_range=(date(2024, 1, 1), date(2024, 1, 7)))
    """

    def __init__(
        self, root: str, storage_options: Mapping[str, str] | None = None, *, max_commit_retries: int = 30
    ):
        self.storage = StorageRoot.parse(root, dict(storage_options or {}))
        self.max_commit_retries = max_commit_retries

    def __repr__(self) -> str:
        return f"Lakehouse(root={self.storage.root!r})"

    @property
    def root(self) -> str:
        return self.storage.root

    def table_uri(self, name: str) -> str:
        """The table's URI (``s3://bucket/prefix/name`` or an absolute local path)."""
        check_name(name)
        return self.storage.table_uri(name)

    # ---------------------------------------------------------------- snapshots

    def _folder_exists(self, name: str) -> bool:
        import pyarrow.fs as pafs

        try:
            info = self.storage.filesystem().get_file_info(self.storage.table_path(name))
        except Exception:  # noqa: BLE001 - only sharpens an error message
            return False
        return info.type == pafs.FileType.Directory

    def _corrupt_log_file(self, name: str) -> tuple[str, int] | None:
        """The newest ``_delta_log/*.json`` commit that is not valid JSON lines, if any."""
        import pyarrow.fs as pafs

        try:
            fs = self.storage.filesystem()
            log_dir = f"{self.storage.table_path(name)}/_delta_log"
            infos = fs.get_file_info(pafs.FileSelector(log_dir, allow_not_found=True))
            commits = sorted(
                (i.path for i in infos if re.fullmatch(r"\d{20}\.json", i.base_name)), reverse=True
            )
            for path in commits[:3]:
                with fs.open_input_stream(path) as f:
                    text = f.read().decode("utf8", errors="replace")
                try:
                    for line in text.splitlines():
                        if line.strip():
                            json.loads(line)
                except ValueError:
                    return path, int(path.rsplit("/", 1)[-1][:20])
        except Exception:  # noqa: BLE001 - only sharpens an error message
            return None
        return None

    def _load(
        self, name: str, *, version: int | None = None, as_of: datetime | None = None, data: bool = False
    ) -> DeltaTable:
        """Open a table; ``data=True`` gives its object store the long timeout data transfers need."""
        from deltalake import DeltaTable

        check_name(name)
        uri = self.storage.table_uri(name)
        try:
            table = DeltaTable(uri, storage_options=self.storage.delta_options(data=data))
        except Exception as err:  # noqa: BLE001 - delta-rs raises several types; all become one message
            if is_not_found(err):
                if self._folder_exists(name):
                    raise TableNotFoundError(
                        f"{self.storage.table_path(name)!r} exists but is not a Delta table (it has no _delta_log "
                        "commits); point at a Delta table, or write one there first"
                    ) from None
                raise TableNotFoundError(
                    f"table {name!r} does not exist under {self.storage.describe()}; check the name "
                    "(featurelake table list) or write it first"
                ) from None
            corrupt = self._corrupt_log_file(name)
            if corrupt is not None:
                raise LakehouseError(
                    f"the Delta log of table {name!r} is corrupt: commit file {corrupt[0]} (version {corrupt[1]}) "
                    f"cannot be parsed ({_short(err, limit=200)}); restore that file from a backup or copy, or, if "
                    "its write never completed, move it aside so the table opens at the version before it"
                ) from err
            raise LakehouseError(
                f"cannot open table {name!r} under {self.storage.describe()}: {_short(err)}; "
                f"{self.storage.reach_hint(err)}"
            ) from err
        if version is not None and as_of is not None:
            raise LakehouseError(f"give either version={version} or as_of={as_of}, not both")
        if version is not None:
            latest = table.version()
            if not isinstance(version, int) or version < 0 or version > latest:
                raise LakehouseError(
                    f"table {name!r} has no version {version!r}; its versions are 0..{latest}"
                )
            try:
                table.load_as_version(version)
            except Exception as err:  # noqa: BLE001
                raise LakehouseError(
                    f"cannot load version {version} of table {name!r}: {_short(err)} "
                    "(its log may have been cleaned up; read a newer version)"
                ) from err
        elif as_of is not None:
            if not isinstance(as_of, datetime):
                raise LakehouseError(f"as_of={as_of!r} must be a datetime (UTC if it has no zone)")
            when = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
            first = self._first_commit_time(table)
            if first is not None and when < first:
                raise LakehouseError(
                    f"table {name!r} has no version as of {when.isoformat()}; its first commit is at "
                    f"{first.isoformat()}: read a later time or version=0"
                )
            try:
                table.load_as_version(when)
            except Exception as err:  # noqa: BLE001
                raise LakehouseError(
                    f"table {name!r} has no version as of {when.isoformat()}: {_short(err)}"
                ) from err
        return table

    @staticmethod
    def _first_commit_time(table: DeltaTable) -> datetime | None:
        try:
            oldest = table.history()[-1]
            return datetime.fromtimestamp(oldest["timestamp"] / 1000, tz=UTC)
        except Exception:  # noqa: BLE001 - only used to enrich an error message
            return None

    def _try_load(self, name: str) -> DeltaTable | None:
        try:
            return self._load(name)
        except LakehouseError as err:
            if "does not exist" in str(err):
                return None
            raise

    def exists(self, name: str) -> bool:
        """True if a Delta table called ``name`` exists under the root.

        Raises:
            LakehouseError: the storage cannot be reached.
        """
        return self._try_load(name) is not None

    def version(self, name: str) -> int:
        """The table's latest version.

        Raises:
            LakehouseError: the table does not exist or cannot be reached.
        """
        return self._load(name).version()

    def _date_column(self, name: str, partition_columns: Sequence[str], schema: pa.Schema) -> str:
        for col in partition_columns:
            if pa.types.is_date32(schema.field(col).type):
                return col
        raise LakehouseError(
            f"table {name!r} is not partitioned by a date column (partitions: {list(partition_columns) or 'none'}); "
            "date_range and replace_range need one, e.g. partition_by=['event_date']"
        )

    def files(
        self,
        name: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        date_range: DateRange | None = None,
    ) -> list[DataFile]:
        """The active data files of a snapshot, with their statistics.

        Args:
            name: the table.
            version: a version to read (default: latest).
            as_of: a point in time to read (time travel).
            date_range: keep only files of these date partitions (inclusive).

        Returns:
            One :class:`DataFile` per active file.
        """
        table = self._load(name, version=version, as_of=as_of)
        return self._files(name, table, date_range)

    def _files(self, name: str, table: DeltaTable, date_range: DateRange | None) -> list[DataFile]:
        parts = list(table.metadata().partition_columns)
        actions = pa.table(table.get_add_actions(flatten=True))
        if date_range is not None:
            lo, hi = check_range("date_range", date_range)
            col = f"partition.{self._date_column(name, parts, table_arrow_schema(table))}"
            values = actions[col]
            keep = pc.and_(pc.greater_equal(values, pa.scalar(lo)), pc.less_equal(values, pa.scalar(hi)))
            actions = actions.filter(pc.fill_null(keep, False))
        base = self.storage.table_path(name)
        out = []
        for row in actions.to_pylist():
            path = row["path"]
            physical = path if "://" in path or path.startswith("/") else f"{base}/{unquote(path)}"
            if self.storage.is_s3 and physical.startswith("s3://"):
                physical = physical[len("s3://") :]
            stats: dict[str, dict[str, Any]] = {"min": {}, "max": {}, "null_count": {}}
            for key, value in row.items():
                head, _, col = key.partition(".")
                if head in stats and col:
                    stats[head][col] = value
            out.append(
                DataFile(
                    path=physical,
                    partition_values={c: _partition_text(row.get(f"partition.{c}")) for c in parts},
                    size_bytes=int(row["size_bytes"]),
                    num_records=row.get("num_records"),
                    min_values=stats["min"],
                    max_values=stats["max"],
                    null_count=stats["null_count"],
                )
            )
        return out

    # ---------------------------------------------------------------- write

    def write(
        self,
        df: DataFrame,
        name: str,
        *,
        mode: WriteMode = "append",
        partition_by: Sequence[str] | None = None,
        replace_range: DateRange | None = None,
        allow_new_columns: bool = False,
        app_transaction: tuple[str, int] | None = None,
    ) -> WriteInfo:
        """Write a DataFrame to a Delta table in ONE commit.

        Args:
            df: the rows to write.
            name: the table (created on first write).
            mode: ``append`` adds rows; ``overwrite`` replaces the whole table's contents.
            partition_by: partition columns of a new table (an existing table keeps its own; giving
                different ones is an error).
            replace_range: ``(first, last)`` dates: atomically replace exactly these date partitions
                (re-running gives the same contents, partitions outside are untouched); every row
                written must fall inside. Takes precedence over ``mode``.
            allow_new_columns: allow columns the table does not have yet (added as nullable).
            app_transaction: ``(app id, version)`` recorded in the commit as a Delta ``txn`` action
                (idempotent writers check ``DeltaTable.transaction_version`` before writing).

        Returns:
            The committed version, rows and files added and removed.

        Raises:
            LakehouseError: bad input (missing partition column, type change, dropped column, rows
                outside ``replace_range``), the Spark job failed (nothing committed), or the
                commit failed (the files written are removed).
        """
        check_name(name)
        if mode not in ("append", "overwrite"):
            raise LakehouseError(f"mode={mode!r} is not a write mode; use 'append' or 'overwrite'")
        if replace_range is not None:
            replace_range = check_range("replace_range", replace_range)
        arrow = spark_to_arrow(df.schema)
        table = self._try_load(name)
        added_columns: list[str] = []
        if table is None:
            parts = list(partition_by or [])
        else:
            parts = list(table.metadata().partition_columns)
            if partition_by is not None and list(partition_by) != parts:
                raise LakehouseError(
                    f"table {name!r} is partitioned by {parts}, not {list(partition_by)}; "
                    "drop partition_by or write to a new table"
                )
        check_partition_columns(name, arrow, parts)
        if table is not None:
            arrow, added_columns = self._check_evolution(
                name, table_arrow_schema(table), arrow, allow_new_columns
            )
            df = df.select(*arrow.names)
        if replace_range is not None:
            self._date_column(name, parts, arrow)
        if _is_native_delta(df.sparkSession):
            from featurelake.lakehouse.native import write_native

            return write_native(
                self, df, name, mode, parts, replace_range, allow_new_columns, create=table is None
            )
        operation = "replace_range" if replace_range else ("create" if table is None else mode)
        adds = self._write_files(df, name, parts, table)
        if replace_range is not None:
            try:
                self._check_in_range(name, adds, self._date_column(name, parts, arrow), replace_range)
            except BaseException:
                self._delete_uncommitted(name, adds)
                raise
        # _commit removes the files itself, and only when it knows nothing was committed: deleting
        # files that a commit does reference would corrupt the table.
        args = (name, table, adds, arrow, parts, operation, replace_range, added_columns, app_transaction)
        return self._commit(*args)

    def _check_evolution(
        self, name: str, table_schema: pa.Schema, frame: pa.Schema, allow_new_columns: bool
    ) -> tuple[pa.Schema, list[str]]:
        diff = diff_schemas(table_schema, frame)
        problems = [
            f"column {c!r} would change type from {old} to {new} (cast it back: F.col({c!r}).cast({old!r}))"
            for c, old, new in diff.changed
        ]
        problems += [
            f"column {c!r} ({t}) is missing from the DataFrame; add it (null if unknown)"
            for c, t in diff.dropped
        ]
        if diff.added and not allow_new_columns:
            cols = ", ".join(f"{c!r} ({t})" for c, t in diff.added)
            problems.append(
                f"new column(s) {cols} are not in the table; pass allow_new_columns=True to add them"
            )
        if problems:
            raise LakehouseError(f"refusing to write to table {name!r}: " + "; ".join(problems))
        merged = pa.schema([*table_schema, *(frame.field(c) for c, _ in diff.added)])
        return merged, [c for c, _ in diff.added]

    def _write_files(
        self, df: DataFrame, name: str, parts: list[str], table: DeltaTable | None
    ) -> list[dict[str, Any]]:
        from featurelake.lakehouse.bridge import (
            SOURCE_NAME,
            DeltaBridgeSource,
            WriteSpec,
            session_row_group_rows,
        )

        spark = df.sparkSession
        _register(spark, DeltaBridgeSource)
        workdir = tempfile.mkdtemp(prefix="featurelake-write-")
        manifest = os.path.join(workdir, "manifest.json")
        spec = WriteSpec(
            root=self.storage.root,
            storage_options=self.storage.storage_options,
            table=name,
            partition_by=parts,
            write_id=uuid.uuid4().hex,
            manifest=manifest,
            row_group_rows=session_row_group_rows(spark),
        )
        try:
            try:
                df.write.format(SOURCE_NAME).mode("append").option("spec", spec.to_option()).save()
            except Exception as err:  # noqa: BLE001 - Py4J/PythonException/AnalysisException alike
                before = f"stays at version {table.version()}" if table is not None else "was not created"
                raise LakehouseError(
                    f"writing table {name!r} failed in Spark, nothing was committed and the table {before}: "
                    f"{_short(err)}{self.storage.network_hint(err)}"
                ) from err
            with open(manifest) as fh:
                payload = json.load(fh)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if payload.get("status") != "committed":
            raise LakehouseError(f"writing table {name!r} was aborted by Spark; nothing was committed")
        return payload["adds"]

    @staticmethod
    def _check_in_range(name: str, adds: list[dict[str, Any]], col: str, rng: DateRange) -> None:
        lo, hi = rng
        outside: dict[str | None, int] = {}
        for a in adds:
            raw = a["partition_values"].get(col)
            if raw is None or not (lo <= date.fromisoformat(raw) <= hi):
                outside[raw] = outside.get(raw, 0) + a["num_records"]
        if outside:
            shown = ", ".join(
                f"{k}: {v} rows" for k, v in sorted(outside.items(), key=lambda kv: str(kv[0]))[:10]
            )
            raise LakehouseError(
                f"replace_range=({lo}, {hi}) on table {name!r} got rows outside the range ({shown}); "
                f"filter the DataFrame to {col} between {lo} and {hi}; nothing was committed"
            )

    def _commit(
        self,
        name: str,
        table: DeltaTable | None,
        adds: list[dict[str, Any]],
        arrow: pa.Schema,
        parts: list[str],
        operation: str,
        replace_range: DateRange | None,
        added_columns: list[str],
        app_transaction: tuple[str, int] | None = None,
    ) -> WriteInfo:
        from deltalake.transaction import AddAction, CommitProperties, Transaction
        from deltalake.transaction import create_table_with_add_actions as create_with_adds

        write_id = uuid.uuid4().hex
        since = 0 if table is None else table.version() + 1
        props = CommitProperties(
            custom_metadata={META_WRITE_ID: write_id, META_OPERATION: operation},
            max_commit_retries=self.max_commit_retries,
            app_transactions=[Transaction(*app_transaction)] if app_transaction else None,
        )
        actions = [
            AddAction(a["path"], a["size"], a["partition_values"], a["modification_time"], True, a["stats"])
            for a in adds
        ]
        schema = delta_schema(arrow)
        removed = 0
        try:
            if table is None:
                try:
                    create_with_adds(
                        self.storage.table_uri(name),
                        schema,
                        actions,
                        mode="error",
                        partition_by=parts,
                        storage_options=self.storage.delta_options(),
                        commit_properties=props,
                    )
                except Exception as err:  # noqa: BLE001 - another writer may have created it first
                    if "exist" not in str(err).lower():
                        raise
                    table = self._load(name)  # then commit to it like any other write
                    arrow, added_columns = self._check_evolution(
                        name, table_arrow_schema(table), arrow, bool(added_columns)
                    )
                    schema = delta_schema(arrow)
                    operation = "append" if operation == "create" else operation
            if table is not None:
                if added_columns:
                    self._add_columns(table, arrow, added_columns)
                filters = None
                commit_mode = "append"
                if operation == "overwrite":
                    commit_mode = "overwrite"
                    removed = len(table.file_uris())
                elif operation == "replace_range" and replace_range is not None:
                    col = self._date_column(name, parts, arrow)
                    commit_mode = "overwrite"
                    filters = [
                        (col, ">=", replace_range[0].isoformat()),
                        (col, "<=", replace_range[1].isoformat()),
                    ]
                    removed = len(self._files(name, table, replace_range))
                table.create_write_transaction(
                    actions,
                    mode=commit_mode,
                    schema=schema,
                    partition_by=parts,
                    partition_filters=filters,
                    commit_properties=props,
                )
        except LakehouseError:
            self._delete_uncommitted(name, adds)  # refused before the data commit was attempted
            raise
        except Exception as err:  # noqa: BLE001
            if self._find_commit(name, write_id, since) is None:
                self._delete_uncommitted(name, adds)
                raise LakehouseError(
                    f"committing to table {name!r} under {self.storage.describe()} failed, nothing was committed: "
                    f"{_short(err)}{self.storage.network_hint(err)}"
                ) from err
        version = self._find_commit(name, write_id, since)
        if version is None:
            # The commit call returned, so the log may reference these files: keep them.
            raise LakehouseError(
                f"the commit to table {name!r} returned but no commit with write id {write_id} was found in its "
                f"log from version {since} on; its files were kept: check `featurelake table history {name}` "
                "before writing again"
            )
        return WriteInfo(
            table=name,
            version=version,
            operation=operation,  # type: ignore[arg-type]
            rows=sum(a["num_records"] for a in adds),
            files_added=len(adds),
            files_removed=removed,
            bytes_added=sum(a["size"] for a in adds),
            partitions=[
                json.loads(p)
                for p in sorted({json.dumps(a["partition_values"], sort_keys=True) for a in adds})
            ],
            added_columns=added_columns,
        )

    @staticmethod
    def _add_columns(table: DeltaTable, arrow: pa.Schema, columns: list[str]) -> None:
        from deltalake import Field

        current = set(table_arrow_schema(table).names)
        new = [c for c in columns if c not in current]
        if new:
            table.alter.add_columns([Field.from_arrow(arrow.field(c)) for c in new])

    def _find_commit(self, name: str, write_id: str, since: int) -> int | None:
        """The version whose commit carries ``write_id``, looking at commit files ``since`` onwards.

        Reads the ``_delta_log/<version>.json`` files themselves: their names are the versions, so
        concurrent commits cannot shift the answer.
        """
        try:
            latest = self._load(name).version()
        except LakehouseError:
            return None
        fs = self.storage.filesystem()
        log = f"{self.storage.table_path(name)}/_delta_log"
        for version in range(latest, max(since, 0) - 1, -1):
            try:
                with fs.open_input_stream(f"{log}/{version:020d}.json") as fh:
                    if write_id.encode() in fh.read():
                        return version
            except (FileNotFoundError, OSError):
                continue
        return None

    def _delete_uncommitted(self, name: str, adds: list[dict[str, Any]]) -> None:
        from featurelake.lakehouse.bridge import delete_paths

        base = self.storage.table_path(name)
        delete_paths(self.storage, [f"{base}/{unquote(a['path'])}" for a in adds])

    # ---------------------------------------------------------------- read

    def read(
        self,
        spark: SparkSession,
        name: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        columns: Sequence[str] | None = None,
        date_range: DateRange | None = None,
        files: Collection[str] | None = None,
    ) -> DataFrame:
        """Read a snapshot of a table as a Spark DataFrame.

        Args:
            spark: the Spark session.
            name: the table.
            version: a version to read (time travel); default latest.
            as_of: read the version current at this time (naive datetimes are UTC).
            columns: columns to return (default: all, in table order).
            date_range: ``(first, last)`` dates: read only these date partitions.
            files: read only these data files of the snapshot (``DataFile.path`` values, e.g.
                from :func:`featurelake.lakehouse.changes.changed_files`); with ``date_range`` both apply.

        Returns:
            The rows, with partition columns, timestamps in UTC.

        Raises:
            LakehouseError: unknown table, version, column, or unreachable storage.
        """
        table = self._load(name, version=version, as_of=as_of)
        arrow = table_arrow_schema(table)
        parts = list(table.metadata().partition_columns)
        selected = list(columns) if columns is not None else list(arrow.names)
        unknown = [c for c in selected if c not in arrow.names]
        if unknown:
            raise LakehouseError(
                f"table {name!r} has no column(s) {', '.join(map(repr, unknown))}; its columns are {', '.join(arrow.names)}"
            )
        if _is_native_delta(spark) and files is None:
            from featurelake.lakehouse.native import read_native

            return read_native(self, spark, name, table, parts, selected, date_range, version, as_of)
        snapshot = self._files(name, table, date_range)
        if files is not None:
            snapshot = _only_files(name, table.version(), snapshot, files, filtered=date_range is not None)
        full = arrow_to_spark(arrow)
        if not snapshot:
            return spark.createDataFrame([], full).select(*selected)
        if not self.storage.is_s3 and all(_folders_match(f, parts) for f in snapshot):
            base = self.storage.table_path(name)
            df = spark.read.schema(full).option("basePath", base).parquet(*[f.path for f in snapshot])
            return df.select(*selected)
        return self._read_bridge(spark, snapshot, arrow, parts, selected)

    def _read_bridge(
        self,
        spark: SparkSession,
        files: list[DataFile],
        arrow: pa.Schema,
        parts: list[str],
        selected: list[str],
    ) -> DataFrame:
        from featurelake.lakehouse.bridge import SOURCE_NAME, DeltaBridgeSource, ReadSpec

        _register(spark, DeltaBridgeSource)
        projected = arrow_to_spark(pa.schema([arrow.field(c) for c in selected]))
        conf = spark.conf
        spec = ReadSpec(  # tasks planned with the confs Spark's own file scans use
            root=self.storage.root,
            storage_options=self.storage.storage_options,
            partition_columns=[p for p in parts if p in selected],
            files=[(f.path, f.partition_values, f.size_bytes) for f in files],
            parallelism=max(1, spark.sparkContext.defaultParallelism),
            max_split_bytes=_byte_size(conf.get("spark.sql.files.maxPartitionBytes", "128m")),
            open_cost_bytes=_byte_size(conf.get("spark.sql.files.openCostInBytes", "4m")),
        )
        return (
            spark.read.format(SOURCE_NAME)
            .schema(projected)
            .option("spec", spec.to_option())
            .option("schema", projected.json())
            .load()
        )

    # ---------------------------------------------------------------- maintenance

    def optimize(
        self,
        name: str,
        *,
        zorder_by: Sequence[str] | None = None,
        date_range: DateRange | None = None,
        target_size: int | None = None,
    ) -> dict[str, Any]:
        """Compact small files and, with ``zorder_by``, Z-order them: see :func:`featurelake.lakehouse.maintenance.optimize`."""
        from featurelake.lakehouse import maintenance

        return maintenance.optimize(
            self, name, zorder_by=zorder_by, date_range=date_range, target_size=target_size
        )

    def vacuum(
        self,
        name: str,
        *,
        retention: timedelta = timedelta(days=7),
        dry_run: bool = False,
        orphans_older_than: timedelta | None = None,
    ) -> list[str]:
        """Delete unreferenced files: see :func:`featurelake.lakehouse.maintenance.vacuum` (None: its default)."""
        from featurelake.lakehouse import maintenance

        orphans = maintenance.ORPHAN_AGE if orphans_older_than is None else orphans_older_than
        return maintenance.vacuum(
            self, name, retention=retention, dry_run=dry_run, orphans_older_than=orphans
        )

    def drop(self, name: str) -> bool:
        """Delete a table's folder (a private staging table of a failed run): see :func:`featurelake.lakehouse.maintenance.drop`."""
        from featurelake.lakehouse import maintenance

        return maintenance.drop(self, name)

    def history(self, name: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The table's commits, newest first (delta-rs' commitInfo plus ``version``)."""
        return self._load(name).history(limit=limit)

    def describe(self, name: str) -> TableInfo:
        """Version, partitions, files, sizes, last optimize, protocol: see :func:`featurelake.lakehouse.maintenance.describe`."""
        from featurelake.lakehouse import maintenance

        return maintenance.describe(self, name)

    def list_tables(self) -> list[str]:
        """Names of the Delta tables directly under the root."""
        import pyarrow.fs as pafs

        fs = self.storage.filesystem(max_attempts=2)  # a listing: fail fast when the endpoint is down
        base = self.storage.table_path("x")[:-2]
        try:
            infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        except Exception as err:  # noqa: BLE001
            hint = self.storage.network_hint(err) or (
                "; check that storage.root ($FEATURELAKE_STORAGE_ROOT) is a folder or s3://bucket/prefix you can read"
            )
            raise LakehouseError(f"cannot list {self.storage.describe()}: {_short(err)}{hint}") from err
        names = []
        for info in infos:
            if info.type == pafs.FileType.Directory:
                log = fs.get_file_info(f"{info.path}/_delta_log")
                if log.type == pafs.FileType.Directory:
                    names.append(info.base_name)
        return sorted(names)


def _register(spark: SparkSession, source: type) -> None:
    """Register the bridge data source once per session (re-registering logs a warning)."""
    if not getattr(spark, "_featurelake_bridge", False):
        spark.dataSource.register(source)
        spark._featurelake_bridge = True  # type: ignore[attr-defined]


def _byte_size(text: str) -> int:
    """A Spark byte-size conf value (``134217728b``, ``128m``, ``128mb``, ``1g``) in bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)b?\s*", text.lower())
    if match is None:
        raise LakehouseError(f"cannot read the byte size {text!r}; use a Spark size such as 128m")
    return max(1, int(match[1]) * 1024 ** "bkmgt".index(match[2] or "b"))


def _only_files(
    name: str, version: int, snapshot: list[DataFile], files: Collection[str], *, filtered: bool
) -> list[DataFile]:
    """The snapshot's files among ``files``; a file the snapshot lacks is an error (unless filtered out)."""
    wanted = set(files)
    kept = [f for f in snapshot if f.path in wanted]
    if not filtered and len(kept) < len(wanted):
        unknown = sorted(wanted - {f.path for f in kept})
        raise LakehouseError(
            f"files={unknown[:3]}{' ...' if len(unknown) > 3 else ''} are not live data files of table "
            f"{name!r} at version {version}; pass paths from Lakehouse.files(...) of that version"
        )
    return kept


def _partition_text(value: Any) -> str | None:
    from featurelake.lakehouse.bridge import partition_string

    return partition_string(value)


def _folders_match(f: DataFile, parts: list[str]) -> bool:
    """True if the file's folders carry its partition values (Spark's parquet reader reads them)."""
    from featurelake.lakehouse.bridge import partition_folder

    if not parts:
        return True
    segments = f.path.split("/")[-1 - len(parts) : -1]
    return segments == [partition_folder(c, f.partition_values.get(c)) for c in parts]
