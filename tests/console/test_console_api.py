"""The console's JSON API and its access rules, through an ASGI client (no browser).

Runs against SQLite here; ``test_console_api_postgres`` repeats the core on the stack's PostgreSQL.
"""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from tests.console import world as w


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.TOKENS[name]}"}


def csrf_of(client: TestClient, name: str) -> str:
    r = client.get("/api/session", headers=bearer(name))
    assert r.status_code == 200, r.text
    assert r.json()["role"] == w.ROLES[name]
    return r.json()["csrf_token"]


def test_missing_or_wrong_token_is_401_and_pages_ask_to_sign_in(make_app) -> None:
    client = TestClient(make_app())
    for path in ("/api/search", "/api/views/user_stats", "/api/audit", "/audit.csv"):
        r = client.get(path)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert client.get(path, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    page = client.get("/views/user_stats")
    assert page.status_code == 401 and "Sign in" in page.text
    assert client.get("/api/search", headers={"Authorization": "Basic dmVyYTp4"}).status_code == 401
    assert client.get("/static/console.css").status_code == 200  # public


def test_every_api_page_answers_for_a_viewer(make_app, world) -> None:
    client = TestClient(make_app(), headers=bearer("vera"))
    found = client.get("/api/search", params={"q": "risk"}).json()
    kinds = {(r["kind"], r["name"]) for r in found["results"]}
    assert ("view", "user_stats") in kinds and ("service", "fraud_model") in kinds
    assert ("feature", "user_stats:amount_sum_7d") in kinds and ("source", "labels") in kinds
    # descriptions and tags are searched too
    assert {r["name"] for r in client.get("/api/search", params={"q": "spending"}).json()["results"]} == {
        "user_stats"
    }
    assert any(
        r["kind"] == "view" for r in client.get("/api/search", params={"q": "team=risk"}).json()["results"]
    )

    view = client.get("/api/views/user_stats", params={"version": "1.1"}).json()
    assert [v["version"] for v in view["versions"]] == ["1.0", "1.1"]
    assert [v["status"] for v in view["versions"]] == ["active", "draft"]
    assert view["diff"]["from"] == "1.0" and view["diff"]["to"] == "1.1" and view["diff"]["kind"] == "minor"
    assert "description changed" in view["diff"]["reasons"]
    changed = [r for r in view["diff"]["rows"] if r["op"] != "equal"]
    assert any("EUR" in r["right"] for r in changed) and not any("EUR" in r["left"] for r in changed)
    assert {t["key"]: t["pii"] for t in view["current"]["tags"]} == {"pii": True, "team": False}
    assert [f["tags"] for f in view["features"] if f["name"] == "email_domain"][0] == [
        {"key": "pii", "value": "true", "pii": True}
    ]
    table = view["table"]
    assert (
        table["exists"]
        and table["rows"] == 6
        and table["partitions"] == 2
        and table["zorder_by"] == ["user_id"]
    )
    assert [c["operation"] for c in table["history"]][0] == "OPTIMIZE" and len(table["history"]) == 3
    assert [(h["actor"], h["action"], h["to"]) for h in view["status_history"]] == [
        ("carol", "view_version.create", "active"),
        ("alice", "view_version.create", "draft"),
    ]

    graph = client.get(
        "/api/lineage", params={"node": "data_source:transactions@3", "depth": 5, "direction": "downstream"}
    ).json()
    ids = {n["id"] for n in graph["nodes"]}
    assert "training_set:fraud_train@1" in ids and "model:fraud-xgb-1" in ids
    ts_node = next(n for n in graph["nodes"] if n["kind"] == "training_set")
    assert ts_node["href"] == "/training-sets/fraud_train/1"
    shallow = client.get("/api/lineage", params={"node": "data_source:transactions@3", "depth": 1}).json()
    assert {n["id"] for n in shallow["nodes"]} == {
        "data_source:transactions@3",
        "feature_view_version:user_stats@1.0",
    }
    assert client.get("/api/lineage", params={"node": "bogus", "depth": 1}).status_code == 400
    assert client.get("/api/lineage", params={"node": "data_source:nowhere"}).status_code == 404

    runs = client.get("/api/runs").json()["runs"]
    assert {r["kind"] for r in runs} == {"backfill", "training-set", "monitor"}
    failed = client.get(f"/api/runs/{world.failed_run}").json()
    assert failed["status"] == "failed" and "amount_sum_7d >= 0" in failed["report_text"]
    assert (
        client.get("/api/runs", params={"status": "failed"}).json()["runs"][0]["run_id"] == world.failed_run
    )

    ts = client.get("/api/training-sets/fraud_train/1").json()
    assert ts["checksum"] == "9f2c" * 16 and ts["entity_source"] == {"table": "labels", "version": 0}
    assert ts["reproduce_status"] == "reproducible from pinned Delta versions"
    assert ts["commands"]["reproduce"] == "featurelake training-set reproduce fraud_train --version 1"
    assert client.get("/api/training-sets/fraud_train/9").status_code == 404

    mon = client.get("/api/monitoring").json()
    assert [c["metric"] for c in mon["freshness"]] == ["freshness_offline"]
    assert [c["metric"] for c in mon["skew"]] == ["skew"]
    (plot,) = mon["drift"]
    assert [v["value"] for v in plot["values"]] == [0.01, 0.05, 0.22] and plot["status"] == "fail"

    audit = client.get("/api/audit", params={"actor": "alice"}).json()["entries"]
    assert audit and {e["actor"] for e in audit} == {"alice"}
    assert client.get("/api/audit", params={"since": "yesterday"}).status_code == 400
    assert client.get("/api/audit", params={"until": "2000-01-01"}).json()["entries"] == []
    assert client.get("/api/openapi.json").json()["paths"]["/api/views/{name}/versions/{version}/status"]


def test_audit_csv_export_filters_and_defuses_formulas(make_app, world) -> None:
    world.registry.set_status(
        w.PROJECT, "user_stats", "1.1", "active", reason="=HYPERLINK(evil)", actor="root"
    )
    client = TestClient(make_app(), headers=bearer("vera"))
    r = client.get("/audit.csv", params={"object": "user_stats@"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and all(row["object_key"].startswith("user_stats@") for row in rows)
    (status_row,) = [row for row in rows if row["action"] == "status.set"]
    assert status_row["actor"] == "root" and '"reason": "=HYPERLINK(evil)"' in status_row["after"]
    assert not any(cell.startswith("=") for row in rows for cell in row.values())


def test_lifecycle_needs_approver_reason_and_csrf(make_app, world) -> None:
    client = TestClient(make_app())
    url = "/api/views/user_stats/versions/1.1/status"
    body = {"status": "active", "reason": "reviewed the EUR change"}
    # a viewer and an editor: 403 with the role named
    for name in ("vera", "ed"):
        r = client.post(url, json=body, headers={**bearer(name), "X-CSRF-Token": csrf_of(client, name)})
        assert r.status_code == 403, r.text
        assert "needs the approver role" in r.json()["detail"] and w.ROLES[name] in r.json()["detail"]
    # no CSRF token, or another identity's: refused before anything else
    assert client.post(url, json=body, headers=bearer("bob")).status_code == 403
    r = client.post(url, json=body, headers={**bearer("bob"), "X-CSRF-Token": csrf_of(client, "alice")})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    # no reason
    r = client.post(
        url,
        json={"status": "active", "reason": "  "},
        headers={**bearer("bob"), "X-CSRF-Token": csrf_of(client, "bob")},
    )
    assert r.status_code == 400 and "needs a reason" in r.json()["detail"]
    assert world.registry.get_view_version(w.PROJECT, "user_stats", "1.1").status == "draft"
    # an approver with a reason: done, and audited with the identity
    r = client.post(url, json=body, headers={**bearer("bob"), "X-CSRF-Token": csrf_of(client, "bob")})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "view": "user_stats",
        "version": "1.1",
        "from": "draft",
        "to": "active",
        "actor": "bob",
        "reason": body["reason"],
    }
    (entry,) = world.registry.audit(project=w.PROJECT, action="status.set")
    assert (entry.actor, entry.object_key, entry.after) == (
        "bob",
        "user_stats@1.1",
        {"status": "active", "reason": body["reason"]},
    )
    # an illegal transition: 409 with the registry's message
    r = client.post(
        url,
        json={"status": "archived", "reason": "x"},
        headers={**bearer("root"), "X-CSRF-Token": csrf_of(client, "root")},
    )
    assert r.status_code == 409 and "cannot become archived" in r.json()["detail"]


def test_four_eyes_refuses_the_author(make_app, world) -> None:
    client = TestClient(make_app(four_eyes=True))
    url = "/api/views/user_stats/versions/1.1/status"
    body = {"status": "active", "reason": "I wrote it, I approve it"}
    r = client.post(url, json=body, headers={**bearer("alice"), "X-CSRF-Token": csrf_of(client, "alice")})
    assert (
        r.status_code == 403 and "four-eyes" in r.json()["detail"] and "'alice' created" in r.json()["detail"]
    )
    assert world.registry.get_view_version(w.PROJECT, "user_stats", "1.1").status == "draft"
    r = client.post(url, json=body, headers={**bearer("bob"), "X-CSRF-Token": csrf_of(client, "bob")})
    assert r.status_code == 200 and r.json()["actor"] == "bob"


def test_browser_session_login_csrf_and_headers(make_app, world) -> None:
    client = TestClient(make_app())
    login = client.get("/login")
    token = login.text.split('name="csrf_token" value="')[1].split('"')[0]
    # a login POST without the login CSRF cookie's twin is refused
    assert client.post("/login", data={"token": w.TOKENS["alice"], "csrf_token": "x"}).status_code == 403
    bad = client.post("/login", data={"token": "wrong", "csrf_token": token})
    assert bad.status_code == 401 and "matches no identity" in bad.text
    token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    ok = client.post("/login", data={"token": w.TOKENS["alice"], "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and "httponly" in ok.headers["set-cookie"].lower()
    assert "samesite=strict" in ok.headers["set-cookie"].lower()
    page = client.get("/views/user_stats", params={"version": "1.1"})
    assert page.status_code == 200
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    for header, value in {
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
    }.items():
        assert page.headers[header] == value
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert w.TOKENS["alice"] not in page.text and "token_sha256" not in page.text
    form = {"version": "1.1", "status": "active", "reason": "looks right"}
    refused = client.post("/views/user_stats/status", data=form, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF token missing or wrong" in refused.text
    assert world.registry.get_view_version(w.PROJECT, "user_stats", "1.1").status == "draft"
    done = client.post("/views/user_stats/status", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert world.registry.get_view_version(w.PROJECT, "user_stats", "1.1").status == "active"
    assert world.registry.audit(project=w.PROJECT, action="status.set")[0].actor == "alice"
    # signing out needs the CSRF token too, then the session is gone
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/api/search").status_code == 401


def test_demo_local_only_on_loopback_and_identities_required() -> None:
    import pytest

    from featurelake.config.settings import ConsoleSettings
    from featurelake.console.access import AccessControl
    from featurelake.console.app import check_bind
    from featurelake.errors import ConfigError

    check_bind("127.0.0.1", demo_local=True, access=AccessControl(ConsoleSettings(), demo_local=True))
    check_bind("::1", demo_local=True, access=AccessControl(ConsoleSettings(), demo_local=True))
    with pytest.raises(ConfigError, match="only binds a loopback address, not '0.0.0.0'"):
        check_bind("0.0.0.0", demo_local=True, access=AccessControl(ConsoleSettings(), demo_local=True))
    with pytest.raises(ConfigError, match="console.identities in featurelake.yaml is empty"):
        check_bind("127.0.0.1", demo_local=False, access=AccessControl(ConsoleSettings()))


def test_settings_reject_a_raw_token_and_duplicates() -> None:
    import pytest

    from featurelake.config.settings import load_settings_from_dict
    from featurelake.errors import ConfigError

    with pytest.raises(ConfigError, match="64 hex digits"):
        load_settings_from_dict(
            {"console": {"identities": [{"name": "a", "role": "viewer", "token_sha256": "secret"}]}}
        )
    digest = "a" * 64
    with pytest.raises(ConfigError, match="listed more than once"):
        load_settings_from_dict(
            {"console": {"identities": [{"name": "a", "role": "viewer", "token_sha256": digest}] * 2}}
        )
    with pytest.raises(ConfigError, match="role"):
        load_settings_from_dict(
            {"console": {"identities": [{"name": "a", "role": "god", "token_sha256": digest}]}}
        )


def test_demo_local_needs_no_sign_in_but_still_csrf(make_app, world) -> None:
    client = TestClient(make_app(demo_local=True))
    page = client.get("/views/user_stats", params={"version": "1.1"})
    assert page.status_code == 200 and "local demo, no sign-in" in page.text
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"version": "1.1", "status": "active", "reason": "demo"}
    assert client.post("/views/user_stats/status", data=form, follow_redirects=False).status_code == 403
    done = client.post("/views/user_stats/status", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert world.registry.audit(project=w.PROJECT, action="status.set")[0].actor == "demo"
    # a wrong bearer token is still refused in demo mode
    assert client.get("/api/search", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_search_index_follows_registry_changes(make_app, world) -> None:
    import dataclasses

    client = TestClient(make_app(), headers=bearer("vera"))
    assert client.get("/api/search", params={"q": "chargebacks"}).json()["count"] == 0
    new_view = dataclasses.replace(w.STATS, name="chargeback_stats", description="chargebacks per user")
    defs = w.Definitions(entities=(w.USER,), sources=(w.TX, w.LABELS), views=(w.STATS, w.XSS_VIEW, new_view))
    world.registry.apply_definitions(w.PROJECT, defs, actor="carol")
    found = client.get("/api/search", params={"q": "chargebacks"}).json()["results"]
    assert [(r["kind"], r["name"]) for r in found] == [("view", "chargeback_stats")]


def test_cookies_are_secure_behind_https_only(make_app) -> None:
    client = TestClient(make_app())
    assert "secure" not in client.get("/login").headers["set-cookie"].lower()
    assert (
        "secure" in client.get("/login", headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"].lower()
    )
