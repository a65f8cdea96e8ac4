"""The feature server's Prometheus metrics (``GET /metrics``) on a real Redis cluster."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from featurelake.jobs.online import FeatureCatalog, OnlineFeatureClient
from featurelake.lakehouse.online import ClusterClient, OnlineView, OnlineWriter
from featurelake.lakehouse.online.encoding import to_epoch_micros
from featurelake.server.app import create_app
from featurelake.server.metrics import ServingMetrics
from tests.online.helpers import unique_project

VIEW = OnlineView(
    "merchant", (("merchant_id", "int64"),), (("risk", "double"), ("mcc", "string")), ttl=timedelta(days=1)
)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.redis
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


def test_two_apps_in_one_process_keep_their_own_counts_after_feast_is_imported() -> None:
    """Importing feast.metrics sets PROMETHEUS_MULTIPROC_DIR, which makes prometheus_client share
    values by metric name across registries: each server's metrics must still count only its own
    requests (this failed in CI when a Feast test ran before the metrics test)."""
    code = textwrap.dedent(
        """
        import feast.metrics  # sets PROMETHEUS_MULTIPROC_DIR before prometheus_client is imported
        import os
        from prometheus_client.parser import text_string_to_metric_families
        from featurelake.server.metrics import ServingMetrics

        assert os.environ.get("PROMETHEUS_MULTIPROC_DIR"), "feast no longer sets the variable"
        first, second = ServingMetrics(), ServingMetrics()
        for _ in range(3):
            first.record(service="svc", seconds=0.002, code=200)
        second.record(service="svc", seconds=0.3, code=400, error="bad_request")
        for m, want in ((first, 3), (second, 1)):
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(m.exposition().decode())
                for s in f.samples
            }
            assert samples[("featurelake_online_request_seconds_count", (("feature_service", "svc"),))] == want
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_histogram_buckets_are_cumulative_and_sum_the_observations() -> None:
    metrics = ServingMetrics()
    for seconds in (0.0005, 0.003, 0.003, 7.0):
        metrics.record(service=None, seconds=seconds, code=200)
    m = _samples(metrics.exposition().decode())
    label = ("feature_service", "(features)")

    def bucket(le: str) -> float:
        return m[("featurelake_online_request_seconds_bucket", tuple(sorted((label, ("le", le)))))]

    assert (bucket("0.001"), bucket("0.0025"), bucket("0.005"), bucket("5.0"), bucket("+Inf")) == (
        1,
        1,
        3,
        3,
        4,
    )
    assert m[("featurelake_online_request_seconds_sum", (label,))] == pytest.approx(7.0065)
    assert m[("featurelake_online_request_seconds_count", (label,))] == 4
