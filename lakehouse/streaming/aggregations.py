"""The batch engine's windowed aggregations as a Spark Structured Streaming aggregation.

Same rule as :mod:`featurelake.lakehouse.aggregations` (the feature table contract): the value
of a feature for the period ending at ``E`` aggregates the entity's events with
``E - window <= ts < E``, the row's ``event_timestamp`` is ``E``, and a row exists for
(entity, ``E``) iff the entity has an event in the view's LARGEST window ending at ``E``.

How: each event is assigned to every sliding window of the largest length ``Wmax`` that slides
by one period (Spark's ``window(ts, Wmax, period)``: the windows ending at the ``Wmax/period``
period ends after the event); inside the group of (entity, window ending at ``E``) each feature
aggregates only the events with ``ts >= E - window`` (a conditional aggregate). So a group
exists exactly when the batch engine emits a row, and each value is the batch value.

With a watermark (``withWatermark(ts, delay)``) and the ``append`` output mode, a window's row
is emitted ONCE, when the watermark (the latest event time seen minus ``delay``) passes its
end: the value is final. An event that arrives after some of its windows were emitted is
folded into the windows still open and dropped from the closed ones; Spark counts those
(event, window) pairs in ``numRowsDroppedByWatermark`` (with a view whose largest window is
one period, that is the number of late events). Cost: each event is held in ``Wmax/period``
windows of state until they close (a 7-day window at hourly granularity holds 168 copies).

Sums and means over floating-point values add in a different order than the batch engine
(per event instead of per period), which can change the last bits; counts, min, max, last,
distinct counts and sums of integers are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from featurelake.errors import DefinitionError
from featurelake.lakehouse.aggregations import (
    HLL_LG_K,
    PERIOD,
    Granularity,
    WindowAggregation,
    check_aggregations,
    check_source_columns,
    max_window,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

_TS = "__fl_ts"
_W = "__fl_window"


def _micros(delta: timedelta) -> int:
    return int(delta.total_seconds()) * 1_000_000


def stream_window_aggregations(
    events: DataFrame,
    *,
    keys: Sequence[str],
    timestamp_column: str,
    aggregations: Sequence[WindowAggregation],
    granularity: Granularity,
    watermark: timedelta,
    view: str = "?",
) -> DataFrame:
    """Windowed aggregations of a streaming DataFrame of events, emitted once per closed window.

    Args:
        events: a streaming DataFrame with ``keys``, ``timestamp_column`` (timestamp, UTC) and
            every aggregated column.
        keys: the entity join key columns.
        timestamp_column: the event time column.
        aggregations: the features (the view's spec aggregations).
        granularity: ``"daily"`` or ``"hourly"`` periods.
        watermark: how late an event may arrive and still be counted in every window.
        view: the view's name, for error messages.

    Returns:
        A streaming DataFrame with ``keys``, ``event_timestamp`` and one column per aggregation
        (write it with output mode ``append``).

    Raises:
        DefinitionError: bad aggregations, a negative watermark or a column missing from ``events``.
    """
    from pyspark.sql import functions as F

    check_aggregations(aggregations, granularity=granularity, view=view)
    if watermark < timedelta(0):
        raise DefinitionError(f"view {view!r}: watermark {watermark} is negative; use e.g. 10m")
    dtypes = check_source_columns(
        events, keys=keys, timestamp_column=timestamp_column, aggregations=aggregations, view=view
    )
    period = PERIOD[granularity]
    widest = max_window(aggregations)
    columns = sorted({a.column for a in aggregations if a.column})
    ev = events.select(*keys, F.col(timestamp_column).alias(_TS), *columns)
    for key in keys:  # rows without an entity key cannot become features (as in the batch engine)
        ev = ev.where(F.col(key).isNotNull())
    ev = ev.where(F.col(_TS).isNotNull()).withWatermark(_TS, f"{int(watermark.total_seconds())} seconds")
    ev = ev.select(
        "*",
        F.window(
            F.col(_TS), f"{int(widest.total_seconds())} seconds", f"{int(period.total_seconds())} seconds"
        ).alias(_W),
    )
    end_us = F.unix_micros(F.col(f"{_W}.end"))
    ts_us = F.unix_micros(F.col(_TS))
    out: list[Column] = []
    for agg in aggregations:
        inside = ts_us >= end_us - F.lit(_micros(agg.window))
        col = agg.column
        value = None if col is None else F.col(col)
        if value is not None and dtypes[col] == "boolean":
            value = value.cast("long")  # booleans aggregate as 0/1 (sum = count of true, mean = rate)
        if agg.function == "count":
            expr = F.count(F.when(inside, F.lit(1) if col is None else F.col(col))).cast("long")
        elif agg.function == "sum":
            expr = F.sum(F.when(inside, value))
        elif agg.function == "mean":
            expr = F.try_divide(
                F.sum(F.when(inside, value)).cast("double"), F.count(F.when(inside, value)).cast("double")
            )
        elif agg.function == "min":
            expr = F.min(F.when(inside, F.col(col)))
        elif agg.function == "max":
            expr = F.max(F.when(inside, F.col(col)))
        elif agg.function == "count_distinct":
            expr = F.size(F.collect_set(F.when(inside, F.col(col)))).cast("long")
        elif agg.function == "approx_count_distinct":
            hll_in = (
                F.col(col)
                if dtypes[col] in {"int", "bigint", "string", "binary"}
                else F.col(col).cast("string")
            )
            expr = F.coalesce(
                F.hll_sketch_estimate(F.hll_sketch_agg(F.when(inside, hll_in), HLL_LG_K)), F.lit(0)
            ).cast("long")
        else:  # last: the latest event's non-null value; ties -> the greatest value
            expr = F.max(
                F.when(
                    inside & F.col(col).isNotNull(), F.struct(F.col(_TS).alias("t"), F.col(col).alias("v"))
                )
            ).getField("v")
        out.append(expr.alias(agg.name))
    grouped = ev.groupBy(*keys, F.col(_W)).agg(*out)
    return grouped.select(*keys, F.col(f"{_W}.end").alias("event_timestamp"), *[a.name for a in aggregations])
