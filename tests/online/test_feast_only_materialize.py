"""`FeatureStore.materialize` through featurelake's engine for a view defined only in Feast.

The view has no featurelake spec (it is not in featurelake's registry): the engine must read its
own Delta source through the offline store and write it with featurelake's online writer into
the stack's Redis cluster, where Feast's own reader finds it. Before issue 12 the engine failed
with "feature view ... is not in project".
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from tests.online.helpers import unique_project

pytestmark = [pytest.mark.spark, pytest.mark.redis]

NOW = datetime.now(UTC).replace(microsecond=0)


def test_feast_only_view_is_materialized_from_its_source(spark, redis_nodes, tmp_path: Path) -> None:
    from deltalake import write_deltalake
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.data_format import DeltaFormat
    from feast.types import Float64, Int64

    from featurelake.feast_plugins.offline_writes import microsecond_table

    rows = pd.DataFrame(
        {
            "driver_id": [1, 1, 2],
            "trips": [10, 11, 20],
            "rate": [0.5, 0.6, 0.9],
            "ts": pd.to_datetime(
                [NOW - timedelta(hours=5), NOW - timedelta(hours=1), NOW - timedelta(hours=2)]
            ),
        }
    ).assign(ts=lambda d: d["ts"].dt.tz_convert("UTC"))
    write_deltalake(
        str(tmp_path / "drivers"), microsecond_table(pa.Table.from_pandas(rows, preserve_index=False))
    )

    project = unique_project()
    cfg = tmp_path / "featurelake.yaml"  # an empty featurelake registry: the view is Feast's only
    cfg.write_text(yaml.safe_dump({"project": project, "home": str(tmp_path / "home")}))
    config = RepoConfig(
        project=project,
        provider="local",
        registry=str(tmp_path / "registry.db"),
        offline_store={"type": "featurelake.feast_plugins.offline_store.FeaturelakeOfflineStore"},
        online_store={
            "type": "redis",
            "redis_type": "redis_cluster",
            "connection_string": ",".join(redis_nodes[:3]),
        },
        batch_engine={
            "type": "featurelake.feast_plugins.materialization_engine.FeaturelakeSparkEngine",
            "featurelake_config": str(cfg),
        },
        entity_key_serialization_version=3,
        repo_path=str(tmp_path),
    )
    store = FeatureStore(config=config)
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    fv = FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=timedelta(days=1),
        schema=[Field(name="trips", dtype=Int64), Field(name="rate", dtype=Float64)],
        source=FileSource(
            name="drivers", path=str(tmp_path / "drivers"), file_format=DeltaFormat(), timestamp_field="ts"
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.apply([driver, fv])
        store.materialize(start_date=NOW - timedelta(days=1), end_date=NOW)
        got = store.get_online_features(
            features=["driver_stats:trips", "driver_stats:rate"],
            entity_rows=[{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}],
        ).to_dict()
    assert got["trips"] == [11, 20, None]
    assert got["rate"] == [0.6, 0.9, None]
