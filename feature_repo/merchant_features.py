"""Merchant risk features: chargeback and refund rates and the mean ticket over 30 days."""

from datetime import timedelta

from entities import merchant
from feast import FeatureView, Field
from feast.types import Float64, Int64
from sources import merchant_risk_stats_source

from featurelake.spec import (
    Aggregation,
    AggregationTransform,
    NotNull,
    RowCount,
    UniqueKeys,
    ValueRange,
    ViewSpec,
)

merchant_risk_stats = FeatureView(
    name="merchant_risk_stats",
    entities=[merchant],
    ttl=timedelta(days=2),
    schema=[
        Field(name="merchant_id", dtype=Int64),
        Field(name="merchant_txn_count_30d", dtype=Int64, description="Transactions in the last 30 days"),
        Field(
            name="chargeback_rate_30d",
            dtype=Float64,
            description="Share of transactions charged back, 30 days",
        ),
        Field(name="refund_rate_30d", dtype=Float64, description="Share of transactions refunded, 30 days"),
        Field(name="mean_ticket_30d", dtype=Float64, description="Mean transaction amount, 30 days"),
    ],
    source=merchant_risk_stats_source,
    online=True,
    description="Per-merchant risk rates over 30 days, as of the end of each UTC day.",
    owner="risk-data@featurelake.dev",
    tags={"domain": "fraud", "team": "risk"},
)

merchant_risk_stats_spec = ViewSpec(
    view="merchant_risk_stats",
    transform=AggregationTransform(
        source="raw_transactions",
        timestamp_column="event_timestamp",
        entity_columns={"merchant_id": "merchant_id"},
        aggregations=[
            Aggregation(function="count", window="30d", name="merchant_txn_count_30d"),
            Aggregation(function="mean", column="is_chargeback", window="30d", name="chargeback_rate_30d"),
            Aggregation(function="mean", column="is_refund", window="30d", name="refund_rate_30d"),
            Aggregation(function="mean", column="amount", window="30d", name="mean_ticket_30d"),
        ],
    ),
    expectations=[
        NotNull(),
        UniqueKeys(),
        ValueRange(column="chargeback_rate_30d", min_value=0, max_value=1),
        ValueRange(column="refund_rate_30d", min_value=0, max_value=1),
        ValueRange(column="mean_ticket_30d", min_value=0),
        RowCount(min_rows=1),
    ],
)
