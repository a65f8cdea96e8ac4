"""Deleting rows from Delta tables: an entity's keys (right to erasure) and expired partitions (retention).

An erasure is ONE delta-rs delete commit per table (``DeltaTable.delete(predicate)``): delta-rs
reads only the files whose statistics can hold a key and rewrites only the files that do hold
one, so on a table Z-ordered by the key few files are rewritten. The commit carries the
request id in its ``commitInfo`` (``featurelake.erasureRequest``), which makes the delete
idempotent: a run killed after the commit but before the registry heard of it finds its own
commit in the table history instead of deleting again.

Retention is a partition-level delete (``event_date < cutoff``): whole files leave the snapshot,
nothing is rewritten. Either way the removed files stay on storage, readable by time travel,
until a vacuum deletes them: :func:`purge` does so at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.errors import LakehouseError
from featurelake.lakehouse.storage import short_error as _short
from featurelake.lakehouse.table_model import META_OPERATION

if TYPE_CHECKING:
    from featurelake.lakehouse.tables import Lakehouse

META_REQUEST = "featurelake.erasureRequest"
META_EXPIRE = "featurelake.expireBefore"
#: How far back the history is searched for a request's own commit (a resumed run).
HISTORY_LOOKBACK = 200


@dataclass(frozen=True)
class KeyMatch:
    """Where an entity's keys are in one table, at one version (nothing changed yet)."""

    table: str
    version: int
    column: str
    rows: int  # rows holding one of the keys
    files_total: int
    files_candidate: int  # files whose min/max statistics can hold a key (read by the delete)
    files_matching: int  # files that do hold one (rewritten by the delete)
    bytes_matching: int
    paths_matching: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeleteResult:
    """What one delete commit did (or found already done by the same request)."""

    table: str
    version_before: int
    version_after: int
    rows_removed: int
    files_total: int
    files_removed: int  # files rewritten (or dropped) by the commit
    files_added: int
    bytes_removed: int
    removed_paths: list[str]
    resumed: bool = False  # the commit was found in the history (a run killed after committing)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (for the registry's step detail and reports)."""
        return {
            "table": self.table,
            "version_before": self.version_before,
            "version_after": self.version_after,
            "rows_removed": self.rows_removed,
            "files_total": self.files_total,
            "files_removed": self.files_removed,
            "files_added": self.files_added,
            "bytes_removed": self.bytes_removed,
            "removed_paths": self.removed_paths,
            "resumed": self.resumed,
        }


def sql_literal(value: Any) -> str:
    """A value as a SQL literal for delta-rs predicates (strings quoted, quotes doubled).

    Raises:
        LakehouseError: a type a join key cannot have.
    """
    if isinstance(value, bool):
        raise LakehouseError(f"join key value {value!r} is a boolean; keys are integers or strings")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise LakehouseError(f"join key value {value!r} ({type(value).__name__}) is not an integer or a string")


def key_predicate(column: str, values: Sequence[Any]) -> str:
    """``"col" IN (v1, v2, ...) AND "col" >= v_min AND "col" <= v_max`` for a delta-rs delete.

    Raises:
        LakehouseError: no values, or a column name that needs quoting.
    """
    if not values:
        raise LakehouseError("no key values to delete; give at least one --entity or a non-empty --file")
    if not column.replace("_", "").isalnum():
        raise LakehouseError(f"column {column!r} must be letters, digits and '_' to be erased by key")
    try:
        ordered = sorted(set(values))
    except TypeError:
        raise LakehouseError(
            f"key values of {column!r} mix types ({sorted({type(v).__name__ for v in values})})"
        ) from None
    literals = ", ".join(sql_literal(v) for v in ordered)
    # The range is implied by the IN list; it lets delta-rs skip files by min/max statistics
    # even when the list is too long for its pruning (a long IN list is otherwise not pruned).
    low, high = sql_literal(ordered[0]), sql_literal(ordered[-1])
    return f'"{column}" IN ({literals}) AND "{column}" >= {low} AND "{column}" <= {high}'


def _can_hold(min_value: Any, max_value: Any, values: Sequence[Any]) -> bool:
    if min_value is None or max_value is None:
        return True  # no statistics: the file must be read
    try:
        return any(min_value <= v <= max_value for v in values)
    except TypeError:
        return True


