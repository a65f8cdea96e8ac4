"""The feature server: Feast's protocol, limits and errors (real Redis cluster, FastAPI TestClient)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from featurelake.jobs.online import FeatureCatalog, OnlineFeatureClient
from featurelake.lakehouse.online import ClusterClient, OnlineView, OnlineWriter
from featurelake.lakehouse.online.encoding import to_epoch_micros
from featurelake.server.app import create_app
from tests.online.helpers import unique_project

pytestmark = pytest.mark.redis

VIEW = OnlineView(
    "merchant", (("merchant_id", "int64"),), (("risk", "double"), ("mcc", "string")), ttl=timedelta(days=1)
)


@pytest.fixture()
def http(redis_nodes):
    project = unique_project()
    now = datetime.now(UTC)
    OnlineWriter(ClusterClient(redis_nodes), project=project, view=VIEW).write_rows(
        [
            ([1], to_epoch_micros(now), [0.25, "5411"]),
            ([2], to_epoch_micros(now - timedelta(days=2)), [0.5, "old"]),
        ]
    )
    catalog = FeatureCatalog(
        project=project, views={"merchant": VIEW}, services={"risk_svc": [("merchant", ("risk",))]}
    )
    sdk = OnlineFeatureClient.connect(catalog, redis_nodes)
    return TestClient(create_app(sdk, max_request_bytes=2000))


def test_feast_shape_and_statuses(http) -> None:
    r = http.post(
        "/get-online-features",
        json={"features": ["merchant:risk", "merchant:mcc"], "entities": {"merchant_id": [1, 2, 3]}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["metadata"]["feature_names"] == ["merchant_id", "risk", "mcc"]
    assert body["results"][0]["values"] == [1, 2, 3]
    assert body["results"][1]["values"] == [0.25, None, None]
    assert body["results"][1]["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert body["results"][2]["values"][0] == "5411"
    svc = http.post(
        "/get-online-features",
        json={"feature_service": "risk_svc", "entities": {"merchant_id": [1]}, "full_feature_names": True},
    ).json()
    assert svc["metadata"]["feature_names"] == ["merchant_id", "merchant__risk"]


def test_limits_and_errors(http) -> None:
    big = {"features": ["merchant:risk"], "entities": {"merchant_id": list(range(1000))}}
    assert http.post("/get-online-features", json=big).status_code == 413
    bad = http.post(
        "/get-online-features",
        content=b'{"features": ["merchant:risk"], "entities": ',
        headers={"content-type": "application/json"},
    )
    # Feast's (FastAPI's) answer to a body that is not JSON
    assert bad.status_code == 422 and bad.json()["detail"][0]["type"] == "json_invalid"
    unknown = http.post(
        "/get-online-features", json={"features": ["merchant:risk"], "entities": {"merchant": [1]}}
    )
    assert unknown.status_code == 400 and "unknown entity key name" in unknown.json()
    wrong = http.post(
        "/get-online-features", json={"features": ["merchant:risk"], "entities": {"merchant_id": ["x"]}}
    )
    assert wrong.status_code == 400 and "must be an integer" in wrong.json()


def test_health_openapi_and_registry_without_one(http) -> None:
    assert http.get("/health").json()["status"] == "ok"
    spec = http.get("/openapi.json").json()
    assert "/get-online-features" in spec["paths"] and "/registry/feature-views" in spec["paths"]
    assert http.get("/registry/feature-views").status_code == 503


def test_serve_names_a_port_it_cannot_bind() -> None:
    import socket

    from featurelake.errors import ConfigError
    from featurelake.server.app import serve

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(
            ConfigError, match=rf"cannot serve on 127\.0\.0\.1:{port} .*pick a free port with --port"
        ):
            serve(object(), host="127.0.0.1", port=port)
    with pytest.raises(ConfigError, match=r"port 70000 is not a TCP port"):
        serve(object(), port=70000)
