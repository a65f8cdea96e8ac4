"""featurelake's engine-free feature definition spec.

A feature repo (``feature_repo/``) holds real Feast objects (Entity, FeatureView,
FeatureService, sources) plus one :class:`ViewSpec` per computed feature view, declared as a
module-level instance next to the view. The spec says HOW a view's feature table is computed
(a declarative :class:`AggregationTransform` or a custom :class:`SparkTransform`), which data
:data:`Expectation` s it must satisfy before a backfill commits, and how its table is Z-ordered.
This module imports neither Spark nor Feast, so the registry, the CLI and unit tests can use it
without a JVM.

Feature table layout (the contract every layer relies on)
---------------------------------------------------------
One Delta table per feature view MAJOR version, named :func:`feature_table_name`
(``<view>__v<major>``). Its columns, in this order:

* the view's entity join keys (from the Feast entities),
* ``event_timestamp``   timestamp, UTC: the moment the row's values became true,
* ``created_timestamp`` timestamp, UTC: when the row was computed (ties on event_timestamp
  are broken by the latest created_timestamp),
* ``event_date``        date, the partition column: :func:`event_date_of` ``(event_timestamp)``,
  i.e. the UTC date of ``event_timestamp - 1 microsecond``, so a row stamped exactly at
  midnight belongs to the day that just ended. A daily or hourly value computed for day D
  therefore always lands in partition D, and a backfill of days [D1, D2] replaces exactly
  partitions D1..D2. Readers needing rows with event_timestamp in [lo, hi] read the
  partitions :func:`partitions_covering` ``(lo, hi)``.
* the feature columns, named and typed as in the Feast view's schema.

Timestamps are written with microsecond precision (Spark 4 rejects nanosecond parquet).

Windowed aggregation semantics (:class:`AggregationTransform`)
--------------------------------------------------------------
Time is cut into periods of the declared granularity: UTC days (``daily``, the default) or UTC
hours (``hourly``). For a period P = [start, end) and an aggregation with window W, the value
for entity k is computed from the source events of k with timestamp t in ``[end - W, end)``:
only events strictly before the end of P are used (no leakage), and the output row's
``event_timestamp`` is ``end`` (when the value became true). Windows must be whole multiples of
the period length. An output row exists for (k, P) iff k has at least one event in
``[end - max(W), end)`` (the largest window of the view); inside such a row an aggregation whose
window holds no usable value gives 0 for ``count``/``count_distinct``/``approx_count_distinct``
and null for every other function. Functions:

* ``count``: number of events (``column=None``) or of non-null values of ``column``.
* ``sum``/``mean``/``min``/``max``: over non-null values; booleans count as 0/1, so ``mean``
  of a boolean flag is a rate.
* ``count_distinct``: exact number of distinct non-null values.
* ``approx_count_distinct``: an approximate distinct count from HyperLogLog sketches per
  period, merged over the window (the engine, ``featurelake.lakehouse.aggregations``, documents its error
  bound); use it when exactness is not needed at scale.
* ``last``: the non-null value of the latest event in the window; among events at the same
  timestamp the greatest value wins, so the result is deterministic.

Custom transforms (:class:`SparkTransform`)
-------------------------------------------
``function(sources, context)`` receives a dict of Spark DataFrames, one per declared source
table, and a :class:`TransformContext`. Sources listed in ``timestamp_columns`` are pre-filtered
to rows with ``[context.start - lookback, context.end)``; the others are passed whole, and the
function itself must not use facts from after each period's end. It returns the join keys,
``event_timestamp`` (in ``(context.start, context.end]``) and the feature columns of the Feast
view; the framework adds ``created_timestamp`` and ``event_date``. The function's source text
(``inspect.getsource``) is part of the definition and its hash.

Definitions and change classification
-------------------------------------
:meth:`ViewSpec.to_definition` returns a JSON-serialisable dict with canonical ordering,
split into ``"breaking"`` (what the stored values depend on: source, keys, granularity,
aggregations, function source) and ``"non_breaking"`` (descriptions, expectations, Z-order).
:func:`definition_hash` hashes any such dict stably across processes; :func:`classify_change`
compares two definitions of the same view (also ones built with :func:`view_definition`,
which adds the Feast view's entities, schema, TTL, owner, description and tags).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The expectations live in featurelake.expectations; spec users import them from here too.
from featurelake.expectations import AllowedValues as AllowedValues
from featurelake.expectations import Expectation as Expectation
from featurelake.expectations import NotNull as NotNull
from featurelake.expectations import RowCount as RowCount
from featurelake.expectations import UniqueKeys as UniqueKeys
from featurelake.expectations import ValueRange as ValueRange
from featurelake.expectations import expectation_columns as expectation_columns
from featurelake.monitors import Monitor, monitors_definition
from featurelake.stream_spec import check_watermark, parse_watermark

Granularity = Literal["daily", "hourly"]
AggFunction = Literal["count", "sum", "mean", "min", "max", "count_distinct", "approx_count_distinct", "last"]
ChangeKind = Literal["unchanged", "minor", "breaking"]

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"
EVENT_DATE = "event_date"
SYSTEM_COLUMNS: tuple[str, ...] = (EVENT_TIMESTAMP, CREATED_TIMESTAMP, EVENT_DATE)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WINDOW = re.compile(r"^\s*(\d+)\s*([dh])\s*$")
_ONE_US = timedelta(microseconds=1)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- layout helpers


def feature_table_name(view: str, major_version: int) -> str:
    """The Delta table name of a feature view's major version, e.g. ``user_profile__v1``.

    Args:
        view: the Feast feature view name.
        major_version: the major version (1-based) assigned by the registry.

    Returns:
        The table name.

    Raises:
        ValueError: if the version is not a positive integer.
    """
    if major_version < 1:
        raise ValueError(f"major_version must be >= 1, got {major_version}")
    return f"{view}__v{major_version}"


def period_length(granularity: Granularity) -> timedelta:
    """One period of ``granularity``: a day or an hour."""
    return timedelta(days=1) if granularity == "daily" else timedelta(hours=1)


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} is naive; pass a timezone-aware UTC datetime")
    return ts.astimezone(UTC)


def event_date_of(event_timestamp: datetime) -> date:
    """The ``event_date`` partition of a row: the UTC date of ``event_timestamp - 1 µs``.

    Args:
        event_timestamp: a timezone-aware timestamp.

    Returns:
        The partition date (a row stamped exactly at midnight belongs to the previous day).
    """
    return (_utc(event_timestamp) - _ONE_US).date()


def partitions_covering(lo: datetime, hi: datetime) -> tuple[date, date]:
    """The inclusive range of ``event_date`` partitions holding every row with lo <= ts <= hi.

    Args:
        lo: earliest event_timestamp wanted (timezone-aware).
        hi: latest event_timestamp wanted (timezone-aware).

    Returns:
        (first partition, last partition).
    """
    return event_date_of(lo), event_date_of(hi)


def partitions_to_read(
    earliest: datetime,
    latest: datetime,
    ttl: timedelta | None,
    *,
    also_plain_dates: bool = False,
) -> tuple[date, date]:
    """The ``event_date`` partitions a point-in-time lookup must read, by the partitioning rule.

    Entity rows timestamped in ``[earliest, latest]`` can use feature rows with
    ``earliest - ttl <= event_timestamp <= latest`` (both edges inclusive), so the partitions are
    :func:`partitions_covering` of that range. A feature row exactly ``ttl`` old and stamped at
    midnight sits in the partition of the day before its date, and is read. Every reader of a
    view's table for entity rows (``get_historical_features``, training sets, the Feast offline
    store) derives its range here.

    Args:
        earliest: the earliest entity timestamp (timezone-aware).
        latest: the latest entity timestamp (timezone-aware).
        ttl: the view's TTL; None or zero means no age limit (read from the first partition).
        also_plain_dates: also cover tables partitioned by the plain UTC date of the timestamp
            (Feast sources written by other tools): their partition of a midnight row is one day
            later than the spec's, so the range ends one day later.

    Returns:
        (first partition, last partition), inclusive; ``date.min`` first when there is no TTL.
    """
    if ttl is not None and ttl > timedelta(0):
        first, last = partitions_covering(_utc(earliest) - ttl, latest)
    else:
        first, last = date.min, event_date_of(latest)
    if also_plain_dates:
        last = max(last, _utc(latest).date())
    return first, last


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def period_ends(start: date, end: date, granularity: Granularity) -> list[datetime]:
    """The ends (= output event_timestamps) of every period of days ``start``..``end`` inclusive.

    Args:
        start: first day.
        end: last day (inclusive).
        granularity: daily or hourly periods.

    Returns:
        Period ends in ascending order, from ``start 00:00 + period`` to ``end + 1 day 00:00``.

    Raises:
        ValueError: if start is after end.
    """
    if start > end:
        raise ValueError(f"start {start} is after end {end}; swap them")
    step = period_length(granularity)
    first, stop = day_start(start) + step, day_start(end) + timedelta(days=1)
    count = int((stop - first) / step) + 1
    return [first + i * step for i in range(count)]


def _parse_window(value: Any) -> Any:
    if isinstance(value, str):
        match = _WINDOW.match(value)
        if not match:
            raise ValueError(
                f"window {value!r} is not like '7d' or '12h'; use days (d) or hours (h) or a timedelta"
            )
        n, unit = int(match.group(1)), match.group(2)
        return timedelta(days=n) if unit == "d" else timedelta(hours=n)
    return value


def window_label(window: timedelta) -> str:
    """A window as used in default feature names: ``7d``, ``12h``."""
    if window % timedelta(days=1) == timedelta(0):
        return f"{window // timedelta(days=1)}d"
    return f"{window // timedelta(hours=1)}h"


# --------------------------------------------------------------------------- transforms


class Aggregation(_Frozen):
    """One windowed aggregation producing one feature column.

    Attributes:
        function: the aggregate function (see the module docstring for exact semantics).
        column: the source column; None only for ``count`` (count events).
        window: the look-back window, a timedelta or a string like ``"7d"``/``"12h"``.
        name: the output feature name; default ``<prefix><column>_<function>_<window>`` or
            ``<prefix>count_<window>`` for a row count.
        description: free text (non-breaking).
    """

    function: AggFunction
    column: str | None = None
    window: timedelta
    name: str | None = None
    description: str = ""

    @field_validator("window", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return _parse_window(value)

    @model_validator(mode="after")
    def _check(self) -> Aggregation:
        if self.window <= timedelta(0) or self.window % timedelta(hours=1) != timedelta(0):
            raise ValueError(
                f"window {self.window} must be a positive whole number of hours or days, e.g. '7d'"
            )
        if self.column is None and self.function != "count":
            raise ValueError(f"function {self.function!r} needs a column; only 'count' may omit it")
        for label, value in (("column", self.column), ("name", self.name)):
            if value is not None and not _NAME.match(value):
                raise ValueError(f"{label} {value!r} is not a valid identifier (letters, digits, underscore)")
        return self

    def output_name(self, prefix: str = "") -> str:
        """The feature column this aggregation writes."""
        if self.name:
            return self.name
        if self.column is None:
            return f"{prefix}count_{window_label(self.window)}"
        return f"{prefix}{self.column}_{self.function}_{window_label(self.window)}"


class AggregationTransform(_Frozen):
    """Declarative windowed aggregations over one raw event table.

    Attributes:
        source: the raw Delta table name (e.g. ``raw_transactions``).
        timestamp_column: the event time column of the source.
        entity_columns: source column -> the view's join key (e.g. ``{"user_id": "user_id"}``).
        aggregations: the features to compute.
        granularity: ``daily`` (default) or ``hourly`` periods.
        name_prefix: prefix for default output names (``"txn_"`` gives ``txn_amount_sum_7d``).
    """

    kind: Literal["aggregation"] = "aggregation"
    source: str
    timestamp_column: str
    entity_columns: dict[str, str]
    aggregations: tuple[Aggregation, ...]
    granularity: Granularity = "daily"
    name_prefix: str = ""

    @model_validator(mode="after")
    def _check(self) -> AggregationTransform:
        problems = []
        if not self.entity_columns:
            problems.append("entity_columns is empty; map at least one source column to a join key")
        if not self.aggregations:
            problems.append("aggregations is empty; declare at least one Aggregation")
        step = period_length(self.granularity)
        names: dict[str, int] = {}
        for agg in self.aggregations:
            if agg.window % step != timedelta(0):
                problems.append(
                    f"window {window_label(agg.window)} of {agg.output_name(self.name_prefix)!r} is not a whole "
                    f"number of {self.granularity} periods; use whole days or set granularity='hourly'"
                )
            out = agg.output_name(self.name_prefix)
            names[out] = names.get(out, 0) + 1
        for out, n in names.items():
            if n > 1:
                problems.append(
                    f"output name {out!r} is produced by {n} aggregations; give each a distinct name="
                )
            if out in SYSTEM_COLUMNS or out in self.entity_columns.values():
                problems.append(f"output name {out!r} collides with a key or system column; rename it")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def join_keys(self) -> tuple[str, ...]:
        """The view's join keys, in declaration order."""
        return tuple(self.entity_columns.values())

    @property
    def max_window(self) -> timedelta:
        """The largest window: how far back the sources must be read."""
        return max(a.window for a in self.aggregations)

    def feature_names(self) -> tuple[str, ...]:
        """Output feature column names, in declaration order."""
        return tuple(a.output_name(self.name_prefix) for a in self.aggregations)

    def source_tables(self) -> tuple[str, ...]:
        """Raw tables this transform reads."""
        return (self.source,)

    def required_event_range(self, start: date, end: date) -> tuple[datetime, datetime]:
        """Source events needed to compute days ``start``..``end`` inclusive: [lo, hi).

        Raises:
            ValueError: if start is after end.
        """
        ends = period_ends(start, end, self.granularity)
        return ends[0] - self.max_window, ends[-1]

    def _definition(self) -> tuple[dict[str, Any], dict[str, Any]]:
        breaking = {
            "kind": self.kind,
            "source": self.source,
            "timestamp_column": self.timestamp_column,
            "entity_columns": dict(sorted(self.entity_columns.items())),
            "granularity": self.granularity,
            "aggregations": {
                a.output_name(self.name_prefix): {
                    "function": a.function,
                    "column": a.column,
                    "window_seconds": int(a.window.total_seconds()),
                }
                for a in self.aggregations
            },
        }
        non_breaking = {
            "descriptions": {a.output_name(self.name_prefix): a.description for a in self.aggregations},
        }
        return breaking, non_breaking


