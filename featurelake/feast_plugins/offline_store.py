"""A Feast offline store that runs featurelake's point-in-time join on Delta tables.

Configure it in ``feature_store.yaml``::

    offline_store:
      type: featurelake.feast_plugins.offline_store.FeaturelakeOfflineStore
      mode: event_time            # or as_known_at
      spark_master: local[*]      # optional; default: the active Spark session, else local[*]

Then Feast's own ``FeatureStore.get_historical_features(entity_df, features=[...])`` reads each
feature view's source (a ``FileSource`` with ``DeltaFormat`` whose path is a Delta table) as a
Delta snapshot through the lakehouse (honouring the transaction log, unlike Feast's file store,
which reads the folder as plain parquet) and joins with
:func:`featurelake.lakehouse.pit.point_in_time_join` (every entity row back, nulls where no value
is fresh, unlike Feast's dask join). What Feast's own sources and users give it is taken as Feast
takes it:

* the source's ``field_mapping``; naive timestamps (entity rows or source columns) read as UTC;
  entity timestamps in an object column with mixed zones; entity times in the future;
* tables partitioned by ``event_date`` (by the spec's rule or by the plain UTC date) are read only
  in the partitions the entity rows can use (:func:`featurelake.spec.partitions_to_read`); any
  other layout, unpartitioned included, is read whole and filtered on the timestamp;
* on-demand feature views requested with the retrieval (computed by Feast's ``to_arrow`` on the
  joined values, only the requested outputs); ``filter_by_created_timestamp`` (featurelake's
  as-known-at rule); retrieval without ``entity_df`` (``start_date``/``end_date``);
* ``create_saved_dataset`` / ``RetrievalJob.persist`` (a Delta table), ``write_to_offline_store``
  and offline pushes (``offline_write_batch``: one delta-rs commit, ``event_date`` derived), and
  ``pull_latest_from_table_or_query`` / ``pull_all_from_table_or_query`` for Feast's engines.

``to_df()`` returns tz-aware UTC timestamps, like Feast's file store; ``to_sql()`` is refused
(the result is a Spark plan; ``to_spark_df()`` hands it over).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa
from feast.data_source import DataSource
from feast.feature_view import FeatureView
from feast.infra.offline_stores.offline_store import OfflineStore, RetrievalJob, RetrievalMetadata
from feast.infra.registry.base_registry import BaseRegistry
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from pydantic import ConfigDict

from featurelake.errors import ConfigError, DefinitionError
from featurelake.lakehouse.pit import (
    CREATED_TS,
    EVENT_TS,
    ViewRequest,
    entity_bounds,
    point_in_time_join,
)
from featurelake.spec import partitions_to_read

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from featurelake.lakehouse.tables import Lakehouse


class FeaturelakeOfflineStoreConfig(FeastConfigBaseModel):
    """``offline_store:`` settings of feature_store.yaml for :class:`FeaturelakeOfflineStore`."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["featurelake.feast_plugins.offline_store.FeaturelakeOfflineStore"] = (
        "featurelake.feast_plugins.offline_store.FeaturelakeOfflineStore"
    )
    mode: Literal["event_time", "as_known_at"] = "event_time"
    spark_master: str | None = None
    spark_conf: dict[str, str] = {}


