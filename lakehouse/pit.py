"""Point-in-time correct joins of entity rows with feature history, on the DataFrame API.

For every entity row (join keys + timestamp ``t``) and every requested feature view, the join
returns the feature row of the same keys that was the latest one at ``t``:

* **event time**: ``t - ttl <= event_timestamp <= t``. BOTH edges are inclusive: a feature
  row stamped exactly at ``t`` is visible at ``t``, and one stamped exactly ``ttl`` before
  ``t`` is still fresh. ``ttl=None`` (or zero, as in Feast) means no age limit.
* **ties** on ``event_timestamp`` go to the latest ``created_timestamp`` (a null
  ``created_timestamp`` loses to any non-null one); rows equal on both are ordered by an
  ``xxhash64`` of their feature values, so the choice is deterministic run after run.
* **as known at** (``mode="as_known_at"``): additionally ``created_timestamp <= t``, so a
  value written later by a backfill cannot leak into an earlier training row. A row with a
  null ``created_timestamp`` is taken to be known at its ``event_timestamp``.
* Every entity row comes back exactly once, in its original multiplicity (duplicates stay
  duplicates), with nulls for the features of a view where no row qualifies.

Plan (no key-only join then filter, so the cost does not grow with history length): per
view, entity rows and feature rows are tagged and unioned into one frame, partitioned by the
view's join keys and ordered by a "visible from" time (``event_timestamp``, or
``greatest(event_timestamp, created_timestamp)`` as known at) with feature rows before entity
rows at equal times. A running ``max_by(values, (event_ts, created_ts, hash))`` over
``rowsBetween(unboundedPreceding, currentRow)`` gives each entity row the best feature row
visible at its time in one sort; then the TTL check nulls stale values. Views are applied one
after another to the carried entity frame, so no row id join is needed to reassemble them.

Timestamps: entity and feature timestamps must be Spark ``TIMESTAMP`` (an instant, shown in
the session time zone, which featurelake pins to UTC). ``TIMESTAMP_NTZ`` (naive) columns are
rejected unless ``naive_timestamps="utc"``, which reads them as UTC wall-clock times. pandas
input follows the same rule: tz-aware columns are converted to UTC, naive ones are rejected or
read as UTC (:func:`entity_frame_from_pandas`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from featurelake.errors import DefinitionError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame, SparkSession

PitMode = Literal["event_time", "as_known_at"]
NaiveTimestamps = Literal["reject", "utc"]

EVENT_TS = "event_timestamp"
CREATED_TS = "created_timestamp"

# Internal column names; the prefix keeps them clear of user columns.
_KIND = "_fl_kind"  # 0 = feature row, 1 = entity row (features sort first at equal times)
_ORDER_TS = "_fl_order_ts"
_VALUES = "_fl_values"
_RANK = "_fl_rank"
_BEST = "_fl_best"
_BEST_RANK = "_fl_best_rank"
_ENTITY_TS = "_fl_entity_ts"

DEFAULT_MAX_FUTURE = timedelta(days=1)


class EntityDataError(DefinitionError):
    """The entity rows of a point-in-time request are unusable (missing columns, bad times)."""


@dataclass(frozen=True)
class ViewRequest:
    """One feature view's part of a point-in-time request.

    Attributes:
        name: the view name (prefix of full feature names, ``view__feature``).
        join_keys: the view's entity join keys; the entity frame must have these columns.
        features: the feature columns to return.
        frame: the view's feature rows: join keys, ``event_timestamp``, optionally
            ``created_timestamp``, and the features.
        ttl: maximum age of a value at the entity timestamp; None or zero = unlimited.
    """

    name: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    frame: DataFrame = field(repr=False)
    ttl: timedelta | None = None

    @property
    def has_ttl(self) -> bool:
        return self.ttl is not None and self.ttl > timedelta(0)


@dataclass(frozen=True)
class EntityBounds:
    """What a single pass over the entity rows found: time range and row count."""

    min_ts: datetime
    max_ts: datetime
    rows: int


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def check_entity_columns(
    entity_df: DataFrame, views: Sequence[ViewRequest], *, timestamp_column: str
) -> None:
    """Check that the entity frame has the timestamp column and every view's join keys.

    Raises:
        EntityDataError: naming every missing column (and the views that need it).
    """
    columns = set(entity_df.columns)
    problems: list[str] = []
    if timestamp_column not in columns:
        problems.append(
            f"the entity rows have no timestamp column {timestamp_column!r} (columns: {sorted(columns)}); "
            "add it or pass timestamp_column=<your column> (on the command line: --timestamp-column <your column>)"
        )
    missing: dict[str, list[str]] = {}
    for view in views:
        for key in view.join_keys:
            if key not in columns:
                missing.setdefault(key, []).append(view.name)
    for key, names in missing.items():
        problems.append(
            f"the entity rows have no join key column {key!r}, needed by feature view(s) {sorted(set(names))}; "
            f"add a {key!r} column to the entity rows"
        )
    if problems:
        raise EntityDataError(problems)


def output_names(
    views: Sequence[ViewRequest], *, full_feature_names: bool, entity_columns: Sequence[str]
) -> dict[tuple[str, str], str]:
    """Map (view, feature) to its output column name, refusing collisions.

    Raises:
        EntityDataError: two features (or a feature and an entity column) would share a name.
    """
    names: dict[tuple[str, str], str] = {}
    owners: dict[str, str] = {c: "the entity rows" for c in entity_columns}
    problems: list[str] = []
    for view in views:
        for feature in view.features:
            out = f"{view.name}__{feature}" if full_feature_names else feature
            if out in owners:
                fix = "pass full_feature_names=True" if not full_feature_names else "rename the entity column"
                problems.append(
                    f"output column {out!r} of {view.name}:{feature} clashes with {owners[out]}; {fix}"
                )
                continue
            owners[out] = f"{view.name}:{feature}"
            names[(view.name, feature)] = out
    if problems:
        raise EntityDataError(problems)
    return names


def normalize_timestamp_column(
    df: DataFrame, column: str, *, naive_timestamps: NaiveTimestamps = "reject", what: str = "entity rows"
) -> DataFrame:
    """Return ``df`` with ``column`` as a Spark TIMESTAMP (an instant), by the module's rule.

    Raises:
        EntityDataError: the column is naive and ``naive_timestamps="reject"``, or not a time.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType, TimestampType

    dtype = df.schema[column].dataType
    if isinstance(dtype, TimestampType):
        return df
    if isinstance(dtype, TimestampNTZType):
        if naive_timestamps == "utc":
            # TIMESTAMP_NTZ -> TIMESTAMP casts through the session zone, pinned to UTC.
            tz = df.sparkSession.conf.get("spark.sql.session.timeZone")
            if tz not in ("UTC", "Etc/UTC", "GMT", "Z", "+00:00"):
                raise EntityDataError(
                    f"cannot read naive timestamps in {what}.{column} as UTC while spark.sql.session.timeZone={tz!r}; "
                    "build the session with featurelake.lakehouse.spark.build_spark_session (UTC)"
                )
            return df.withColumn(column, F.col(column).cast("timestamp"))
        raise EntityDataError(
            f"{what}.{column} holds naive timestamps (TIMESTAMP_NTZ), which are ambiguous; convert them "
            f"to UTC instants (e.g. F.to_utc_timestamp({column!r}, '<their zone>')), or, if they already are UTC "
            "wall-clock times, pass naive_timestamps='utc' (on the command line: --naive-timestamps utc)"
        )
    raise EntityDataError(
        f"{what}.{column} has type {dtype.simpleString()}, not a timestamp; convert it "
        f"(e.g. F.to_timestamp({column!r})) to UTC instants first"
    )


