"""The streaming part of a feature view's spec: how late an event may arrive (the watermark).

A stream feature view is an aggregation view (:class:`featurelake.spec.AggregationTransform`);
``ViewSpec(watermark="15m")`` says how long after the latest event time seen the streaming
job keeps a window open for late events. An event whose window the watermark has passed is
dropped and counted (``late_rows_dropped`` in ``featurelake stream status``). Without it, the
watermark is :data:`DEFAULT_WATERMARK`; ``featurelake stream run --watermark`` overrides both for
one run. The registry records it in the view's definition (non-breaking:
``non_breaking.spec.watermark_seconds``, only when set, so definitions without it keep their
hash); changing it is a minor change.

Engine-free (no Spark, no Feast), like :mod:`featurelake.spec`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

DEFAULT_WATERMARK = timedelta(minutes=10)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_watermark(value: Any) -> Any:
    """``"30s"``, ``"10m"``, ``"2h"``, ``"1d"`` or a timedelta (pydantic ``before`` validator).

    Raises:
        ValueError: text that is not a duration (pydantic reports it with the field's name).
    """
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(
                f"watermark {value!r} is not a duration like '30s', '10m', '2h' or '1d'; or pass a timedelta"
            )
        return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    return value


def check_watermark(value: timedelta | None) -> timedelta | None:
    """A watermark must be zero or more whole seconds (Spark's ``withWatermark`` delay).

    Raises:
        ValueError: a negative or fractional watermark, naming it and the fix.
    """
    if value is not None and (value < timedelta(0) or value.microseconds):
        raise ValueError(
            f"watermark {value} must be zero or more whole seconds (how late an event may arrive), e.g. '10m'"
        )
    return value


def watermark_of(definition: Mapping[str, Any]) -> timedelta:
    """The watermark a view's stored definition declares, or :data:`DEFAULT_WATERMARK`.

    Args:
        definition: what :func:`featurelake.spec.view_definition` returned (the registry keeps
            it as the ``"spec"`` of a view version's stored definition).
    """
    spec = (definition.get("non_breaking") or {}).get("spec") or {}
    seconds = spec.get("watermark_seconds")
    return DEFAULT_WATERMARK if seconds is None else timedelta(seconds=int(seconds))
