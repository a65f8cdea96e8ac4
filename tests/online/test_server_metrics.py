"""The feature server's Prometheus metrics (``GET /metrics``) on a real Redis cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from featurelake.jobs.online import FeatureCatalog, OnlineFeatureClient
from featurelake.lakehouse.online import ClusterClient, OnlineView, OnlineWriter
from featurelake.lakehouse.online.encoding import to_epoch_micros
from featurelake.server.app import create_app
from tests.online.helpers import unique_project

pytestmark = pytest.mark.redis

VIEW = OnlineView(
    "merchant", (("merchant_id", "int64"),), (("risk", "double"), ("mcc", "string")), ttl=timedelta(days=1)
)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_latency_per_service_statuses_per_view_and_errors(redis_nodes) -> None:
    project = unique_project()
    now = datetime.now(UTC)
    OnlineWriter(ClusterClient(redis_nodes), project=project, view=VIEW).write_rows(
        [
            ([1], to_epoch_micros(now), [0.25, None]),
            ([2], to_epoch_micros(now - timedelta(days=2)), [0.5, "x"]),
        ]
    )
    catalog = FeatureCatalog(
        project=project, views={"merchant": VIEW}, services={"risk_svc": [("merchant", ("risk", "mcc"))]}
    )
    http = TestClient(create_app(OnlineFeatureClient.connect(catalog, redis_nodes), max_request_bytes=2000))
    ok = http.post(
        "/get-online-features", json={"feature_service": "risk_svc", "entities": {"merchant_id": [1, 2, 3]}}
    )
    assert ok.status_code == 200
    assert (
        http.post(
            "/get-online-features", json={"features": ["merchant:nope"], "entities": {"merchant_id": [1]}}
        ).status_code
        == 400
    )
    assert (
        http.post(
            "/get-online-features",
            json={"features": ["merchant:risk"], "entities": {"merchant_id": list(range(1000))}},
        ).status_code
        == 413
    )

    res = http.get("/metrics")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")
    m = _samples(res.text)
    svc = (("feature_service", "risk_svc"),)
    assert m[("featurelake_online_request_seconds_count", svc)] == 1
    assert m[("featurelake_online_request_seconds_count", (("feature_service", "(features)"),))] == 2
    # entity 1: risk PRESENT, mcc NULL_VALUE; entity 2: both OUTSIDE_MAX_AGE; entity 3: both NOT_FOUND
    values = {k[1]: v for k, v in m.items() if k[0] == "featurelake_online_feature_values_total"}
    assert values == {
        (("status", "PRESENT"), ("view", "merchant")): 1,
        (("status", "NULL_VALUE"), ("view", "merchant")): 1,
        (("status", "OUTSIDE_MAX_AGE"), ("view", "merchant")): 2,
        (("status", "NOT_FOUND"), ("view", "merchant")): 2,
    }
    errors = {k[1]: v for k, v in m.items() if k[0] == "featurelake_online_errors_total"}
    assert errors == {(("kind", "bad_request"),): 1, (("kind", "too_large"),): 1}
    assert m[("featurelake_online_requests_total", (("code", "200"), ("feature_service", "risk_svc")))] == 1
