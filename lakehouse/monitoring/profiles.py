"""Feature profiles: ONE Spark aggregation per table and date range, per feature per day.

A profile of a feature over a set of rows holds: row count, null count (NaN counts as null,
as in pandas), min / max / mean / sample stddev and approximate quantiles (``percentile_approx``,
:data:`QUANTILES`) for numeric features; an approximate distinct count for string and boolean
features; and bucket counts on bins that come from a REFERENCE (:func:`reference_bins`): for
numeric features the reference's deciles as right-closed edges ``(-inf, e1], (e1, e2], ...,
(ek, inf)``, for categorical ones the reference's top values plus an "other" bucket. Profiles of
the reference and of each day therefore compare bin for bin (PSI, Jensen-Shannon) and daily
bucket counts add up to the counts of any window.

Every aggregate of every feature is one expression of a single ``groupBy(event_date).agg(...)``:
one pass over the files read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from featurelake.errors import MonitorError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

FeatureKind = Literal["numeric", "categorical"]
QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
BINS = 10
TOP_K = 20
ACCURACY = 10_000  # percentile_approx accuracy: relative rank error 1/ACCURACY
DAY_COLUMN = "event_date"


@dataclass(frozen=True)
class FeatureBins:
    """The buckets a feature is counted in, taken from the reference.

    Attributes:
        feature: the feature column.
        kind: ``numeric`` (edges) or ``categorical`` (categories + other).
        edges: interior edges of right-closed numeric bins, ascending, distinct.
        categories: the reference's top values (as strings), most frequent first.
    """

    feature: str
    kind: FeatureKind
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def buckets(self) -> int:
        """How many counts a profile holds: one per bin, or per category plus "other"."""
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1


@dataclass(frozen=True)
class Profile:
    """One feature's statistics over one day (or over a whole reference / window: ``day=None``).

    Attributes:
        feature: the feature column.
        kind: numeric or categorical.
        day: the ``event_date`` profiled, None for a reference or merged window.
        rows: rows (null or not).
        nulls: null (or NaN) values.
        min: smallest value (numeric).
        max: largest value (numeric).
        mean: mean of the non-null values (numeric).
        stddev: sample standard deviation (numeric; None for fewer than 2 values).
        quantiles: approximate values at :data:`QUANTILES` (numeric; None for merged windows).
        counts: bucket counts on the reference's bins (:class:`FeatureBins`).
        distinct: approximate distinct non-null values (categorical).
        bins: the bins the counts are on.
    """

    feature: str
    kind: FeatureKind
    day: date | None
    rows: int
    nulls: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    stddev: float | None = None
    quantiles: tuple[float, ...] | None = None
    counts: tuple[int, ...] = ()
    distinct: int | None = None
    bins: FeatureBins | None = field(default=None, compare=False)

    @property
    def null_rate(self) -> float:
        """Share of null values (0 for no rows)."""
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def non_null(self) -> int:
        """Rows with a value."""
        return self.rows - self.nulls


def feature_kinds(df: DataFrame, features: list[str] | tuple[str, ...]) -> dict[str, FeatureKind]:
    """numeric or categorical for each feature, from the DataFrame's Spark types.

    Raises:
        MonitorError: a feature is missing or of a type that cannot be profiled.
    """
    from pyspark.sql.types import BooleanType, NumericType, StringType

    types = {f.name: f.dataType for f in df.schema.fields}
    out: dict[str, FeatureKind] = {}
    problems = []
    for name in features:
        dtype = types.get(name)
        if dtype is None:
            problems.append(f"feature {name!r} is not a column (columns: {', '.join(types)})")
        elif isinstance(dtype, NumericType):
            out[name] = "numeric"
        elif isinstance(dtype, StringType | BooleanType):
            out[name] = "categorical"
        else:
            problems.append(f"feature {name!r} has type {dtype.simpleString()}, which cannot be profiled")
    if problems:
        raise MonitorError("; ".join(problems) + "; profile numeric, string or boolean features only")
    return out


def _value(df: DataFrame, name: str, kind: FeatureKind) -> Column:
    """The feature as profiled: floats with NaN as null, categoricals as strings."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    col = F.col(name)
    if kind == "categorical":
        return col.cast("string")
    dtype = df.schema[name].dataType
    if isinstance(dtype, DoubleType | FloatType):
        return F.when(F.isnan(col), F.lit(None)).otherwise(col).cast("double")
    return col.cast("double")


