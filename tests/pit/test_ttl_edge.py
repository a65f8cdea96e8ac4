"""A feature row exactly TTL old, stamped at a UTC midnight, is read (issue: the TTL-edge row).

Rows are partitioned by the UTC date of ``event_timestamp - 1 µs`` (the spec's rule), so a row
stamped at midnight sits in the partition of the day before. Every reader derives the partitions
to read with :func:`featurelake.spec.partitions_to_read`; these tests check that function against
the rule itself, then the issue's example through every path that reads a view for entity rows.
"""

from __future__ import annotations

import random
import warnings
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from featurelake.spec import event_date_of, partitions_to_read

# The issue's example: entity row at 2024-01-04 00:00 UTC, view TTL 2 days, the only feature
# row at 2024-01-02 00:00 (exactly TTL old: the inclusive edge; its partition is 2024-01-01).
ENTITY_TS = datetime(2024, 1, 4, tzinfo=UTC)
FEATURE_TS = datetime(2024, 1, 2, tzinfo=UTC)
TTL = timedelta(days=2)
USER = 7


def test_partitions_to_read_hold_every_usable_row_by_the_spec_rule():
    """For random entity ranges and TTLs, every instant a lookup may use lies in a partition read,
    and the range is tight: its ends are the partitions of the earliest and latest usable rows."""
    rng = random.Random(12)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for _ in range(2000):
        # Whole days, whole hours and odd microseconds: midnights are the interesting case.
        unit = rng.choice([timedelta(days=1), timedelta(hours=1), timedelta(microseconds=1)])
        earliest = (
            base + unit * rng.randrange(0, 400)
            if unit != timedelta(microseconds=1)
            else base + timedelta(microseconds=rng.randrange(0, 10**12))
        )
        latest = earliest + rng.choice(
            [timedelta(0), timedelta(days=1), timedelta(hours=rng.randrange(1, 100))]
        )
        ttl = rng.choice([timedelta(days=rng.randrange(1, 5)), timedelta(hours=rng.randrange(1, 50))])
        first, last = partitions_to_read(earliest, latest, ttl)
        lo = earliest - ttl
        assert (first, last) == (event_date_of(lo), event_date_of(latest))
        for t in (lo, latest, lo + (latest - lo) * rng.random()):
            assert first <= event_date_of(t) <= last
        # Plain-date tables (a Feast source partitioned by ts.date()): also covered.
        first_p, last_p = partitions_to_read(earliest, latest, ttl, also_plain_dates=True)
        for t in (lo, latest):
            assert first_p <= t.date() <= last_p and first_p <= event_date_of(t) <= last_p


def test_partitions_to_read_the_issue_example_and_no_ttl():
    assert partitions_to_read(ENTITY_TS, ENTITY_TS, TTL) == (date(2024, 1, 1), date(2024, 1, 3))
    assert event_date_of(FEATURE_TS) == date(2024, 1, 1)
    assert partitions_to_read(ENTITY_TS, ENTITY_TS, None) == (date.min, date(2024, 1, 3))
    assert partitions_to_read(ENTITY_TS, ENTITY_TS, timedelta(0))[0] == date.min
    assert partitions_to_read(ENTITY_TS, ENTITY_TS, TTL, also_plain_dates=True) == (
        date(2024, 1, 1),
        date(2024, 1, 4),
    )


def _entities() -> pd.DataFrame:
    return pd.DataFrame({"row_id": [1, 2], "user_id": [USER, USER], "merchant_id": ["a", "a"]}).assign(
        # row 2 is 1 µs later: the feature row is then older than the TTL and must be null.
        event_timestamp=pd.to_datetime([ENTITY_TS, ENTITY_TS + timedelta(microseconds=1)], utc=True)
    )


@pytest.fixture
def edge_world(world):
    world.write_users([(USER, FEATURE_TS, FEATURE_TS, 70.0, 7)])
    return world


def _spend(frame) -> dict[int, float | None]:
    return {r["row_id"]: r["spend"] for r in frame.collect()}


@pytest.mark.spark
def test_get_historical_features_returns_the_edge_row_without_warning(edge_world):
    from featurelake.jobs.historical import get_historical_features

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NoFeatureDataWarning here would be the bug
        frame = get_historical_features(
            _entities(),
            features=["user_stats:spend"],
            spark=edge_world.spark,
            lakehouse=edge_world.lakehouse,
            registry=edge_world.registry,
            project="pit",
        )
        got = _spend(frame)
    assert got == {1: 70.0, 2: None}


@pytest.mark.spark
def test_point_in_time_join_and_training_set_agree_on_the_edge(edge_world):
    from featurelake.jobs.training_set import create_training_set
    from featurelake.lakehouse.pit import ViewRequest, point_in_time_join

    w = edge_world
    ent = w.spark.createDataFrame(_entities())
    whole = w.lakehouse.read(w.spark, w.user_table)  # every partition: no pruning
    joined = point_in_time_join(
        ent,
        [ViewRequest("user_stats", ("user_id",), ("spend",), whole.drop("event_date"), ttl=TTL)],
    )
    assert _spend(joined) == {1: 70.0, 2: None}

    w.lakehouse.write(ent, "edge_labels")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        created = create_training_set(
            spark=w.spark,
            lakehouse=w.lakehouse,
            registry=w.registry,
            project="pit",
            name="edge",
            service="fraud:v1",  # user_stats:spend
            entities="edge_labels",
            actor="tester",
        )
    snapshot = w.lakehouse.read(w.spark, created.table, version=created.delta_version)
    assert _spend(snapshot) == {1: 70.0, 2: None}


@pytest.mark.spark
def test_feast_offline_store_returns_the_edge_row(edge_world, tmp_path):
    from test_feast_interop import feast_store

    store = feast_store(
        edge_world, tmp_path, {"type": "featurelake.feast_plugins.offline_store.FeaturelakeOfflineStore"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = store.get_historical_features(entity_df=_entities(), features=["user_stats:spend"]).to_df()
    got = dict(zip(df["row_id"], df["spend"], strict=True))
    assert got[1] == 70.0 and pd.isna(got[2])
