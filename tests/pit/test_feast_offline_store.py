"""featurelake's Feast offline store on what Feast's own sources and users give it.

One Feast repo on Delta tables written by delta-rs the way other tools write them (naive
timestamps, a ``field_mapping``, no partitions), and one partitioned by the spec's rule. Each test
names the gap of issue 12 it closes; on the plugin before that issue every one failed.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest

pytestmark = pytest.mark.spark

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)  # naive, as Feast's tests
STORE = "featurelake.feast_plugins.offline_store.FeaturelakeOfflineStore"


def _write(path, df: pd.DataFrame, *, partitioned: bool = False) -> None:
    from deltalake import write_deltalake

    from featurelake.feast_plugins.offline_writes import event_dates, microsecond_table

    table = microsecond_table(pa.Table.from_pandas(df, preserve_index=False))
    if partitioned:
        table = table.append_column("event_date", event_dates(table.column("ts")))
    write_deltalake(str(path), table, partition_by=["event_date"] if partitioned else None)


@pytest.fixture
def repo(spark, tmp_path):
    """A Feast repo: driver stats (naive ts, `id` mapped to driver_id) and an on-demand view."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.data_format import DeltaFormat
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.types import Float64, Int64

    stats = pd.DataFrame(
        {
            "id": [1, 1, 2],
            "trips": [10, 11, 20],
            "rate": [0.5, 0.6, 0.9],
            "ts": [NOW - timedelta(days=2), NOW - timedelta(hours=1), NOW - timedelta(days=1)],
            "created": [NOW, NOW, NOW],
        }
    )
    _write(tmp_path / "driver_stats", stats)
    _write(tmp_path / "driver_stats_by_day", stats, partitioned=True)

    def source(name):
        return FileSource(
            name=name,
            path=str(tmp_path / name),
            file_format=DeltaFormat(),
            timestamp_field="ts",
            created_timestamp_column="created",
            field_mapping={"id": "driver_id"},
        )

    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    schema = [Field(name="trips", dtype=Int64), Field(name="rate", dtype=Float64)]
    views = [
        FeatureView(name=name, entities=[driver], ttl=timedelta(days=3), source=source(name), schema=schema)
        for name in ("driver_stats", "driver_stats_by_day")
    ]

    @on_demand_feature_view(sources=[views[0]], schema=[Field(name="rate_pct", dtype=Float64)], mode="pandas")
    def rate_pct(inputs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"rate_pct": inputs["rate"] * 100})

    config = RepoConfig(
        project="flfeast",
        provider="local",
        registry=str(tmp_path / "registry.db"),
        offline_store={"type": STORE},
        online_store={"type": "sqlite", "path": str(tmp_path / "online.db")},
        entity_key_serialization_version=3,
        repo_path=str(tmp_path),
    )
    store = FeatureStore(config=config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.apply([driver, *views, rate_pct])
    return store


def _get(store, entity_df, features, **kw) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return store.get_historical_features(entity_df=entity_df, features=features, **kw).to_df()


def _entities(times) -> pd.DataFrame:
    return pd.DataFrame({"driver_id": [1, 2][: len(times)], "event_timestamp": times})


def test_field_mapping_naive_timestamps_and_unpartitioned_table_with_ttl(repo):
    got = _get(repo, _entities([NOW, NOW]), ["driver_stats:trips", "driver_stats:rate"])
    assert got.sort_values("driver_id")["trips"].tolist() == [11, 20]
    assert str(got["event_timestamp"].dt.tz) == "UTC"


def test_partitioned_table_reads_the_same(repo):
    got = _get(repo, _entities([NOW, NOW]), ["driver_stats_by_day:trips"])
    assert got.sort_values("driver_id")["trips"].tolist() == [11, 20]


def test_on_demand_features_are_computed_and_only_requested_outputs_returned(repo):
    got = _get(repo, _entities([NOW]), ["rate_pct:rate_pct", "driver_stats:trips"])
    assert got["rate_pct"].tolist() == pytest.approx([60.0])
    assert got["trips"].tolist() == [11]


def test_mixed_time_zones_in_an_object_column(repo):
    times = pd.Series(
        [pd.Timestamp(NOW, tz="UTC"), pd.Timestamp(NOW, tz="UTC").tz_convert("America/New_York")],
        dtype=object,
    )
    got = _get(repo, _entities(times), ["driver_stats:trips"])
    assert got.sort_values("driver_id")["trips"].tolist() == [11, 20]


def test_entity_times_in_the_future_are_accepted(repo):
    later = NOW + timedelta(days=2, hours=1)
    got = _get(repo, _entities([later, later]), ["driver_stats:trips"])
    # Driver 1's last row (1 hour before NOW) is exactly the 3-day TTL old: fresh; driver 2's
    # (a day before NOW) is older.
    assert got.sort_values("driver_id")["trips"].tolist()[0] == 11
    assert pd.isna(got.sort_values("driver_id")["trips"].tolist()[1])


def test_saved_dataset_persist_and_read_back(repo, tmp_path):
    from feast.data_format import DeltaFormat
    from feast.errors import SavedDatasetLocationAlreadyExists
    from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

    from featurelake.errors import ConfigError

    storage = SavedDatasetFileStorage(path=str(tmp_path / "saved"), file_format=DeltaFormat())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        job = repo.get_historical_features(entity_df=_entities([NOW, NOW]), features=["driver_stats:trips"])
        repo.create_saved_dataset(from_=job, name="ds", storage=storage)
        with pytest.raises(SavedDatasetLocationAlreadyExists):
            job.persist(storage)
        back = repo.get_saved_dataset("ds").to_df()
    assert sorted(back["trips"].tolist()) == [11, 20]
    with pytest.raises(ConfigError, match="to_spark_df"):
        job.to_sql()


def test_write_to_offline_store_appends_to_the_delta_source(repo):
    rows = pd.DataFrame(
        {
            "id": [2],  # the source's column name (Feast checks the source's columns)
            "trips": [21],
            "rate": [0.95],
            "ts": [pd.Timestamp(NOW - timedelta(minutes=30), tz="UTC")],
            "created": [pd.Timestamp(NOW, tz="UTC")],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo.write_to_offline_store("driver_stats_by_day", rows, allow_registry_cache=False)
        with pytest.raises(ValueError, match="missing_expected_columns"):
            repo.write_to_offline_store(
                "driver_stats_by_day", rows.drop(columns=["rate"]), allow_registry_cache=False
            )
    got = _get(repo, _entities([NOW, NOW]), ["driver_stats_by_day:trips"])
    assert got.sort_values("driver_id")["trips"].tolist() == [11, 21]


def test_pull_latest_and_pull_all(repo):
    from featurelake.feast_plugins.offline_store import FeaturelakeOfflineStore

    fv = repo.get_feature_view("driver_stats")
    # pull_* name the source's own columns (before its field_mapping id -> driver_id).
    args = (repo.config, fv.batch_source, ["id"], ["trips"], "ts", "created")
    start, end = datetime.now(UTC) - timedelta(days=1, hours=12), datetime.now(UTC) + timedelta(hours=1)
    latest = FeaturelakeOfflineStore.pull_latest_from_table_or_query(*args, start, end).to_df()
    assert sorted(zip(latest["id"], latest["trips"], strict=True)) == [(1, 11), (2, 20)]
    every = FeaturelakeOfflineStore.pull_all_from_table_or_query(
        *args, start_date=start, end_date=end
    ).to_df()
    assert sorted(every["trips"].tolist()) == [11, 20]  # the 2-day-old row is outside the window
