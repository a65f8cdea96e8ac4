"""The point-in-time join against a brute-force pandas oracle on random data: zero mismatches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from featurelake.lakehouse.pit import ViewRequest, point_in_time_join

pytestmark = pytest.mark.spark

START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def random_history(
    rng: np.random.Generator, key: str, keys: np.ndarray, n: int, feature: str
) -> pd.DataFrame:
    # Times on a coarse 10-minute grid over 10 days so exact-equal timestamps are common.
    event = pd.to_datetime(START) + pd.to_timedelta(rng.integers(0, 1440, n) * 10, unit="m")
    lag = pd.to_timedelta(rng.choice([0, 0, 5, 60, 60 * 24 * 3], n), unit="m")  # some late backfills
    created = pd.Series(event + lag)
    created[rng.random(n) < 0.1] = pd.NaT
    values = rng.normal(size=n).round(3)
    values[rng.random(n) < 0.05] = np.nan
    df = pd.DataFrame(
        {key: rng.choice(keys, n), "event_timestamp": event, "created_timestamp": created, feature: values}
    )
    # Rows equal on (key, event, created) are broken by a value hash the oracle does not model.
    return df.drop_duplicates([key, "event_timestamp", "created_timestamp"]).reset_index(drop=True)


def oracle(
    entities: pd.DataFrame, history: pd.DataFrame, key: str, feature: str, ttl: timedelta, mode: str
) -> pd.Series:
    """For each entity row, scan the whole history of its key: the obviously correct O(n*m) answer."""
    by_key = {k: g for k, g in history.groupby(key)}
    out = []
    for k, ts in zip(entities[key], entities["event_timestamp"], strict=True):
        g = by_key.get(k)
        if g is None:
            out.append(np.nan)
            continue
        ok = (g["event_timestamp"] <= ts) & (g["event_timestamp"] >= ts - ttl)
        if mode == "as_known_at":
            ok &= g["created_timestamp"].isna() | (g["created_timestamp"] <= ts)
        c = g[ok]
        if c.empty:
            out.append(np.nan)
            continue
        # latest event time, then latest created time (null created ranks lowest)
        c = c.assign(_c=c["created_timestamp"].fillna(pd.Timestamp.min.tz_localize("UTC")))
        best = c.sort_values(["event_timestamp", "_c"]).iloc[-1]
        out.append(best[feature])
    return pd.Series(out, index=entities.index, dtype="float64")


def to_spark(spark, pdf: pd.DataFrame):
    pdf = pdf.copy()
    for col in pdf.columns:
        if isinstance(pdf[col].dtype, pd.DatetimeTZDtype):
            pdf[col] = pdf[col].astype("datetime64[us, UTC]")
    return spark.createDataFrame(pdf)


@pytest.mark.parametrize("mode", ["event_time", "as_known_at"])
def test_random_data_matches_brute_force_oracle(spark, mode):
    rng = np.random.default_rng(20260105 if mode == "event_time" else 777)
    users = np.arange(150)
    merchants = np.array([f"m{i:03d}" for i in range(40)])
    user_hist = random_history(rng, "user_id", users[:130], 4000, "spend")  # 20 users have no history
    merch_hist = random_history(rng, "merchant_id", merchants, 2500, "risk")
    n = 3000
    ent = pd.DataFrame(
        {
            "row_id": np.arange(n),
            "user_id": rng.choice(users, n),
            "merchant_id": rng.choice(merchants, n),
            "event_timestamp": pd.to_datetime(START)
            + pd.to_timedelta(rng.integers(0, 1600, n) * 10, unit="m"),
        }
    )
    ent = pd.concat(
        [ent, ent.iloc[:200].assign(row_id=np.arange(n, n + 200))], ignore_index=True
    )  # duplicates
    user_ttl, merch_ttl = timedelta(hours=36), timedelta(days=3)

    views = [
        ViewRequest(
            name="u",
            join_keys=("user_id",),
            features=("spend",),
            frame=to_spark(spark, user_hist),
            ttl=user_ttl,
        ),
        ViewRequest(
            name="m",
            join_keys=("merchant_id",),
            features=("risk",),
            frame=to_spark(spark, merch_hist),
            ttl=merch_ttl,
        ),
    ]
    got = point_in_time_join(to_spark(spark, ent), views, mode=mode, now=NOW).toPandas()

    assert len(got) == len(ent)
    assert sorted(got["row_id"]) == sorted(ent["row_id"])  # every row exactly once
    got = got.set_index("row_id").loc[ent["row_id"]].reset_index()
    want_spend = oracle(ent, user_hist, "user_id", "spend", user_ttl, mode)
    want_risk = oracle(ent, merch_hist, "merchant_id", "risk", merch_ttl, mode)

    def mismatches(a: pd.Series, b: pd.Series) -> int:
        a, b = a.astype("float64").to_numpy(), b.astype("float64").to_numpy()
        return int((~((a == b) | (np.isnan(a) & np.isnan(b)))).sum())

    assert mismatches(got["spend"], want_spend) == 0
    assert mismatches(got["risk"], want_risk) == 0
    # The data must exercise every outcome, or zero mismatches would prove little.
    assert want_spend.notna().sum() > 500 and want_spend.isna().sum() > 100
    assert want_risk.notna().sum() > 500 and want_risk.isna().sum() > 20
