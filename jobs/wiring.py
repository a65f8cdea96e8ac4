"""Small factories that build library objects from settings (the composition root's glue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurelake.config.settings import Settings

if TYPE_CHECKING:
    from featurelake.lakehouse import Lakehouse
    from featurelake.registry import Registry


def lakehouse_from_settings(settings: Settings) -> Lakehouse:
    """The :class:`lakehouse.Lakehouse` for ``settings.storage_root`` with its storage options.

    Raises:
        ConfigError: a credential environment variable named in the settings is not set.
    """
    from featurelake.lakehouse import Lakehouse

    return Lakehouse(settings.storage_root, settings.storage.storage_options())


def open_job_registry(settings: Settings, *, create: bool = False) -> Registry:
    """The registry a job records its runs in, with OpenLineage run events when they are configured.

    The one place run events are wired: with ``openlineage.transport`` set, an
    :class:`~featurelake.jobs.lineage_events.OpenLineageEmitter` listens to the registry's
    ``start_run`` / ``finish_run`` (START, COMPLETE, FAIL). It never fails the job.

    Args:
        settings: the registry URL and the ``openlineage`` settings.
        create: a SQLite registry that does not exist yet may be created (the demo's).

    Raises:
        ServiceUnavailableError: the registry database did not answer.
        RegistryError: no registry at the configured URL, or its migrations are behind.
    """
    from featurelake.registry import open_registry

    registry = open_registry(settings.registry_url, create=create)
    if settings.openlineage.transport is not None:
        from featurelake.jobs.lineage_events import OpenLineageEmitter

        registry.add_run_listener(OpenLineageEmitter(settings))
    return registry


def submit_master(settings: Settings) -> str | None:
    """The Spark master a spark-submit entry point should ask for.

    Under spark-submit its master wins (``--master``, else spark-submit's default ``local[*]``),
    so None is returned; run as a plain script, the settings' ``spark.master``.
    """
    import os

    from pyspark import SparkConf, SparkContext

    if "PYSPARK_GATEWAY_PORT" in os.environ:  # launched by spark-submit: its JVM holds the conf
        SparkContext._ensure_initialized()
        if SparkConf().contains("spark.master"):
            return None
    return settings.spark.master
