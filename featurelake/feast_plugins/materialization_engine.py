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
            result = run(
                settings=self._settings(),
                view=task.feature_view.name,
                actor=self.config.actor,
                start=task.start_time,
                end=task.end_time,
            )
        except Exception as err:  # noqa: BLE001 - Feast raises the job's error itself
            return FeaturelakeMaterializationJob(job_id, error=err)
        return FeaturelakeMaterializationJob(result.run_id, result=result)