def find_keys(
    lakehouse: Lakehouse, name: str, column: str, values: Sequence[Any], *, version: int | None = None
) -> KeyMatch:
    """Count the rows and files of a version (default latest) that hold any of ``values`` in ``column``.

    Only files whose statistics can hold a key are read (the key column only).

    Raises:
        LakehouseError: unknown table or column.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = lakehouse._load(name, version=version)
    files = lakehouse._files(name, table, None)
    arrow_names = [f.name for f in table.schema().fields]
    if column not in arrow_names:
        raise LakehouseError(
            f"table {name!r} has no column {column!r}; its columns are {', '.join(arrow_names)}"
        )
    wanted = sorted(set(values), key=str)
    candidates = [f for f in files if _can_hold(f.min_values.get(column), f.max_values.get(column), wanted)]
    fs = lakehouse.storage.filesystem()
    rows = 0
    matching = []
    for f in candidates:
        try:
            col = pq.read_table(f.path, columns=[column], filesystem=fs)[column]
        except Exception as err:  # noqa: BLE001
            raise LakehouseError(f"cannot read {f.path} of table {name!r}: {_short(err)}") from err
        hits = int(pc.sum(pc.is_in(col, value_set=_value_set(col.type, wanted))).as_py() or 0)
        if hits:
            rows += hits
            matching.append(f)
    return KeyMatch(
        table=name,
        version=table.version(),
        column=column,
        rows=rows,
        files_total=len(files),
        files_candidate=len(candidates),
        files_matching=len(matching),
        bytes_matching=sum(f.size_bytes for f in matching),
        paths_matching=[f.path for f in matching],
    )


def _value_set(arrow_type: Any, values: Sequence[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as err:
        raise LakehouseError(
            f"key values {list(values)[:5]} do not fit the column type {arrow_type}: {err}"
        ) from err


def find_commit(lakehouse: Lakehouse, name: str, request_id: str) -> int | None:
    """The version of the commit made for ``request_id``, if the table's recent history has one."""
    for commit in lakehouse._load(name).history(limit=HISTORY_LOOKBACK):
        if commit.get(META_REQUEST) == request_id:
            return int(commit["version"])
    return None


def _diff(lakehouse: Lakehouse, name: str, before: int, after: int) -> tuple[list[Any], list[Any], int]:
    old = {f.path: f for f in lakehouse.files(name, version=before)}
    new = {f.path: f for f in lakehouse.files(name, version=after)}
    removed = [old[p] for p in old if p not in new]
    added = [new[p] for p in new if p not in old]
    return removed, added, len(old)


def delete_keys(
    lakehouse: Lakehouse,
    name: str,
    column: str,
    values: Sequence[Any],
    *,
    request_id: str,
    metadata: Mapping[str, str] | None = None,
) -> DeleteResult:
    """Delete every row whose ``column`` is one of ``values``, in one commit tagged with ``request_id``.

    Idempotent per request: if the table's history already has this request's commit, its
    result is returned (``resumed=True``) and nothing is deleted again. A table that holds
    none of the keys gets no commit (``version_before == version_after``).

    Raises:
        LakehouseError: unknown table or column, bad values, or the delete failed (nothing committed).
    """
    from deltalake.transaction import CommitProperties

    done = find_commit(lakehouse, name, request_id)
    if done is not None:
        return _result(lakehouse, name, done - 1, done, resumed=True)
    predicate = key_predicate(column, values)
    table = lakehouse._load(name, data=lakehouse.storage.is_s3)
    before = table.version()
    meta = {META_OPERATION: "erase", META_REQUEST: request_id, **dict(metadata or {})}
    props = CommitProperties(custom_metadata=meta, max_commit_retries=lakehouse.max_commit_retries)
    try:
        metrics = table.delete(predicate, commit_properties=props)
    except Exception as err:  # noqa: BLE001
        raise LakehouseError(
            f"deleting keys from table {name!r} failed, nothing was committed: {_short(err)}"
        ) from err
    after = table.version()
    if after == before:
        return DeleteResult(name, before, before, 0, len(lakehouse.files(name, version=before)), 0, 0, 0, [])
    return _result(lakehouse, name, before, after, rows=int(metrics.get("num_deleted_rows", 0)))


