"""The editor role: curating a view version's description, owner and tags (audited, CSRF, escaped)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.console import world as w
from tests.console.test_console_api import bearer, csrf_of

XSS = '<script>window.__xss=5</script>"><img src=x onerror="window.__xss=6">'


def test_editor_edits_metadata_viewer_cannot(make_app, world) -> None:
    client = TestClient(make_app())
    url = "/api/views/user_stats/versions/1.0/metadata"
    body = {
        "description": "spend per user, EUR",
        "tags": {"team": "fraud", "pii": "email"},
        "reason": "re-org",
    }
    r = client.post(url, json=body, headers={**bearer("vera"), "X-CSRF-Token": csrf_of(client, "vera")})
    assert r.status_code == 403 and "needs the editor role" in r.json()["detail"], r.text
    assert client.post(url, json=body, headers=bearer("ed")).status_code == 403  # no CSRF token
    assert world.registry.get_view_version(w.PROJECT, "user_stats", "1.0").description == "spending of a user"

    r = client.post(url, json=body, headers={**bearer("ed"), "X-CSRF-Token": csrf_of(client, "ed")})
    assert r.status_code == 200, r.text
    assert r.json()["before"] == {
        "description": "spending of a user",
        "tags": {"team": "risk", "pii": "email"},
    }
    vv = world.registry.get_view_version(w.PROJECT, "user_stats", "1.0")
    assert (vv.description, vv.tags, vv.owner) == (
        "spend per user, EUR",
        {"team": "fraud", "pii": "email"},
        "risk",
    )
    assert (
        vv.definition_hash == world.registry.get_view_version(w.PROJECT, "user_stats", "1.0").definition_hash
    )
    (entry,) = world.registry.audit(project=w.PROJECT, action="view_version.metadata")
    assert (entry.actor, entry.object_key, entry.after["reason"]) == ("ed", "user_stats@1.0", "re-org")
    assert entry.after["tags"] == {"team": "fraud", "pii": "email"} and "owner" not in entry.after
    # search follows the edit (the audit entry moves the index's change marker)
    hits = client.get("/api/search", params={"q": "EUR team=fraud"}, headers=bearer("vera")).json()["results"]
    assert [(h["kind"], h["name"]) for h in hits] == [("view", "user_stats")]
    history = client.get("/api/views/user_stats", params={"version": "1.0"}, headers=bearer("vera")).json()
    assert history["status_history"][-1]["to"] == "edited description, tags"

    # bad values: 422 (API) with nothing written; an unknown version 404
    bad = client.post(
        url, json={"owner": "x" * 300}, headers={**bearer("ed"), "X-CSRF-Token": csrf_of(client, "ed")}
    )
    assert bad.status_code == 422
    gone = client.post(
        "/api/views/user_stats/versions/7.0/metadata",
        json=body,
        headers={**bearer("ed"), "X-CSRF-Token": csrf_of(client, "ed")},
    )
    assert gone.status_code == 404 and "7.0" in gone.json()["detail"]


def test_editor_form_renders_edits_escaped_and_archived_is_final(make_app, world) -> None:
    client = TestClient(make_app(), headers=bearer("ed"))
    page = client.get("/views/user_stats", params={"version": "1.1"})
    assert 'id="edit-metadata"' in page.text
    assert 'id="edit-metadata"' not in client.get("/views/user_stats", headers=bearer("vera")).text
    csrf = csrf_of(client, "ed")
    form = {
        "csrf_token": csrf,
        "version": "1.1",
        "owner": XSS,
        "description": XSS,
        "tags": f"note={XSS}\nteam=risk",
        "reason": "",
    }
    r = client.post("/views/user_stats/metadata", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    shown = client.get(r.headers["location"])
    assert "edited description, owner, tags" in shown.text
    assert "<script>window.__xss" not in shown.text and "<img src=x" not in shown.text
    assert "&lt;script&gt;window.__xss=5&lt;/script&gt;" in shown.text
    vv = world.registry.get_view_version(w.PROJECT, "user_stats", "1.1")
    assert (vv.owner, vv.description, vv.tags) == (XSS, XSS, {"note": XSS, "team": "risk"})

    assert client.post("/views/user_stats/metadata", data={**form, "csrf_token": "x"}).status_code == 403
    r = client.post("/views/user_stats/metadata", data={**form, "tags": "no equals sign"})
    assert r.status_code == 400 and "is not key=value" in r.text

    # an archived version is final: the registry refuses, nothing is written
    world.registry.set_status(
        w.PROJECT, "user_stats", "1.0", "deprecated", reason="old", actor="root", force=True
    )
    world.registry.set_status(
        w.PROJECT, "user_stats", "1.0", "archived", reason="old", actor="root", force=True
    )
    r = client.post("/views/user_stats/metadata", data={**form, "version": "1.0"})
    assert r.status_code == 400 and "archived versions are final" in r.text
    assert world.registry.get_view_version(w.PROJECT, "user_stats", "1.0").owner == "risk"
