"""Computing a feature view's rows for a range of days, in the feature table layout.

One entry point, :func:`compute_view`: it reads the view's sources at PINNED Delta versions,
pruned to the date partitions the windows need, runs the view's transform (declarative
aggregations, or a user's :class:`~featurelake.spec.SparkTransform` inside an error boundary
that names the view and keeps the cause), checks the result against the expected schema
(expected vs got) and shapes it into the feature table layout of :mod:`featurelake.spec`:
join keys, ``event_timestamp``, ``created_timestamp``, ``event_date``, features.

``created_timestamp`` is deterministic: the latest commit time of the input versions read.
Re-running a range over the same inputs therefore writes identical rows, and a run over newer
inputs stamps newer rows (so newest-created-wins de-duplication still works).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from featurelake.errors import DefinitionError, FeatureStoreError, LakehouseError, TableNotFoundError
from featurelake.lakehouse.aggregations import (
    WindowAggregation,
    compute_window_aggregations,
    source_date_range,
)
from featurelake.spec import (
    CREATED_TIMESTAMP,
    EVENT_DATE,
    EVENT_TIMESTAMP,
    AggregationTransform,
    SparkTransform,
    TransformContext,
    ViewSpec,
    day_start,
    period_ends,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from featurelake.lakehouse.tables import Lakehouse

# Feast type names (featurelake registry feature dtypes) and Feast ValueType names (join keys)
# -> the Spark SQL type a feature table stores them as.
SPARK_TYPES: dict[str, str] = {
    "int32": "int",
    "int64": "bigint",
    "float32": "float",
    "float64": "double",
    "float": "float",
    "double": "double",
    "string": "string",
    "bool": "boolean",
    "boolean": "boolean",
    "bytes": "binary",
    "unixtimestamp": "timestamp",
    "unix_timestamp": "timestamp",
}


class TransformError(FeatureStoreError):
    """A view's custom transform raised or returned something unusable; ``__cause__`` is the original."""

    def __init__(self, view: str, message: str):
        self.view = view
        super().__init__(message)


def spark_type_for(dtype: str) -> str:
    """The Spark SQL type of a Feast type name (``Int64``, ``Float64``, ``INT64``, ``String``...).

    Raises:
        DefinitionError: the type has no feature-table mapping.
    """
    found = SPARK_TYPES.get(dtype.strip().lower())
    if found is None:
        raise DefinitionError(
            f"feature type {dtype!r} cannot be stored in a feature table; use one of "
            "Int32, Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp"
        )
    return found


@dataclass(frozen=True)
class SourceSnapshot:
    """A source table pinned at one Delta version for the whole run."""

    table: str
    version: int
    committed_at: datetime


@dataclass(frozen=True)
class ComputedRows:
    """The rows of one range of days, ready to write, and what was read to compute them."""

    df: DataFrame
    rows_read: int
    partitions_read: dict[str, tuple[date, date] | None]


def pin_sources(lakehouse: Lakehouse, tables: Sequence[str], *, view: str) -> dict[str, SourceSnapshot]:
    """Resolve each source's current Delta version and its commit time.

    Raises:
        LakehouseError: a source table does not exist (naming the view that needs it).
    """
    out: dict[str, SourceSnapshot] = {}
    for table in tables:
        if not lakehouse.exists(table):
            raise TableNotFoundError(
                f"view {view!r} reads source table {table!r}, which does not exist under {lakehouse.root}; "
                "load it first (e.g. `featurelake demo generate`) or fix the source name in the view's spec"
            )
        version = lakehouse.version(table)
        committed = next((h for h in lakehouse.history(table) if h.get("version") == version), None)
        if committed is None:  # history is newest first; version() reads the same log
            committed = lakehouse.history(table, limit=1)[0]
        out[table] = SourceSnapshot(
            table, version, datetime.fromtimestamp(committed["timestamp"] / 1000, tz=UTC)
        )
    return out