def reference_bins(
    df: DataFrame, kinds: dict[str, FeatureKind], *, bins: int = BINS, top_k: int = TOP_K
) -> dict[str, FeatureBins]:
    """Bins for each feature from the reference rows: deciles (numeric), top values (categorical).

    Numeric edges come from one ``percentile_approx`` aggregation over every numeric feature;
    categorical features take their ``top_k`` most frequent values (ties: smallest value first).

    Args:
        df: the reference rows.
        kinds: feature -> kind (:func:`feature_kinds`).
        bins: numeric bins (edges at the 1/bins .. (bins-1)/bins quantiles, duplicates dropped).
        top_k: categories kept per categorical feature.

    Returns:
        feature -> its bins.
    """
    from pyspark.sql import functions as F

    out: dict[str, FeatureBins] = {}
    numeric = [f for f, k in kinds.items() if k == "numeric"]
    if numeric:
        probs = [i / bins for i in range(1, bins)]
        row = df.agg(
            *[
                F.percentile_approx(_value(df, f, "numeric"), probs, ACCURACY).alias(f"q{i}")
                for i, f in enumerate(numeric)
            ]
        ).first()
        for i, f in enumerate(numeric):
            values = row[f"q{i}"] if row is not None else None
            edges = tuple(sorted({float(v) for v in values or () if v is not None}))
            out[f] = FeatureBins(f, "numeric", edges=edges)
    for f in (f for f, k in kinds.items() if k == "categorical"):
        value = _value(df, f, "categorical").alias("v")
        top = (
            df.select(value)
            .where(F.col("v").isNotNull())
            .groupBy("v")
            .count()
            .orderBy(F.col("count").desc(), F.col("v"))
            .limit(top_k)
            .collect()
        )
        out[f] = FeatureBins(f, "categorical", categories=tuple(r["v"] for r in top))
    return out


def _bucket_exprs(value: Column, b: FeatureBins) -> list[Column]:
    from pyspark.sql import functions as F

    def count_if(cond: Column) -> Column:
        return F.sum(F.when(cond, F.lit(1)).otherwise(F.lit(0)))

    if b.kind == "numeric":
        if not b.edges:
            return [count_if(value.isNotNull())]
        exprs = [count_if(value <= F.lit(b.edges[0]))]
        for lo, hi in zip(b.edges, b.edges[1:], strict=False):
            exprs.append(count_if((value > F.lit(lo)) & (value <= F.lit(hi))))
        exprs.append(count_if(value > F.lit(b.edges[-1])))
        return exprs
    exprs = [count_if(value == F.lit(c)) for c in b.categories]
    known = value.isin(list(b.categories)) if b.categories else F.lit(False)
    exprs.append(count_if(value.isNotNull() & ~known))
    return exprs


