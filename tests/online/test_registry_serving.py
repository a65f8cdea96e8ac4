"""Serving against a real (SQLite) registry: lifecycle status refuses archived versions, in the
SDK and in the HTTP server, and the server's registry endpoints list what was applied."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from featurelake.config.settings import load_settings_from_dict
from featurelake.jobs.online import OnlineFeatureClient, load_catalog, online_view_from_registry
from featurelake.lakehouse.online import ClusterClient, InvalidRequestError, OnlineWriter
from featurelake.lakehouse.online.encoding import to_epoch_micros
from featurelake.server.app import create_app
from tests.online.helpers import unique_project

pytestmark = pytest.mark.redis


# The feature repo the server loads (what `featurelake apply` applied, as _definitions(with_mcc=True)).
REPO = """
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

merchant = Entity(name="merchant", join_keys=["merchant_id"], value_type=ValueType.INT64)
source = FileSource(name="merchants", path="unused.parquet", timestamp_field="event_timestamp")
merchant_view = FeatureView(
    name="merchant",
    entities=[merchant],
    ttl=timedelta(days=1),
    source=source,
    schema=[Field(name="merchant_id", dtype=Int64), Field(name="risk", dtype=Float64), Field(name="mcc", dtype=String)],
)
legacy = FeatureView(
    name="legacy",
    entities=[merchant],
    ttl=timedelta(days=1),
    source=source,
    schema=[Field(name="merchant_id", dtype=Int64), Field(name="score", dtype=Float64)],
)
risk_svc = FeatureService(name="risk_svc", features=[merchant_view[["risk", "mcc"]]])
retired_svc = FeatureService(name="retired_svc", features=[merchant_view[["mcc"]]])
legacy_svc = FeatureService(name="legacy_svc", features=[legacy])
"""


def _definitions(*, with_mcc: bool) -> object:
    from featurelake.registry.types import Definitions, EntityDef, FeatureDef, JoinKey, ServiceDef, ViewDef

    merchant = EntityDef("merchant", (JoinKey("merchant_id", "INT64"),))
    views = (
        ViewDef(
            "merchant",
            ("merchant",),
            (FeatureDef("risk", "Float64"), FeatureDef("mcc", "String")),
            ttl=timedelta(days=1),
            definition={"v": 1},
        ),
        ViewDef("legacy", ("merchant",), (FeatureDef("score", "Float64"),), ttl=timedelta(days=1)),
    )
    risk_features = ("risk", "mcc") if with_mcc else ("risk",)
    services = (
        ServiceDef("risk_svc", (("merchant", risk_features),), description="merchant risk"),
        ServiceDef("retired_svc", (("merchant", ("mcc",)),)),
        ServiceDef("legacy_svc", (("legacy", ("score",)),)),
    )
    return Definitions(entities=(merchant,), views=views, services=services)


@pytest.fixture(scope="module")
def served(tmp_path_factory, redis_nodes):
    """A registry where risk_svc v1 is archived (v2 active), every version of retired_svc is
    archived, view ``legacy`` is archived under the still-active legacy_svc v1; plus the server."""
    from featurelake.registry.writer import open_registry

    tmp = tmp_path_factory.mktemp("registry_serving")
    project = unique_project()
    repo = tmp / "repo"
    repo.mkdir()
    (repo / "definitions.py").write_text(REPO)
    settings = load_settings_from_dict(
        {"project": project, "home": str(tmp), "feature_repo": str(repo)}, environ={}
    )
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(project, _definitions(with_mcc=False), actor="t")
    registry.apply_definitions(project, _definitions(with_mcc=True), actor="t")  # risk_svc v2 adds mcc
    for name, version in (("risk_svc", 1), ("retired_svc", 1)):
        for status in ("deprecated", "archived"):
            registry.set_status(
                project, name, version, status, reason="retired", actor="t", object_type="service"
            )
    for status in ("deprecated", "archived"):  # legacy_svc v1 (active) still uses it: forced
        registry.set_status(
            project, "legacy", "1", status, reason="gone", actor="t", force=True, object_type="view"
        )
    view = online_view_from_registry(registry.get_view_version(project, "merchant"))
    OnlineWriter(ClusterClient(redis_nodes), project=project, view=view).write_rows(
        [([7], to_epoch_micros(datetime.now(UTC)), [0.25, "5411"])]
    )
    catalog = load_catalog(settings, registry=registry)
    sdk = OnlineFeatureClient.connect(catalog, redis_nodes)
    yield project, sdk, TestClient(create_app(sdk, registry=registry))
    registry.dispose()


def test_active_service_versions_are_served(served) -> None:
    _, sdk, http = served
    for ref in ("risk_svc", "risk_svc:v2"):
        got = sdk.get_online_features(feature_service=ref, entity_rows=[{"merchant_id": 7}])
        assert got.to_dict() == {"merchant_id": [7], "risk": [0.25], "mcc": ["5411"]}
    r = http.post(
        "/get-online-features", json={"feature_service": "risk_svc:v2", "entities": {"merchant_id": [7]}}
    )
    assert r.status_code == 200 and r.json()["results"][1]["values"] == [0.25]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (
            "risk_svc:v1",
            r"feature service risk_svc:v1 is archived and cannot be served; request an active version",
        ),
        (
            "retired_svc",
            r"feature service retired_svc:v1 is archived .*every version of 'retired_svc' is archived",
        ),
        ("retired_svc:v1", r"feature service retired_svc:v1 is archived"),
        (
            "legacy_svc",
            r"feature service legacy_svc:v1 \(active\) uses archived view version\(s\) \['legacy v1'\]",
        ),
        (
            "risk_svc:v9",
            r"feature service 'risk_svc:v9' does not exist.*versions of 'risk_svc': \['risk_svc:v1', 'risk_svc:v2'\]",
        ),
    ],
)
def test_archived_service_versions_are_refused(served, ref, expected) -> None:
    _, sdk, http = served
    with pytest.raises(InvalidRequestError, match=expected):
        sdk.get_online_features(feature_service=ref, entity_rows=[{"merchant_id": 7}])
    r = http.post("/get-online-features", json={"feature_service": ref, "entities": {"merchant_id": [7]}})
    # an unknown version is Feast's FeatureServiceNotFoundException (404); an archived one our 400
    assert r.status_code == (404 if "does not exist" in expected else 400) and re.search(expected, r.json())


def test_archived_view_is_refused(served) -> None:
    _, sdk, http = served
    with pytest.raises(InvalidRequestError, match=r"feature view 'legacy' is archived and cannot be served"):
        sdk.get_online_features(features=["legacy:score"], entity_rows=[{"merchant_id": 7}])
    r = http.post(
        "/get-online-features", json={"features": ["legacy:score"], "entities": {"merchant_id": [7]}}
    )
    assert r.status_code == 400 and "'legacy' is archived" in r.json()


def test_registry_endpoints_list_what_was_applied(served) -> None:
    project, _, http = served
    views = http.get("/registry/feature-views")
    assert views.status_code == 200, views.text
    assert views.json()["project"] == project
    by_name = {v["name"]: v for v in views.json()["items"]}
    assert {n: (v["status"], v["major"], v["minor"], v["version"]) for n, v in by_name.items()} == {
        "legacy": ("archived", 1, 0, "1.0"),
        "merchant": ("active", 1, 0, "1.0"),
    }
    assert [f["name"] for f in by_name["merchant"]["features"]] == ["risk", "mcc"]
    entities = http.get("/registry/entities").json()["items"]
    assert [(e["name"], [k["name"] for k in e["join_keys"]]) for e in entities] == [
        ("merchant", ["merchant_id"])
    ]
    services = {s["name"]: s for s in http.get("/registry/feature-services").json()["items"]}
    # the current version of each service; retired_svc has none (every version archived)
    assert {n: (s["version"], s["status"]) for n, s in services.items()} == {
        "legacy_svc": (1, "active"),
        "risk_svc": (2, "active"),
    }
    assert services["risk_svc"]["views"] == [
        {"view": "merchant", "view_major": 1, "features": ["risk", "mcc"]}
    ]
    assert services["risk_svc"]["description"] == "merchant risk"
