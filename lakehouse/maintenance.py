"""Table maintenance behind :class:`featurelake.lakehouse.tables.Lakehouse`: optimize/Z-order, vacuum, describe.

Kept apart from the read/write path; the ``Lakehouse`` methods of the same names delegate here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.errors import LakehouseError
from featurelake.lakehouse.schema import table_arrow_schema
from featurelake.lakehouse.storage import short_error as _short
from featurelake.lakehouse.table_model import META_OPERATION, META_ZORDER, DateRange, TableInfo, check_range

if TYPE_CHECKING:
    from featurelake.lakehouse.tables import Lakehouse


def optimize(
    lakehouse: Lakehouse,
    name: str,
    *,
    zorder_by: Sequence[str] | None = None,
    date_range: DateRange | None = None,
    target_size: int | None = None,
) -> dict[str, Any]:
    """Compact small files and, with ``zorder_by``, Z-order them (delta-rs ``optimize``).

    Args:
        lakehouse: the tables' root.
        name: the table.
        zorder_by: columns to Z-order by (usually the entity join keys); none = compaction only.
        date_range: restrict the rewrite to these date partitions.
        target_size: target file size in bytes (default: delta-rs' 100 MB).

    Returns:
        delta-rs' metrics (files added/removed, ...) plus ``version``, the table version after.

    Raises:
        LakehouseError: unknown table or column, or a Z-order column that is a partition column.
    """
    from deltalake.transaction import CommitProperties

    table = lakehouse._load(name)  # short timeouts: an endpoint that is down fails in seconds
    if lakehouse.storage.is_s3:
        table = lakehouse._load(name, data=True)  # rewriting data files needs the long timeout
    arrow = table_arrow_schema(table)
    parts = list(table.metadata().partition_columns)
    filters = None
    if date_range is not None:
        lo, hi = check_range("date_range", date_range)
        col = lakehouse._date_column(name, parts, arrow)
        filters = [(col, ">=", lo.isoformat()), (col, "<=", hi.isoformat())]
    meta = {META_OPERATION: "optimize", META_ZORDER: json.dumps(list(zorder_by or []))}
    props = CommitProperties(custom_metadata=meta, max_commit_retries=lakehouse.max_commit_retries)
    try:
        if zorder_by:
            cols = list(zorder_by)
            bad = [c for c in cols if c not in arrow.names or c in parts]
            if bad:
                raise LakehouseError(
                    f"cannot Z-order table {name!r} by {bad}: Z-order columns must be data columns "
                    f"(not partitions {parts}) among {', '.join(c for c in arrow.names if c not in parts)}"
                )
            metrics = table.optimize.z_order(
                cols, partition_filters=filters, target_size=target_size, commit_properties=props
            )
        else:
            metrics = table.optimize.compact(
                partition_filters=filters, target_size=target_size, commit_properties=props
            )
    except LakehouseError:
        raise
    except Exception as err:  # noqa: BLE001
        raise LakehouseError(
            f"optimizing table {name!r} failed, nothing was committed: {_short(err)}"
        ) from err
    return {**metrics, "version": lakehouse.version(name)}


ORPHAN_AGE = timedelta(hours=24)


def vacuum(
    lakehouse: Lakehouse,
    name: str,
    *,
    retention: timedelta = timedelta(days=7),
    dry_run: bool = False,
    orphans_older_than: timedelta = ORPHAN_AGE,
) -> list[str]:
    """Delete files no longer referenced by versions newer than ``retention``.

    Readers of versions older than ``retention`` lose their files: keep it longer than any
    reader (training sets pin versions). Files no commit ever referenced are deleted once
    older than ``orphans_older_than`` (and ``retention``): they are left by jobs killed before
    their commit, but they are also the files of a write still running, which would commit a
    reference to a deleted file; so keep that age above the longest write job.

    Args:
        lakehouse: the tables' root.
        name: the table.
        retention: how far back time travel must keep working.
        dry_run: only list the files.
        orphans_older_than: the age below which never-committed files are kept (in-flight writes).

    Returns:
        The files deleted (or that would be).
    """
    for label, value in (("retention", retention), ("orphans_older_than", orphans_older_than)):
        if not isinstance(value, timedelta) or value < timedelta(0):
            raise LakehouseError(
                f"{label}={value!r} must be a non-negative timedelta, e.g. timedelta(days=7)"
            )
    table = lakehouse._load(name)

    def hours(age: timedelta) -> int:
        # delta-rs takes whole hours: round up, so a sub-hour age never becomes 0 (delete all)
        return math.ceil(age.total_seconds() / 3600)

    try:
        # "lite": the files the log removed, older than the retention.
        removed = table.vacuum(
            retention_hours=hours(retention), dry_run=dry_run, enforce_retention_duration=False
        )
        # "full" lists the table's folder: also files no commit referenced (killed jobs' orphans,
        # and running writes' files, hence the separate, longer age).
        orphans = table.vacuum(
            retention_hours=hours(max(retention, orphans_older_than)),
            dry_run=dry_run,
            enforce_retention_duration=False,
            full=True,
        )
    except Exception as err:  # noqa: BLE001
        raise LakehouseError(f"vacuuming table {name!r} failed: {_short(err)}") from err
    return sorted(set(removed) | set(orphans))


def describe(lakehouse: Lakehouse, name: str) -> TableInfo:
    """The table's version, partitions, files and sizes, last optimize and protocol."""
    table = lakehouse._load(name)
    files = lakehouse._files(name, table, None)
    sizes = [f.size_bytes for f in files]
    history = table.history()
    last_opt = next((h for h in history if h.get("operation") == "OPTIMIZE"), None)
    protocol = table.protocol()
    schema = json.loads(table.schema().to_json())["fields"]
    return TableInfo(
        name=name,
        uri=lakehouse.storage.table_uri(name),
        version=table.version(),
        partition_columns=list(table.metadata().partition_columns),
        partitions=len({json.dumps(f.partition_values, sort_keys=True) for f in files}),
        num_files=len(files),
        size_bytes=sum(sizes),
        num_rows=sum(f.num_records or 0 for f in files),
        min_file_bytes=min(sizes, default=0),
        max_file_bytes=max(sizes, default=0),
        last_modified=datetime.fromtimestamp(history[0]["timestamp"] / 1000, tz=UTC) if history else None,
        last_optimize=None
        if last_opt is None
        else {
            "version": last_opt.get("version"),
            "timestamp": datetime.fromtimestamp(last_opt["timestamp"] / 1000, tz=UTC),
            "zorder_by": json.loads(last_opt.get(META_ZORDER, "[]")),
            "parameters": last_opt.get("operationParameters", {}),
            "metrics": last_opt.get("operationMetrics", {}),
        },
        schema=[
            (f["name"], f["type"] if isinstance(f["type"], str) else json.dumps(f["type"])) for f in schema
        ],
        protocol={
            "min_reader_version": protocol.min_reader_version,
            "min_writer_version": protocol.min_writer_version,
            "reader_features": protocol.reader_features,
            "writer_features": protocol.writer_features,
        },
    )


def drop(lakehouse: Lakehouse, name: str) -> bool:
    """Delete a table's whole folder; returns whether it existed.

    For the private tables a run stages and no one else references (a backfill's staging table,
    a failed training set's entity copy): never for a table readers may pin.

    Raises:
        LakehouseError: the folder exists but could not be deleted.
    """
    import pyarrow.fs as pafs

    from featurelake.lakehouse.table_model import check_name

    check_name(name)
    fs = lakehouse.storage.filesystem()
    path = lakehouse.storage.table_path(name)
    try:
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            return False
        fs.delete_dir(path)
    except Exception as err:  # noqa: BLE001 - one message whatever pyarrow raised
        raise LakehouseError(f"cannot delete table folder {path!r}: {_short(err)}") from err
    return True