def entity_frame_from_pandas(
    spark: SparkSession,
    pdf: pd.DataFrame,
    *,
    timestamp_column: str = EVENT_TS,
    naive_timestamps: NaiveTimestamps = "reject",
) -> DataFrame:
    """Turn a pandas entity frame into a Spark one, with UTC timestamps at microsecond precision.

    tz-aware timestamps are converted to UTC; naive ones are rejected, or read as UTC when
    ``naive_timestamps="utc"``.

    Raises:
        EntityDataError: missing or naive (when rejected) or non-time timestamp column.
    """
    import pandas as pd

    if timestamp_column not in pdf.columns:
        raise EntityDataError(
            f"the entity rows have no timestamp column {timestamp_column!r} (columns: {sorted(map(str, pdf.columns))}); "
            "add it or pass timestamp_column=<your column> (on the command line: --timestamp-column <your column>)"
        )
    pdf = pdf.copy()
    ts = pdf[timestamp_column]
    if not pd.api.types.is_datetime64_any_dtype(ts):
        try:
            ts = pd.to_datetime(ts, utc=False)
        except (ValueError, TypeError):
            raise EntityDataError(
                f"entity column {timestamp_column!r} has dtype {pdf[timestamp_column].dtype} and does not parse as "
                "times; give datetime64 values (tz-aware, UTC preferred)"
            ) from None
    if getattr(ts.dt, "tz", None) is None:
        if naive_timestamps == "reject":
            raise EntityDataError(
                f"entity column {timestamp_column!r} holds naive timestamps, which are ambiguous; localize them "
                f"(df[{timestamp_column!r}].dt.tz_localize('UTC' or their zone)) or pass naive_timestamps='utc' "
                "(on the command line: --naive-timestamps utc)"
            )
        ts = ts.dt.tz_localize("UTC")
    pdf[timestamp_column] = ts.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return spark.createDataFrame(pdf)


