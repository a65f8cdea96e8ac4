"""``get_historical_features``: point-in-time correct training frames from the registry's views.

Resolves the requested features (``["view:feature", ...]`` or a feature service
``"fraud_detection:v2"``) through the registry, refuses archived versions, reads each view's
Delta table through the Lakehouse (only the date partitions the entity rows can use, at one
pinned Delta version), and runs :func:`featurelake.lakehouse.pit.point_in_time_join`.

Example:
    >>> from featurelake.jobs.historical import get_historical_features
    >>> df = get_historical_features(entity_df, feature_service="fraud_detection:v2")
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurelake.errors import DefinitionError, LakehouseError, RegistryError
from featurelake.lakehouse.pit import (
    CREATED_TS,
    EVENT_TS,
    EntityBounds,
    NaiveTimestamps,
    PitMode,
    ViewRequest,
    check_entity_columns,
    entity_bounds,
    entity_frame_from_pandas,
    normalize_timestamp_column,
    point_in_time_join,
)
from featurelake.spec import partitions_to_read

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from featurelake.config.settings import Settings
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import RegistryReader, ServiceVersion, ViewVersion
    from featurelake.registry.types import Purpose


class NoFeatureDataWarning(UserWarning):
    """A requested view's table has no data for the period the entity rows need."""


@dataclass(frozen=True)
class ResolvedView:
    """One view version and the features taken from it, with the Delta version read."""

    view: ViewVersion
    features: tuple[str, ...]
    table: str
    delta_version: int | None = None

    @property
    def refs(self) -> list[str]:
        return [f"{self.view.name}:{f}" for f in self.features]


@dataclass(frozen=True)
class EntitySource:
    """Where the entity rows came from: a Delta table at a version, or an in-memory frame."""

    table: str | None
    version: int | None
    root: str | None = None  # a Delta table outside the lakehouse root (a path)


@dataclass(frozen=True)
class HistoricalResult:
    """The joined frame and exactly what it was built from (for registration and reproduction)."""

    frame: DataFrame = field(repr=False)
    views: tuple[ResolvedView, ...]
    entity: EntitySource
    bounds: EntityBounds
    service: ServiceVersion | None = None

    @property
    def feature_refs(self) -> list[str]:
        return [r for v in self.views for r in v.refs]


# ---------------------------------------------------------------------------------------------
# Resolution through the registry
# ---------------------------------------------------------------------------------------------


def parse_service_ref(ref: str) -> tuple[str, int | None]:
    """``"fraud_detection:v2"`` / ``"fraud_detection:2"`` / ``"fraud_detection"`` -> (name, version).

    Raises:
        DefinitionError: the version part is not a number.
    """
    name, sep, version = ref.partition(":")
    if not name:
        raise DefinitionError(
            f"feature service reference {ref!r} has no name; write NAME[:vVERSION], e.g. fraud_detection:v2"
        )
    if not sep or not version:
        return name, None
    digits = version[1:] if version[:1] in ("v", "V") else version
    if not digits.isdigit():
        raise DefinitionError(
            f"feature service reference {ref!r}: version {version!r} is not a number; write e.g. {name}:v2"
        )
    return name, int(digits)