class FeaturelakeRetrievalJob(RetrievalJob):
    """A lazily evaluated Spark DataFrame; ``to_df``/``to_arrow`` run it, ``to_spark_df`` hands it over.

    On-demand feature views requested with the retrieval are applied by Feast's ``to_arrow``
    (the same code Feast's own stores use), on the joined values of their sources.
    """

    def __init__(
        self,
        frame: DataFrame,
        *,
        full_feature_names: bool,
        metadata: RetrievalMetadata | None = None,
        on_demand_feature_views: list[OnDemandFeatureView] | None = None,
        repo_path: str | None = None,
    ):
        self._frame = frame
        self._full_feature_names = full_feature_names
        self._metadata = metadata
        self._odfvs = list(on_demand_feature_views or [])
        self._repo_path = repo_path

    def to_spark_df(self) -> DataFrame:
        """The result as a Spark DataFrame (not yet computed; on-demand features not applied)."""
        return self._frame

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._to_arrow_internal(timeout).to_pandas()

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        table = self._frame.toArrow()
        # Instants in the session zone (UTC in featurelake): label them UTC, at the nanosecond
        # unit Feast's own stores return (pandas datetime64[ns, UTC]).
        for i, field in enumerate(table.schema):
            if pa.types.is_timestamp(field.type):
                column = table.column(i).cast(pa.timestamp("ns", tz="UTC"))
                table = table.set_column(i, pa.field(field.name, column.type), column)
        return table

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._odfvs

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata

    def persist(self, storage: Any, allow_overwrite: bool | None = False, timeout: int | None = None) -> None:
        """Write the result (on-demand features included) as a Delta table at the storage's path.

        Raises:
            SavedDatasetLocationAlreadyExists: the path exists and ``allow_overwrite`` is false.
            ConfigError: the storage is not a file storage (``SavedDatasetFileStorage``).
        """
        from featurelake.feast_plugins.offline_writes import persist_arrow

        persist_arrow(
            self.to_arrow(timeout=timeout), storage, self._repo_path, allow_overwrite=bool(allow_overwrite)
        )

    def to_sql(self) -> str:
        """Not meaningful here: the result is a Spark plan over Delta snapshots, not a SQL query.

        Raises:
            ConfigError: always, naming what to use instead.
        """
        raise ConfigError(
            "featurelake's offline store builds a Spark DataFrame, not SQL; use job.to_spark_df(), "
            "job.to_df() or job.to_arrow() instead of to_sql()"
        )


def _spark(config: RepoConfig) -> SparkSession:
    from pyspark.sql import SparkSession

    from featurelake.lakehouse.spark import build_spark_session

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    store = config.offline_store
    return build_spark_session(
        app_name="featurelake-feast", master=store.spark_master or "local[*]", conf=store.spark_conf
    )


def _repo_path(config: RepoConfig) -> Path | None:
    return Path(config.repo_path) if config.repo_path else None


def table_location(source: DataSource, repo_path: Path | None) -> tuple[Lakehouse, str]:
    """The Lakehouse (root = the table's parent) and table name of a Delta ``FileSource``.

    Raises:
        ConfigError: the source has no path.
    """
    from featurelake.config.settings import load_settings
    from featurelake.lakehouse.tables import Lakehouse

    path = getattr(source, "path", None)
    if not path:
        raise ConfigError(
            f"feature source {source.name!r} has no path; featurelake's offline store reads FileSource(path=<Delta table>, "
            "file_format=DeltaFormat())"
        )
    if "://" not in path and not os.path.isabs(path) and repo_path is not None:
        path = str((Path(repo_path) / path).resolve())
    parent, _, name = path.rstrip("/").rpartition("/")
    options = load_settings().storage.storage_options() if "://" in path else {}
    return Lakehouse(root=parent, storage_options=options), name


def source_frame(
    spark: SparkSession,
    source: DataSource,
    repo_path: Path | None,
    *,
    lo: datetime | None = None,
    hi: datetime | None = None,
    mapped: bool = True,
) -> DataFrame:
    """A source's Delta snapshot, with its ``field_mapping`` applied (columns named as in the view)
    unless ``mapped`` is false (the source's own names, as Feast's ``pull_*`` calls use).

    When ``lo`` and ``hi`` are given and the table is partitioned by ``event_date``, only the
    partitions that can hold rows with ``lo <= timestamp <= hi`` are read
    (:func:`featurelake.spec.partitions_to_read`, also covering plain UTC-date partitioning);
    any other layout (unpartitioned, or another partition column) is read whole; callers filter
    on the timestamp either way.
    """
    from featurelake.spec import EVENT_DATE

    lakehouse, table = table_location(source, repo_path)
    date_range = None
    if lo is not None and hi is not None:
        files = lakehouse.files(table)
        if files and EVENT_DATE in files[0].partition_values:
            date_range = partitions_to_read(hi, hi, hi - lo, also_plain_dates=True)
    frame = lakehouse.read(spark, table, date_range=date_range)
    for src, dst in (source.field_mapping or {}).items() if mapped else ():
        if src in frame.columns and src != dst:
            frame = frame.withColumnRenamed(src, dst)
    return frame