def profile(df: DataFrame, bins: dict[str, FeatureBins], *, by_day: bool = True) -> list[Profile]:
    """Profile every feature of ``bins`` in ONE aggregation, per ``event_date`` or over all rows.

    Args:
        df: the rows (with an ``event_date`` column when ``by_day``).
        bins: feature -> its reference bins (also says each feature's kind).
        by_day: group by ``event_date`` (True) or profile all rows as one (a reference).

    Returns:
        One profile per feature and day (or per feature), days ascending.
    """
    from pyspark.sql import functions as F

    exprs: list[Column] = [F.count(F.lit(1)).alias("__rows")]
    layout: dict[str, list[str]] = {}
    for i, (name, b) in enumerate(bins.items()):
        value = _value(df, name, b.kind)
        cols = [f"f{i}_n"]
        exprs.append(F.count(value).alias(f"f{i}_n"))
        if b.kind == "numeric":
            exprs += [
                F.min(value).alias(f"f{i}_min"),
                F.max(value).alias(f"f{i}_max"),
                F.avg(value).alias(f"f{i}_mean"),
                F.stddev_samp(value).alias(f"f{i}_std"),
                F.percentile_approx(value, list(QUANTILES), ACCURACY).alias(f"f{i}_q"),
            ]
        else:
            exprs.append(F.approx_count_distinct(value).alias(f"f{i}_distinct"))
        for j, e in enumerate(_bucket_exprs(value, b)):
            exprs.append(e.alias(f"f{i}_b{j}"))
        layout[name] = cols
    grouped = df.groupBy(DAY_COLUMN) if by_day else df.groupBy()
    rows = grouped.agg(*exprs).collect()
    out: list[Profile] = []
    for row in sorted(rows, key=lambda r: r[DAY_COLUMN] if by_day else 0):
        total = int(row["__rows"])
        if total == 0:
            continue
        day = row[DAY_COLUMN] if by_day else None
        for i, (name, b) in enumerate(bins.items()):
            n = int(row[f"f{i}_n"])
            counts = tuple(int(row[f"f{i}_b{j}"] or 0) for j in range(b.buckets))
            if b.kind == "numeric":
                q = row[f"f{i}_q"]
                out.append(
                    Profile(
                        name,
                        "numeric",
                        day,
                        total,
                        total - n,
                        min=_f(row[f"f{i}_min"]),
                        max=_f(row[f"f{i}_max"]),
                        mean=_f(row[f"f{i}_mean"]),
                        stddev=_f(row[f"f{i}_std"]),
                        quantiles=None if q is None else tuple(float(v) for v in q),
                        counts=counts,
                        bins=b,
                    )
                )
            else:
                out.append(
                    Profile(
                        name,
                        "categorical",
                        day,
                        total,
                        total - n,
                        counts=counts,
                        distinct=int(row[f"f{i}_distinct"]),
                        bins=b,
                    )
                )
    return out


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def merge(profiles: list[Profile]) -> Profile:
    """Several days of one feature's profiles as one (exact for counts, mean and stddev).

    Quantiles and distinct counts cannot be merged exactly and are left None; min/max are exact.

    Raises:
        ValueError: no profiles, or profiles of different features or bins.
    """
    if not profiles:
        raise ValueError("merge needs at least one profile")
    first = profiles[0]
    if any(p.feature != first.feature or len(p.counts) != len(first.counts) for p in profiles):
        raise ValueError(f"cannot merge profiles of different features or bins ({first.feature})")
    rows = sum(p.rows for p in profiles)
    nulls = sum(p.nulls for p in profiles)
    counts = tuple(sum(c) for c in zip(*(p.counts for p in profiles), strict=True))
    if first.kind == "categorical":
        return Profile(first.feature, "categorical", None, rows, nulls, counts=counts, bins=first.bins)
    with_values = [p for p in profiles if p.non_null and p.mean is not None]
    n = sum(p.non_null for p in with_values)
    mean = sum(p.non_null * (p.mean or 0.0) for p in with_values) / n if n else None
    stddev = None
    if n > 1 and mean is not None:
        # Parallel variance: sum of each day's (n_i - 1) s_i^2 + n_i (mean_i - mean)^2.
        ss = sum(
            (p.non_null - 1) * (p.stddev or 0.0) ** 2 + p.non_null * ((p.mean or 0.0) - mean) ** 2
            for p in with_values
        )
        stddev = (ss / (n - 1)) ** 0.5
    mins = [p.min for p in with_values if p.min is not None]
    maxs = [p.max for p in with_values if p.max is not None]
    return replace(
        first,
        day=None,
        rows=rows,
        nulls=nulls,
        min=min(mins) if mins else None,
        max=max(maxs) if maxs else None,
        mean=mean,
        stddev=stddev,
        quantiles=None,
        counts=counts,
        distinct=None,
    )
