"""Request-time features: the payment being scored compared with the user's recent activity.

Not part of ``fraud_detection``: a caller asks for them explicitly and passes ``amount`` in the
request (online) or as a column of the entity frame (offline).
"""

import pandas as pd
from feast import Field, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64
from user_features import user_transaction_stats

transaction_request = RequestSource(
    name="transaction_request",
    schema=[Field(name="amount", dtype=Float64)],
    description="The payment being scored.",
)


@on_demand_feature_view(
    sources=[user_transaction_stats, transaction_request],
    schema=[
        Field(name="amount_to_mean_ticket_30d", dtype=Float64),
        Field(name="amount_above_max_30d", dtype=Int64),
    ],
    description="The payment's amount relative to the user's 30-day mean and maximum ticket.",
    owner="fraud-ml@featurelake.dev",
    tags={"domain": "fraud"},
)
def transaction_vs_history(inputs: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame()
    mean = inputs["txn_amount_mean_30d"].astype("float64")
    out["amount_to_mean_ticket_30d"] = inputs["amount"].astype("float64") / mean.where(mean > 0)
    out["amount_above_max_30d"] = (inputs["amount"] > inputs["txn_amount_max_30d"]).astype("int64")
    return out