def entity_bounds(
    entity_df: DataFrame,
    *,
    timestamp_column: str,
    now: datetime | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> EntityBounds:
    """One pass over the entity rows: min/max timestamp and row count, refusing bad times.

    Raises:
        EntityDataError: null timestamps, or timestamps more than ``max_future`` after ``now``
            (a unit mistake such as milliseconds read as seconds, or a typo'd year).
    """
    from pyspark.sql import functions as F

    now = now or datetime.now(UTC)
    limit = now + max_future
    ts = F.col(timestamp_column)
    row = entity_df.agg(
        F.min(ts).alias("lo"),
        F.max(ts).alias("hi"),
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(ts.isNull(), 1).otherwise(0)).alias("nulls"),
        F.sum(F.when(ts > F.lit(limit), 1).otherwise(0)).alias("future"),
    ).collect()[0]
    problems: list[str] = []
    if row["n"] == 0:
        raise EntityDataError("the entity rows are empty; give at least one row of join keys and a timestamp")
    if row["nulls"]:
        problems.append(
            f"{row['nulls']} entity row(s) have a null {timestamp_column!r}; drop them or fill in the time"
        )
    if row["future"]:
        problems.append(
            f"{row['future']} entity row(s) have {timestamp_column!r} after {limit.isoformat()} (latest: "
            f"{_utc(row['hi']).isoformat()}), more than {max_future} in the future; check the unit and time zone"
        )
    if problems:
        raise EntityDataError(problems)
    return EntityBounds(min_ts=_utc(row["lo"]), max_ts=_utc(row["hi"]), rows=int(row["n"]))


def _utc(value: datetime) -> datetime:
    # collect() returns naive datetimes in the session zone (UTC in featurelake).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# The join, one small step at a time
# ---------------------------------------------------------------------------------------------