def _feature_frame(
    spark: SparkSession, fv: FeatureView, features: list[str], bounds: Any, repo_path: Path | None
) -> ViewRequest:
    source = fv.batch_source
    key_map = fv.projection.join_key_map or {}
    keys = [c.name for c in fv.entity_columns]
    lo = bounds.min_ts - fv.ttl if fv.ttl and fv.ttl.total_seconds() > 0 else None
    frame = source_frame(spark, source, repo_path, lo=lo, hi=bounds.max_ts)
    renames = {source.timestamp_field: EVENT_TS}
    if source.created_timestamp_column:
        renames[source.created_timestamp_column] = CREATED_TS
    cols = [
        *keys,
        source.timestamp_field,
        *([source.created_timestamp_column] if source.created_timestamp_column else []),
        *features,
    ]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DefinitionError(
            f"feature view {fv.name!r}: its source {source.path!r} has no column(s) {missing} (columns: {frame.columns}); "
            "fix the view's schema or the source's field_mapping"
        )
    frame = frame.select(*[frame[c].alias(key_map.get(c, renames.get(c, c))) for c in cols])
    return ViewRequest(
        name=fv.projection.name_to_use(),
        join_keys=tuple(key_map.get(k, k) for k in keys),
        features=tuple(features),
        frame=frame,
        ttl=fv.ttl,
    )


