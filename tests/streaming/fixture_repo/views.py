"""Stream feature views over raw card events (hourly windows, tiny data)."""

from datetime import timedelta

from entities import card
from feast import FeatureView, Field, FileSource, PushSource
from feast.types import Float64, Int64

from featurelake.spec import Aggregation, AggregationTransform, ViewSpec

events_source = FileSource(name="card_events", path="/nonexistent/card_events", timestamp_field="ts")
card_push = PushSource(name="card_push", batch_source=events_source)


def _view(name, features):
    return FeatureView(
        name=name,
        entities=[card],
        ttl=timedelta(days=2),
        schema=[Field(name="card_id", dtype=Int64), *features],
        source=FileSource(name=f"{name}__v1", path=f"/nonexistent/{name}", timestamp_field="event_timestamp"),
    )


card_txn = _view(
    "card_txn",
    [
        Field(name="txn_count_1h", dtype=Int64),
        Field(name="txn_amount_sum_2h", dtype=Float64),
        Field(name="txn_amount_max_2h", dtype=Float64),
        Field(name="txn_amount_last_2h", dtype=Float64),
        Field(name="txn_amount_mean_2h", dtype=Float64),
    ],
)
card_txn_spec = ViewSpec(
    view="card_txn",
    transform=AggregationTransform(
        source="card_events",
        timestamp_column="ts",
        entity_columns={"card": "card_id"},
        granularity="hourly",
        name_prefix="txn_",
        aggregations=[
            Aggregation(function="count", window="1h"),
            Aggregation(function="sum", column="amount", window="2h"),
            Aggregation(function="max", column="amount", window="2h"),
            Aggregation(function="last", column="amount", window="2h"),
            Aggregation(function="mean", column="amount", window="2h"),
        ],
    ),
)

# one-period windows: a late event is dropped from exactly one window, so late rows = late events;
# its own watermark (20 minutes, not the default 10) is what the streaming job must use
card_hourly = _view(
    "card_hourly", [Field(name="txn_count_1h", dtype=Int64), Field(name="txn_amount_sum_1h", dtype=Float64)]
)
card_hourly_spec = ViewSpec(
    view="card_hourly",
    transform=AggregationTransform(
        source="card_events",
        timestamp_column="ts",
        entity_columns={"card": "card_id"},
        granularity="hourly",
        name_prefix="txn_",
        aggregations=[
            Aggregation(function="count", window="1h"),
            Aggregation(function="sum", column="amount", window="1h"),
        ],
    ),
    watermark="20m",
)
