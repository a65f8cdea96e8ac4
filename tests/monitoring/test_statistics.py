"""Drift statistics and profiles against independent computations (scipy, numpy, pandas).

Tolerance: 1e-9 absolute for PSI, Jensen-Shannon, KS statistics and p-values, counts exact;
means and standard deviations 1e-9 relative; approximate quantiles within one rank in 1,000.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from featurelake.lakehouse.monitoring.drift import jensen_shannon, ks_pvalue, psi
from featurelake.monitors import Drift, drift_problems, monitors_from_definition

TOL = 1e-9


def _psi_oracle(ref: np.ndarray, cur: np.ndarray, eps: float = 1e-4) -> float:
    p = np.maximum(ref / ref.sum(), eps)
    q = np.maximum(cur / cur.sum(), eps)
    return float(((q - p) * np.log(q / p)).sum())


def test_psi_and_js_equal_numpy_and_scipy_on_random_counts() -> None:
    rng = np.random.default_rng(1)
    mismatches = 0
    for _ in range(300):
        k = int(rng.integers(2, 25))
        ref = rng.integers(0, 1000, k)
        cur = rng.integers(0, 1000, k)
        ref[rng.integers(0, k)] = 0  # empty bins happen
        if ref.sum() == 0 or cur.sum() == 0:
            continue
        mismatches += abs(psi(ref.tolist(), cur.tolist()) - _psi_oracle(ref, cur)) > TOL
        mismatches += abs(jensen_shannon(ref.tolist(), cur.tolist()) - jensenshannon(ref, cur, base=2)) > TOL
    assert mismatches == 0


def test_ks_pvalue_equals_scipy_asymptotic() -> None:
    rng = np.random.default_rng(2)
    mismatches = 0
    for _ in range(100):
        a = rng.normal(0, 1, int(rng.integers(20, 400)))
        b = rng.normal(rng.uniform(-0.5, 0.5), 1, int(rng.integers(20, 400)))
        res = ks_2samp(a, b, method="asymp")
        mismatches += abs(ks_pvalue(float(res.statistic), len(a), len(b)) - res.pvalue) > TOL
    assert mismatches == 0


def test_thresholds_out_of_range_are_all_named() -> None:
    with pytest.raises(ValidationError) as err:
        Drift(metric="js", warn=-0.1, fail=1.5)
    text = str(err.value)
    assert "warn=-0.1 is outside [0, 1]" in text and "fail=1.5 is outside [0, 1]" in text
    assert drift_problems("psi", 0.3, 0.2) == ["Drift(psi) warn=0.3 is above fail=0.2; warn must be <= fail"]
    assert drift_problems("psi", 0.1, 0.25) == []


def test_view_spec_monitors_are_part_of_the_definition_and_a_minor_change() -> None:
    from featurelake.spec import Aggregation, AggregationTransform, ViewSpec, classify_change

    def spec(**kw):
        return ViewSpec(
            view="v",
            transform=AggregationTransform(
                source="raw",
                timestamp_column="ts",
                entity_columns={"user_id": "user_id"},
                aggregations=[Aggregation(function="sum", column="amount", window="1d")],
            ),
            **kw,
        )

    plain = spec()
    assert "monitors" not in plain.to_definition()["non_breaking"]  # old definitions keep their hash
    watched = spec(monitors=[Drift(metric="psi", warn=0.1, fail=0.3)], freshness_sla="2d")
    stricter = spec(monitors=[Drift(metric="psi", warn=0.05, fail=0.2)], freshness_sla="2d")
    old, new = watched.to_definition(), stricter.to_definition()
    change = classify_change(old, new)
    assert change.kind == "minor"
    monitors, sla = monitors_from_definition({"spec": {"non_breaking": {"spec": new["non_breaking"]}}})
    assert monitors == (Drift(metric="psi", warn=0.05, fail=0.2),) and sla == timedelta(days=2)
    with pytest.raises(ValidationError) as err:
        spec(monitors=[{"metric": "psi", "warn": 2, "fail": 1}, {"metric": "ks", "warn": 0.1, "fail": 3}])
    assert "warn=2 is above fail=1" in str(err.value) and "fail=3 is outside [0, 1]" in str(err.value)
    with pytest.raises(ValidationError, match="freshness_sla"):
        spec(freshness_sla=timedelta(0))


# --------------------------------------------------------------------------- Spark: profiles and KS


def _random_frame(seed: int, days: int = 3, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(days):
        k = n + int(rng.integers(-50, 50))
        a = rng.normal(i, 2, k)
        a[rng.random(k) < 0.05] = np.nan  # NaN counts as null, as in pandas
        b = np.round(rng.exponential(3, k), 1)  # ties
        c = rng.integers(-5, 50, k).astype("float64")
        c[rng.random(k) < 0.1] = np.nan
        s = rng.choice(["u", "v", "w", "x", "y", "z"], k, p=[0.3, 0.3, 0.2, 0.1, 0.05, 0.05]).astype(object)
        s[rng.random(k) < 0.03] = None
        parts.append(
            pd.DataFrame({"a": a, "b": b, "c": c, "s": s, "event_date": date(2026, 1, 1) + timedelta(days=i)})
        )
    return pd.concat(parts, ignore_index=True)


@pytest.mark.spark
def test_profiles_equal_pandas_and_ks_equals_scipy(spark, tmp_path) -> None:
    from featurelake.lakehouse.monitoring.drift import ks_by_day
    from featurelake.lakehouse.monitoring.profiles import QUANTILES, feature_kinds, profile, reference_bins
    from featurelake.lakehouse.tables import Lakehouse

    lh = Lakehouse(root=str(tmp_path / "lake"))
    pdf = _random_frame(5)
    sdf = spark.createDataFrame(pdf, "a double, b double, c double, s string, event_date date")
    lh.write(sdf, "snap", partition_by=["event_date"])
    df = lh.read(spark, "snap", version=0)  # the same Delta snapshot for both sides
    snapshot = df.toPandas()
    ref_pdf = _random_frame(6, days=2)
    ref = spark.createDataFrame(ref_pdf, "a double, b double, c double, s string, event_date date")
    kinds = feature_kinds(df, ["a", "b", "c", "s"])
    assert kinds == {"a": "numeric", "b": "numeric", "c": "numeric", "s": "categorical"}
    bins = reference_bins(ref, kinds)
    profiles = profile(df, bins)
    mismatches = []
    for p in profiles:
        day = snapshot[snapshot["event_date"] == p.day][p.feature]
        values = day.dropna()
        checks = {"rows": (p.rows, len(day)), "nulls": (p.nulls, int(day.isna().sum()))}
        if p.kind == "numeric":
            arr = values.to_numpy(dtype="float64")
            edges = np.asarray(bins[p.feature].edges)
            expected_counts = np.bincount(np.searchsorted(edges, arr, side="left"), minlength=len(edges) + 1)
            checks["counts"] = (list(p.counts), expected_counts.tolist())
            checks["min"] = (p.min, float(arr.min()))
            checks["max"] = (p.max, float(arr.max()))
            assert abs(p.mean - arr.mean()) <= TOL * max(1.0, abs(arr.mean()))
            assert abs(p.stddev - arr.std(ddof=1)) <= TOL * max(1.0, arr.std(ddof=1))
            srt = np.sort(arr)
            for q, got in zip(QUANTILES, p.quantiles, strict=True):
                rank = np.searchsorted(srt, got, side="right")  # values <= got
                if abs(rank - q * len(arr)) > len(arr) / 1000 + 1 and srt[max(0, rank - 1)] != got:
                    mismatches.append((p.feature, p.day, q, got))
        else:
            cats = bins[p.feature].categories
            vc = values.value_counts()
            expected = [int(vc.get(c, 0)) for c in cats] + [int(values[~values.isin(cats)].size)]
            checks["counts"] = (list(p.counts), expected)
            assert abs(p.distinct - values.nunique()) <= max(1, 0.05 * values.nunique())
        mismatches += [(p.feature, p.day, k, got, want) for k, (got, want) in checks.items() if got != want]
    assert len(profiles) == 3 * 4
    assert mismatches == []

    # KS per day and over the window: the exact statistic from Spark equals scipy's.
    for feature in ("a", "b"):
        got = ks_by_day(ref, df, feature)
        ref_values = ref_pdf[feature].dropna().to_numpy()
        for d in sorted(snapshot["event_date"].unique()):
            cur = snapshot.loc[snapshot["event_date"] == d, feature].dropna().to_numpy()
            want = ks_2samp(ref_values, cur, method="asymp")
            stat, n1, n2 = got[d]
            assert (n1, n2) == (len(ref_values), len(cur))
            assert abs(stat - want.statistic) <= TOL
            assert abs(ks_pvalue(stat, n1, n2) - want.pvalue) <= TOL
        whole = ks_2samp(ref_values, snapshot[feature].dropna().to_numpy(), method="asymp")
        assert abs(got[None][0] - whole.statistic) <= TOL
