"""Window aggregations against an independent pandas brute force on random data.

The oracle loops over every (entity, period) and filters the raw events with the rule
``end(P) - window <= ts < end(P)``; it shares no code with the Spark engine.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from featurelake.errors import DefinitionError
from featurelake.lakehouse.aggregations import (
    WindowAggregation,
    check_aggregations,
    compute_window_aggregations,
    source_date_range,
)

D = timedelta(days=1)
H = timedelta(hours=1)


def _random_events(*, seed: int, n: int, first: datetime, days: int, period: timedelta) -> pd.DataFrame:
    rng = random.Random(seed)
    users = ["u1", "u2", "u3", "u4", "u5"]
    rows = []
    for _ in range(n):
        user = rng.choice(users[:4])
        kind = rng.random()
        if kind < 0.15:  # exactly on a period boundary
            ts = first + period * rng.randrange(int(days * D / period))
        elif kind < 0.2:  # one microsecond before a boundary
            ts = first + period * rng.randrange(1, int(days * D / period)) - timedelta(microseconds=1)
        else:
            ts = first + timedelta(seconds=rng.randrange(days * 86400))
        amount = None if rng.random() < 0.1 else round(rng.uniform(-5, 100), 2)
        merchant = None if rng.random() < 0.05 else rng.choice(["m1", "m2", "m3", "m4", "m5", "m6"])
        rows.append((user, ts, amount, merchant, rng.random() < 0.3))
    # several events at the same timestamp (one with a null amount)
    same = first + timedelta(days=3, hours=5)
    rows += [("u1", same, 7.0, "m1", True), ("u1", same, 9.5, "m2", False), ("u1", same, None, "m3", False)]
    # a lone entity with a long gap: empty small windows inside the large one, then nothing
    rows += [("u5", first + timedelta(days=1, hours=2), 3.0, "m1", False)]
    rows += [("u5", first + timedelta(days=days - 2), 4.0, "m2", True)]
    # a "late" row: arrives last in the input, belongs to the start of history
    rows.append(("u2", first + timedelta(minutes=1), 1.25, "m6", False))
    df = pd.DataFrame(rows, columns=["user_id", "ts", "amount", "merchant", "flag"])
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # out of order


def _oracle(
    events: pd.DataFrame, aggs: list[WindowAggregation], *, start: date, end: date, period: timedelta
) -> pd.DataFrame:
    events = events.copy()
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    first_end = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + period
    stop = datetime.combine(end + D, datetime.min.time(), tzinfo=UTC)
    biggest = max(a.window for a in aggs)
    out = []
    for user, ev in events.groupby("user_id"):
        t_end = first_end
        while t_end <= stop:
            if ((ev.ts >= t_end - biggest) & (ev.ts < t_end)).any():
                row = {"user_id": user, "event_timestamp": t_end.replace(tzinfo=None)}
                for a in aggs:
                    w = ev[(ev.ts >= t_end - a.window) & (ev.ts < t_end)]
                    vals = w[a.column].dropna() if a.column else None
                    if a.function == "count":
                        row[a.name] = len(w) if a.column is None else len(vals)
                    elif a.function == "sum":
                        row[a.name] = vals.astype(float).sum() if len(vals) else None
                    elif a.function == "mean":
                        row[a.name] = vals.astype(float).mean() if len(vals) else None
                    elif a.function == "min":
                        row[a.name] = vals.min() if len(vals) else None
                    elif a.function == "max":
                        row[a.name] = vals.max() if len(vals) else None
                    elif a.function in ("count_distinct", "approx_count_distinct"):
                        row[a.name] = len(set(vals))
                    elif a.function == "last":
                        nn = w[w[a.column].notna()]
                        if len(nn):
                            latest = nn[nn.ts == nn.ts.max()]
                            row[a.name] = latest[a.column].max()
                        else:
                            row[a.name] = None
                out.append(row)
            t_end += period
    return pd.DataFrame(out)


def _same(got: pd.DataFrame, want: pd.DataFrame, aggs: list[WindowAggregation]) -> None:
    key = ["user_id", "event_timestamp"]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    assert len(want) > 0
    assert list(got[key].itertuples(index=False)) == list(want[key].itertuples(index=False))
    for a in aggs:
        for i, (g, w) in enumerate(zip(got[a.name], want[a.name], strict=True)):
            g_null = g is None or (isinstance(g, float) and math.isnan(g))
            w_null = w is None or (isinstance(w, float) and math.isnan(w))
            assert g_null == w_null, f"{a.name} row {i} ({got.loc[i, key].tolist()}): got {g!r}, want {w!r}"
            if not g_null:
                if isinstance(w, float):
                    assert g == pytest.approx(w, rel=1e-9, abs=1e-9), f"{a.name} row {i}: got {g}, want {w}"
                else:
                    assert g == w, f"{a.name} row {i} ({got.loc[i, key].tolist()}): got {g!r}, want {w!r}"


AGGS_DAILY = [
    WindowAggregation("n_1d", "count", None, D),
    WindowAggregation("n_7d", "count", None, 7 * D),
    WindowAggregation("n_amount_7d", "count", "amount", 7 * D),
    WindowAggregation("sum_1d", "sum", "amount", D),
    WindowAggregation("sum_7d", "sum", "amount", 7 * D),
    WindowAggregation("mean_3d", "mean", "amount", 3 * D),
    WindowAggregation("min_7d", "min", "amount", 7 * D),
    WindowAggregation("max_1d", "max", "amount", D),
    WindowAggregation("merchants_7d", "count_distinct", "merchant", 7 * D),
    # a handful of values: the HLL sketch is in its exact (coupon list) mode
    WindowAggregation("approx_merchants_7d", "approx_count_distinct", "merchant", 7 * D),
    WindowAggregation("approx_amounts_3d", "approx_count_distinct", "amount", 3 * D),
    WindowAggregation("last_amount_7d", "last", "amount", 7 * D),
    WindowAggregation("last_merchant_1d", "last", "merchant", D),
    WindowAggregation("flag_rate_7d", "mean", "flag", 7 * D),
    WindowAggregation("flag_sum_1d", "sum", "flag", D),
]

AGGS_HOURLY = [
    WindowAggregation("n_1h", "count", None, H),
    WindowAggregation("n_6h", "count", None, 6 * H),
    WindowAggregation("sum_1h", "sum", "amount", H),
    WindowAggregation("mean_24h", "mean", "amount", D),
    WindowAggregation("max_6h", "max", "amount", 6 * H),
    WindowAggregation("min_1h", "min", "amount", H),
    WindowAggregation("merchants_6h", "count_distinct", "merchant", 6 * H),
    WindowAggregation("last_amount_6h", "last", "amount", 6 * H),
]


@pytest.mark.spark
@pytest.mark.parametrize("seed", [1, 2])
def test_daily_matches_brute_force(spark, seed):
    first = datetime(2024, 2, 27, tzinfo=UTC)  # crosses a leap day
    events = _random_events(seed=seed, n=400, first=first, days=20, period=D)
    start, end = date(2024, 3, 3), date(2024, 3, 18)
    sdf = spark.createDataFrame(events.assign(ts=events.ts.dt.tz_localize(None)))
    got = compute_window_aggregations(
        sdf, keys=["user_id"], timestamp_column="ts", aggregations=AGGS_DAILY, start=start, end=end
    ).toPandas()
    _same(got, _oracle(events, AGGS_DAILY, start=start, end=end, period=D), AGGS_DAILY)


@pytest.mark.spark
def test_hourly_matches_brute_force(spark):
    first = datetime(2024, 3, 1, tzinfo=UTC)
    events = _random_events(seed=3, n=300, first=first, days=4, period=H)
    start, end = date(2024, 3, 2), date(2024, 3, 3)
    sdf = spark.createDataFrame(events.assign(ts=events.ts.dt.tz_localize(None)))
    got = compute_window_aggregations(
        sdf,
        keys=["user_id"],
        timestamp_column="ts",
        aggregations=AGGS_HOURLY,
        start=start,
        end=end,
        granularity="hourly",
    ).toPandas()
    _same(got, _oracle(events, AGGS_HOURLY, start=start, end=end, period=H), AGGS_HOURLY)


@pytest.mark.spark
def test_boundaries_and_empty_windows_by_hand(spark):
    """Hand-checked: an event exactly at midnight belongs to the day it starts, not the one it ends."""
    rows = [
        ("a", datetime(2024, 1, 1, 0, 0), 10.0),  # counts for period 2024-01-01 (ends 01-02 00:00)
        ("a", datetime(2024, 1, 1, 23, 59, 59, 999999), 5.0),
        ("a", datetime(2024, 1, 2, 0, 0), None),  # null amount at the boundary, next day
    ]
    sdf = spark.createDataFrame(pd.DataFrame(rows, columns=["user_id", "ts", "amount"]))
    aggs = [
        WindowAggregation("n_1d", "count", None, D),
        WindowAggregation("sum_1d", "sum", "amount", D),
        WindowAggregation("n_3d", "count", None, 3 * D),
    ]
    got = compute_window_aggregations(
        sdf,
        keys=["user_id"],
        timestamp_column="ts",
        aggregations=aggs,
        start=date(2024, 1, 1),
        end=date(2024, 1, 7),
    ).toPandas()
    got = got.sort_values("event_timestamp").reset_index(drop=True)
    assert [t.date() for t in got.event_timestamp] == [date(2024, 1, d) for d in (2, 3, 4, 5)]
    assert got.n_1d.tolist() == [2, 1, 0, 0]
    assert got.n_3d.tolist() == [2, 3, 3, 1]
    assert got.sum_1d.iloc[0] == 15.0
    assert got.sum_1d.iloc[1:].isna().all()  # only a null amount, then nothing: null, not 0


def test_bad_aggregations_list_every_problem():
    with pytest.raises(DefinitionError) as err:
        check_aggregations(
            [
                WindowAggregation("x", "median", "amount", D),  # type: ignore[arg-type]
                WindowAggregation("x", "sum", None, D),
                WindowAggregation("y", "count", None, timedelta(hours=5)),
            ],
            granularity="daily",
            view="v",
        )
    text = str(err.value)
    assert "'median'" in text and "declared twice" in text and "needs a column" in text and "5:00:00" in text
    assert len(err.value.problems) == 4


def test_source_date_range_reads_only_the_windows():
    # periods of days 10..12 end at 11 00:00 .. 13 00:00; the first 7d window starts on the 4th
    assert source_date_range(
        start=date(2024, 3, 10), end=date(2024, 3, 12), window=7 * D, granularity="daily"
    ) == (
        date(2024, 3, 4),
        date(2024, 3, 12),
    )
    assert source_date_range(
        start=date(2024, 3, 10), end=date(2024, 3, 12), window=D, granularity="hourly"
    ) == (
        date(2024, 3, 9),
        date(2024, 3, 12),
    )


@pytest.mark.parametrize("granularity", ["daily", "hourly"])
@pytest.mark.parametrize("window", ["1d", "7d", "30d"])
def test_source_range_agrees_with_the_spec(granularity, window):
    from featurelake.spec import Aggregation, AggregationTransform

    spec = AggregationTransform(
        source="raw",
        timestamp_column="ts",
        entity_columns={"user_id": "user_id"},
        aggregations=[Aggregation(function="count", window=window)],
        granularity=granularity,
    )
    start, end = date(2024, 3, 10), date(2024, 3, 12)
    lo, hi = spec.required_event_range(start, end)  # [lo, hi) of event timestamps
    got = source_date_range(start=start, end=end, window=spec.max_window, granularity=granularity)
    assert got == (lo.date(), (hi - timedelta(microseconds=1)).date())


@pytest.mark.spark
def test_batch_and_stream_refuse_a_missing_source_column_naming_it(spark):
    from featurelake.lakehouse.streaming.aggregations import stream_window_aggregations

    events = spark.createDataFrame(
        pd.DataFrame({"user_id": [1], "ts": [datetime(2024, 1, 1, tzinfo=UTC)], "amt": [1.0]})
    )
    aggs = [WindowAggregation("amount_1d", "sum", "amount", D)]
    with pytest.raises(DefinitionError, match=r"source columns \['amount'\] do not exist.*'amt'"):
        compute_window_aggregations(
            events,
            keys=["user_id"],
            timestamp_column="ts",
            aggregations=aggs,
            start=date(2024, 1, 1),
            end=date(2024, 1, 2),
            view="v",
        )
    with pytest.raises(DefinitionError, match=r"source columns \['amount'\] do not exist.*'amt'"):
        stream_window_aggregations(
            events,
            keys=["user_id"],
            timestamp_column="ts",
            aggregations=aggs,
            granularity="daily",
            watermark=timedelta(minutes=10),
            view="v",
        )
