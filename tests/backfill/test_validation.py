"""Great Expectations on real Spark DataFrames: the report names what failed, how often, with examples."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from featurelake.lakehouse.validation import ExpectationsFailed, ensure_valid, validate_dataframe


@pytest.fixture(scope="module")
def rows(spark):
    data = [
        ("a", datetime(2024, 1, 1), 1.0, "FR"),
        ("a", datetime(2024, 1, 1), -2.0, "FR"),  # duplicate key, negative amount
        (None, datetime(2024, 1, 2), 3.0, "XX"),  # null key, unknown country
        ("b", datetime(2024, 1, 2), 4.0, "DE"),
    ]
    return spark.createDataFrame(
        data, "user_id string, event_timestamp timestamp, amount double, country string"
    )


@pytest.mark.spark
def test_report_names_each_failed_expectation(rows):
    import great_expectations as gx

    exps = [
        gx.expectations.ExpectColumnValuesToNotBeNull(column="user_id"),
        gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0),
        gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "event_timestamp"]),
        gx.expectations.ExpectColumnValuesToBeInSet(column="country", value_set=["FR", "DE"]),
        gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, max_value=10),
    ]
    report = validate_dataframe(rows, exps, view="v")
    assert not report.success
    by_type = {r.expectation: r for r in report.results}
    assert by_type["expect_column_values_to_not_be_null"].unexpected_count == 1
    assert by_type["expect_column_values_to_be_between"].unexpected_count == 1
    assert by_type["expect_column_values_to_be_between"].examples == [-2.0]
    assert by_type["expect_compound_columns_to_be_unique"].unexpected_count == 2
    assert by_type["expect_column_values_to_be_in_set"].examples == ["XX"]
    assert by_type["expect_table_row_count_to_be_between"].success
    assert by_type["expect_table_row_count_to_be_between"].observed_value == 4
    assert len(report.failures) == 4
    json.dumps(report.to_dict())  # serialisable, for <home>/runs/<id>/validation.json

    with pytest.raises(ExpectationsFailed) as err:
        ensure_valid(rows, exps, view="v")
    text = str(err.value)
    assert "expect_column_values_to_be_between(column='amount', min_value=0.0)" in text
    assert "1 of 4 rows failed" in text and "-2.0" in text and "Nothing was committed" in text


@pytest.mark.spark
def test_passing_expectations(rows):
    import great_expectations as gx

    report = ensure_valid(
        rows.where("user_id is not null and amount >= 0"),
        [
            gx.expectations.ExpectColumnValuesToNotBeNull(column="user_id"),
            gx.expectations.ExpectTableRowCountToBeBetween(min_value=2, max_value=2),
        ],
        view="v",
    )
    assert report.success and len(report.results) == 2


@pytest.mark.spark
def test_missing_column_is_reported_not_crashed(rows):
    import great_expectations as gx

    report = validate_dataframe(
        rows, [gx.expectations.ExpectColumnValuesToNotBeNull(column="nope")], view="v"
    )
    assert not report.success
    assert report.failures[0].error and "nope" in report.failures[0].error
