"""Building Spark sessions the way every featurelake job needs them."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_BASE_CONF: dict[str, str] = {
    # toPandas()/collect() return naive times in the session zone: keep it UTC everywhere.
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Filter pushdown into Python data sources is off by default in Spark 4.
    "spark.sql.python.filterPushdown.enabled": "true",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # Jobs print their own progress (per date chunk); Spark's stage bars garble it.
    "spark.ui.showConsoleProgress": "false",
    # Wide feature tables exceed the default 25 fields in plan strings; avoid the warning noise.
    "spark.sql.debug.maxToStringFields": "500",
}


def build_spark_session(
    *, app_name: str = "featurelake", master: str | None = None, conf: Mapping[str, str] | None = None
) -> SparkSession:
    """Create (or get) a Spark session with UTC time and featurelake's data sources registered.

    Args:
        app_name: the Spark application name.
        master: Spark master URL; None keeps what spark-submit set (or ``local[*]``).
        conf: extra Spark configuration, applied after the defaults.

    Returns:
        The active Spark session.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in {**_BASE_CONF, **dict(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
