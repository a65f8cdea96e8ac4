"""Roles on the feature server: /registry needs a viewer; with server_access "all", lookups need a
viewer and /push an editor. Same credentials as the console (token hashes here)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from featurelake.access_control.credentials import CredentialChecker, token_hash
from featurelake.config.settings import ConsoleIdentity, ConsoleSettings, load_settings_from_dict
from featurelake.jobs.online import OnlineFeatureClient, load_catalog
from featurelake.server.app import create_app
from tests.online.helpers import unique_project
from tests.online.test_registry_serving import _definitions

pytestmark = pytest.mark.redis

TOKENS = {"vera": "viewer-token-0001", "ed": "editor-token-0002"}
CHECKER = CredentialChecker(
    ConsoleSettings(
        identities=[
            ConsoleIdentity(name="vera", role="viewer", token_sha256=token_hash(TOKENS["vera"])),
            ConsoleIdentity(name="ed", role="editor", token_sha256=token_hash(TOKENS["ed"])),
        ]
    )
)
LOOKUP = {"features": ["merchant:risk"], "entities": {"merchant_id": [7]}}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@pytest.fixture(scope="module")
def sdk_and_registry(tmp_path_factory, redis_nodes):
    from featurelake.registry.writer import open_registry

    tmp = tmp_path_factory.mktemp("server_access")
    project = unique_project()
    # no feature repo: the catalog comes from the registry alone (no Feast import, fast)
    settings = load_settings_from_dict(
        {"project": project, "home": str(tmp), "feature_repo": str(tmp / "no-repo")}, environ={}
    )
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(project, _definitions(with_mcc=True), actor="t")
    sdk = OnlineFeatureClient.connect(load_catalog(settings, registry=registry), redis_nodes)
    yield sdk, registry
    registry.dispose()


def test_registry_endpoints_need_a_viewer_and_lookups_stay_open(sdk_and_registry) -> None:
    sdk, registry = sdk_and_registry
    http = TestClient(create_app(sdk, registry=registry, access=CHECKER, access_mode="registry"))
    for path in ("/registry/feature-views", "/registry/entities", "/registry/feature-services"):
        r = http.get(path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (path, r.text)
        assert "Authorization: Bearer" in r.json()["detail"]
        wrong = http.get(path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "matches no identity" in wrong.json()["detail"]
        assert "nope" not in wrong.text
        assert http.get(path, headers=bearer("vera")).status_code == 200
    names = {v["name"] for v in http.get("/registry/feature-views", headers=bearer("vera")).json()["items"]}
    assert names == {"merchant", "legacy"}
    # the online lookup path and the probes are as before: no credential asked
    assert http.post("/get-online-features", json=LOOKUP).status_code == 200
    assert http.get("/health").status_code == 200 and http.get("/metrics").status_code == 200


def test_all_guards_lookups_for_viewers_and_push_for_editors(sdk_and_registry) -> None:
    sdk, registry = sdk_and_registry
    http = TestClient(create_app(sdk, registry=registry, access=CHECKER, access_mode="all"))
    assert http.post("/get-online-features", json=LOOKUP).status_code == 401
    ok = http.post("/get-online-features", json=LOOKUP, headers=bearer("vera"))
    assert ok.status_code == 200 and ok.json()["metadata"]["feature_names"] == ["merchant_id", "risk"]
    push = {"push_source_name": "merchant", "df": {"merchant_id": [7]}}
    denied = http.post("/push", json=push, headers=bearer("vera"))
    assert denied.status_code == 403 and "pushing events needs the editor role" in denied.json()["detail"]
    # an editor passes the guard (this app has no pusher, so the route itself is absent: 404)
    assert http.post("/push", json=push, headers=bearer("ed")).status_code == 404
    assert http.get("/health").status_code == 200


def test_every_worker_builds_its_app_with_the_settings_roles(tmp_path, redis_nodes) -> None:
    """build_app (the app of `featurelake serve` and of each `--workers N` worker) guards /registry."""
    from featurelake.registry.writer import open_registry
    from featurelake.server.workers import build_app

    project = unique_project()
    base = {"project": project, "home": str(tmp_path), "feature_repo": str(tmp_path / "no-repo")}
    base["online"] = {"nodes": redis_nodes}
    setup = open_registry(load_settings_from_dict(base, environ={}).registry_url)
    setup.apply_definitions(project, _definitions(with_mcc=True), actor="t")
    setup.dispose()
    identities = [{"name": "vera", "role": "viewer", "token_sha256": token_hash(TOKENS["vera"])}]
    for console, code in (({}, 200), ({"identities": identities}, 401)):
        app, registry = build_app(
            load_settings_from_dict({**base, "console": console}, environ={}), max_request_bytes=10_000
        )
        try:
            http = TestClient(app)
            assert http.get("/registry/feature-views").status_code == code, console
            assert http.get("/registry/feature-views", headers=bearer("vera")).status_code == 200
            assert http.post("/get-online-features", json=LOOKUP).status_code == 200
        finally:
            registry.dispose()