@dataclass(frozen=True)
class TransformContext:
    """What a :class:`SparkTransform` function is told about the computation.

    Attributes:
        view: the feature view being computed.
        start: start (inclusive) of the first period computed, UTC.
        end: end (exclusive) of the last period; output event_timestamps lie in (start, end].
        granularity: the transform's period length.
        period_ends: the end of every period computed (the output event_timestamps).
        join_keys: the view's join keys.
        computed_at: the run's created_timestamp.
    """

    view: str
    start: datetime
    end: datetime
    granularity: Granularity
    period_ends: tuple[datetime, ...]
    join_keys: tuple[str, ...]
    computed_at: datetime


def function_source(function: Callable[..., Any]) -> str:
    """The dedented source text of ``function`` (part of the definition hash).

    Raises:
        ValueError: if the source cannot be read (e.g. defined in an interactive session).
    """
    try:
        return textwrap.dedent(inspect.getsource(function)).strip() + "\n"
    except (OSError, TypeError) as err:
        name = getattr(function, "__qualname__", repr(function))
        raise ValueError(
            f"cannot read the source of transform function {name!r} ({err}); define it in a .py file of the repo"
        ) from None


class SparkTransform(_Frozen):
    """The escape hatch: a Python function over Spark DataFrames of the declared sources.

    Attributes:
        sources: raw table names passed to the function, keyed by name.
        function: ``callable(dict[str, DataFrame], TransformContext) -> DataFrame``.
        lookback: how far before ``context.start`` timestamped sources are read.
        timestamp_columns: source -> event time column, for sources to pre-filter to
            ``[start - lookback, end)``; sources not listed are passed whole.
        granularity: the period length of ``context.period_ends``.
    """

    kind: Literal["spark"] = "spark"
    sources: tuple[str, ...]
    function: Callable[..., Any]
    lookback: timedelta = timedelta(0)
    timestamp_columns: dict[str, str] = Field(default_factory=dict)
    granularity: Granularity = "daily"

    @field_validator("lookback", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return _parse_window(value)

    @model_validator(mode="after")
    def _check(self) -> SparkTransform:
        problems = []
        if not self.sources:
            problems.append("sources is empty; name at least one raw table")
        if self.lookback < timedelta(0):
            problems.append(f"lookback {self.lookback} is negative; use timedelta(0) or more")
        unknown = sorted(set(self.timestamp_columns) - set(self.sources))
        if unknown:
            problems.append(
                f"timestamp_columns names {unknown} which are not in sources {list(self.sources)}"
            )
        try:
            params = inspect.signature(self.function).parameters
            if len(params) < 2:
                problems.append(
                    f"function {self.function.__qualname__!r} takes {len(params)} argument(s); "
                    "it must accept (sources: dict[str, DataFrame], context: TransformContext)"
                )
        except (TypeError, ValueError):
            pass
        try:
            function_source(self.function)
        except ValueError as err:
            problems.append(str(err))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def source_tables(self) -> tuple[str, ...]:
        """Raw tables this transform reads."""
        return self.sources

    def _definition(self) -> tuple[dict[str, Any], dict[str, Any]]:
        breaking = {
            "kind": self.kind,
            "sources": sorted(self.sources),
            "function_source": function_source(self.function),
            "lookback_seconds": int(self.lookback.total_seconds()),
            "timestamp_columns": dict(sorted(self.timestamp_columns.items())),
            "granularity": self.granularity,
        }
        non_breaking = {"function_name": getattr(self.function, "__qualname__", "")}
        return breaking, non_breaking


Transform = Annotated[AggregationTransform | SparkTransform, Field(discriminator="kind")]


# --------------------------------------------------------------------------- the view spec


class ViewSpec(_Frozen):
    """How one Feast feature view's table is computed, validated and laid out.

    Declare it as a module-level instance in the feature repo, next to the Feast view named
    ``view``; :func:`featurelake.repo.load_repo` pairs them and checks they agree.

    Attributes:
        view: the Feast FeatureView name.
        transform: an AggregationTransform or a SparkTransform.
        expectations: data expectations checked before a backfill commits.
        zorder_by: columns to Z-order by after a backfill; None means the join keys.
        online_key_ttl: Redis key expiry after the view's materialization writes an entity
            (whole seconds, e.g. ``timedelta(days=7)`` or ``"7d"``). It overrides the global
            ``online.key_ttl_seconds``; ``timedelta(0)``: this view's writes set no expiry even
            when that is set; None inherits it. Changing it is a minor (non-breaking) change.
            Views sharing an entity share one Redis hash and so one expiry: see "Key expiry"
            in the README.
        retention: how long the view's offline table keeps a date partition (whole days, e.g.
            ``timedelta(days=365)`` or ``"365d"``); ``featurelake table expire`` deletes older
            partitions. None keeps everything. Changing it is a minor (non-breaking) change.
        monitors: drift checks (:class:`featurelake.monitors.Drift`) and online checks
            (:class:`featurelake.monitors.Skew`, :class:`featurelake.monitors.OnlineCoverage`) with
            thresholds; metrics not declared get :data:`featurelake.monitors.DEFAULT_MONITORS`.
            A change is minor.
        freshness_sla: the largest acceptable age of the newest partition and of the last
            materialization (``featurelake monitor run`` fails beyond it). A change is minor.
        watermark: for an aggregation view that streams, how late an event may arrive and
            still be counted (``"10m"``, a timedelta); None: :data:`featurelake.stream_spec.DEFAULT_WATERMARK`.
            See :mod:`featurelake.stream_spec`. A change is minor.
    """

    view: str
    transform: Transform
    expectations: tuple[Expectation, ...] = ()
    zorder_by: tuple[str, ...] | None = None
    online_key_ttl: timedelta | None = None
    retention: timedelta | None = None
    monitors: tuple[Annotated[Monitor, Field(discriminator="metric")], ...] = ()
    freshness_sla: timedelta | None = None
    watermark: timedelta | None = None

    @field_validator("view")
    @classmethod
    def _view_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"view {value!r} is not a valid name (letters, digits, underscore)")
        return value

    @field_validator("online_key_ttl", "freshness_sla", mode="before")
    @classmethod
    def _parse_key_ttl(cls, value: Any) -> Any:
        return value if value is None else _parse_window(value)

    @field_validator("freshness_sla")
    @classmethod
    def _positive_sla(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError(f"freshness_sla {value} must be positive, e.g. '2d' or timedelta(hours=36)")
        return value

    @field_validator("online_key_ttl")
    @classmethod
    def _whole_seconds(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and (value < timedelta(0) or value.microseconds):
            raise ValueError(
                f"online_key_ttl {value} must be zero or more whole seconds (Redis EXPIRE); "
                "write e.g. timedelta(days=7), or timedelta(0) for keys that never expire"
            )
        return value

    @field_validator("retention", mode="before")
    @classmethod
    def _parse_retention(cls, value: Any) -> Any:
        return value if value is None else _parse_window(value)

    @field_validator("retention")
    @classmethod
    def _whole_days(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and (value <= timedelta(0) or value % timedelta(days=1)):
            raise ValueError(
                f"retention {value} must be a positive whole number of days (date partitions expire); "
                "write e.g. timedelta(days=365) or '365d'"
            )
        return value

    @field_validator("watermark", mode="before")
    @classmethod
    def _parse_watermark(cls, value: Any) -> Any:
        return parse_watermark(value)

    @model_validator(mode="after")
    def _check_watermark(self) -> ViewSpec:
        check_watermark(self.watermark)
        if self.watermark is not None and not isinstance(self.transform, AggregationTransform):
            raise ValueError(
                f"watermark is for views that stream, i.e. with an AggregationTransform; view {self.view!r} has a "
                "SparkTransform: remove watermark="
            )
        return self

    def feature_names(self) -> tuple[str, ...] | None:
        """Features the transform produces (None for a SparkTransform: the Feast schema says)."""
        if isinstance(self.transform, AggregationTransform):
            return self.transform.feature_names()
        return None

    def source_tables(self) -> tuple[str, ...]:
        """Raw tables the transform reads (lineage inputs)."""
        return self.transform.source_tables()

    def to_definition(self) -> dict[str, Any]:
        """The serialisable definition: ``{"view", "breaking": {...}, "non_breaking": {...}}``.

        Stable for hashing: plain JSON types, order-independent where order has no meaning.
        """
        breaking, non_breaking = self.transform._definition()
        non_breaking = {
            **non_breaking,
            "expectations": sorted(
                (e.model_dump(mode="json") for e in self.expectations),
                key=lambda d: json.dumps(d, sort_keys=True),
            ),
            "zorder_by": list(self.zorder_by) if self.zorder_by is not None else None,
        }
        if self.online_key_ttl is not None:  # only when set: existing definitions keep their hash
            non_breaking["online_key_ttl_seconds"] = int(self.online_key_ttl.total_seconds())
        if self.retention is not None:  # only when set: existing definitions keep their hash
            non_breaking["retention_days"] = self.retention.days
        non_breaking.update(monitors_definition(self.monitors, self.freshness_sla))  # only when set
        if self.watermark is not None:  # only when set: existing definitions keep their hash
            non_breaking["watermark_seconds"] = int(self.watermark.total_seconds())
        return {"view": self.view, "breaking": {"transform": breaking}, "non_breaking": non_breaking}


def online_key_ttl_seconds(definition: Mapping[str, Any]) -> int | None:
    """The view's own Redis key expiry recorded in a definition (:func:`view_definition`).

    Args:
        definition: what :func:`view_definition` returned (the registry keeps it as the
            ``"spec"`` of a view version's stored definition).

    Returns:
        Seconds; 0 when the view says its keys never expire; None when it does not say (the
        global ``online.key_ttl_seconds`` applies).
    """
    spec = (definition.get("non_breaking") or {}).get("spec") or {}
    value = spec.get("online_key_ttl_seconds")
    return None if value is None else int(value)


def retention_days(definition: Mapping[str, Any]) -> int | None:
    """The view's offline retention in days recorded in a definition (None: keep everything).

    Args:
        definition: what :func:`view_definition` returned (a view version's stored definition
            holds it under ``"spec"``).
    """
    spec = (definition.get("non_breaking") or {}).get("spec") or {}
    value = spec.get("retention_days")
    return None if value is None else int(value)


# --------------------------------------------------------------------------- definitions & hashes


def _canonical(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)


def definition_hash(definition: Mapping[str, Any]) -> str:
    """sha256 hex digest of a definition dict, stable across processes and key order."""
    return hashlib.sha256(_canonical(definition).encode()).hexdigest()


def _feast_dtype(dtype: Any) -> str:
    return str(dtype)


def view_definition(feature_view: Any, spec: ViewSpec | None) -> dict[str, Any]:
    """The full definition of a Feast FeatureView plus its spec, split breaking/non-breaking.

    Breaking: join keys and their types, TTL, each feature's dtype, the transform.
    Non-breaking: descriptions, owner, tags (view and feature), online flag, source name,
    expectations, Z-order. Adding a feature is classified by :func:`classify_change`.

    Args:
        feature_view: a ``feast.FeatureView`` (duck-typed: name, entity_columns, features, ttl, ...).
        spec: its ViewSpec, or None for a view computed elsewhere.

    Returns:
        ``{"view", "breaking": {...}, "non_breaking": {...}}`` of plain JSON types.
    """
    ttl = feature_view.ttl
    source = getattr(feature_view, "batch_source", None)
    breaking: dict[str, Any] = {
        "entities": sorted(feature_view.entities),
        "join_keys": {f.name: _feast_dtype(f.dtype) for f in feature_view.entity_columns},
        "ttl_seconds": int(ttl.total_seconds()) if ttl else 0,
        "features": {f.name: _feast_dtype(f.dtype) for f in feature_view.features},
    }
    non_breaking: dict[str, Any] = {
        "description": feature_view.description,
        "owner": feature_view.owner,
        "tags": dict(sorted(feature_view.tags.items())),
        "online": bool(feature_view.online),
        # The source's name, not its path: paths differ between environments.
        "source": getattr(source, "name", None),
        "feature_descriptions": {f.name: f.description for f in feature_view.features},
        "feature_tags": {f.name: dict(sorted(f.tags.items())) for f in feature_view.features},
    }
    if spec is not None:
        spec_def = spec.to_definition()
        breaking.update(spec_def["breaking"])
        non_breaking["spec"] = spec_def["non_breaking"]
    return {"view": feature_view.name, "breaking": breaking, "non_breaking": non_breaking}


@dataclass(frozen=True)
class Change:
    """The classification of a definition change, with human-readable reasons."""

    kind: ChangeKind
    reasons: tuple[str, ...]


def classify_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> Change:
    """Classify a change between two definitions of the same view.

    Rules (issue 3): identical -> unchanged; an added feature or changed description, tags,
    owner, expectations, Z-order, monitors or freshness SLA -> minor; a removed feature, a changed type, entity, TTL or
    transformation -> breaking. An added aggregation (a new feature column) is minor.

    Args:
        old: a definition from :func:`view_definition` or :meth:`ViewSpec.to_definition`.
        new: the same kind of definition for the new state.

    Returns:
        The change kind and its reasons.
    """
    if _canonical(old) == _canonical(new):
        return Change("unchanged", ())
    reasons: list[str] = []
    ob, nb = dict(old.get("breaking", {})), dict(new.get("breaking", {}))
    old_feats, new_feats = dict(ob.pop("features", {})), dict(nb.pop("features", {}))
    old_tf, new_tf = dict(ob.pop("transform", {}) or {}), dict(nb.pop("transform", {}) or {})
    old_aggs, new_aggs = dict(old_tf.pop("aggregations", {})), dict(new_tf.pop("aggregations", {}))
    # Features: removed or retyped is breaking, added is minor.
    for name in sorted(set(old_feats) - set(new_feats)):
        reasons.append(f"BREAKING: feature {name!r} removed")
    for name in sorted(set(old_feats) & set(new_feats)):
        if old_feats[name] != new_feats[name]:
            reasons.append(f"BREAKING: feature {name!r} type {old_feats[name]} -> {new_feats[name]}")
    for name in sorted(set(old_aggs) - set(new_aggs)):
        reasons.append(f"BREAKING: aggregation {name!r} removed")
    for name in sorted(set(old_aggs) & set(new_aggs)):
        if old_aggs[name] != new_aggs[name]:
            reasons.append(f"BREAKING: aggregation {name!r} changed {old_aggs[name]} -> {new_aggs[name]}")
    if old_tf != new_tf:
        keys = sorted(k for k in set(old_tf) | set(new_tf) if old_tf.get(k) != new_tf.get(k))
        reasons.append(f"BREAKING: transformation changed ({', '.join(keys)})")
    for key in sorted(set(ob) | set(nb)):
        if ob.get(key) != nb.get(key):
            reasons.append(f"BREAKING: {key} {ob.get(key)} -> {nb.get(key)}")
    breaking = bool(reasons)
    for name in sorted(set(new_feats) - set(old_feats)):
        reasons.append(f"feature {name!r} added")
    for name in sorted(set(new_aggs) - set(old_aggs)):
        if name not in new_feats or name in old_feats:
            reasons.append(f"aggregation {name!r} added")
    on, nn = old.get("non_breaking", {}), new.get("non_breaking", {})
    for key in sorted(set(on) | set(nn)):
        if _canonical({"v": on.get(key)}) != _canonical({"v": nn.get(key)}):
            reasons.append(f"{key} changed")
    if not reasons:  # only the view name or other top-level keys differ
        reasons.append("definition changed")
    return Change("breaking" if breaking else "minor", tuple(reasons))
