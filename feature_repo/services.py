"""Feature services.

Versions: Feast has no service versions, featurelake's registry does (it numbers each applied
change of a service: the first apply is v1, a changed feature list is v2, and
``feature_service="fraud_detection:v2"`` resolves through it). This repo therefore holds the
CURRENT definition only, as Feast expects: ``fraud_detection`` v2, which adds the merchant
features to v1's user features. Its tag ``version`` documents the intended version number;
v1 (user features only) is what an earlier state of this repo applied, reproduced in
tests by the fixture repo ``tests/spec/fixtures/fraud_v1``.
"""

from feast import FeatureService
from merchant_features import merchant_risk_stats
from user_features import user_profile, user_transaction_stats

fraud_detection = FeatureService(
    name="fraud_detection",
    features=[user_transaction_stats, user_profile, merchant_risk_stats],
    description="Features scored by the card-fraud model: user activity and profile, merchant risk.",
    owner="fraud-ml@featurelake.dev",
    tags={"version": "2", "model": "card_fraud"},
)