def computed_at(snapshots: Mapping[str, SourceSnapshot]) -> datetime:
    """The deterministic ``created_timestamp`` of a run: the newest input commit, to the microsecond."""
    return max(s.committed_at for s in snapshots.values())


def source_ranges(spec: ViewSpec, *, start: date, end: date) -> dict[str, tuple[date, date] | None]:
    """Date partitions each source must provide for days ``start..end`` (None: read whole).

    Raises:
        DefinitionError: start is after end.
    """
    if start > end:
        raise DefinitionError(f"start {start} is after end {end}; give --start <= --end")
    transform = spec.transform
    if isinstance(transform, AggregationTransform):
        return {
            transform.source: source_date_range(
                start=start, end=end, window=transform.max_window, granularity=transform.granularity
            )
        }
    lo = (day_start(start) - transform.lookback).date()
    return {t: ((lo, end) if t in transform.timestamp_columns else None) for t in transform.sources}


def _date_ranges(days: Sequence[date]) -> list[tuple[date, date]]:
    """Contiguous runs of sorted days as inclusive (first, last) pairs."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def describe_dates(days: Sequence[date]) -> str:
    """``2024-01-01..2024-01-05, 2024-01-09`` for a list of days."""
    return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in _date_ranges(days))


def partition_dates(
    lakehouse: Lakehouse, table: str, *, version: int | None, date_range: tuple[date, date]
) -> set[date]:
    """The date partitions of ``table`` that hold at least one file within ``date_range``."""
    found: set[date] = set()
    for f in lakehouse.files(table, version=version, date_range=date_range):
        for value in f.partition_values.values():
            if value is not None:
                try:
                    found.add(date.fromisoformat(value))
                except ValueError:
                    continue
    return found


def check_coverage(
    lakehouse: Lakehouse,
    snapshot: SourceSnapshot,
    *,
    date_range: tuple[date, date],
    view: str,
    start: date,
    end: date,
) -> int:
    """Check that a source holds every date partition of ``date_range``; return its row count there.

    Raises:
        LakehouseError: naming the missing partitions, what the source covers and the fix.
    """
    files = lakehouse.files(snapshot.table, version=snapshot.version, date_range=date_range)
    have = partition_dates(lakehouse, snapshot.table, version=snapshot.version, date_range=date_range)
    lo, hi = date_range
    wanted = [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
    missing = [d for d in wanted if d not in have]
    if missing:
        everything = lakehouse.files(snapshot.table, version=snapshot.version)
        dates = sorted(
            {
                date.fromisoformat(v)
                for f in everything
                for v in f.partition_values.values()
                if v and len(v) == 10
            }
        )
        covers = f"{dates[0]}..{dates[-1]}" if dates else "no dated partitions"
        raise LakehouseError(
            f"view {view!r}: days {start}..{end} need source {snapshot.table!r} partitions {lo}..{hi} (windows reach "
            f"back), but these are missing: {describe_dates(missing)}; the source covers {covers} "
            f"(version {snapshot.version}). Load the missing data or backfill a later range."
        )
    return sum(f.num_records or 0 for f in files)


def _read(
    spark: SparkSession, lakehouse: Lakehouse, snapshot: SourceSnapshot, date_range: tuple[date, date] | None
) -> DataFrame:
    return lakehouse.read(spark, snapshot.table, version=snapshot.version, date_range=date_range)


def _aggregations(transform: AggregationTransform) -> list[WindowAggregation]:
    return [
        WindowAggregation(a.output_name(transform.name_prefix), a.function, a.column, a.window)
        for a in transform.aggregations
    ]


def expected_columns(join_keys: Mapping[str, str], features: Mapping[str, str]) -> dict[str, str]:
    """The columns (name -> Spark type) a transform must return: keys, event_timestamp, features.

    Args:
        join_keys: key name -> Feast type name (``INT64``/``Int64``...).
        features: feature name -> Feast type name.
    """
    return {
        **{k: spark_type_for(t) for k, t in join_keys.items()},
        EVENT_TIMESTAMP: "timestamp",
        **{f: spark_type_for(t) for f, t in features.items()},
    }


def check_schema(df: DataFrame, expected: Mapping[str, str], *, view: str, what: str) -> None:
    """Check ``df`` has exactly the expected columns and types.

    Raises:
        TransformError: listing expected vs got, and each missing, unexpected or mistyped column.
    """
    got = dict(df.dtypes)
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    wrong = [
        f"{c} (expected {expected[c]}, got {got[c]})" for c in expected if c in got and got[c] != expected[c]
    ]
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        if wrong:
            parts.append(f"wrong type {wrong}")
        exp = ", ".join(f"{c} {t}" for c, t in expected.items())
        have = ", ".join(f"{c} {t}" for c, t in got.items())
        raise TransformError(
            view,
            f"view {view!r}: {what} returned the wrong schema: {'; '.join(parts)}. Expected: {exp}. Got: {have}. "
            "Return exactly the join keys, event_timestamp and the view's features with these types "
            "(cast with .cast(...)).",
        )


def _run_custom(
    spark: SparkSession,
    lakehouse: Lakehouse,
    spec: ViewSpec,
    transform: SparkTransform,
    *,
    snapshots: Mapping[str, SourceSnapshot],
    ranges: Mapping[str, tuple[date, date] | None],
    context: TransformContext,
) -> DataFrame:
    from pyspark.sql import functions as F

    frames: dict[str, DataFrame] = {}
    lo = context.start - transform.lookback
    for table in transform.sources:
        df = _read(spark, lakehouse, snapshots[table], ranges[table])
        ts = transform.timestamp_columns.get(table)
        if ts is not None:
            if ts not in df.columns:
                raise DefinitionError(
                    f"view {spec.view!r}: timestamp column {ts!r} is not a column of source {table!r} "
                    f"(it has {df.columns}); fix timestamp_columns in the view's SparkTransform"
                )
            df = df.where((F.col(ts) >= F.lit(lo)) & (F.col(ts) < F.lit(context.end)))
        frames[table] = df
    name = getattr(transform.function, "__qualname__", repr(transform.function))
    try:
        out = transform.function(frames, context)
    except Exception as err:  # noqa: BLE001 - the error boundary: any user error becomes one, with its cause
        raise TransformError(
            spec.view,
            f"view {spec.view!r}: custom transform {name} raised {type(err).__name__}: {err}; fix the function",
        ) from err
    from pyspark.sql import DataFrame as SparkDataFrame

    if not isinstance(out, SparkDataFrame):
        raise TransformError(
            spec.view,
            f"view {spec.view!r}: custom transform {name} returned {type(out).__name__}, not a Spark DataFrame",
        )
    return out


def compute_view(
    spark: SparkSession,
    lakehouse: Lakehouse,
    spec: ViewSpec,
    *,
    start: date,
    end: date,
    snapshots: Mapping[str, SourceSnapshot],
    join_keys: Mapping[str, str],
    features: Mapping[str, str],
    created: datetime,
) -> ComputedRows:
    """The view's rows for days ``start..end`` (inclusive), in the feature table layout.

    Lazy: nothing runs until the result is written or counted. Errors a custom transform raises
    while Spark evaluates it surface then; wrap that evaluation in :func:`transform_boundary`.

    Args:
        spark: the Spark session.
        lakehouse: where the sources live.
        spec: the view's spec (transform, expectations).
        start: first day (inclusive).
        end: last day (inclusive).
        snapshots: the pinned source versions (from :func:`pin_sources`).
        join_keys: key name -> Feast type name, in entity order.
        features: feature name -> Feast type name, in schema order.
        created: the ``created_timestamp`` to stamp (see :func:`computed_at`).

    Returns:
        The rows, the source rows read and the partitions read per source.

    Raises:
        DefinitionError: bad range or spec.
        LakehouseError: a source is missing or does not cover the range.
        TransformError: the custom transform raised or returned the wrong schema.
    """
    from pyspark.sql import functions as F

    ranges = source_ranges(spec, start=start, end=end)
    rows_read = 0
    for table, rng in ranges.items():
        if rng is not None:
            rows_read += check_coverage(
                lakehouse, snapshots[table], date_range=rng, view=spec.view, start=start, end=end
            )
        else:
            rows_read += sum(
                f.num_records or 0 for f in lakehouse.files(table, version=snapshots[table].version)
            )
    expected = expected_columns(join_keys, features)
    transform = spec.transform
    if isinstance(transform, AggregationTransform):
        events = _read(spark, lakehouse, snapshots[transform.source], ranges[transform.source])
        events = events.select(
            *[F.col(src).alias(key) for src, key in transform.entity_columns.items()],
            *[
                c
                for c in events.columns
                if c not in transform.entity_columns and c not in transform.join_keys
            ],
        )
        df = compute_window_aggregations(
            events,
            keys=list(transform.join_keys),
            timestamp_column=transform.timestamp_column,
            aggregations=_aggregations(transform),
            start=start,
            end=end,
            granularity=transform.granularity,
            view=spec.view,
        )
        # aggregation results take the view's declared types (count -> Int64, mean -> Float64...)
        df = df.select(*[F.col(c).cast(t).alias(c) for c, t in expected.items()])
    else:
        ends = period_ends(start, end, transform.granularity)
        context = TransformContext(
            view=spec.view,
            start=day_start(start),
            end=ends[-1],
            granularity=transform.granularity,
            period_ends=tuple(ends),
            join_keys=tuple(join_keys),
            computed_at=created,
        )
        df = _run_custom(
            spark, lakehouse, spec, transform, snapshots=snapshots, ranges=ranges, context=context
        )
        check_schema(df, expected, view=spec.view, what=f"custom transform {transform.function.__qualname__}")
        df = df.select(*expected)
    return ComputedRows(
        df=to_feature_layout(df, join_keys=list(join_keys), features=list(features), created=created),
        rows_read=rows_read,
        partitions_read=dict(ranges),
    )


def event_date_column(timestamp: str = EVENT_TIMESTAMP) -> Column:
    """The ``event_date`` partition of each row, by the spec's rule (:func:`featurelake.spec.event_date_of`).

    The UTC date of ``timestamp - 1 µs``: a row stamped exactly at midnight belongs to the day
    that just ended. Needs the session time zone to be UTC (see :mod:`featurelake.lakehouse.spark`).
    """
    from pyspark.sql import functions as F

    return F.to_date(F.timestamp_micros(F.unix_micros(F.col(timestamp)) - 1))


def to_feature_layout(
    df: DataFrame, *, join_keys: Sequence[str], features: Sequence[str], created: datetime
) -> DataFrame:
    """Add ``created_timestamp`` and the ``event_date`` partition; order the columns as the spec says.

    ``event_date`` is the UTC date of ``event_timestamp - 1 µs`` (a midnight row belongs to the
    day that just ended); the session time zone must be UTC (see :mod:`featurelake.lakehouse.spark`).
    """
    from pyspark.sql import functions as F

    created_us = int((created.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    return df.select(
        *join_keys,
        F.col(EVENT_TIMESTAMP),
        F.timestamp_micros(F.lit(created_us)).alias(CREATED_TIMESTAMP),
        event_date_column().alias(EVENT_DATE),
        *features,
    )


def wrap_transform_errors(view: str, spec: ViewSpec, err: Exception) -> Exception:
    """Turn an error Spark raised while evaluating a view into a :class:`TransformError` when the
    view has a custom transform (the user's code ran inside that job); keep others as they are.

    The message keeps the first line of the original (e.g. the exception a task raised); the
    original is the ``__cause__``.
    """
    if isinstance(spec.transform, SparkTransform) and not isinstance(err, TransformError | DefinitionError):
        name = getattr(spec.transform.function, "__qualname__", "?")
        first = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        wrapped = TransformError(
            view,
            f"view {view!r}: custom transform {name} failed while Spark ran it: {first[:500]}; fix the function",
        )
        wrapped.__cause__ = err
        return wrapped
    return err