def _utc_series(values: pd.Series) -> pd.Series:
    """Times as UTC: tz-aware converted, naive read as UTC (Feast's rule), mixed zones (object) too."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    try:
        return pd.to_datetime(values, utc=True)
    except (ValueError, TypeError):
        raise DefinitionError(
            f"entity column {values.name!r} (dtype {values.dtype}) does not parse as times; give datetime values"
        ) from None


def _entity_frame(spark: SparkSession, entity_df: Any) -> tuple[DataFrame, str]:
    from pyspark.sql import DataFrame as SparkFrame

    from featurelake.lakehouse.pit import entity_frame_from_pandas

    if isinstance(entity_df, str):
        entity_df = spark.sql(entity_df)
    if isinstance(entity_df, SparkFrame):
        from pyspark.sql.types import TimestampNTZType, TimestampType

        times = [
            f.name
            for f in entity_df.schema.fields
            if isinstance(f.dataType, TimestampType | TimestampNTZType)
        ]
        column = EVENT_TS if EVENT_TS in entity_df.columns else (times[0] if len(times) == 1 else EVENT_TS)
        return entity_df, column
    if isinstance(entity_df, pd.DataFrame):
        times = [c for c in entity_df.columns if pd.api.types.is_datetime64_any_dtype(entity_df[c])]
        column = EVENT_TS if EVENT_TS in entity_df.columns else (times[0] if len(times) == 1 else EVENT_TS)
        if column in entity_df.columns:
            entity_df = entity_df.assign(**{column: _utc_series(entity_df[column])})
        return entity_frame_from_pandas(
            spark, entity_df, timestamp_column=column, naive_timestamps="utc"
        ), column
    raise DefinitionError(
        f"entity_df must be a pandas DataFrame, a Spark DataFrame or a SQL query, got {type(entity_df).__name__}"
    )


def _no_future_limit() -> timedelta:
    # Feast accepts entity rows at any future time (e.g. scoring tomorrow's events); so does
    # this store: the limit is the end of the calendar.
    return datetime(9999, 12, 31, tzinfo=UTC) - datetime.now(UTC)


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _non_entity_rows(
    spark: SparkSession,
    config: RepoConfig,
    feature_views: list[FeatureView],
    start: datetime | None,
    end: datetime | None,
) -> tuple[DataFrame, str]:
    """Entity rows for a retrieval without ``entity_df``: every (keys, time) of the views' rows in the range.

    The range is Feast's (:func:`feast.utils.compute_non_entity_date_range`: ``end`` defaults to
    now, ``start`` to ``end`` minus the largest TTL), so each source row in it comes back with
    the point-in-time values of every requested view at its own time.

    Raises:
        DefinitionError: the views have different join keys (no common entity rows).
    """
    from feast.utils import compute_non_entity_date_range
    from pyspark.sql import functions as F

    from featurelake.lakehouse.pit import normalize_timestamp_column

    lo, hi = compute_non_entity_date_range(feature_views, start_date=start, end_date=end)
    lo, hi = _utc(lo), _utc(hi)
    keysets = {
        tuple(sorted((fv.projection.join_key_map or {}).get(c.name, c.name) for c in fv.entity_columns))
        for fv in feature_views
    }
    if len(keysets) != 1:
        raise DefinitionError(
            f"retrieval without entity_df needs feature views with the same join keys; got {sorted(keysets)}; "
            "pass an entity_df instead"
        )
    frames = []
    repo_path = _repo_path(config)
    for fv in feature_views:
        source = fv.batch_source
        key_map = fv.projection.join_key_map or {}
        frame = source_frame(spark, source, repo_path, lo=lo, hi=hi)
        frame = normalize_timestamp_column(frame, source.timestamp_field, naive_timestamps="utc")
        ts = F.col(source.timestamp_field)
        frames.append(
            frame.where((ts >= F.lit(lo)) & (ts <= F.lit(hi))).select(
                *[F.col(c.name).alias(key_map.get(c.name, c.name)) for c in fv.entity_columns],
                ts.alias(EVENT_TS),
            )
        )
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    return rows.distinct(), EVENT_TS


class FeaturelakeOfflineStore(OfflineStore):
    """Feast offline store backed by featurelake's Delta tables and point-in-time join."""

    supports_filter_by_created_timestamp = True

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str | Any,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        """Run featurelake's point-in-time join for Feast (see the module docstring)."""
        from featurelake.lakehouse.pit import normalize_timestamp_column

        spark = _spark(config)
        if entity_df is None:
            entities, ts_col = _non_entity_rows(
                spark, config, feature_views, kwargs.get("start_date"), kwargs.get("end_date")
            )
        else:
            entities, ts_col = _entity_frame(spark, entity_df)
        entities = normalize_timestamp_column(entities, ts_col, naive_timestamps="utc")
        bounds = entity_bounds(entities, timestamp_column=ts_col, max_future=_no_future_limit())
        wanted: dict[str, list[str]] = {}
        for ref in feature_refs:
            view, _, feature = ref.partition(":")
            if feature not in wanted.setdefault(view, []):
                wanted[view].append(feature)
        repo_path = _repo_path(config)
        views = [
            _feature_frame(spark, fv, wanted[fv.projection.name_to_use()], bounds, repo_path)
            for fv in feature_views
            if fv.projection.name_to_use() in wanted
        ]
        frame = point_in_time_join(
            entities,
            views,
            timestamp_column=ts_col,
            # Feast's filter_by_created_timestamp is featurelake's as-known-at rule.
            mode="as_known_at" if kwargs.get("filter_by_created_timestamp") else config.offline_store.mode,
            full_feature_names=full_feature_names,
            naive_timestamps="utc",
            bounds=bounds,
        )
        keys = sorted({k for v in views for k in v.join_keys})
        metadata = RetrievalMetadata(
            features=list(feature_refs),
            keys=keys,
            min_event_timestamp=bounds.min_ts,
            max_event_timestamp=bounds.max_ts,
        )
        return FeaturelakeRetrievalJob(
            frame,
            full_feature_names=full_feature_names,
            metadata=metadata,
            on_demand_feature_views=OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry),
            repo_path=str(repo_path) if repo_path else None,
        )

    @staticmethod
    def pull_latest_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: datetime,
        end_date: datetime,
        **kwargs: Any,
    ) -> RetrievalJob:
        """The latest row per entity key with ``start_date <= timestamp <= end_date`` (for materialization).

        Column names are the source's own (before its ``field_mapping``), as Feast passes them.

        Ties on the timestamp go to the latest ``created_timestamp_column``. A view without
        entities gets Feast's dummy entity column, as Feast's stores do.
        """
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        frame = _pull(
            config,
            data_source,
            join_key_columns,
            feature_name_columns,
            timestamp_field,
            created_timestamp_column,
            start_date,
            end_date,
        )
        order = [F.col(timestamp_field).desc()] + (
            [F.col(created_timestamp_column).desc_nulls_last()] if created_timestamp_column else []
        )
        if join_key_columns:
            w = Window.partitionBy(*join_key_columns).orderBy(*order)
        else:
            w = Window.orderBy(*order)
        latest = frame.withColumn("_fl_rn", F.row_number().over(w)).where(F.col("_fl_rn") == 1).drop("_fl_rn")
        if not join_key_columns:
            from feast.infra.offline_stores.offline_utils import DUMMY_ENTITY_ID, DUMMY_ENTITY_VAL

            latest = latest.withColumn(DUMMY_ENTITY_ID, F.lit(DUMMY_ENTITY_VAL))
        return FeaturelakeRetrievalJob(latest, full_feature_names=False)

    @staticmethod
    def pull_all_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        **kwargs: Any,
    ) -> RetrievalJob:
        """Every row with ``start_date <= timestamp <= end_date`` (either bound optional)."""
        frame = _pull(
            config,
            data_source,
            join_key_columns,
            feature_name_columns,
            timestamp_field,
            created_timestamp_column,
            start_date,
            end_date,
        )
        return FeaturelakeRetrievalJob(frame, full_feature_names=False)

    def get_table_column_names_and_types_from_data_source(
        self, config: RepoConfig, data_source: DataSource
    ) -> list[tuple[str, str]]:
        """A Delta source's columns as writers give them (a derived ``event_date`` partition left out)."""
        from featurelake.feast_plugins.offline_writes import source_columns

        return source_columns(data_source, _repo_path(config))

    @staticmethod
    def offline_write_batch(
        config: RepoConfig, feature_view: FeatureView, table: pa.Table, progress: Any = None
    ) -> None:
        """Append rows to the feature view's Delta source (``write_to_offline_store``, offline pushes).

        Raises:
            ValueError: the columns differ from the source's (Feast's message, listing them).
        """
        from featurelake.feast_plugins.offline_writes import append_to_source

        append_to_source(feature_view.batch_source, table, _repo_path(config))
        if progress:
            progress(table.num_rows)


def _pull(
    config: RepoConfig,
    data_source: DataSource,
    keys: list[str],
    features: list[str],
    ts: str,
    created: str | None,
    start: datetime | None,
    end: datetime | None,
) -> DataFrame:
    from pyspark.sql import functions as F

    from featurelake.lakehouse.pit import normalize_timestamp_column

    start, end = _utc(start), _utc(end)
    spark = _spark(config)
    # Feast names the source's own columns here (its field_mapping is applied by the caller).
    frame = source_frame(spark, data_source, _repo_path(config), lo=start, hi=end, mapped=False)
    frame = normalize_timestamp_column(frame, ts, naive_timestamps="utc", what=f"source {data_source.name!r}")
    if created and created in frame.columns:
        frame = normalize_timestamp_column(
            frame, created, naive_timestamps="utc", what=f"source {data_source.name!r}"
        )
    cond = F.lit(True)
    if start is not None:
        cond = cond & (F.col(ts) >= F.lit(start))
    if end is not None:
        cond = cond & (F.col(ts) <= F.lit(end))
    columns = list(dict.fromkeys([*keys, *features, ts, *([created] if created else [])]))
    return frame.where(cond).select(*columns)
