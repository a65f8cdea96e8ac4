"""The value types of a Lakehouse table and the checks on names and date ranges.

A module of its own so that ``tables`` (the facade) and ``maintenance`` / ``native`` (which it
calls) share them without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from featurelake.errors import LakehouseError

WriteMode = Literal["append", "overwrite"]
DateRange = tuple[date, date]

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
META_WRITE_ID = "featurelake.writeId"
META_OPERATION = "featurelake.operation"
META_ZORDER = "featurelake.zorderBy"


@dataclass(frozen=True)
class WriteInfo:
    """What one committed write did."""

    table: str
    version: int
    operation: Literal["create", "append", "overwrite", "replace_range"]
    rows: int
    files_added: int
    files_removed: int
    bytes_added: int
    partitions: list[dict[str, str | None]] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TableInfo:
    """A table's current state, as ``featurelake table describe`` shows it."""

    name: str
    uri: str
    version: int
    partition_columns: list[str]
    partitions: int
    num_files: int
    size_bytes: int
    num_rows: int
    min_file_bytes: int
    max_file_bytes: int
    last_modified: datetime | None
    last_optimize: dict[str, Any] | None
    schema: list[tuple[str, str]]
    protocol: dict[str, Any]


@dataclass(frozen=True)
class DataFile:
    """One active data file of a snapshot, with its Delta statistics."""

    path: str  # physical path for the root's filesystem
    partition_values: dict[str, str | None]
    size_bytes: int
    num_records: int | None
    min_values: dict[str, Any]
    max_values: dict[str, Any]
    null_count: dict[str, Any]


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise LakehouseError(
            f"table name {name!r} is not valid; use letters, digits, '_', '.' and '-' (e.g. fraud__user_features__v1)"
        )


def check_range(what: str, value: Any) -> DateRange:
    ok = (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, date) and not isinstance(v, datetime) for v in value)
    )
    if not ok:
        raise LakehouseError(
            f"{what}={value!r} must be a (date, date) pair, e.g. (date(2024, 1, 1), date(2024, 1, 31))"
        )
    lo, hi = value
    if lo > hi:
        raise LakehouseError(f"{what}=({lo}, {hi}) starts after it ends; give (start, end) with start <= end")
    return lo, hi
