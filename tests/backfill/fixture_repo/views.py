"""Small views over the demo's raw tables, each exercising one path of the backfill job."""

from datetime import timedelta

from entities import user
from feast import FeatureView, Field, FileSource
from feast.types import Float64, Int64, String

from featurelake.spec import (
    Aggregation,
    AggregationTransform,
    NotNull,
    RowCount,
    SparkTransform,
    UniqueKeys,
    ValueRange,
    ViewSpec,
)


def _source(name):
    return FileSource(name=name, path=f"/nonexistent/{name}", timestamp_field="event_timestamp")


def _view(name, features):
    return FeatureView(
        name=name,
        entities=[user],
        ttl=timedelta(days=2),
        schema=[Field(name="user_id", dtype=Int64), *features],
        source=_source(f"{name}__v1"),
    )


COUNT_FEATURES = [
    Field(name="txn_count_1d", dtype=Int64),
    Field(name="txn_amount_sum_7d", dtype=Float64),
    Field(name="txn_amount_max_3d", dtype=Float64),
]


def _counts(source="raw_transactions"):
    return AggregationTransform(
        source=source,
        timestamp_column="event_timestamp",
        entity_columns={"user_id": "user_id"},
        name_prefix="txn_",
        aggregations=[
            Aggregation(function="count", window="1d"),
            Aggregation(function="sum", column="amount", window="7d"),
            Aggregation(function="max", column="amount", window="3d"),
        ],
    )


user_counts = _view("user_counts", COUNT_FEATURES)
user_counts_spec = ViewSpec(
    view="user_counts",
    transform=_counts(),
    expectations=[
        NotNull(),
        UniqueKeys(),
        ValueRange(column="txn_count_1d", min_value=0),
        RowCount(min_rows=1),
    ],
)

# At most 60 rows per run: one day (<= 50 users) passes, several days fail.
user_counts_strict = _view("user_counts_strict", COUNT_FEATURES)
user_counts_strict_spec = ViewSpec(
    view="user_counts_strict", transform=_counts(), expectations=[RowCount(max_rows=60)]
)

user_counts_archived = _view("user_counts_archived", COUNT_FEATURES)
user_counts_archived_spec = ViewSpec(view="user_counts_archived", transform=_counts())

user_counts_nosource = _view("user_counts_nosource", COUNT_FEATURES)
user_counts_nosource_spec = ViewSpec(view="user_counts_nosource", transform=_counts("raw_nope"))


def wrong_schema(sources, context):
    """Returns user_id as int and forgets home_country."""
    from pyspark.sql import functions as F

    users = sources["raw_users"]
    ends = users.sparkSession.createDataFrame(
        [(e,) for e in context.period_ends], "event_timestamp timestamp"
    )
    return users.crossJoin(ends).select(
        F.col("user_id").cast("int").alias("user_id"),
        "event_timestamp",
        F.lit(1).cast("bigint").alias("account_age_days"),
    )


profile_wrong_schema = _view(
    "profile_wrong_schema",
    [Field(name="account_age_days", dtype=Int64), Field(name="home_country", dtype=String)],
)
profile_wrong_schema_spec = ViewSpec(
    view="profile_wrong_schema", transform=SparkTransform(sources=["raw_users"], function=wrong_schema)
)


def crash_in_task(sources, context):
    """Fails inside a Spark task (not when building the plan)."""
    from pyspark.sql import functions as F

    users = sources["raw_users"]
    ends = users.sparkSession.createDataFrame(
        [(e,) for e in context.period_ends], "event_timestamp timestamp"
    )
    boom = F.when(F.col("user_id") > 5, F.raise_error(F.lit("boom: corrupt user record"))).otherwise(F.lit(1))
    return users.crossJoin(ends).select(
        F.col("user_id").cast("bigint").alias("user_id"),
        "event_timestamp",
        boom.cast("bigint").alias("account_age_days"),
    )


profile_crash = _view("profile_crash", [Field(name="account_age_days", dtype=Int64)])
profile_crash_spec = ViewSpec(
    view="profile_crash", transform=SparkTransform(sources=["raw_users"], function=crash_in_task)
)
