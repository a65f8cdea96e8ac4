"""Small factories that build library objects from settings (the composition root's glue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurelake.config.settings import Settings

if TYPE_CHECKING:
    from featurelake.lakehouse import Lakehouse


def lakehouse_from_settings(settings: Settings) -> Lakehouse:
    """The :class:`lakehouse.Lakehouse` for ``settings.storage_root`` with its storage options.

    Raises:
        ConfigError: a credential environment variable named in the settings is not set.
    """
    from featurelake.lakehouse import Lakehouse

    return Lakehouse(settings.storage_root, settings.storage.storage_options())


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
