"""Data-quality expectations a view's spec declares: checked on every backfill before commit.

The classes are part of a view's registry definition (pydantic, frozen, ``kind``-tagged), so this
module imports neither Spark nor Feast. :mod:`featurelake.spec` re-exports them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotNull(_Frozen):
    """Columns must not be null. ``columns=None`` means the join keys and event_timestamp."""

    kind: Literal["not_null"] = "not_null"
    columns: tuple[str, ...] | None = None
    mostly: float = Field(default=1.0, gt=0, le=1)


class ValueRange(_Frozen):
    """Non-null values of ``column`` lie in [min_value, max_value] (either bound optional)."""

    kind: Literal["value_range"] = "value_range"
    column: str
    min_value: float | None = None
    max_value: float | None = None
    mostly: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _bounds(self) -> ValueRange:
        if self.min_value is None and self.max_value is None:
            raise ValueError(f"ValueRange on {self.column!r} has no bound; give min_value and/or max_value")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(
                f"ValueRange on {self.column!r}: min_value {self.min_value} > max_value {self.max_value}"
            )
        return self


class AllowedValues(_Frozen):
    """Non-null values of ``column`` are in ``values``."""

    kind: Literal["allowed_values"] = "allowed_values"
    column: str
    values: tuple[str | int | float | bool, ...]
    mostly: float = Field(default=1.0, gt=0, le=1)

    @field_validator("values")
    @classmethod
    def _non_empty(cls, values: tuple[Any, ...]) -> tuple[Any, ...]:
        if not values:
            raise ValueError("AllowedValues.values is empty; list the allowed values")
        return values


class UniqueKeys(_Frozen):
    """(join keys, event_timestamp) is unique among the rows a run writes."""

    kind: Literal["unique_keys"] = "unique_keys"


class RowCount(_Frozen):
    """The number of rows a backfill run writes lies in [min_rows, max_rows]."""

    kind: Literal["row_count"] = "row_count"
    min_rows: int | None = Field(default=None, ge=0)
    max_rows: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> RowCount:
        if self.min_rows is None and self.max_rows is None:
            raise ValueError("RowCount has no bound; give min_rows and/or max_rows")
        if self.min_rows is not None and self.max_rows is not None and self.min_rows > self.max_rows:
            raise ValueError(f"RowCount min_rows {self.min_rows} > max_rows {self.max_rows}")
        return self


Expectation = Annotated[
    NotNull | ValueRange | AllowedValues | UniqueKeys | RowCount, Field(discriminator="kind")
]


def expectation_columns(
    expectation: NotNull | ValueRange | AllowedValues | UniqueKeys | RowCount,
) -> tuple[str, ...]:
    """Columns an expectation names explicitly (empty for key/row-count expectations)."""
    if isinstance(expectation, NotNull):
        return expectation.columns or ()
    if isinstance(expectation, ValueRange | AllowedValues):
        return (expectation.column,)
    return ()
