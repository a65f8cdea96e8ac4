"""A Feast batch materialization engine that runs featurelake's Spark materializer.

Put this in ``feature_store.yaml`` and ``feast materialize`` / ``feast materialize-incremental``
(and ``FeatureStore.materialize``) run :func:`featurelake.jobs.materialize.run` for each view: the
registry-checked, partition-pruned, newer-wins Spark job, recorded as a featurelake run::

    batch_engine:
      type: featurelake.feast_plugins.materialization_engine.FeaturelakeSparkEngine
      featurelake_config: ../featurelake.yaml   # optional; default: $FEATURELAKE_CONFIG / ./featurelake.yaml
      spark_master: local[*]                    # optional; default: featurelake's spark.master

The project and the whole Redis connection (nodes, ``ssl``, ``password``, ``username``,
``ssl_ca_certs``) are taken from Feast's own config (``project``, ``online_store.connection_string``),
so the values land exactly where Feast's readers look, over the same TLS and AUTH. When
featurelake.yaml also sets ``online.ssl``, ``ssl_ca_file``, ``password_env`` or ``username_env``,
they must agree with the connection string, or the job fails with one ConfigError listing each
difference (see :mod:`featurelake.config.redis_connection`). The key TTL and replica acks stay featurelake's.

A view defined only in Feast (``feast apply`` without a featurelake spec, so not in featurelake's
registry) is materialized from its own batch source: the offline store's
``pull_latest_from_table_or_query`` over the window (featurelake's offline store hands over the
Spark DataFrame), then featurelake's Spark online writer (newer-wins, Feast's layout); Feast's
progress bar advances once per view with the rows written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from feast.infra.common.materialization_job import (
    MaterializationJob,
    MaterializationJobStatus,
    MaterializationTask,
)
from feast.infra.compute_engines.base import ComputeEngine
from feast.repo_config import FeastConfigBaseModel

from featurelake.errors import ConfigError


class FeaturelakeSparkEngineConfig(FeastConfigBaseModel):
    """Options of the featurelake engine in ``feature_store.yaml``."""

    type: Literal["featurelake.feast_plugins.materialization_engine.FeaturelakeSparkEngine"] = (
        "featurelake.feast_plugins.materialization_engine.FeaturelakeSparkEngine"
    )
    featurelake_config: str | None = None
    spark_master: str | None = None
    actor: str = "feast"


class FeaturelakeMaterializationJob(MaterializationJob):
    """A finished (or failed) run of the featurelake materializer."""

    def __init__(self, job_id: str, error: BaseException | None = None, result: Any = None):
        super().__init__()
        self._job_id = job_id
        self._error = error
        self.result = result

    def status(self) -> MaterializationJobStatus:
        return MaterializationJobStatus.ERROR if self._error else MaterializationJobStatus.SUCCEEDED

    def error(self) -> BaseException | None:
        return self._error

    def should_be_retried(self) -> bool:
        return False

    def job_id(self) -> str:
        return self._job_id

    def url(self) -> str | None:
        return None


def _online_from_feast(online_store: Any, online: Any) -> Any:
    """featurelake's online settings from Feast's ``online_store`` (checked against ``online``)."""
    import os

    from featurelake.config.redis_connection import (
        expand_connection_string,
        online_settings_from_feast,
        parse_connection_string,
    )

    conn = getattr(online_store, "connection_string", None)
    if getattr(online_store, "type", None) != "redis" or not conn:
        raise ConfigError(
            "the featurelake materialization engine writes to a Redis cluster; set online_store: {type: redis, "
            "redis_type: redis_cluster, connection_string: host:port,...} in feature_store.yaml"
        )
    where = "online_store.connection_string in feature_store.yaml"
    text = expand_connection_string(conn, online=online, source=where, environ=os.environ)
    return online_settings_from_feast(parse_connection_string(text, source=where), online, source=where)


class FeaturelakeSparkEngine(ComputeEngine):
    """Feast ``ComputeEngine`` whose materialization is featurelake's Spark job."""

    def __init__(self, *, repo_config: Any, offline_store: Any, online_store: Any, **kwargs: Any):
        super().__init__(repo_config=repo_config, offline_store=offline_store, online_store=online_store)
        cfg = repo_config.batch_engine_config
        self.config = (
            FeaturelakeSparkEngineConfig(**cfg) if isinstance(cfg, dict) else FeaturelakeSparkEngineConfig()
        )

    def update(
        self,
        project: str,
        views_to_delete: Sequence[Any],
        views_to_keep: Sequence[Any],
        entities_to_delete: Sequence[Any],
        entities_to_keep: Sequence[Any],
    ) -> None:
        """Nothing to provision: jobs run on the configured Spark master."""

    def teardown_infra(self, project: str, fvs: Sequence[Any], entities: Sequence[Any]) -> None:
        """Nothing to tear down."""

    def _settings(self) -> Any:
        from featurelake.config.settings import load_settings

        settings = load_settings(self.config.featurelake_config)
        online = _online_from_feast(self.repo_config.online_store, settings.online)
        spark = settings.spark
        if self.config.spark_master:
            spark = spark.model_copy(update={"master": self.config.spark_master})
        return settings.model_copy(
            update={"project": self.repo_config.project, "online": online, "spark": spark}
        )

    def _materialize_one(self, registry: Any, task: MaterializationTask, **kwargs: Any) -> MaterializationJob:
        from featurelake.jobs.materialize import run

        job_id = f"{task.feature_view.name}-{uuid.uuid4().hex[:8]}"
        try:
            settings = self._settings()
            if not _in_featurelake_registry(settings, task.feature_view.name):
                return self._materialize_feast_view(task, settings, job_id)
            result = run(
                settings=settings,
                view=task.feature_view.name,
                actor=self.config.actor,
                start=task.start_time,
                end=task.end_time,
            )
        except Exception as err:  # noqa: BLE001 - Feast raises the job's error itself
            return FeaturelakeMaterializationJob(job_id, error=err)
        return FeaturelakeMaterializationJob(result.run_id, result=result)

    def _materialize_feast_view(
        self, task: MaterializationTask, settings: Any, job_id: str
    ) -> MaterializationJob:
        """A view defined only in Feast (no featurelake spec): its source's latest rows in the
        window, read by the offline store, written by featurelake's Spark online writer."""
        from pyspark.sql import functions as F

        from featurelake.jobs.materialize import redis_target
        from featurelake.jobs.online import online_view_from_feast
        from featurelake.lakehouse.online.spark_writer import write_online

        fv = task.feature_view
        source = fv.batch_source
        keys = [c.name for c in fv.entity_columns]
        features = [f.name for f in fv.features]
        # pull_* take the source's own column names; the view's are its field_mapping's targets.
        mapping = source.field_mapping or {}
        back = {dst: src for src, dst in mapping.items()}
        job = self.offline_store.pull_latest_from_table_or_query(
            config=self.repo_config,
            data_source=source,
            join_key_columns=[back.get(k, k) for k in keys],
            feature_name_columns=[back.get(f, f) for f in features],
            timestamp_field=back.get(source.timestamp_field, source.timestamp_field),
            created_timestamp_column=back.get(
                source.created_timestamp_column, source.created_timestamp_column
            )
            if source.created_timestamp_column
            else None,
            start_date=task.start_time,
            end_date=task.end_time,
        )
        if hasattr(job, "to_spark_df"):
            frame = job.to_spark_df()
        else:  # another offline store: its rows, handed to Spark
            from featurelake.lakehouse.spark import build_spark_session

            spark = build_spark_session(
                app_name="featurelake-feast-materialize", master=settings.spark.master
            )
            frame = spark.createDataFrame(job.to_df())
        for src, dst in mapping.items():
            if src in frame.columns and src != dst:
                frame = frame.withColumnRenamed(src, dst)
        frame = frame.withColumnRenamed(source.timestamp_field, "event_timestamp")
        frame = frame.select(*keys, F.col("event_timestamp"), *features)
        online_view = online_view_from_feast(fv)
        bar = task.tqdm_builder(1) if task.tqdm_builder else None
        stats = write_online(frame, view=online_view, target=redis_target(settings))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(written=stats.written, skipped_older=stats.skipped_older)
            bar.close()
        return FeaturelakeMaterializationJob(job_id, result=stats)


def _in_featurelake_registry(settings: Any, view: str) -> bool:
    """True if featurelake's registry defines ``view`` (it then has a spec and a feature table)."""
    from featurelake.errors import RegistryNotFoundError
    from featurelake.registry import open_registry

    try:
        registry = open_registry(settings.registry_url, create=False)
    except RegistryNotFoundError:  # a Feast-only deployment: no featurelake registry, no featurelake view
        return False
    try:
        return any(v.name == view for v in registry.list_views(settings.project, include_removed=True))
    finally:
        registry.dispose()