def resolve_features(
    registry: RegistryReader,
    project: str,
    *,
    features: Sequence[str] | None = None,
    feature_service: str | None = None,
    purpose: Purpose = "train",
) -> tuple[list[ResolvedView], ServiceVersion | None]:
    """Resolve feature references or a service to usable view versions.

    Args:
        registry: where the views and services are defined.
        project: the registry project.
        features: ``["view:feature", ...]``.
        feature_service: ``"name:vN"``.
        purpose: ``"train"`` refuses archived versions; ``"reproduce"`` (rebuilding a registered
            training set) reads them, since archiving stops new use, not the audit of old builds.

    Raises:
        DefinitionError: neither or both given, malformed or unknown features (all listed).
        RegistryError: unknown service/view, or an archived service or view version.
    """
    if (features is None) == (feature_service is None):
        raise DefinitionError(
            "give either features=[...] ('view:feature') or feature_service='name:vN', not both or neither"
        )
    if feature_service is not None:
        name, version = parse_service_ref(feature_service)
        service = registry.get_service_version(project, name, version)
        if service.status == "archived" and purpose != "reproduce":
            raise RegistryError(
                f"feature service {name} v{service.version} is archived and cannot be used for training; "
                f"use an active version (featurelake registry show {name})"
            )
        resolved = []
        for part in service.views:
            vv = registry.assert_usable(project, part.view, str(part.view_major), purpose)
            resolved.append(ResolvedView(view=vv, features=tuple(part.features), table=vv.table_name))
        return resolved, service
    return _resolve_refs(registry, project, list(features or []), purpose), None


def _resolve_refs(
    registry: RegistryReader, project: str, refs: list[str], purpose: Purpose
) -> list[ResolvedView]:
    problems: list[str] = []
    wanted: dict[str, list[str]] = {}
    for ref in refs:
        view, sep, feature = ref.partition(":")
        if not sep or not view or not feature:
            problems.append(
                f"feature reference {ref!r} is not 'view:feature' (e.g. user_transaction_stats:txn_count_7d)"
            )
            continue
        if feature not in wanted.setdefault(view, []):
            wanted[view].append(feature)
    if not refs:
        problems.append("features=[] is empty; name at least one 'view:feature'")
    resolved = []
    for view, feats in wanted.items():
        try:
            vv = registry.assert_usable(project, view, None, purpose)
        except RegistryError as err:
            problems.append(str(err))
            continue
        unknown = [f for f in feats if f not in vv.feature_names]
        if unknown:
            problems.append(
                f"feature view {view!r} (v{vv.version}) has no feature(s) {unknown}; its features are {list(vv.feature_names)}"
            )
            continue
        resolved.append(ResolvedView(view=vv, features=tuple(feats), table=vv.table_name))
    if problems:
        raise DefinitionError(problems)
    return resolved


# ---------------------------------------------------------------------------------------------
# Entity rows
# ---------------------------------------------------------------------------------------------


def load_entities(
    spark: SparkSession,
    lakehouse: Lakehouse,
    entity_df: DataFrame | pd.DataFrame | str,
    *,
    timestamp_column: str,
    naive_timestamps: NaiveTimestamps,
    version: int | None = None,
) -> tuple[DataFrame, EntitySource]:
    """Entity rows as a Spark frame, and their source pinned at a Delta version when they are a table.

    ``entity_df`` may be a Spark or pandas DataFrame, a table name under the lakehouse root, or
    a path to a Delta table (or a parquet file/folder, which cannot be pinned).

    Raises:
        LakehouseError: the table or path does not exist.
        EntityDataError: naive or non-time timestamps (see featurelake.lakehouse.pit).
    """
    import pandas as pd
    from pyspark.sql import DataFrame as SparkFrame

    if isinstance(entity_df, SparkFrame):
        return entity_df, EntitySource(table=None, version=None)
    if isinstance(entity_df, pd.DataFrame):
        frame = entity_frame_from_pandas(
            spark, entity_df, timestamp_column=timestamp_column, naive_timestamps=naive_timestamps
        )
        return frame, EntitySource(table=None, version=None)
    if not isinstance(entity_df, str):
        raise DefinitionError(
            f"entity_df must be a Spark DataFrame, a pandas DataFrame or a Delta table name/path, got {type(entity_df).__name__}"
        )
    if "/" not in entity_df and not entity_df.startswith("."):
        pinned = lakehouse.version(entity_df) if version is None else version
        return lakehouse.read(spark, entity_df, version=pinned), EntitySource(table=entity_df, version=pinned)
    path = Path(entity_df)
    if (path / "_delta_log").is_dir():
        from featurelake.lakehouse.tables import Lakehouse

        outside = Lakehouse(root=str(path.resolve().parent))
        pinned = outside.version(path.name) if version is None else version
        frame = outside.read(spark, path.name, version=pinned)
        return frame, EntitySource(table=path.name, version=pinned, root=str(path.resolve().parent))
    if path.exists():
        frame = _read_parquet_entities(
            spark, path, timestamp_column=timestamp_column, naive_timestamps=naive_timestamps
        )
        return frame, EntitySource(table=str(path), version=None)
    raise LakehouseError(
        f"entity rows {entity_df!r}: no such table or path; give a table name, a Delta folder or parquet"
    )


