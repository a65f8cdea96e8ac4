"""Hand-built point-in-time cases, one rule each (see lakehouse/pit.py for the rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from featurelake.lakehouse.pit import (
    EntityDataError,
    ViewRequest,
    entity_frame_from_pandas,
    point_in_time_join,
)

pytestmark = pytest.mark.spark

ENTITY_SCHEMA = "row_id int, user_id long, merchant_id string, event_timestamp timestamp"
USER_SCHEMA = "user_id long, event_timestamp timestamp, created_timestamp timestamp, spend double"
MERCHANT_SCHEMA = "merchant_id string, event_timestamp timestamp, created_timestamp timestamp, risk double"
NOW = datetime(2026, 1, 31, tzinfo=UTC)


def t(day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, micro, tzinfo=UTC)


def users(spark, rows, ttl=timedelta(days=2), features=("spend",)):
    return ViewRequest(
        name="user_stats",
        join_keys=("user_id",),
        features=features,
        frame=spark.createDataFrame(rows, USER_SCHEMA),
        ttl=ttl,
    )


def merchants(spark, rows, ttl=timedelta(days=2)):
    return ViewRequest(
        name="merchant_risk",
        join_keys=("merchant_id",),
        features=("risk",),
        frame=spark.createDataFrame(rows, MERCHANT_SCHEMA),
        ttl=ttl,
    )


def entities(spark, rows):
    return spark.createDataFrame(rows, ENTITY_SCHEMA)


def run(entity_df, views, **kw):
    kw.setdefault("now", NOW)
    out = point_in_time_join(entity_df, views, **kw)
    return {r["row_id"]: r.asDict() for r in out.collect()}, out.count()


def test_exact_equal_timestamp_is_visible_and_one_microsecond_later_is_not(spark):
    ent = entities(spark, [(1, 1, "m", t(10, 12)), (2, 2, "m", t(10, 12))])
    view = users(spark, [(1, t(10, 12), t(10, 12), 5.0), (2, t(10, 12, micro=1), t(10, 12, micro=1), 7.0)])
    got, _ = run(ent, [view])
    assert got[1]["spend"] == 5.0
    assert got[2]["spend"] is None  # the only row is 1 µs in the future


def test_latest_row_wins_and_future_rows_never_leak(spark):
    ent = entities(spark, [(1, 1, "m", t(10))])
    view = users(
        spark, [(1, t(8), None, 1.0), (1, t(9), None, 2.0), (1, t(11), None, 3.0)], ttl=timedelta(days=5)
    )
    got, _ = run(ent, [view])
    assert got[1]["spend"] == 2.0


def test_ttl_edge_is_inclusive(spark):
    ttl = timedelta(days=2)
    ent = entities(spark, [(1, 1, "m", t(10)), (2, 2, "m", t(10))])
    view = users(spark, [(1, t(8), None, 1.0), (2, t(8) - timedelta(microseconds=1), None, 2.0)], ttl=ttl)
    got, _ = run(ent, [view])
    assert got[1]["spend"] == 1.0  # exactly ttl old: still fresh
    assert got[2]["spend"] is None  # 1 µs older than ttl: stale, and no row replaces it


def test_no_ttl_means_no_age_limit(spark):
    ent = entities(spark, [(1, 1, "m", t(30))])
    for ttl in (None, timedelta(0)):
        got, _ = run(ent, [users(spark, [(1, t(1), None, 1.0)], ttl=ttl)])
        assert got[1]["spend"] == 1.0


def test_event_time_ties_go_to_latest_created_and_null_created_loses(spark):
    ent = entities(spark, [(1, 1, "m", t(10)), (2, 2, "m", t(10))])
    view = users(
        spark,
        [
            (1, t(9), t(9, 1), 1.0),
            (1, t(9), t(9, 3), 3.0),
            (1, t(9), t(9, 2), 2.0),
            (2, t(9), None, 9.0),
            (2, t(9), t(9, 1), 4.0),
        ],
    )
    got, _ = run(ent, [view])
    assert got[1]["spend"] == 3.0
    assert got[2]["spend"] == 4.0


def test_full_ties_resolve_the_same_way_every_run(spark):
    ent = entities(spark, [(1, 1, "m", t(10))])
    rows = [(1, t(9), t(9), float(v)) for v in range(20)]
    first = {run(ent, [users(spark, rows)])[0][1]["spend"] for _ in range(2)}
    reversed_rows = {run(ent, [users(spark, list(reversed(rows)))])[0][1]["spend"]}
    assert len(first) == 1 and first == reversed_rows


def test_as_known_at_excludes_values_written_after_the_entity_time(spark):
    ent = entities(spark, [(1, 1, "m", t(10)), (2, 1, "m", t(13))])
    # day 9's value was backfilled on day 12; day 5's value was written on time.
    view = users(spark, [(1, t(5), t(5), 1.0), (1, t(9), t(12), 2.0)], ttl=timedelta(days=10))
    event_time, _ = run(ent, [view])
    known, _ = run(ent, [view], mode="as_known_at")
    assert event_time[1]["spend"] == 2.0  # Feast's rule: the backfilled value leaks
    assert known[1]["spend"] == 1.0  # as known at day 10: only day 5's value existed
    assert known[2]["spend"] == 2.0  # by day 13 the backfill is known


def test_as_known_at_created_edge_is_inclusive_and_null_created_means_event_time(spark):
    ent = entities(spark, [(1, 1, "m", t(10)), (2, 2, "m", t(10))])
    view = users(spark, [(1, t(9), t(10), 1.0), (2, t(9), None, 2.0)])
    known, _ = run(ent, [view], mode="as_known_at")
    assert known[1]["spend"] == 1.0
    assert known[2]["spend"] == 2.0


def test_duplicate_entity_rows_keep_their_multiplicity(spark):
    ent = entities(spark, [(1, 1, "m", t(10)), (1, 1, "m", t(10)), (1, 1, "m", t(10))])
    view = users(spark, [(1, t(9), None, 1.0)])
    out = point_in_time_join(ent, [view], now=NOW)
    rows = out.collect()
    assert len(rows) == 3 and {r["spend"] for r in rows} == {1.0}


def test_entity_with_no_history_gets_nulls_and_is_not_dropped(spark):
    ent = entities(spark, [(1, 1, "m", t(10)), (2, 99, "nope", t(10))])
    got, count = run(ent, [users(spark, [(1, t(9), None, 1.0)]), merchants(spark, [("m", t(9), None, 0.5)])])
    assert count == 2
    assert got[2]["spend"] is None and got[2]["risk"] is None
    assert got[1]["spend"] == 1.0 and got[1]["risk"] == 0.5


def test_latest_row_with_null_value_is_returned_as_null(spark):
    # The latest row says "no value" (e.g. no transactions): an older value must not show through.
    ent = entities(spark, [(1, 1, "m", t(10))])
    got, _ = run(ent, [users(spark, [(1, t(8), None, 1.0), (1, t(9), None, None)])])
    assert got[1]["spend"] is None


def test_several_views_with_different_keys_and_full_names(spark):
    ent = entities(spark, [(1, 1, "a", t(10)), (2, 1, "b", t(12)), (3, 2, "a", t(12))])
    uv = users(spark, [(1, t(9), None, 10.0), (1, t(11), None, 11.0), (2, t(12), None, 20.0)])
    mv = merchants(spark, [("a", t(9), None, 0.1), ("a", t(11, 23), None, 0.2), ("b", t(2), None, 0.9)])
    got, count = run(ent, [uv, mv], full_feature_names=True)
    assert count == 3
    assert {k: (v["user_stats__spend"], v["merchant_risk__risk"]) for k, v in got.items()} == {
        1: (10.0, 0.1),
        2: (11.0, None),  # merchant b's only row is 10 days old, beyond the 2-day ttl
        3: (20.0, 0.2),
    }


def test_entity_columns_pass_through_unchanged(spark):
    ent = entities(spark, [(7, 1, "m", t(10))])
    out = point_in_time_join(ent, [users(spark, [(1, t(9), None, 1.0)])], now=NOW)
    assert out.columns == ["row_id", "user_id", "merchant_id", "event_timestamp", "spend"]
    row = out.collect()[0]
    assert (row["row_id"], row["user_id"], row["merchant_id"]) == (7, 1, "m")
    assert row["event_timestamp"].replace(tzinfo=UTC) == t(10)


def test_integer_key_widths_are_aligned(spark):
    ent = spark.createDataFrame([(1, 1, t(10))], "row_id int, user_id int, event_timestamp timestamp")
    got, _ = run(ent, [users(spark, [(1, t(9), None, 1.0)])])
    assert got[1]["spend"] == 1.0


def test_plan_has_no_join_so_rows_are_never_multiplied_by_history(spark):
    ent = entities(spark, [(1, 1, "m", t(10))])
    out = point_in_time_join(ent, [users(spark, [(1, t(9), None, 1.0)]), merchants(spark, [])], now=NOW)
    plan = out._jdf.queryExecution().executedPlan().toString()
    assert "Join" not in plan and "Window" in plan


# ----- bad input -------------------------------------------------------------------------------


def test_missing_timestamp_and_keys_are_all_named(spark):
    ent = spark.createDataFrame([(1, t(10))], "row_id int, ts timestamp")
    with pytest.raises(EntityDataError) as err:
        point_in_time_join(ent, [users(spark, []), merchants(spark, [])], now=NOW)
    text = str(err.value)
    assert "'event_timestamp'" in text and "'user_id'" in text and "'merchant_id'" in text
    assert len(err.value.problems) == 3


def test_naive_timestamps_are_rejected_unless_declared_utc(spark):
    ent = spark.createDataFrame(
        [(1, 1, "m", datetime(2026, 1, 10))],
        "row_id int, user_id long, merchant_id string, event_timestamp timestamp_ntz",
    )
    view = users(spark, [(1, t(9), None, 1.0)])
    with pytest.raises(EntityDataError, match="naive"):
        point_in_time_join(ent, [view], now=NOW)
    got, _ = run(ent, [view], naive_timestamps="utc")
    assert got[1]["spend"] == 1.0


def test_far_future_and_null_timestamps_are_refused(spark):
    ent = entities(
        spark, [(1, 1, "m", t(10)), (2, 1, "m", datetime(2126, 1, 1, tzinfo=UTC)), (3, 1, "m", None)]
    )
    with pytest.raises(EntityDataError) as err:
        point_in_time_join(ent, [users(spark, [])], now=NOW)
    assert "2126-01-01" in str(err.value) and "null" in str(err.value)


def test_output_name_clash_says_to_use_full_feature_names(spark):
    ent = spark.createDataFrame(
        [(1, 1, t(10), 0.0)], "row_id int, user_id long, event_timestamp timestamp, spend double"
    )
    with pytest.raises(EntityDataError, match="full_feature_names=True"):
        point_in_time_join(ent, [users(spark, [])], now=NOW)


def test_incomparable_key_types_are_refused(spark):
    ent = spark.createDataFrame([(1, "1", t(10))], "row_id int, user_id string, event_timestamp timestamp")
    with pytest.raises(EntityDataError, match="user_id"):
        point_in_time_join(ent, [users(spark, [])], now=NOW)


def test_pandas_entities_aware_converted_naive_rejected_or_utc(spark):
    aware = pd.DataFrame(
        {
            "row_id": [1],
            "user_id": [1],
            "merchant_id": ["m"],
            "event_timestamp": [pd.Timestamp("2026-01-10 01:00", tz="Europe/Paris")],
        }
    )
    sdf = entity_frame_from_pandas(spark, aware)
    got, _ = run(sdf, [users(spark, [(1, t(10, 0), None, 1.0), (1, t(10, 0, 0, 1), None, 2.0)])])
    assert got[1]["spend"] == 1.0  # 01:00 Paris is 00:00 UTC: the row 1 s later is in the future
    naive = aware.assign(event_timestamp=[pd.Timestamp("2026-01-10 00:00")])
    with pytest.raises(EntityDataError, match="naive"):
        entity_frame_from_pandas(spark, naive)
    sdf = entity_frame_from_pandas(spark, naive, naive_timestamps="utc")
    assert sdf.collect()[0]["event_timestamp"] == datetime(2026, 1, 10)
