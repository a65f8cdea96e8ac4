"""A Feast offline store that runs featurelake's point-in-time join on Delta tables.

Configure it in ``feature_store.yaml``::

    offline_store:
      type: featurelake.feast_plugins.offline_store.FeaturelakeOfflineStore
      mode: event_time            # or as_known_at
      spark_master: local[*]      # optional; default: the active Spark session, else local[*]

Then Feast's own ``FeatureStore.get_historical_features(entity_df, features=[...])`` reads each
feature view's source (a ``FileSource`` with ``DeltaFormat`` whose path is a Delta table) as a
Delta snapshot through the lakehouse (honouring the transaction log, unlike Feast's file store,
which reads the folder as plain parquet), only the date partitions the entity rows can use,
and joins with :func:`featurelake.lakehouse.pit.point_in_time_join` (every entity row back, nulls where no
value is fresh, unlike Feast's dask join). Feast treats naive entity timestamps as UTC, so this
store does too. ``to_df()`` returns tz-aware UTC timestamps, like Feast's file store.
"""

from __future__ import annotations

import os
from datetime import datetime
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
    """A lazily evaluated Spark DataFrame; ``to_df``/``to_arrow`` run it, ``to_spark_df`` hands it over."""

    def __init__(
        self, frame: DataFrame, *, full_feature_names: bool, metadata: RetrievalMetadata | None = None
    ):
        self._frame = frame
        self._full_feature_names = full_feature_names
        self._metadata = metadata

    def to_spark_df(self) -> DataFrame:
        """The result as a Spark DataFrame (not yet computed)."""
        return self._frame

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        from pyspark.sql.types import TimestampType

        pdf = self._frame.toPandas()
        # toPandas() gives naive times in the session zone (UTC): make them explicit, as Feast does.
        for field in self._frame.schema.fields:
            if isinstance(field.dataType, TimestampType):
                pdf[field.name] = pd.to_datetime(pdf[field.name]).dt.tz_localize("UTC")
        return pdf

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        return pa.Table.from_pandas(self._to_df_internal(timeout), preserve_index=False)

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return []

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata


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


def _table_location(source: DataSource, repo_path: Path | None) -> tuple[Lakehouse, str]:
    """The Lakehouse (root = the table's parent) and table name of a Delta FileSource."""
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


def _feature_frame(
    spark: SparkSession, fv: FeatureView, features: list[str], bounds: Any, repo_path: Path | None
) -> ViewRequest:
    source = fv.batch_source
    lakehouse, table = _table_location(source, repo_path)
    key_map = fv.projection.join_key_map or {}
    keys = [c.name for c in fv.entity_columns]
    # A Feast source may be partitioned by the plain UTC date as well as by the spec's rule.
    date_range = partitions_to_read(bounds.min_ts, bounds.max_ts, fv.ttl, also_plain_dates=True)
    frame = lakehouse.read(spark, table, date_range=date_range)
    renames = {source.timestamp_field: EVENT_TS}
    if source.created_timestamp_column:
        renames[source.created_timestamp_column] = CREATED_TS
    cols = [
        *keys,
        source.timestamp_field,
        *([source.created_timestamp_column] if source.created_timestamp_column else []),
        *features,
    ]
    frame = frame.select(*[frame[c].alias(key_map.get(c, renames.get(c, c))) for c in cols])
    return ViewRequest(
        name=fv.projection.name_to_use(),
        join_keys=tuple(key_map.get(k, k) for k in keys),
        features=tuple(features),
        frame=frame,
        ttl=fv.ttl,
    )


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
        # Feast reads naive entity timestamps as UTC; so does this store.
        return entity_frame_from_pandas(
            spark, entity_df, timestamp_column=column, naive_timestamps="utc"
        ), column
    raise DefinitionError(
        f"entity_df must be a pandas DataFrame, a Spark DataFrame or a SQL query, got {type(entity_df).__name__}"
    )


class FeaturelakeOfflineStore(OfflineStore):
    """Feast offline store backed by featurelake's Delta tables and point-in-time join."""

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
        if entity_df is None:
            raise DefinitionError(
                "featurelake's offline store needs an entity_df (entity rows with timestamps)"
            )
        spark = _spark(config)
        entities, ts_col = _entity_frame(spark, entity_df)
        from featurelake.lakehouse.pit import normalize_timestamp_column

        entities = normalize_timestamp_column(entities, ts_col, naive_timestamps="utc")
        bounds = entity_bounds(entities, timestamp_column=ts_col)
        wanted: dict[str, list[str]] = {}
        for ref in feature_refs:
            view, _, feature = ref.partition(":")
            wanted.setdefault(view, []).append(feature)
        repo_path = Path(config.repo_path) if config.repo_path else None
        views = [
            _feature_frame(spark, fv, wanted[fv.projection.name_to_use()], bounds, repo_path)
            for fv in feature_views
            if fv.projection.name_to_use() in wanted
        ]
        frame = point_in_time_join(
            entities,
            views,
            timestamp_column=ts_col,
            mode=config.offline_store.mode,
            full_feature_names=full_feature_names,
            bounds=bounds,
        )
        keys = sorted({k for v in views for k in v.join_keys})
        metadata = RetrievalMetadata(
            features=list(feature_refs),
            keys=keys,
            min_event_timestamp=bounds.min_ts,
            max_event_timestamp=bounds.max_ts,
        )
        return FeaturelakeRetrievalJob(frame, full_feature_names=full_feature_names, metadata=metadata)

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
        """The latest row per entity key with ``start_date <= timestamp <= end_date`` (for materialization)."""
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
            [F.col(created_timestamp_column).desc()] if created_timestamp_column else []
        )
        w = Window.partitionBy(*join_key_columns).orderBy(*order)
        latest = frame.withColumn("_fl_rn", F.row_number().over(w)).where(F.col("_fl_rn") == 1).drop("_fl_rn")
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
        """Every row with ``start_date <= timestamp <= end_date``."""
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

    spark = _spark(config)
    lakehouse, table = _table_location(data_source, Path(config.repo_path) if config.repo_path else None)
    date_range = None
    if start is not None and end is not None:
        # Rows in [start, end] are what an entity row at `end` with a TTL of `end - start` can use.
        date_range = partitions_to_read(end, end, end - start, also_plain_dates=True)
    frame = lakehouse.read(spark, table, date_range=date_range)
    cond = F.lit(True)
    if start is not None:
        cond = cond & (F.col(ts) >= F.lit(start))
    if end is not None:
        cond = cond & (F.col(ts) <= F.lit(end))
    return frame.where(cond).select(*keys, *features, ts, *([created] if created else []))
