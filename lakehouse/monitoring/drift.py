"""Drift statistics between a reference and a detection window.

From profiles (no data read): PSI on the reference's bins, Jensen-Shannon distance on the
reference's categories, the null-rate change and the mean shift in reference standard
deviations. From the rows themselves, in Spark: the exact two-sample Kolmogorov-Smirnov
statistic per day (:func:`ks_by_day`), with its asymptotic p-value from
``scipy.stats.kstwo`` (what ``scipy.stats.ks_2samp(method="asymp")`` returns).

Float tolerance: every statistic is computed in float64; tests compare with scipy/numpy
within 1e-9 (absolute).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from featurelake.lakehouse.monitoring.profiles import DAY_COLUMN, Profile

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: Empty buckets get this share before PSI's logarithm (the usual smoothing).
PSI_EPSILON = 1e-4


def _shares(counts: Sequence[int]) -> np.ndarray:
    arr = np.asarray(counts, dtype=np.float64)
    total = arr.sum()
    return arr / total if total > 0 else np.zeros_like(arr)


def psi(reference: Sequence[int], current: Sequence[int], *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of two count vectors on the same bins.

    ``sum((c - r) * ln(c / r))`` over bins, shares clipped below at ``epsilon``.

    Raises:
        ValueError: the vectors differ in length.
    """
    if len(reference) != len(current):
        raise ValueError(f"PSI needs counts on the same bins ({len(reference)} vs {len(current)})")
    r = np.clip(_shares(reference), epsilon, None)
    c = np.clip(_shares(current), epsilon, None)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(reference: Sequence[int], current: Sequence[int]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two count vectors on the same buckets.

    Raises:
        ValueError: the vectors differ in length.
    """
    if len(reference) != len(current):
        raise ValueError(
            f"Jensen-Shannon needs counts on the same buckets ({len(reference)} vs {len(current)})"
        )
    p, q = _shares(reference), _shares(current)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


def null_rate_change(reference: Profile, current: Profile) -> float:
    """``|current null rate - reference null rate|``."""
    return abs(current.null_rate - reference.null_rate)


def mean_shift(reference: Profile, current: Profile) -> float | None:
    """``|current mean - reference mean| / reference stddev`` (None when undefined)."""
    if reference.mean is None or current.mean is None or not reference.stddev:
        return None
    return abs(current.mean - reference.mean) / reference.stddev


def ks_pvalue(statistic: float, n1: int, n2: int) -> float:
    """The asymptotic two-sided p-value of a two-sample KS statistic (scipy's ``kstwo``).

    The same value as ``scipy.stats.ks_2samp(a, b, method="asymp").pvalue``.
    """
    from scipy.stats import kstwo

    en = round(n1 * n2 / (n1 + n2))
    return float(np.clip(kstwo.sf(statistic, en), 0.0, 1.0))


def ks_by_day(
    reference: DataFrame, current: DataFrame, feature: str, *, window: bool = True
) -> dict[date | None, tuple[float, int, int]]:
    """The exact two-sample KS statistic of a numeric feature per day (and over all days).

    One Spark job: reference values are counted once per distinct value, joined to every day
    (and to the whole window, key None), and both empirical CDFs are accumulated in value order
    per day; the statistic is the largest absolute difference at any value (ties grouped, so it
    equals ``scipy.stats.ks_2samp``'s).

    Args:
        reference: rows with the feature column.
        current: rows with the feature and ``event_date``.
        feature: the (numeric) feature.
        window: also compute it over all days of ``current`` (key None).

    Returns:
        day (None = the whole window) -> (statistic, reference values, current values).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def clean(df: DataFrame) -> DataFrame:
        v = F.col(feature).cast("double")
        return df.where(v.isNotNull() & ~F.isnan(v))

    ref = clean(reference).groupBy(F.col(feature).cast("double").alias("v")).agg(F.count(F.lit(1)).alias("r"))
    cur_rows = clean(current).select(
        F.col(feature).cast("double").alias("v"), F.col(DAY_COLUMN).cast("string").alias("k")
    )
    if window:
        cur_rows = cur_rows.unionByName(cur_rows.select("v", F.lit("*").alias("k")))
    cur = cur_rows.groupBy("k", "v").agg(F.count(F.lit(1)).alias("c"))
    keys = cur.select("k").distinct()
    both = (
        ref.crossJoin(keys)
        .select("k", "v", "r", F.lit(0).cast("long").alias("c"))
        .unionByName(cur.select("k", "v", F.lit(0).cast("long").alias("r"), "c"))
        .groupBy("k", "v")
        .agg(F.sum("r").alias("r"), F.sum("c").alias("c"))
    )
    totals = both.groupBy("k").agg(F.sum("r").alias("nr"), F.sum("c").alias("nc"))
    order = Window.partitionBy("k").orderBy("v").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    cdf = (
        both.withColumn("cr", F.sum("r").over(order))
        .withColumn("cc", F.sum("c").over(order))
        .join(totals, "k")
    )
    diff = F.abs(F.col("cr") / F.col("nr") - F.col("cc") / F.col("nc"))
    rows = (
        cdf.groupBy("k")
        .agg(F.max(diff).alias("d"), F.first("nr").alias("nr"), F.first("nc").alias("nc"))
        .collect()
    )
    out: dict[date | None, tuple[float, int, int]] = {}
    for row in rows:
        key = None if row["k"] == "*" else date.fromisoformat(row["k"])
        out[key] = (float(row["d"] or 0.0), int(row["nr"] or 0), int(row["nc"] or 0))
    return out
