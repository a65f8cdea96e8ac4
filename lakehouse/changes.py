"""What changed in a Delta table between two versions, read from its transaction log.

Incremental jobs (materialization) must see every row that landed in a table since they last
ran, whatever its event time: a late event or a backfill that corrects an old day arrives in a
NEW commit but carries an OLD ``event_timestamp``, so an event-time watermark misses it. The
Delta log says exactly which files each commit added. :func:`changed_files` reads the commit
files ``_delta_log/%020d.json`` for versions ``V+1 .. W`` and returns the data files that are
live at ``W`` and hold rows committed after ``V``:

- a file added with ``dataChange=true`` (append, overwrite, ``replace_range``) is changed;
- a commit with ``dataChange=false`` (OPTIMIZE, Z-order) rearranges rows without changing them
  and contributes nothing, EXCEPT that when it rewrites a changed file, the files it adds in the
  same partition inherit the change (delta-rs bins files per partition; this keeps a backfill
  followed by a Z-order from hiding the backfilled rows);
- files removed again before ``W`` drop out (the answer is intersected with the live files).

When the answer cannot be known (a commit file was cleaned up by log retention, ``V`` is not
a version before ``W``, or the table was re-created since) :class:`ChangesUnavailable` is
raised: the caller reads the whole table instead, never nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from featurelake.errors import LakehouseError
from featurelake.lakehouse.storage import short_error

if TYPE_CHECKING:
    from featurelake.lakehouse.tables import DataFile, Lakehouse


class ChangesUnavailable(LakehouseError):
    """The changes between two versions cannot be computed from the log: read the table in full.

    Attributes:
        table: the table.
        from_version: the exclusive lower version asked for.
        to_version: the inclusive upper version asked for.
        reason: why, in words.
    """

    def __init__(self, table: str, from_version: int, to_version: int, reason: str):
        self.table = table
        self.from_version = from_version
        self.to_version = to_version
        self.reason = reason
        super().__init__(
            f"cannot compute the changes of table {table!r} from version {from_version} to {to_version}: "
            f"{reason}; read the table in full at version {to_version} instead"
        )


@dataclass(frozen=True)
class TableChanges:
    """The live files at ``to_version`` holding rows committed after ``from_version``.

    Attributes:
        table: the table.
        from_version: exclusive lower version.
        to_version: inclusive upper version (the snapshot the files belong to).
        table_id: the table's Delta ``metaData.id`` at ``to_version``.
        files: the changed files, as :meth:`Lakehouse.files` lists them for ``to_version``.
        commits: commits read from the log.
    """

    table: str
    from_version: int
    to_version: int
    table_id: str
    files: list[DataFile]
    commits: int

    @property
    def paths(self) -> list[str]:
        """The files' physical paths (what :meth:`Lakehouse.read` takes as ``files``)."""
        return [f.path for f in self.files]

    @property
    def rows(self) -> int:
        """Rows in the changed files (from their Delta statistics)."""
        return sum(f.num_records or 0 for f in self.files)


def _partition_key(action: dict[str, Any]) -> tuple[tuple[str, str | None], ...]:
    return tuple(sorted((action.get("partitionValues") or {}).items()))


def _norm(path: str) -> str:
    """A log path in one spelling (the log URL-encodes it; engines differ in how much)."""
    return unquote(path)


def _commit_actions(
    lakehouse: Lakehouse, name: str, version: int, first: int, last: int
) -> Iterator[dict[str, Any]]:
    path = f"{lakehouse.storage.table_path(name)}/_delta_log/{version:020d}.json"
    fs = lakehouse.storage.filesystem()
    try:
        with fs.open_input_stream(path) as fh:
            text = fh.read().decode("utf-8")
    except FileNotFoundError:
        raise ChangesUnavailable(
            name,
            first,
            last,
            f"its commit file for version {version} is gone (the log was cleaned up by log retention)",
        ) from None
    except OSError as err:
        raise LakehouseError(
            f"cannot read the commit file of version {version} of table {name!r} under "
            f"{lakehouse.storage.describe()}: {short_error(err)}; {lakehouse.storage.reach_hint(err)}"
        ) from err
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def changed_files(
    lakehouse: Lakehouse,
    name: str,
    *,
    since_version: int,
    to_version: int,
    table_id: str | None = None,
) -> TableChanges:
    """The data files live at ``to_version`` that hold rows committed after ``since_version``.

    Args:
        lakehouse: the tables' storage root.
        name: the table.
        since_version: exclusive: changes committed by versions ``since_version + 1 .. to_version``.
        to_version: inclusive and pinned: the snapshot whose live files are returned.
        table_id: the table's Delta ``metaData.id`` when ``since_version`` was read; if given and
            different now, the table was re-created and the versions are not comparable.

    Returns:
        The changed files (empty when nothing but OPTIMIZE/Z-order committed, or when
        ``since_version == to_version``).

    Raises:
        ChangesUnavailable: a commit file in the range is missing, ``since_version`` is not in
            ``0 .. to_version``, or the table id differs; read the table in full instead.
        LakehouseError: the table or ``to_version`` does not exist, or the storage cannot be read.
    """
    snapshot = lakehouse._load(name, version=to_version)
    current_id = str(snapshot.metadata().id)
    if not isinstance(since_version, int) or not 0 <= since_version <= to_version:
        raise ChangesUnavailable(
            name,
            since_version,
            to_version,
            f"version {since_version!r} is not a version of the table before {to_version} "
            "(the table may have been dropped and re-created)",
        )
    if table_id is not None and table_id != current_id:
        raise ChangesUnavailable(
            name,
            since_version,
            to_version,
            f"the table was re-created since version {since_version} was read (id {table_id} is now {current_id})",
        )
    changed: set[str] = set()
    for version in range(since_version + 1, to_version + 1):
        actions = list(_commit_actions(lakehouse, name, version, since_version, to_version))
        rewritten = {  # partitions in which this commit removed a changed file
            _partition_key(a["remove"])
            for a in actions
            if "remove" in a and _norm(a["remove"]["path"]) in changed
        }
        for a in actions:
            add = a.get("add")
            if add is None:
                continue
            if add.get("dataChange", True) or _partition_key(add) in rewritten:
                changed.add(_norm(add["path"]))
    live = lakehouse._files(name, snapshot, None) if changed else []
    base = lakehouse.storage.table_path(name)
    wanted = {_physical(lakehouse, base, p) for p in changed}
    return TableChanges(
        table=name,
        from_version=since_version,
        to_version=to_version,
        table_id=current_id,
        files=[f for f in live if f.path in wanted],
        commits=to_version - since_version,
    )


def _physical(lakehouse: Lakehouse, base: str, path: str) -> str:
    """The physical path of a log path, spelled as :meth:`Lakehouse.files` spells it."""
    physical = path if "://" in path or path.startswith("/") else f"{base}/{path}"
    if lakehouse.storage.is_s3 and physical.startswith("s3://"):
        physical = physical[len("s3://") :]
    return physical


def table_id(lakehouse: Lakehouse, name: str, *, version: int | None = None) -> str:
    """The table's Delta ``metaData.id`` (it changes when a table is dropped and re-created).

    Raises:
        LakehouseError: the table or version does not exist, or the storage cannot be read.
    """
    return str(lakehouse._load(name, version=version).metadata().id)