def align_key_types(entity_df: DataFrame, view: ViewRequest) -> ViewRequest:
    """Cast the view's key columns to the entity frame's types where both are integers or strings.

    Raises:
        EntityDataError: a key whose types cannot be compared (e.g. string vs integer).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegralType, StringType

    frame = view.frame
    problems = []
    for key in view.join_keys:
        if key not in frame.columns:
            problems.append(
                f"feature view {view.name!r} has no join key column {key!r} in its table; re-run its backfill"
            )
            continue
        want, got = entity_df.schema[key].dataType, frame.schema[key].dataType
        if want == got:
            continue
        if (isinstance(want, IntegralType) and isinstance(got, IntegralType)) or (
            isinstance(want, StringType) and isinstance(got, StringType)
        ):
            frame = frame.withColumn(key, F.col(key).cast(want))
        else:
            problems.append(
                f"join key {key!r} is {want.simpleString()} in the entity rows but {got.simpleString()} in feature "
                f"view {view.name!r}; cast the entity column to {got.simpleString()}"
            )
    if problems:
        raise EntityDataError(problems)
    return ViewRequest(
        name=view.name, join_keys=view.join_keys, features=view.features, frame=frame, ttl=view.ttl
    )


def visible_from(mode: PitMode) -> Column:
    """When a feature row becomes visible: its event time, or also its write time when as known at."""
    from pyspark.sql import functions as F

    if mode == "as_known_at":
        # greatest() skips nulls: a row with no created_timestamp is known at its event time.
        return F.greatest(F.col(EVENT_TS), F.col(CREATED_TS))
    return F.col(EVENT_TS)


def prune_feature_rows(view: ViewRequest, bounds: EntityBounds | None, *, mode: PitMode) -> DataFrame:
    """Drop feature rows that no entity row can use: null keys/times, too new, or too old."""
    from pyspark.sql import functions as F

    frame = view.frame
    if CREATED_TS not in frame.columns:
        frame = frame.withColumn(CREATED_TS, F.lit(None).cast("timestamp"))
    cond = F.col(EVENT_TS).isNotNull()
    for key in view.join_keys:
        cond = cond & F.col(key).isNotNull()
    if bounds is not None:
        cond = cond & (F.col(EVENT_TS) <= F.lit(bounds.max_ts))
        if view.has_ttl:
            cond = cond & (F.col(EVENT_TS) >= F.lit(bounds.min_ts - view.ttl))  # type: ignore[operator]
        if mode == "as_known_at":
            cond = cond & (F.col(CREATED_TS).isNull() | (F.col(CREATED_TS) <= F.lit(bounds.max_ts)))
    return frame.where(cond)


def tag_feature_rows(frame: DataFrame, view: ViewRequest, *, mode: PitMode) -> DataFrame:
    """Feature rows as union members: keys, kind 0, visible-from time, values struct, rank struct."""
    from pyspark.sql import functions as F

    values = F.struct(*[F.col(f) for f in view.features])
    tiebreak = F.xxhash64(*[F.col(f) for f in view.features]) if view.features else F.lit(0).cast("long")
    rank = F.struct(F.col(EVENT_TS).alias("e"), F.col(CREATED_TS).alias("c"), tiebreak.alias("h"))
    return frame.select(
        *[F.col(k) for k in view.join_keys],
        F.lit(0).alias(_KIND),
        visible_from(mode).alias(_ORDER_TS),
        values.alias(_VALUES),
        rank.alias(_RANK),
    )


def tag_entity_rows(entity_df: DataFrame, *, timestamp_column: str) -> DataFrame:
    """Entity rows as union members: every entity column, kind 1, their timestamp as the order time."""
    from pyspark.sql import functions as F

    return entity_df.withColumn(_KIND, F.lit(1)).withColumn(_ORDER_TS, F.col(timestamp_column))


def latest_visible(tagged: DataFrame, join_keys: Sequence[str]) -> DataFrame:
    """For each row, the best feature row visible so far in its key group (one sort, running max)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    window = (
        Window.partitionBy(*join_keys)
        .orderBy(F.col(_ORDER_TS).asc(), F.col(_KIND).asc())
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    # max_by ignores entity rows (their rank is null); the rank orders by event time, then
    # created time, then the value hash, so ties resolve the same way on every run.
    return tagged.withColumn(_BEST, F.max_by(F.col(_VALUES), F.col(_RANK)).over(window)).withColumn(
        _BEST_RANK, F.max(F.col(_RANK)).over(window)
    )


def fresh_only(ttl: timedelta | None, *, timestamp_column: str) -> Column:
    """A condition that keeps the chosen value only if it is within ``ttl`` of the entity time (inclusive)."""
    from pyspark.sql import functions as F

    chosen = F.col(_BEST_RANK).getField("e")
    if ttl is None or ttl <= timedelta(0):
        return chosen.isNotNull()
    # Integer microseconds: exact at the edge, no interval arithmetic or float rounding.
    ttl_micros = (ttl.days * 86_400 + ttl.seconds) * 1_000_000 + ttl.microseconds
    limit = F.unix_micros(F.col(timestamp_column)) - F.lit(ttl_micros)
    return chosen.isNotNull() & (F.unix_micros(chosen) >= limit)


def join_view(
    entity_df: DataFrame,
    view: ViewRequest,
    *,
    names: dict[tuple[str, str], str],
    timestamp_column: str,
    mode: PitMode = "event_time",
    bounds: EntityBounds | None = None,
) -> DataFrame:
    """Add one view's point-in-time values to every entity row (nulls where none qualifies)."""
    from pyspark.sql import functions as F

    view = align_key_types(entity_df, view)
    features = tag_feature_rows(prune_feature_rows(view, bounds, mode=mode), view, mode=mode)
    entities = tag_entity_rows(entity_df, timestamp_column=timestamp_column)
    tagged = entities.unionByName(features, allowMissingColumns=True)
    ranked = latest_visible(tagged, view.join_keys).where(F.col(_KIND) == 1)
    keep = fresh_only(view.ttl, timestamp_column=timestamp_column)
    outputs = [F.when(keep, F.col(_BEST).getField(f)).alias(names[(view.name, f)]) for f in view.features]
    return ranked.select(*[F.col(c) for c in entity_df.columns], *outputs)


def point_in_time_join(
    entity_df: DataFrame,
    views: Sequence[ViewRequest],
    *,
    timestamp_column: str = EVENT_TS,
    mode: PitMode = "event_time",
    full_feature_names: bool = False,
    naive_timestamps: NaiveTimestamps = "reject",
    bounds: EntityBounds | None = None,
    now: datetime | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> DataFrame:
    """Join every entity row with the point-in-time values of several feature views.

    Args:
        entity_df: entity rows: every view's join keys and ``timestamp_column``; other columns
            (labels, ids) pass through unchanged.
        views: the views and features to fetch; their join keys may differ.
        timestamp_column: the entity rows' timestamp column.
        mode: ``"event_time"`` (Feast's rule) or ``"as_known_at"`` (also ``created <= t``).
        full_feature_names: name outputs ``view__feature`` instead of ``feature``.
        naive_timestamps: what to do with naive (TIMESTAMP_NTZ) timestamps: reject or read as UTC.
        bounds: the entity rows' time bounds if already computed (skips one pass).
        now: the current time for the far-future check (default: the clock).
        max_future: how far after ``now`` an entity timestamp may be.

    Returns:
        The entity rows, each exactly once, with one column per requested feature.

    Raises:
        EntityDataError: missing columns, naive/null/far-future timestamps, clashing names,
            incomparable key types.
    """
    check_entity_columns(entity_df, views, timestamp_column=timestamp_column)
    names = output_names(views, full_feature_names=full_feature_names, entity_columns=entity_df.columns)
    entity_df = normalize_timestamp_column(entity_df, timestamp_column, naive_timestamps=naive_timestamps)
    if bounds is None:
        bounds = entity_bounds(entity_df, timestamp_column=timestamp_column, now=now, max_future=max_future)
    result = entity_df
    for view in views:
        frame = (
            normalize_timestamp_column(
                view.frame, EVENT_TS, naive_timestamps=naive_timestamps, what=f"feature view {view.name!r}"
            )
            if EVENT_TS in view.frame.columns
            else view.frame
        )
        _check_feature_frame(frame, view)
        view = ViewRequest(
            name=view.name, join_keys=view.join_keys, features=view.features, frame=frame, ttl=view.ttl
        )
        result = join_view(
            result, view, names=names, timestamp_column=timestamp_column, mode=mode, bounds=bounds
        )
    return result


def _check_feature_frame(frame: DataFrame, view: ViewRequest) -> None:
    missing = [c for c in (EVENT_TS, *view.join_keys, *view.features) if c not in frame.columns]
    if missing:
        raise EntityDataError(
            f"feature view {view.name!r} has no column(s) {missing} in its table (columns: {frame.columns}); "
            "check the feature names or re-run the view's backfill"
        )
