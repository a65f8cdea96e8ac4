"""featurelake's ``FULL_REPO_CONFIGS_MODULE`` for Feast's own universal tests.

Feast's test suite (``../shared/feast-tests/sdk/python``, not part of this project) builds its
universal test environments from the module named by ``FULL_REPO_CONFIGS_MODULE``: this one. It
gives Feast data-source creators that write the test data as Delta tables (one unpartitioned,
one partitioned by ``event_date`` exactly as featurelake's spec partitions: the UTC date of
``timestamp - 1 µs``) read by featurelake's offline store, and the local stack's Redis cluster as
the online store. ``test_feast_suite.py`` runs Feast's files against it in a subprocess.

Two of Feast's defaults name its own file store directly rather than through
``AVAILABLE_OFFLINE_STORES``: tests marked ``universal_offline_stores(only=["file"])`` and tests
with no offline-store marker (the materialization files). Both are pointed at the unpartitioned
Delta creator below, so every test the harness runs exercises featurelake's offline store.

Environment (set by the harness): ``FEATURELAKE_CONFORMANCE_REDIS`` (comma-separated
``host:port`` of the Redis cluster nodes), ``FEATURELAKE_CONFORMANCE_SPARK_MASTER`` (default
``local[2]``). Materialization runs on Feast's ``local`` engine, which reads through our offline
store's ``pull_latest_from_table_or_query``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from typing import Any

import pandas as pd
import pyarrow as pa
from feast import FileSource
from feast.data_format import DeltaFormat
from feast.data_source import DataSource
from feast.feature_logging import LoggingDestination
from feast.infra.offline_stores.file_source import FileLoggingDestination, SavedDatasetFileStorage
from feast.repo_config import FeastConfigBaseModel

from featurelake.feast_plugins.offline_store import FeaturelakeOfflineStoreConfig

# Feast's base class (importable: the harness runs with Feast's tests as the rootdir).
from tests.universal.feature_repos.universal.data_source_creator import DataSourceCreator  # noqa: I001


def _arrow(df: pd.DataFrame) -> pa.Table:
    """The frame as Arrow with microsecond timestamps (Spark 4 cannot read nanosecond parquet)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type):
            field = field.with_type(pa.timestamp("us", tz=field.type.tz))
        fields.append(field)
    return table.cast(pa.schema(fields), safe=False)


def _timestamp_column(df: pd.DataFrame, timestamp_field: str | None, mapping: dict[str, str]) -> str | None:
    if timestamp_field and timestamp_field in df.columns:
        return timestamp_field
    source_names = {v: k for k, v in mapping.items()}
    column = source_names.get(timestamp_field or "")
    return column if column in df.columns else None


class FeaturelakeDeltaDataSourceCreator(DataSourceCreator):
    """Feast test data as unpartitioned Delta tables, read by featurelake's offline store."""

    partitioned = False

    def __init__(self, project_name: str, *args: Any, **kwargs: Any):
        super().__init__(project_name)
        self.root = tempfile.mkdtemp(prefix=f"fl_{project_name[:20]}_")

    def _write(self, df: pd.DataFrame, path: str, ts_column: str | None) -> None:
        from deltalake import write_deltalake

        table = _arrow(df)
        if self.partitioned and ts_column is not None:
            ts = pd.to_datetime(df[ts_column], utc=True)
            event_date = (ts - pd.Timedelta(microseconds=1)).dt.date
            table = table.append_column("event_date", pa.array(event_date, pa.date32()))
            write_deltalake(path, table, partition_by=["event_date"])
        else:
            write_deltalake(path, table)

    def create_data_source(
        self,
        df: pd.DataFrame,
        destination_name: str,
        created_timestamp_column: str | None = "created_ts",
        field_mapping: dict[str, str] | None = None,
        timestamp_field: str | None = "ts",
    ) -> DataSource:
        mapping = field_mapping or {"ts_1": "ts"}
        path = os.path.join(self.root, f"{destination_name}_{uuid.uuid4().hex[:8]}")
        self._write(df, path, _timestamp_column(df, timestamp_field, mapping))
        return FileSource(
            file_format=DeltaFormat(),
            path=path,
            timestamp_field=timestamp_field,
            created_timestamp_column=created_timestamp_column,
            field_mapping=mapping,
        )

    def create_saved_dataset_destination(self) -> SavedDatasetFileStorage:
        path = os.path.join(self.root, f"saved_{uuid.uuid4().hex[:8]}")
        return SavedDatasetFileStorage(path=path, file_format=DeltaFormat(), s3_endpoint_override=None)

    def create_logged_features_destination(self) -> LoggingDestination:
        return FileLoggingDestination(path=os.path.join(self.root, f"logged_{uuid.uuid4().hex[:8]}"))

    def create_offline_store_config(self) -> FeastConfigBaseModel:
        return FeaturelakeOfflineStoreConfig(
            spark_master=os.environ.get("FEATURELAKE_CONFORMANCE_SPARK_MASTER", "local[2]"),
            spark_conf={"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"},
        )

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class FeaturelakePartitionedDeltaDataSourceCreator(FeaturelakeDeltaDataSourceCreator):
    """The same, partitioned by ``event_date`` by featurelake's rule (UTC date of ``ts - 1 µs``)."""

    partitioned = True


def _redis_config() -> dict[str, Any]:
    nodes = os.environ.get("FEATURELAKE_CONFORMANCE_REDIS")
    if not nodes:
        raise RuntimeError(
            "FEATURELAKE_CONFORMANCE_REDIS is not set: run Feast's suite through tests/feast_conformance/test_feast_suite.py"
        )
    return {"type": "redis", "redis_type": "redis_cluster", "connection_string": nodes}


AVAILABLE_OFFLINE_STORES = [
    ("local", FeaturelakeDeltaDataSourceCreator),
    ("local", FeaturelakePartitionedDeltaDataSourceCreator),
]

AVAILABLE_ONLINE_STORES = {"redis": (_redis_config(), None)}


def _point_feast_defaults_at_ours() -> None:
    """Tests marked ``only=["file"]`` and unmarked ones use Feast's file store by name: use ours."""
    repo_configuration = sys.modules.get("tests.universal.feature_repos.repo_configuration")
    if repo_configuration is not None:  # being imported by it: its table is already built
        repo_configuration.OFFLINE_STORE_TO_PROVIDER_CONFIG["file"] = (
            "local",
            FeaturelakeDeltaDataSourceCreator,
        )
    from tests.universal.feature_repos.universal.data_sources import file as feast_file_sources

    feast_file_sources.FileDataSourceCreator = FeaturelakeDeltaDataSourceCreator  # type: ignore[misc]


_point_feast_defaults_at_ours()
