"""The definition spec: validation, naming, period semantics, definitions, hashes, changes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from featurelake.spec import (
    Aggregation,
    AggregationTransform,
    AllowedValues,
    NotNull,
    RowCount,
    SparkTransform,
    UniqueKeys,
    ValueRange,
    ViewSpec,
    classify_change,
    definition_hash,
    event_date_of,
    feature_table_name,
    partitions_covering,
    period_ends,
)

from .repo_fixtures import ROOT


def _transform(**overrides):
    args = dict(
        source="raw_transactions",
        timestamp_column="event_timestamp",
        entity_columns={"user_id": "user_id"},
        name_prefix="txn_",
        aggregations=[
            Aggregation(function="count", window="1d"),
            Aggregation(function="sum", column="amount", window="7d", description="spend"),
        ],
    )
    args.update(overrides)
    return AggregationTransform(**args)


def profile_fn(sources, context):
    return sources["raw_users"]


def profile_fn_changed(sources, context):
    return sources["raw_users"].limit(1)


def one_arg(sources):
    return sources


# --------------------------------------------------------------------------- validation


def test_default_output_names_follow_prefix_column_function_window() -> None:
    t = _transform(
        aggregations=[
            Aggregation(function="count", window="1d"),
            Aggregation(function="sum", column="amount", window=timedelta(days=7)),
            Aggregation(function="mean", column="amount", window="30d", name="avg_ticket"),
            Aggregation(function="max", column="amount", window="12h"),
        ],
        granularity="hourly",
    )
    assert t.feature_names() == ("txn_count_1d", "txn_amount_sum_7d", "avg_ticket", "txn_amount_max_12h")
    assert t.max_window == timedelta(days=30)
    assert t.join_keys == ("user_id",)


def test_aggregation_transform_collects_every_problem() -> None:
    with pytest.raises(ValidationError) as info:
        AggregationTransform(
            source="raw_transactions",
            timestamp_column="ts",
            entity_columns={},
            aggregations=[
                Aggregation(function="sum", column="amount", window="12h"),  # not whole days
                Aggregation(function="count", window="1d", name="dup"),
                Aggregation(function="max", column="amount", window="1d", name="dup"),
                Aggregation(function="max", column="amount", window="2d", name="event_timestamp"),
            ],
        )
    text = str(info.value)
    assert "entity_columns is empty" in text
    assert "'amount_sum_12h' is not a whole number of daily periods" in text
    assert "output name 'dup' is produced by 2 aggregations" in text
    assert "'event_timestamp' collides with a key or system column" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"function": "sum", "window": "7d"}, "needs a column"),
        ({"function": "count", "window": "7 weeks"}, "is not like '7d'"),
        ({"function": "count", "window": timedelta(minutes=90)}, "whole number of hours"),
        ({"function": "count", "window": "0d"}, "positive"),
        ({"function": "median", "column": "a", "window": "1d"}, "function"),
        ({"function": "count", "window": "1d", "name": "bad name"}, "not a valid identifier"),
        ({"function": "count", "window": "1d", "colour": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_aggregation_names_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Aggregation(**kwargs)


def test_spec_objects_are_frozen() -> None:
    agg = Aggregation(function="count", window="1d")
    with pytest.raises(ValidationError):
        agg.window = timedelta(days=2)  # type: ignore[misc]


def test_spark_transform_checks_signature_and_sources() -> None:
    with pytest.raises(ValidationError) as info:
        SparkTransform(sources=["a"], function=one_arg, timestamp_columns={"b": "ts"}, lookback="-1d")
    assert "is not like" in str(info.value)  # negative windows are not accepted as strings
    with pytest.raises(ValidationError) as info:
        SparkTransform(
            sources=["a"], function=one_arg, timestamp_columns={"b": "ts"}, lookback=timedelta(days=-1)
        )
    text = str(info.value)
    assert "lookback" in text and "negative" in text
    assert "timestamp_columns names ['b']" in text
    assert "takes 1 argument(s)" in text


def test_spark_transform_function_source_unreadable() -> None:
    namespace: dict = {}
    exec("def f(sources, context):\n    return sources\n", namespace)  # no source file
    with pytest.raises(ValidationError, match="cannot read the source of transform function 'f'"):
        SparkTransform(sources=["a"], function=namespace["f"])


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ValueRange(column="x"), "has no bound"),
        (lambda: ValueRange(column="x", min_value=2, max_value=1), "min_value 2.0 > max_value 1.0"),
        (lambda: RowCount(), "has no bound"),
        (lambda: RowCount(min_rows=5, max_rows=1), "min_rows 5 > max_rows 1"),
        (lambda: AllowedValues(column="c", values=()), "is empty"),
        (lambda: NotNull(mostly=0), "greater than 0"),
    ],
)
def test_bad_expectations(factory, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        factory()


def test_view_spec_discriminates_transforms_and_expectations_from_plain_data() -> None:
    spec = ViewSpec.model_validate(
        {
            "view": "v",
            "transform": {
                "kind": "aggregation",
                "source": "raw",
                "timestamp_column": "ts",
                "entity_columns": {"u": "user_id"},
                "aggregations": [{"function": "count", "window": "1d"}],
            },
            "expectations": [{"kind": "unique_keys"}, {"kind": "row_count", "min_rows": 1}],
        }
    )
    assert isinstance(spec.transform, AggregationTransform)
    assert isinstance(spec.expectations[0], UniqueKeys) and isinstance(spec.expectations[1], RowCount)
    assert spec.feature_names() == ("count_1d",)
    with pytest.raises(ValidationError, match="bogus"):
        ViewSpec.model_validate({"view": "v", "transform": {"kind": "bogus"}})


# --------------------------------------------------------------------------- time semantics


def test_period_ends_daily_and_hourly() -> None:
    daily = period_ends(date(2024, 3, 1), date(2024, 3, 3), "daily")
    assert daily == [datetime(2024, 3, d, tzinfo=UTC) for d in (2, 3, 4)]
    hourly = period_ends(date(2024, 3, 1), date(2024, 3, 1), "hourly")
    assert len(hourly) == 24
    assert hourly[0] == datetime(2024, 3, 1, 1, tzinfo=UTC) and hourly[-1] == datetime(2024, 3, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="after end"):
        period_ends(date(2024, 3, 2), date(2024, 3, 1), "daily")


def test_event_date_puts_midnight_rows_in_the_day_that_ended() -> None:
    assert event_date_of(datetime(2024, 3, 2, tzinfo=UTC)) == date(2024, 3, 1)
    assert event_date_of(datetime(2024, 3, 2, 0, 0, 0, 1, tzinfo=UTC)) == date(2024, 3, 2)
    assert event_date_of(datetime(2024, 3, 2, 23, 59, tzinfo=UTC)) == date(2024, 3, 2)
    # every daily/hourly output row of days D1..D2 lands in partitions D1..D2
    ends = period_ends(date(2024, 3, 1), date(2024, 3, 2), "hourly")
    assert {event_date_of(e) for e in ends} == {date(2024, 3, 1), date(2024, 3, 2)}
    assert partitions_covering(datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 5, 12, tzinfo=UTC)) == (
        date(2024, 3, 1),
        date(2024, 3, 5),
    )
    with pytest.raises(ValueError, match="naive"):
        event_date_of(datetime(2024, 3, 2))


def test_required_event_range_covers_the_largest_window() -> None:
    t = _transform(
        aggregations=[
            Aggregation(function="count", window="7d"),
            Aggregation(function="count", window="1d", name="c1"),
        ]
    )
    lo, hi = t.required_event_range(date(2024, 3, 10), date(2024, 3, 12))
    assert lo == datetime(2024, 3, 4, tzinfo=UTC)  # end of Mar 10 minus 7 days
    assert hi == datetime(2024, 3, 13, tzinfo=UTC)  # end of Mar 12 (exclusive)


def test_feature_table_name() -> None:
    assert feature_table_name("user_profile", 2) == "user_profile__v2"
    with pytest.raises(ValueError, match="major_version"):
        feature_table_name("user_profile", 0)


# --------------------------------------------------------------------------- definitions & hashes


def test_definition_is_plain_json_and_order_independent() -> None:
    a = ViewSpec(view="v", transform=_transform(), expectations=[NotNull(), UniqueKeys()])
    b = ViewSpec(
        view="v",
        transform=_transform(aggregations=list(reversed(_transform().aggregations))),
        expectations=[UniqueKeys(), NotNull()],
    )
    assert json.loads(json.dumps(a.to_definition())) == a.to_definition()
    assert definition_hash(a.to_definition()) == definition_hash(b.to_definition())


def test_description_change_is_non_breaking_only() -> None:
    old = ViewSpec(view="v", transform=_transform()).to_definition()
    aggs = [
        Aggregation(function="count", window="1d"),
        Aggregation(function="sum", column="amount", window="7d", description="new words"),
    ]
    new = ViewSpec(view="v", transform=_transform(aggregations=aggs)).to_definition()
    assert definition_hash(old["breaking"]) == definition_hash(new["breaking"])
    assert definition_hash(old["non_breaking"]) != definition_hash(new["non_breaking"])
    change = classify_change(old, new)
    assert change.kind == "minor" and change.reasons == ("descriptions changed",)


def test_window_change_is_breaking() -> None:
    old = ViewSpec(view="v", transform=_transform()).to_definition()
    aggs = [
        Aggregation(function="count", window="1d"),
        Aggregation(
            function="sum", column="amount", window="7d", name="txn_amount_sum_7d", description="spend"
        ),
    ]
    same = ViewSpec(view="v", transform=_transform(aggregations=aggs)).to_definition()
    assert classify_change(old, same).kind == "unchanged"
    aggs = [
        Aggregation(function="count", window="1d"),
        Aggregation(function="sum", column="amount", window="8d", name="txn_amount_sum_7d"),
    ]
    new = ViewSpec(view="v", transform=_transform(aggregations=aggs)).to_definition()
    change = classify_change(old, new)
    assert change.kind == "breaking"
    assert any("txn_amount_sum_7d" in r and r.startswith("BREAKING") for r in change.reasons)


def test_added_aggregation_is_minor_removed_is_breaking() -> None:
    base = _transform().aggregations
    old = ViewSpec(view="v", transform=_transform()).to_definition()
    more = ViewSpec(
        view="v",
        transform=_transform(aggregations=[*base, Aggregation(function="max", column="amount", window="1d")]),
    ).to_definition()
    assert classify_change(old, more).kind == "minor"
    assert classify_change(more, old).kind == "breaking"


def test_function_source_is_part_of_the_hash() -> None:
    a = ViewSpec(
        view="p", transform=SparkTransform(sources=["raw_users"], function=profile_fn)
    ).to_definition()
    b = ViewSpec(
        view="p", transform=SparkTransform(sources=["raw_users"], function=profile_fn_changed)
    ).to_definition()
    assert 'return sources["raw_users"]' in a["breaking"]["transform"]["function_source"]
    assert definition_hash(a["breaking"]) != definition_hash(b["breaking"])
    assert classify_change(a, b).kind == "breaking"


def test_repo_hashes_are_stable_across_processes() -> None:
    code = (
        "import json; from featurelake.repo import load_repo; from featurelake.spec import view_definition, definition_hash\n"
        "r = load_repo('feature_repo')\n"
        "print(json.dumps({v.name: definition_hash(view_definition(v, r.spec(v.name))) for v in r.feature_views}))\n"
    )
    runs = []
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={
                **__import__("os").environ,
                "PYTHONHASHSEED": seed,
                "FEATURELAKE_STORAGE_ROOT": f"/tmp/elsewhere{seed}",
            },
        )
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"user_transaction_stats", "merchant_risk_stats", "user_profile"}
    assert len(set(runs[0].values())) == 3


# --------------------------------------------------------------------------- stream watermark


def test_watermark_parses_is_recorded_minor_and_read_back_with_a_default() -> None:
    from featurelake.stream_spec import DEFAULT_WATERMARK, watermark_of

    plain = ViewSpec(view="v", transform=_transform())
    late = ViewSpec(view="v", transform=_transform(), watermark="15m")
    assert late.watermark == timedelta(minutes=15)
    assert ViewSpec(view="v", transform=_transform(), watermark=timedelta(seconds=30)).watermark.seconds == 30
    assert "watermark_seconds" not in plain.to_definition()["non_breaking"]  # old hashes unchanged
    assert late.to_definition()["non_breaking"]["watermark_seconds"] == 900
    assert classify_change(plain.to_definition(), late.to_definition()).kind == "minor"
    # the registry keeps the spec's definition under non_breaking.spec (view_definition)
    assert watermark_of({"non_breaking": {"spec": late.to_definition()["non_breaking"]}}) == timedelta(
        minutes=15
    )
    assert (
        watermark_of({"non_breaking": {"spec": plain.to_definition()["non_breaking"]}}) == DEFAULT_WATERMARK
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"watermark": "ten minutes"}, "'ten minutes' is not a duration"),
        ({"watermark": timedelta(seconds=-5)}, "zero or more whole seconds"),
        ({"watermark": timedelta(seconds=1.5)}, "zero or more whole seconds"),
        (
            {"watermark": "5m", "transform": SparkTransform(function=profile_fn, sources=["raw_users"])},
            "watermark is for views that stream",
        ),
    ],
)
def test_bad_watermark_names_the_value_and_the_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ViewSpec(**{"view": "v", "transform": _transform(), **kwargs})
