"""``ViewSpec(retention=...)``: whole days, recorded as a non-breaking part of the definition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from featurelake.spec import Aggregation, AggregationTransform, ViewSpec, retention_days


def _spec(**kw):  # type: ignore[no-untyped-def]
    transform = AggregationTransform(
        source="raw_transactions",
        timestamp_column="event_timestamp",
        entity_columns={"user_id": "user_id"},
        aggregations=[Aggregation(function="count", window="1d")],
    )
    return ViewSpec(view="v", transform=transform, **kw)


def test_retention_is_recorded_in_days_and_only_when_set() -> None:
    assert (
        retention_days({"non_breaking": {"spec": _spec(retention="30d").to_definition()["non_breaking"]}})
        == 30
    )
    plain = _spec().to_definition()
    assert "retention_days" not in plain["non_breaking"]  # existing definitions keep their hash
    assert _spec(retention=timedelta(days=2)).to_definition()["breaking"] == plain["breaking"]
    assert retention_days({}) is None


@pytest.mark.parametrize("bad", [timedelta(hours=36), timedelta(0), "-1d"])
def test_retention_must_be_whole_positive_days(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="retention"):
        _spec(retention=bad)
