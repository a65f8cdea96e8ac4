"""Writes of featurelake's Feast offline store: saved datasets and appends to a view's source.

Both write Delta tables with delta-rs (the one writer engine of featurelake's tables), at
microsecond precision (Spark 4 cannot read nanosecond parquet). A source partitioned by
``event_date`` gets that column computed by the spec's rule
(:func:`featurelake.spec.event_date_of`: the UTC date of ``timestamp - 1 µs``), so writers never
pass it and readers prune by it exactly as they do for backfilled tables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from featurelake.errors import ConfigError
from featurelake.spec import EVENT_DATE

if TYPE_CHECKING:
    from feast.data_source import DataSource


def microsecond_table(table: pa.Table) -> pa.Table:
    """``table`` with every timestamp column at microsecond precision (its zone kept)."""
    fields = [
        f.with_type(pa.timestamp("us", tz=f.type.tz)) if pa.types.is_timestamp(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields), safe=False)


def event_dates(times: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The ``event_date`` partition of each timestamp by the spec's rule (naive times read as UTC)."""
    import pyarrow.compute as pc

    micros = pc.cast(pc.cast(times, pa.timestamp("us")), pa.int64())
    shifted = pc.subtract(micros, 1)
    return pc.cast(pc.cast(shifted, pa.timestamp("us")), pa.date32())


def _uri_and_options(path: str, repo_path: Path | None) -> tuple[str, dict[str, str]]:
    from featurelake.config.settings import load_settings

    if "://" not in path and not os.path.isabs(path) and repo_path is not None:
        path = str((Path(repo_path) / path).resolve())
    options = load_settings().storage.storage_options() if "://" in path else {}
    return path, options


def _exists(uri: str, options: dict[str, str]) -> bool:
    from deltalake import DeltaTable

    if "://" not in uri:
        return os.path.exists(uri)
    return DeltaTable.is_deltatable(uri, storage_options=options)


def persist_arrow(table: pa.Table, storage: Any, repo_path: str | None, *, allow_overwrite: bool) -> None:
    """Write a retrieval result as a Delta table at a ``SavedDatasetFileStorage``'s path.

    Raises:
        SavedDatasetLocationAlreadyExists: the path exists and ``allow_overwrite`` is false.
        ConfigError: the storage is not a Delta file storage.
    """
    from deltalake import write_deltalake
    from feast.data_format import DeltaFormat
    from feast.errors import SavedDatasetLocationAlreadyExists

    options_ = getattr(storage, "file_options", None)
    if options_ is None or not isinstance(options_.file_format, DeltaFormat):
        raise ConfigError(
            f"featurelake's offline store saves datasets as Delta tables; got storage {type(storage).__name__} "
            f"({getattr(options_, 'file_format', None)!r}); use SavedDatasetFileStorage(path=..., file_format=DeltaFormat())"
        )
    uri, options = _uri_and_options(options_.uri, Path(repo_path) if repo_path else None)
    if not allow_overwrite and _exists(uri, options):
        raise SavedDatasetLocationAlreadyExists(location=options_.uri)
    write_deltalake(
        uri,
        microsecond_table(table),
        mode="overwrite" if allow_overwrite else "error",
        storage_options=options or None,
    )


def source_columns(source: DataSource, repo_path: Path | None) -> list[tuple[str, str]]:
    """The columns a writer gives for a Delta source: its schema less a derived ``event_date`` partition."""
    from deltalake import DeltaTable

    from featurelake.lakehouse.schema import table_arrow_schema

    uri, options = _uri_and_options(source.path, repo_path)
    table = DeltaTable(uri, storage_options=options or None)
    parts = set(table.metadata().partition_columns)
    schema = table_arrow_schema(table)
    return [(f.name, str(f.type)) for f in schema if not (f.name == EVENT_DATE and f.name in parts)]


def append_to_source(source: DataSource, table: pa.Table, repo_path: Path | None) -> None:
    """Append rows to a view's Delta source in one commit (``write_to_offline_store``, offline pushes).

    Raises:
        ValueError: the columns are not the source's, in its order (Feast's contract and message).
    """
    from deltalake import DeltaTable, write_deltalake

    from featurelake.lakehouse.schema import table_arrow_schema

    uri, options = _uri_and_options(source.path, repo_path)
    # Feast renames the source's columns by its field_mapping before this call; the table stores
    # the source's own names.
    back = {dst: src for src, dst in (source.field_mapping or {}).items()}
    table = table.rename_columns([back.get(c, c) for c in table.column_names])
    delta = DeltaTable(uri, storage_options=options or None)
    parts = list(delta.metadata().partition_columns)
    schema = table_arrow_schema(delta)
    derived = EVENT_DATE in parts
    expected = [f for f in schema if not (derived and f.name == EVENT_DATE)]
    names = [f.name for f in expected]
    if table.column_names != names:
        raise ValueError(
            f"The input pyarrow table has schema {table.schema} with the incorrect columns {table.column_names}. "
            f"The schema is expected to be {pa.schema(expected)} with the columns (in this exact order) to be {names}."
        )
    rows = table.cast(pa.schema(expected), safe=False)
    if derived:
        rows = rows.append_column(
            pa.field(EVENT_DATE, pa.date32()),
            event_dates(rows.column(back.get(source.timestamp_field, source.timestamp_field))),
        )
    write_deltalake(uri, rows, mode="append", partition_by=parts or None, storage_options=options or None)
