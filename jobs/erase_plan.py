"""Where an entity lives: the keys of an erasure request, and the tables, Redis projects and training sets holding them.

Used by :mod:`featurelake.jobs.erase`. Everything here reads only: the registry for the views
keyed on the join key (every version), the registered sources and the training sets, the
lakehouse for which of those tables have the key column (and which training sets really hold
one of the keys at their pinned version).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurelake.errors import DefinitionError, LakehouseError

if TYPE_CHECKING:
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry.types import JoinKey

_INT_KINDS = {"INT64", "INT32", "UNIX_TIMESTAMP"}


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class ErasureKeys:
    """The keys to erase: one join key and its typed values."""

    join_key: JoinKey
    values: tuple[Any, ...]


def _join_keys(registry: Any, project: str) -> dict[str, JoinKey]:
    """Entity names and join key names -> the single join key they stand for."""
    out: dict[str, JoinKey] = {}
    for entity in registry.list_entities(project):
        for key in entity.join_keys:
            out[key.name] = key
        if len(entity.join_keys) == 1:
            out.setdefault(entity.name, entity.join_keys[0])
    return out


def _typed(key: JoinKey, raw: str) -> Any:
    text = raw.strip()
    if key.dtype.upper() in _INT_KINDS:
        try:
            return int(text)
        except ValueError:
            raise DefinitionError(
                f"{key.name}={raw!r}: {key.name} is {key.dtype}, so its value must be an integer "
                f"(e.g. {key.name}=42)"
            ) from None
    if key.dtype.upper() == "STRING":
        if not text:
            raise DefinitionError(f"{key.name}={raw!r}: an empty value cannot be erased")
        return text
    raise DefinitionError(
        f"join key {key.name} has type {key.dtype}; erasure handles INT64, INT32 and STRING keys"
    )


def parse_keys(registry: Any, project: str, entities: Sequence[str], file: str | None = None) -> ErasureKeys:
    """Turn ``--entity NAME=VALUE`` options and an id file into typed keys of one join key.

    ``NAME`` is a join key (``user_id``) or an entity name (``user``). The file is a CSV whose
    header names the join key, one value per row.

    Raises:
        DefinitionError: an unknown entity or join key, mixed keys, a value of the wrong type,
            an empty or unreadable file, or no keys at all.
    """
    known = _join_keys(registry, project)
    pairs: list[tuple[str, str]] = []
    for item in entities:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise DefinitionError(f"--entity {item!r} is not NAME=VALUE; write e.g. --entity user_id=42")
        pairs.append((name.strip(), value))
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise DefinitionError(f"id file {file!r} does not exist; give a CSV whose header is the join key")
        with path.open(newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
        if len(rows) < 2:
            raise DefinitionError(
                f"id file {file!r} has no ids; it must be a CSV with a header naming the join key "
                "(e.g. user_id) and one id per row"
            )
        header = [h.strip() for h in rows[0]]
        if len(header) != 1:
            raise DefinitionError(f"id file {file!r} has columns {header}; give one column, the join key")
        pairs.extend((header[0], r[0]) for r in rows[1:])
    if not pairs:
        raise DefinitionError("nothing to erase: give --entity NAME=VALUE (repeatable) or --file ids.csv")
    names = {n for n, _ in pairs}
    unknown = sorted(n for n in names if n not in known)
    if unknown:
        raise DefinitionError(
            f"unknown entity or join key {', '.join(map(repr, unknown))} in project {project!r}; "
            f"known: {', '.join(sorted(known)) or '(none: run featurelake apply)'}"
        )
    keys = {known[n] for n in names}
    if len(keys) > 1:
        raise DefinitionError(
            f"one request erases one join key; got {', '.join(sorted(k.name for k in keys))}: run one request per key"
        )
    key = keys.pop()
    values = tuple(dict.fromkeys(_typed(key, v) for _, v in pairs))
    return ErasureKeys(join_key=key, values=values)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class TableTarget:
    """One Delta table to delete the keys from, and why."""

    table: str
    column: str
    why: str  # "view user_stats v1" | "source transactions" | "training set fraud@1 entities"


@dataclass(frozen=True)
class ErasurePlan:
    """Where the entity lives, found from the registry."""

    tables: tuple[TableTarget, ...]
    projects: tuple[str, ...]  # Redis projects serving views keyed on the join key
    training_sets: tuple[tuple[str, int, str], ...]  # (name, version, output table)
    compound_projects: tuple[str, ...] = ()  # projects where a view has several join keys (scanned)


def find_locations(
    registry: Any, lakehouse: Lakehouse, project: str, key: JoinKey, values: Sequence[Any]
) -> ErasurePlan:
    """Every table, Redis project and training set of ``project`` that can hold ``key``.

    Tables are listed when they have the key column; training sets only when their pinned
    output really holds one of ``values`` (a version already purged holds nothing).
    """
    tables: dict[str, TableTarget] = {}
    serving = False
    compound = False
    for current in registry.list_views(project, include_removed=True):
        for vv in registry.list_view_versions(project, current.name):
            if key.name in vv.join_keys:
                serving = True
                compound = compound or len(vv.join_keys) > 1
                if vv.table_name not in tables and lakehouse.exists(vv.table_name):
                    tables[vv.table_name] = TableTarget(
                        vv.table_name, key.name, f"view {vv.name} v{vv.major}"
                    )
    for source in registry.list_sources(project):
        for name in dict.fromkeys([Path(source.location.rstrip("/")).name, source.name]):
            if name and name not in tables and _has_column(lakehouse, name, key.name):
                tables[name] = TableTarget(name, key.name, f"source {source.name}")
                break
    erased = set(tables)
    training = []
    for ts in registry.list_training_sets(project):
        entity = ts.entity_source.table
        holds = any(t.table in erased for t in ts.feature_tables)
        if entity not in tables and _has_column(lakehouse, entity, key.name):
            tables[entity] = TableTarget(entity, key.name, f"training set {ts.name}@{ts.version} entities")
            holds = True
        holds = holds or entity in tables
        if holds and _holds_keys(lakehouse, ts.output.table, ts.output.version, key.name, values):
            training.append((ts.name, ts.version, ts.output.table))
    return ErasurePlan(
        tables=tuple(tables.values()),
        projects=(project,) if serving else (),
        compound_projects=(project,) if compound else (),
        training_sets=tuple(sorted(training)),
    )


def _holds_keys(
    lakehouse: Lakehouse, table: str, version: int | None, column: str, values: Sequence[Any]
) -> bool:
    from featurelake.lakehouse.erasure import find_keys

    if not _has_column(lakehouse, table, column):
        return False
    try:
        return find_keys(lakehouse, table, column, values, version=version).rows > 0
    except LakehouseError:  # that version's files are gone (purged): it holds nothing any more
        return False


def _has_column(lakehouse: Lakehouse, name: str, column: str) -> bool:
    from featurelake.lakehouse.table_model import NAME_RE

    if not NAME_RE.match(name) or not lakehouse.exists(name):
        return False
    return column in [f.name for f in lakehouse._load(name).schema().fields]