def _read_parquet_entities(
    spark: SparkSession, path: Path, *, timestamp_column: str, naive_timestamps: NaiveTimestamps
) -> DataFrame:
    """Entity rows from a parquet file or folder, read with pyarrow, as a Spark frame.

    Files that pandas wrote with its defaults hold nanosecond timestamps, which Spark refuses to
    read; they are converted to microseconds (Spark's precision), refusing only values that
    would lose precision, naming the column. A naive ``timestamp_column`` is refused, or read as
    UTC with ``naive_timestamps="utc"``. A file that is not parquet is one clear error.

    Raises:
        EntityDataError: not parquet, a nanosecond timestamp that microseconds cannot hold, or a
            naive timestamp column that is refused.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from featurelake.lakehouse.pit import EntityDataError

    try:
        table = pq.read_table(str(path))
    except (pa.ArrowInvalid, OSError) as err:
        raise EntityDataError(
            f"entity rows {str(path)!r} are not a readable parquet file or folder ({' '.join(str(err).split())[:200]}); "
            "give a parquet file (e.g. pandas DataFrame.to_parquet), a Delta folder or a table name"
        ) from None
    columns = []
    for col_field in table.schema:
        column = table.column(col_field.name)
        if pa.types.is_timestamp(col_field.type) and col_field.type.unit == "ns":
            as_us = pc.cast(column, pa.timestamp("us", tz=col_field.type.tz), safe=False)
            back = pc.cast(as_us, col_field.type)
            lost = pc.sum(pc.cast(pc.not_equal(back, column), pa.int64())).as_py() or 0
            if lost:
                raise EntityDataError(
                    f"entity rows {str(path)!r}: column {col_field.name!r} holds {lost} nanosecond timestamp(s) that "
                    "microseconds (Spark's precision) cannot hold exactly; round them to microseconds "
                    f"(e.g. df[{col_field.name!r}] = df[{col_field.name!r}].dt.floor('us')) and write the file again"
                )
            column = as_us
        if (
            col_field.name == timestamp_column
            and pa.types.is_timestamp(col_field.type)
            and col_field.type.tz is None
        ):
            if naive_timestamps != "utc":
                raise EntityDataError(
                    f"entity rows {str(path)!r}: column {timestamp_column!r} holds naive timestamps (no time zone), "
                    "which are ambiguous; write them with a time zone (pandas: .dt.tz_localize('UTC' or their zone)) "
                    "or, if they are UTC wall-clock times, pass --naive-timestamps utc (Python: naive_timestamps='utc')"
                )
            column = pc.cast(
                column, pa.timestamp("us", tz="UTC")
            )  # naive values read as UTC wall-clock times
        columns.append(column)
    table = pa.table(columns, names=table.column_names)
    return spark.createDataFrame(table)


# ---------------------------------------------------------------------------------------------
# Reading the feature tables
# ---------------------------------------------------------------------------------------------


def read_view(
    spark: SparkSession,
    lakehouse: Lakehouse,
    view: ResolvedView,
    bounds: EntityBounds,
    *,
    version: int | None = None,
) -> tuple[ViewRequest, int]:
    """Read one view's table at a pinned version, only the partitions :func:`featurelake.spec.partitions_to_read` names.

    Warns :class:`NoFeatureDataWarning` (with the range) when no file of the table falls in
    that range: every entity row then gets nulls for this view.

    Raises:
        LakehouseError: the table does not exist yet (run the view's backfill first).
    """
    if not lakehouse.exists(view.table):
        raise LakehouseError(
            f"feature view {view.view.name!r} (v{view.view.version}) has no table {view.table!r} yet; "
            f"run `featurelake backfill --view {view.view.name} --start ... --end ...` first"
        )
    pinned = lakehouse.version(view.table) if version is None else version
    ttl = view.view.ttl
    read_range = partitions_to_read(bounds.min_ts, bounds.max_ts, ttl)
    files = lakehouse.files(view.table, version=pinned, date_range=read_range)
    if not files:
        warnings.warn(
            f"feature view {view.view.name!r} has no data in {view.table!r}@{pinned} for {read_range[0]}..{read_range[1]} "
            f"(entity rows span {bounds.min_ts.isoformat()}..{bounds.max_ts.isoformat()}, ttl {ttl}); its features "
            "will be null. Backfill that range to fill them.",
            NoFeatureDataWarning,
            stacklevel=3,
        )
    frame = lakehouse.read(spark, view.table, version=pinned, date_range=read_range)
    columns = [
        *view.view.join_keys,
        EVENT_TS,
        *([CREATED_TS] if CREATED_TS in frame.columns else []),
        *view.features,
    ]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LakehouseError(
            f"table {view.table!r}@{pinned} of view {view.view.name!r} lacks column(s) {missing}; "
            "re-run the view's backfill so its table matches the definition"
        )
    request = ViewRequest(
        name=view.view.name,
        join_keys=view.view.join_keys,
        features=view.features,
        frame=frame.select(*columns),
        ttl=ttl,
    )
    return request, pinned


# ---------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------


def build_historical(
    entity_df: DataFrame | pd.DataFrame | str,
    *,
    spark: SparkSession,
    lakehouse: Lakehouse,
    registry: RegistryReader,
    project: str,
    features: Sequence[str] | None = None,
    feature_service: str | None = None,
    full_feature_names: bool = False,
    mode: PitMode = "event_time",
    timestamp_column: str = EVENT_TS,
    naive_timestamps: NaiveTimestamps = "reject",
    pinned_versions: Mapping[str, int] | None = None,
    entity_version: int | None = None,
    purpose: Purpose = "train",
) -> HistoricalResult:
    """Resolve, read and join; return the frame with the exact inputs used.

    Args:
        entity_df: Spark or pandas DataFrame, Delta table name, or path.
        spark: the Spark session.
        lakehouse: where the feature tables live.
        registry: where the views and services are defined.
        project: the registry project.
        features: ``["view:feature", ...]`` (newest active view versions).
        feature_service: ``"name:vN"`` (or ``"name"`` for its newest version).
        full_feature_names: output ``view__feature`` names.
        mode: ``"event_time"`` or ``"as_known_at"`` (see featurelake.lakehouse.pit).
        timestamp_column: the entity rows' timestamp column.
        naive_timestamps: reject naive timestamps or read them as UTC.
        pinned_versions: table name -> Delta version to read (reproduction); default latest.
        entity_version: Delta version of an entity table (reproduction); default latest.
        purpose: ``"reproduce"`` reads archived service and view versions (see resolve_features).

    Raises:
        DefinitionError: bad feature references, missing entity columns (all listed).
        RegistryError: unknown or archived service/view versions.
        LakehouseError: missing tables or versions.
    """
    resolved, service = resolve_features(
        registry, project, features=features, feature_service=feature_service, purpose=purpose
    )
    entities, source = load_entities(
        spark,
        lakehouse,
        entity_df,
        timestamp_column=timestamp_column,
        naive_timestamps=naive_timestamps,
        version=entity_version,
    )
    requests_ = [
        ViewRequest(
            name=r.view.name, join_keys=r.view.join_keys, features=r.features, frame=entities, ttl=None
        )
        for r in resolved
    ]
    check_entity_columns(entities, requests_, timestamp_column=timestamp_column)
    entities = normalize_timestamp_column(entities, timestamp_column, naive_timestamps=naive_timestamps)
    bounds = entity_bounds(entities, timestamp_column=timestamp_column)
    views, pinned = [], []
    for r in resolved:
        request, version = read_view(
            spark, lakehouse, r, bounds, version=(pinned_versions or {}).get(r.table)
        )
        views.append(request)
        pinned.append(ResolvedView(view=r.view, features=r.features, table=r.table, delta_version=version))
    frame = point_in_time_join(
        entities,
        views,
        timestamp_column=timestamp_column,
        mode=mode,
        full_feature_names=full_feature_names,
        bounds=bounds,
    )
    return HistoricalResult(frame=frame, views=tuple(pinned), entity=source, bounds=bounds, service=service)


def get_historical_features(
    entity_df: DataFrame | pd.DataFrame | str,
    features: Sequence[str] | None = None,
    *,
    feature_service: str | None = None,
    full_feature_names: bool = False,
    mode: PitMode = "event_time",
    timestamp_column: str = EVENT_TS,
    naive_timestamps: NaiveTimestamps = "reject",
    settings: Settings | None = None,
    spark: SparkSession | None = None,
    lakehouse: Lakehouse | None = None,
    registry: RegistryReader | None = None,
    project: str | None = None,
) -> DataFrame:
    """Point-in-time correct feature values for every entity row, as a Spark DataFrame.

    Args:
        entity_df: entity rows (join keys + ``timestamp_column`` + any labels): a Spark or
            pandas DataFrame, or a Delta table name under the storage root.
        features: ``["view:feature", ...]``; or use ``feature_service``.
        feature_service: ``"fraud_detection:v2"``.
        full_feature_names: name outputs ``view__feature``.
        mode: ``"event_time"`` (latest value with event time <= t, within TTL) or
            ``"as_known_at"`` (also written by t).
        timestamp_column: the entity rows' timestamp column.
        naive_timestamps: reject naive timestamps (default) or read them as UTC.
        settings: featurelake settings (default: :func:`featurelake.config.settings.load_settings`).
        spark: a Spark session (default: one built from the settings).
        lakehouse: the lakehouse (default: from the settings).
        registry: the registry (default: from the settings).
        project: the registry project (default: ``settings.project``).

    Returns:
        The entity rows, each exactly once, with one column per feature.

    Raises:
        DefinitionError: bad references or entity rows (every problem listed).
        RegistryError: unknown or archived service/view versions.
        LakehouseError: a view's table does not exist.
    """
    ctx = _context(settings, spark=spark, lakehouse=lakehouse, registry=registry)
    return build_historical(
        entity_df,
        spark=ctx["spark"],
        lakehouse=ctx["lakehouse"],
        registry=ctx["registry"],
        project=project or ctx["settings"].project,
        features=features,
        feature_service=feature_service,
        full_feature_names=full_feature_names,
        mode=mode,
        timestamp_column=timestamp_column,
        naive_timestamps=naive_timestamps,
    ).frame


def _context(
    settings: Settings | None,
    *,
    spark: SparkSession | None,
    lakehouse: Lakehouse | None,
    registry: RegistryReader | None,
) -> dict[str, Any]:
    from featurelake.config.settings import load_settings

    settings = settings or load_settings()
    if spark is None:
        from featurelake.lakehouse.spark import build_spark_session

        spark = build_spark_session(
            app_name="featurelake-historical", master=settings.spark.master, conf=settings.spark.conf
        )
    if lakehouse is None:
        from featurelake.jobs.wiring import lakehouse_from_settings

        lakehouse = lakehouse_from_settings(settings)
    if registry is None:
        from featurelake.registry import open_registry

        registry = open_registry(settings.registry_url, create=False)
    return {"settings": settings, "spark": spark, "lakehouse": lakehouse, "registry": registry}
