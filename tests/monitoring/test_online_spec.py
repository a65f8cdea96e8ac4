"""Skew and OnlineCoverage in the view spec: stored in the definition (a minor change), read back,
defaults, and every bad setting named (no Spark, no services)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from featurelake.monitors import (
    DEFAULT_MONITORS,
    Drift,
    OnlineCoverage,
    Skew,
    effective_monitors,
    monitors_from_definition,
)


def _spec(**kw):
    from featurelake.spec import Aggregation, AggregationTransform, ViewSpec

    return ViewSpec(
        view="v",
        transform=AggregationTransform(
            source="raw",
            timestamp_column="ts",
            entity_columns={"user_id": "user_id"},
            aggregations=[Aggregation(function="sum", column="amount", window="1d")],
        ),
        **kw,
    )


def _read_back(spec):
    return monitors_from_definition(
        {"spec": {"non_breaking": {"spec": spec.to_definition()["non_breaking"]}}}
    )


def test_online_monitors_round_trip_and_a_threshold_change_is_minor() -> None:
    from featurelake.spec import classify_change

    loose = _spec(
        monitors=[Skew(warn=0.01, fail=0.05, sample=200, seed=4), OnlineCoverage(warn=0.9, fail=0.8)]
    )
    strict = _spec(monitors=[{"metric": "skew", "warn": 0.001, "fail": 0.01}, OnlineCoverage()])
    assert classify_change(loose.to_definition(), strict.to_definition()).kind == "minor"
    monitors, _ = _read_back(loose)
    assert set(monitors) == {
        Skew(warn=0.01, fail=0.05, sample=200, seed=4),
        OnlineCoverage(warn=0.9, fail=0.8),
    }
    # a view that declares none gets the documented defaults, next to the drift defaults
    assert Skew() in DEFAULT_MONITORS and OnlineCoverage() in DEFAULT_MONITORS
    assert (Skew().warn, Skew().fail, Skew().sample, OnlineCoverage().warn, OnlineCoverage().fail) == (
        0.001,
        0.01,
        1000,
        0.99,
        0.95,
    )
    declared = (Drift(metric="psi", warn=0.2, fail=0.3), Skew(fail=0.5))
    effective = effective_monitors(declared)
    assert Skew(fail=0.5) in effective and Skew() not in effective and OnlineCoverage() in effective


def test_outcomes_skew_higher_is_worse_coverage_lower_is_worse() -> None:
    skew, cover = Skew(warn=0.01, fail=0.1), OnlineCoverage(warn=0.99, fail=0.9)
    assert [skew.outcome(v) for v in (0.0, 0.01, 0.05, 0.1, 1.0)] == ["ok", "warn", "warn", "fail", "fail"]
    # at fail itself coverage only warns: a failure is strictly below it
    assert [cover.outcome(v) for v in (1.0, 0.99, 0.95, 0.9, 0.5)] == ["ok", "ok", "warn", "warn", "fail"]


def test_bad_settings_are_all_named() -> None:
    with pytest.raises(ValidationError) as err:
        _spec(monitors=[{"metric": "skew", "warn": 2, "fail": -1, "sample": 0, "features": ["bad name"]}])
    text = str(err.value)
    for part in (
        "warn=2 is outside [0, 1]",
        "fail=-1 is outside [0, 1]",
        "sample=0 is not a whole number",
        "'bad name'",
    ):
        assert part in text, text
    stored = {
        "non_breaking": {
            "spec": {
                "monitors": [
                    {"metric": "online_coverage", "warn": 0.5, "fail": 0.9},
                    {"metric": "skew", "warn": 0.2, "fail": 0.1},
                    {"metric": "nope", "warn": 0.1, "fail": 0.2},
                ]
            }
        }
    }
    with pytest.raises(ValueError) as err2:
        monitors_from_definition(stored)
    text = str(err2.value)
    assert "OnlineCoverage warn=0.5 is below fail=0.9" in text
    assert "Skew warn=0.2 is above fail=0.1" in text
    assert "monitor metric 'nope' is not one of" in text


def test_drift_outcome_is_higher_is_worse_at_its_own_thresholds() -> None:
    psi = Drift(metric="psi", warn=0.1, fail=0.25)
    assert [psi.outcome(v) for v in (0.0, 0.1, 0.2, 0.25, 3.0)] == ["ok", "warn", "warn", "fail", "fail"]