def _result(
    lakehouse: Lakehouse,
    name: str,
    before: int,
    after: int,
    *,
    rows: int | None = None,
    resumed: bool = False,
) -> DeleteResult:
    removed, added, total = _diff(lakehouse, name, before, after)
    if rows is None:  # a resumed commit: read its metrics from the log
        commit = next((c for c in lakehouse.history(name) if int(c["version"]) == after), {})
        metrics = commit.get("operationMetrics") or {}
        rows = int(metrics.get("num_deleted_rows", 0))
    return DeleteResult(
        table=name,
        version_before=before,
        version_after=after,
        rows_removed=rows,
        files_total=total,
        files_removed=len(removed),
        files_added=len(added),
        bytes_removed=sum(f.size_bytes for f in removed),
        removed_paths=[f.path for f in removed],
        resumed=resumed,
    )


def purge(lakehouse: Lakehouse, name: str, *, orphans_older_than: timedelta | None = None) -> list[str]:
    """Physically delete every data file the latest version no longer references.

    Vacuum with a retention of zero: time travel to any earlier version stops working (its
    files are gone), which is the point after an erasure. Files no commit references (a write
    still running, or a killed one) are kept while younger than ``orphans_older_than`` (the
    vacuum default, a day), so a running write never loses its files.

    Returns:
        The files deleted.
    """
    return lakehouse.vacuum(name, retention=timedelta(0), orphans_older_than=orphans_older_than)


@dataclass(frozen=True)
class ExpirePlan:
    """The partitions of a table older than its retention cutoff."""

    table: str
    version: int
    column: str
    cutoff: date  # partitions before this date expire
    partitions: list[str]
    files: int
    rows: int
    bytes: int


def plan_expiry(lakehouse: Lakehouse, name: str, cutoff: date) -> ExpirePlan:
    """The date partitions of ``name`` before ``cutoff``, with their files, rows and bytes.

    Raises:
        LakehouseError: the table is not partitioned by a date column.
    """
    from featurelake.lakehouse.schema import table_arrow_schema

    table = lakehouse._load(name)
    parts = list(table.metadata().partition_columns)
    col = lakehouse._date_column(name, parts, table_arrow_schema(table))
    old = [f for f in lakehouse._files(name, table, None) if _before(f.partition_values.get(col), cutoff)]
    return ExpirePlan(
        table=name,
        version=table.version(),
        column=col,
        cutoff=cutoff,
        partitions=sorted({str(f.partition_values.get(col)) for f in old}),
        files=len(old),
        rows=sum(f.num_records or 0 for f in old),
        bytes=sum(f.size_bytes for f in old),
    )


def _before(value: str | None, cutoff: date) -> bool:
    return value is not None and date.fromisoformat(value) < cutoff


def pinned_files_expire(lakehouse: Lakehouse, name: str, version: int, column: str, cutoff: date) -> int:
    """How many files of ``name`` at ``version`` lie in partitions before ``cutoff`` (0: unaffected)."""
    try:
        files = lakehouse.files(name, version=version)
    except LakehouseError:
        return 0  # that version is gone already; nothing more to lose
    return sum(1 for f in files if _before(f.partition_values.get(column), cutoff))


def expire(lakehouse: Lakehouse, name: str, cutoff: date, *, run_id: str) -> DeleteResult:
    """Drop the date partitions before ``cutoff`` in one partition-level delete (no file is rewritten).

    Raises:
        LakehouseError: the table is not date-partitioned, or the delete failed (nothing committed).
    """
    from deltalake.transaction import CommitProperties

    plan = plan_expiry(lakehouse, name, cutoff)
    table = lakehouse._load(name)
    before = table.version()
    if not plan.files:
        return DeleteResult(name, before, before, 0, len(lakehouse.files(name)), 0, 0, 0, [])
    meta = {META_OPERATION: "expire", META_EXPIRE: cutoff.isoformat(), "featurelake.runId": run_id}
    props = CommitProperties(custom_metadata=meta, max_commit_retries=lakehouse.max_commit_retries)
    try:
        metrics = table.delete(f"\"{plan.column}\" < '{cutoff.isoformat()}'", commit_properties=props)
    except Exception as err:  # noqa: BLE001
        raise LakehouseError(
            f"expiring partitions of table {name!r} failed, nothing was committed: {_short(err)}"
        ) from err
    return _result(lakehouse, name, before, table.version(), rows=int(metrics.get("num_deleted_rows", 0)))


def describe_commit(lakehouse: Lakehouse, name: str, version: int) -> dict[str, Any]:
    """The commitInfo of one version (operation, metrics, featurelake metadata)."""
    for commit in lakehouse.history(name):
        if int(commit["version"]) == version:
            return json.loads(json.dumps(commit, default=str))
    raise LakehouseError(f"table {name!r} has no commit {version} in its history")
