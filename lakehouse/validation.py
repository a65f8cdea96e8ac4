"""Data expectations on Spark DataFrames with Great Expectations 1.x, before anything commits.

GX runs on an ephemeral context (nothing written to disk, analytics off) against the
DataFrame itself: ``add_spark().add_dataframe_asset().add_batch_definition_whole_dataframe()``
then ``get_batch(batch_parameters={"dataframe": sdf}).validate(suite)``. The result becomes a
small, JSON-serialisable :class:`ValidationReport`: which expectation failed, on how many rows,
and a few example values, so a failed backfill can save it next to its run and print it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from featurelake.errors import ValidationFailedError

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation
    from pyspark.sql import DataFrame

EXAMPLES = 5
_counter = itertools.count()


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation.

    Attributes:
        expectation: GX's expectation type, e.g. ``expect_column_values_to_be_between``.
        kwargs: its arguments (column, bounds, value set...).
        success: whether it held.
        unexpected_count: rows that broke it (None for table-level expectations).
        element_count: rows checked.
        observed_value: the observed value of table-level expectations (e.g. the row count).
        examples: up to five offending values (or key tuples, for uniqueness).
        error: the exception message if GX could not evaluate it (e.g. a missing column).
    """

    expectation: str
    kwargs: dict[str, Any]
    success: bool
    unexpected_count: int | None = None
    element_count: int | None = None
    observed_value: Any = None
    examples: list[Any] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        """One line: the expectation, its arguments and what broke it."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        head = f"{self.expectation}({args})"
        if self.success:
            return f"{head}: ok"
        if self.error:
            return f"{head}: could not be evaluated: {self.error}"
        if self.unexpected_count is not None:
            return (
                f"{head}: {self.unexpected_count} of {self.element_count} rows failed; "
                f"examples: {', '.join(repr(e) for e in self.examples) or '-'}"
            )
        return f"{head}: observed {self.observed_value!r}"


@dataclass(frozen=True)
class ValidationReport:
    """Every expectation's result for one DataFrame (a view's computed rows)."""

    view: str
    success: bool
    results: list[ExpectationResult]

    @property
    def failures(self) -> list[ExpectationResult]:
        """The expectations that did not hold."""
        return [r for r in self.results if not r.success]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (dates and decimals as strings)."""
        return _jsonable(asdict(self))

    def summary(self) -> str:
        """A human-readable, multi-line summary naming every failed expectation."""
        if self.success:
            return f"view {self.view!r}: all {len(self.results)} expectations hold"
        lines = [f"view {self.view!r}: {len(self.failures)} of {len(self.results)} expectations failed:"]
        lines += [f"  - {r.describe()}" for r in self.failures]
        return "\n".join(lines)


class ExpectationsFailed(ValidationFailedError):
    """Expectations failed; carries the report. Nothing was committed."""

    def __init__(self, report: ValidationReport, *, where: str | None = None):
        self.report = report
        saved = f" (report saved to {where})" if where else ""
        super().__init__(
            f"{report.summary()}\nNothing was committed{saved}. Fix the source data or the view's expectations, then re-run."
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return repr(value)


def _result(r: Any) -> ExpectationResult:
    cfg = r.expectation_config
    kwargs = {k: v for k, v in dict(cfg.kwargs).items() if k not in {"batch_id", "result_format"}}
    res = dict(r.result or {})
    info = r.exception_info or {}
    if "raised_exception" not in info and info:  # several metrics: {metric_id: {...}}
        info = next(iter(info.values()), {})
    error = info.get("exception_message") if info.get("raised_exception") else None
    return ExpectationResult(
        expectation=cfg.type,
        kwargs=_jsonable(kwargs),
        success=bool(r.success),
        unexpected_count=res.get("unexpected_count"),
        element_count=res.get("element_count"),
        observed_value=_jsonable(res.get("observed_value")),
        examples=_jsonable(list(res.get("partial_unexpected_list") or [])[:EXAMPLES]),
        error=error,
    )


def gx_expectations(expectations: Sequence[Any], *, join_keys: Sequence[str]) -> list[Expectation]:
    """Translate a view's spec expectations (``featurelake.spec``) into GX expectations.

    ``NotNull()`` without columns means the join keys and ``event_timestamp``; ``UniqueKeys``
    means (join keys, event_timestamp) is unique among the rows written.

    Raises:
        DefinitionError: an expectation kind this function does not know.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    from featurelake.errors import DefinitionError
    from featurelake.spec import EVENT_TIMESTAMP, AllowedValues, NotNull, RowCount, UniqueKeys, ValueRange

    out: list[Expectation] = []
    for e in expectations:
        if isinstance(e, NotNull):
            for col in e.columns or (*join_keys, EVENT_TIMESTAMP):
                out.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=col, mostly=e.mostly))
        elif isinstance(e, ValueRange):
            out.append(
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column=e.column, min_value=e.min_value, max_value=e.max_value, mostly=e.mostly
                )
            )
        elif isinstance(e, AllowedValues):
            out.append(
                gx.expectations.ExpectColumnValuesToBeInSet(
                    column=e.column, value_set=list(e.values), mostly=e.mostly
                )
            )
        elif isinstance(e, UniqueKeys):
            out.append(
                gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=[*join_keys, EVENT_TIMESTAMP])
            )
        elif isinstance(e, RowCount):
            out.append(
                gx.expectations.ExpectTableRowCountToBeBetween(min_value=e.min_rows, max_value=e.max_rows)
            )
        else:
            raise DefinitionError(
                f"expectation {e!r} is not supported; use NotNull, ValueRange, AllowedValues, UniqueKeys or RowCount"
            )
    return out


def validate_dataframe(df: DataFrame, expectations: Sequence[Expectation], *, view: str) -> ValidationReport:
    """Run GX expectations against a Spark DataFrame.

    Cache ``df`` first if it is expensive: GX evaluates several metrics, each a Spark job.

    Args:
        df: the rows to check.
        expectations: GX expectation objects (``great_expectations.expectations.*``).
        view: the feature view's name, for the report.

    Returns:
        The report; ``success`` is True when there are no expectations.
    """
    if not expectations:
        return ValidationReport(view=view, success=True, results=[])
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    n = next(_counter)
    batch_def = (
        ctx.data_sources.add_spark(name=f"featurelake_{n}")
        .add_dataframe_asset(name=view)
        .add_batch_definition_whole_dataframe(f"{view}_rows")
    )
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"{view}_{n}"))
    for exp in expectations:
        suite.add_expectation(exp.copy())
    result = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
    )
    results = [_result(r) for r in result.results]
    return ValidationReport(view=view, success=bool(result.success), results=results)


def ensure_valid(df: DataFrame, expectations: Sequence[Expectation], *, view: str) -> ValidationReport:
    """Like :func:`validate_dataframe`, but raise when any expectation fails.

    Raises:
        ExpectationsFailed: naming each failed expectation, its failing row count and examples.
    """
    report = validate_dataframe(df, expectations, view=view)
    if not report.success:
        raise ExpectationsFailed(report)
    return report
