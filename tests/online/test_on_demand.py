"""On-demand features computed in the same call, with the real feature repo's on-demand view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from featurelake.jobs.online import FeatureCatalog, OnlineFeatureClient
from featurelake.lakehouse.online import ClusterClient, FeatureStatus, InvalidRequestError, OnlineWriter
from featurelake.lakehouse.online.encoding import to_epoch_micros
from tests.online.helpers import unique_project

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[2] / "feature_repo"


@pytest.fixture(scope="module")
def repo():
    from featurelake.repo import load_repo

    return load_repo(REPO)


def test_on_demand_features_over_looked_up_values_and_request_data(repo, redis_nodes) -> None:
    project = unique_project()
    catalog = FeatureCatalog.from_feast(
        project,
        feature_views=repo.feature_views,
        on_demand_feature_views=repo.on_demand_feature_views,
        feature_services=repo.feature_services,
    )
    stats = catalog.views["user_transaction_stats"]
    now = datetime.now(UTC)
    values = {f: 0 for f in stats.feature_names} | {"txn_amount_mean_30d": 40.0, "txn_amount_max_30d": 90.0}
    OnlineWriter(ClusterClient(redis_nodes), project=project, view=stats).write_rows(
        [([7], to_epoch_micros(now - timedelta(hours=1)), [values[f] for f in stats.feature_names])]
    )
    sdk = OnlineFeatureClient.connect(catalog, redis_nodes)
    refs = [
        "transaction_vs_history:amount_to_mean_ticket_30d",
        "transaction_vs_history:amount_above_max_30d",
        "user_transaction_stats:txn_amount_max_30d",
    ]
    resp = sdk.get_online_features(
        features=refs, entity_rows=[{"user_id": 7, "amount": 100.0}, {"user_id": 7, "amount": 20.0}]
    )
    got = resp.to_dict()
    assert got["amount_to_mean_ticket_30d"] == [100.0 / 40.0, 20.0 / 40.0]
    assert got["amount_above_max_30d"] == [1, 0]
    assert got["txn_amount_max_30d"] == [90.0, 90.0]
    assert set(resp.status_dict()["amount_to_mean_ticket_30d"]) == {FeatureStatus.PRESENT.value}
    with pytest.raises(InvalidRequestError, match=r"request data \['amount'\] is missing"):
        sdk.get_online_features(features=refs, entity_rows=[{"user_id": 7}])
