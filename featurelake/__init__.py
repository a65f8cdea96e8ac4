"""featurelake: a lakehouse feature store on Delta, Spark, PostgreSQL and Redis.

The public API, importable from the top (``from featurelake import Lakehouse``)::

    Lakehouse                 Delta tables read and written by Spark        featurelake.lakehouse.tables
    get_historical_features   point-in-time join into a training frame      featurelake.jobs.historical
    create_training_set       a registered, pinned, reproducible set        featurelake.jobs.training_set
    read_training_set         read one by name as Arrow, pandas or Spark    featurelake.jobs.training_set
    OnlineFeatureClient       the online SDK over the Redis cluster         featurelake.jobs.online
    load_catalog, connect     build an OnlineFeatureClient from settings    featurelake.jobs.online
    open_registry             the registry (PostgreSQL or SQLite)           featurelake.registry
    load_settings, Settings   featurelake.yaml and its environment          featurelake.config.settings
    ViewSpec, Aggregation, SparkTransform, NotNull, ValueRange, AllowedValues, UniqueKeys, RowCount
                              the definition spec used in feature_repo/     featurelake.spec
    FeatureStoreError         the base of every error featurelake raises    featurelake.errors

Each name is imported on first use (PEP 562), so ``import featurelake`` imports no Spark, Feast
or SQLAlchemy and starts no JVM. Everything else lives in its room: ``featurelake.lakehouse``
(data plane), ``featurelake.registry`` (control plane), ``featurelake.jobs`` (spark-submit
entry points and their wiring), ``featurelake.cli``, ``featurelake.server``,
``featurelake.feast_plugins``, ``featurelake.config``, ``featurelake.localstack``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_PUBLIC: dict[str, str] = {
    "Lakehouse": "featurelake.lakehouse.tables",
    "get_historical_features": "featurelake.jobs.historical",
    "create_training_set": "featurelake.jobs.training_set",
    "read_training_set": "featurelake.jobs.training_set",
    "OnlineFeatureClient": "featurelake.jobs.online",
    "load_catalog": "featurelake.jobs.online",
    "connect": "featurelake.jobs.online",
    "open_registry": "featurelake.registry",
    "load_settings": "featurelake.config.settings",
    "Settings": "featurelake.config.settings",
    "ViewSpec": "featurelake.spec",
    "Aggregation": "featurelake.spec",
    "SparkTransform": "featurelake.spec",
    "NotNull": "featurelake.spec",
    "ValueRange": "featurelake.spec",
    "AllowedValues": "featurelake.spec",
    "UniqueKeys": "featurelake.spec",
    "RowCount": "featurelake.spec",
    "FeatureStoreError": "featurelake.errors",
}

__all__ = [
    "Aggregation",
    "AllowedValues",
    "FeatureStoreError",
    "Lakehouse",
    "NotNull",
    "OnlineFeatureClient",
    "RowCount",
    "Settings",
    "SparkTransform",
    "UniqueKeys",
    "ValueRange",
    "ViewSpec",
    "connect",
    "create_training_set",
    "get_historical_features",
    "load_catalog",
    "load_settings",
    "open_registry",
    "read_training_set",
]  # the keys of _PUBLIC (tests/test_layers.py checks they agree)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'featurelake' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from featurelake.config.settings import Settings, load_settings
    from featurelake.errors import FeatureStoreError
    from featurelake.jobs.historical import get_historical_features
    from featurelake.jobs.online import OnlineFeatureClient, connect, load_catalog
    from featurelake.jobs.training_set import create_training_set, read_training_set
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import open_registry
    from featurelake.spec import (
        Aggregation,
        AllowedValues,
        NotNull,
        RowCount,
        SparkTransform,
        UniqueKeys,
        ValueRange,
        ViewSpec,
    )
