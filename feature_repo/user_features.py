"""User features: transaction activity windows and the profile (a custom Spark transform)."""

from datetime import timedelta

from entities import user
from feast import FeatureView, Field
from feast.types import Float64, Int64, String
from sources import user_profile_source, user_transaction_stats_source

from featurelake.spec import (
    Aggregation,
    AggregationTransform,
    AllowedValues,
    NotNull,
    RowCount,
    SparkTransform,
    TransformContext,
    UniqueKeys,
    ValueRange,
    ViewSpec,
)

COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "MX", "IN", "JP", "CA", "AU", "NG", "PL")
WINDOWS = ("1d", "7d", "30d")

user_transaction_stats = FeatureView(
    name="user_transaction_stats",
    entities=[user],
    ttl=timedelta(days=2),
    schema=[
        Field(name="user_id", dtype=Int64),
        *[
            Field(name=f"txn_count_{w}", dtype=Int64, description=f"Card transactions in the last {w}")
            for w in WINDOWS
        ],
        *[
            Field(
                name=f"txn_amount_sum_{w}", dtype=Float64, description=f"Total amount spent in the last {w}"
            )
            for w in WINDOWS
        ],
        *[
            Field(name=f"txn_amount_mean_{w}", dtype=Float64, description=f"Mean ticket in the last {w}")
            for w in WINDOWS
        ],
        *[
            Field(name=f"txn_amount_max_{w}", dtype=Float64, description=f"Largest ticket in the last {w}")
            for w in WINDOWS
        ],
    ],
    source=user_transaction_stats_source,
    online=True,
    description="Per-user card activity over 1, 7 and 30 days, as of the end of each UTC day.",
    owner="risk-data@featurelake.dev",
    tags={"domain": "fraud", "team": "risk"},
)

user_transaction_stats_spec = ViewSpec(
    view="user_transaction_stats",
    transform=AggregationTransform(
        source="raw_transactions",
        timestamp_column="event_timestamp",
        entity_columns={"user_id": "user_id"},
        name_prefix="txn_",
        aggregations=[
            agg
            for w in WINDOWS
            for agg in (
                Aggregation(function="count", window=w),
                Aggregation(function="sum", column="amount", window=w),
                Aggregation(function="mean", column="amount", window=w),
                Aggregation(function="max", column="amount", window=w),
            )
        ],
    ),
    expectations=[
        NotNull(),
        UniqueKeys(),
        NotNull(columns=("txn_count_30d",)),
        ValueRange(column="txn_count_30d", min_value=1),
        ValueRange(column="txn_amount_sum_30d", min_value=0),
        RowCount(min_rows=1),
    ],
)


user_profile = FeatureView(
    name="user_profile",
    entities=[user],
    ttl=timedelta(days=2),
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="account_age_days", dtype=Int64, description="Whole days since sign-up"),
        Field(name="home_country", dtype=String, description="Country of residence", tags={"pii": "true"}),
    ],
    source=user_profile_source,
    online=True,
    description="Slowly changing user attributes, one snapshot per user per UTC day.",
    owner="risk-data@featurelake.dev",
    tags={"domain": "fraud", "team": "risk", "pii": "true"},
)


def user_profile_snapshot(sources, context: TransformContext):
    """One row per user signed up before each period end: account age and home country."""
    from pyspark.sql import functions as F

    users = sources["raw_users"]
    spark = users.sparkSession
    ends = spark.createDataFrame([(end,) for end in context.period_ends], "event_timestamp timestamp")
    rows = users.join(ends, users["signup_timestamp"] < ends["event_timestamp"])
    age_seconds = F.col("event_timestamp").cast("long") - F.col("signup_timestamp").cast("long")
    return rows.select(
        F.col("user_id").cast("bigint").alias("user_id"),
        F.col("event_timestamp"),
        F.floor(age_seconds / 86400).cast("bigint").alias("account_age_days"),
        F.col("home_country").cast("string").alias("home_country"),
    )


user_profile_spec = ViewSpec(
    view="user_profile",
    transform=SparkTransform(sources=["raw_users"], function=user_profile_snapshot),
    expectations=[
        NotNull(),
        UniqueKeys(),
        NotNull(columns=("account_age_days", "home_country")),
        ValueRange(column="account_age_days", min_value=0),
        AllowedValues(column="home_country", values=COUNTRIES),
    ],
)
