"""Delta table facts for the view page, read with delta-rs through the lakehouse (no Spark)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from featurelake.errors import FeatureStoreError
from featurelake.lakehouse import Lakehouse


def table_facts(lakehouse: Lakehouse, name: str, *, history: int = 20) -> dict[str, Any]:
    """Version, partitions, rows, size, last commit, Z-order columns and recent history of a table.

    A table that does not exist yet (a view never backfilled) is reported, not raised.

    Args:
        lakehouse: the lakehouse holding the table.
        name: the Delta table name (``<view>__v<major>``).
        history: at most this many commits, newest first.
    """
    try:
        info = lakehouse.describe(name)
        commits = lakehouse.history(name, limit=history)
    except FeatureStoreError as err:
        return {"name": name, "exists": False, "error": str(err)}
    last_opt = info.last_optimize or {}
    return {
        "name": name,
        "exists": True,
        "uri": info.uri,
        "version": info.version,
        "partition_columns": info.partition_columns,
        "partitions": info.partitions,
        "files": info.num_files,
        "rows": info.num_rows,
        "size_bytes": info.size_bytes,
        "last_commit": None if info.last_modified is None else info.last_modified.isoformat(),
        "zorder_by": list(last_opt.get("zorder_by") or []),
        "last_optimize_version": last_opt.get("version"),
        "history": [
            {
                "version": c.get("version"),
                "timestamp": datetime.fromtimestamp(c["timestamp"] / 1000, tz=UTC).isoformat()
                if c.get("timestamp")
                else None,
                "operation": c.get("operation", ""),
                "parameters": {k: str(v) for k, v in (c.get("operationParameters") or {}).items()},
            }
            for c in commits
        ],
    }
