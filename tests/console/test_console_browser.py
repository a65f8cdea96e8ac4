"""The console in headless Chromium (Debian's, driven by Playwright): what a reviewer sees and clicks.

One uvicorn server on a free loopback port over a small registry (tests/console/world.py) with
the four-eyes rule on. Screenshots of every page land in .featurelake/artifacts/console/.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from featurelake.console.app import create_app
from featurelake.console.delta import table_facts
from featurelake.registry import open_registry
from tests.console import world as w

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".featurelake" / "artifacts" / "console"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def bworld(tmp_path_factory: pytest.TempPathFactory) -> Iterator[w.World]:
    tmp = tmp_path_factory.mktemp("console")
    reg = open_registry(f"sqlite:///{tmp / 'registry.db'}")
    yield w.build(reg, tmp / "lake")
    reg.dispose()


@pytest.fixture(scope="module")
def base_url(bworld: w.World) -> Iterator[str]:
    import uvicorn

    app = create_app(
        bworld.registry,
        project=w.PROJECT,
        access=w.access(four_eyes=True),
        table_facts=lambda name: table_facts(bworld.lakehouse, name),
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start within 20 s"
        assert thread.is_alive(), "the console's server thread died"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """A signed-in browser tab that records console errors, page errors and off-site requests."""

    def __init__(self, browser: Any, base_url: str, who: str):
        self.base = base_url
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.offsite: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "request", lambda r: None if r.url.startswith((base_url, "data:")) else self.offsite.append(r.url)
        )
        self.page.goto(f"{base_url}/login")
        self.page.fill("input[name=token]", w.TOKENS[who])
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{base_url}/")
        assert self.page.locator(".identity").inner_text() == who

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        out = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(out), full_page=True)
        return out

    def csrf(self) -> str:
        return str(
            self.page.evaluate("() => fetch('/api/session').then(r => r.json()).then(j => j.csrf_token)")
        )

    def close(self) -> None:
        self.context.close()


def test_every_page_loads_without_console_errors(browser, base_url, bworld) -> None:
    tab = Tab(browser, base_url, "vera")
    pages = {
        "search": ("/?q=risk", "#results"),
        "view": ("/views/user_stats?version=1.1", "#diff"),
        "lineage": ("/lineage?node=feature_view_version:user_stats@1.0&depth=5", "#cy canvas"),
        "lineage-start": ("/lineage", "#lineage-roots"),
        "runs": ("/runs", "#runs"),
        "run-failed": (f"/runs/{bworld.failed_run}", "#run-report"),
        "training-sets": ("/training-sets", "#training-sets"),
        "training-set": ("/training-sets/fraud_train/1", "#pinned"),
        "monitoring": ("/monitoring", "#drift svg polyline"),
        "audit": ("/audit?object=user_stats%40", "#audit"),
    }
    for name, (path, selector) in pages.items():
        response = tab.go(path)
        assert response.status == 200, (path, response.status)
        tab.page.wait_for_selector(selector)
        if name.startswith("lineage") and name != "lineage-start":
            tab.page.wait_for_selector("#cy[data-ready='1']")
        assert tab.shot(name).stat().st_size > 5_000
    # the view page shows the diff's classification, the PII tag and the Delta table facts
    tab.go("/views/user_stats?version=1.1")
    assert tab.page.locator("#diff-kind").inner_text().endswith("minor")
    assert tab.page.locator("#tags .tag.pii").inner_text() == "pii=email"
    assert "user_id" in tab.page.locator("#delta-facts").inner_text()
    assert tab.page.locator("form.lifecycle").count() == 0  # a viewer gets no approval form
    assert tab.errors == [] and tab.offsite == []
    tab.close()


def _node_point(page: Any, node_id: str) -> tuple[float, float]:
    page.wait_for_selector("#cy[data-ready='1']")
    x, y = page.evaluate(
        """(id) => { const cy = window.featurelakeLineage; const n = cy.getElementById(id);
        if (n.empty()) { return [null, null]; }
        const p = n.renderedPosition(); const r = cy.container().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }""",
        node_id,
    )
    assert x is not None, f"node {node_id} is not in the graph"
    return float(x), float(y)


def test_lineage_click_through_from_a_data_source_to_a_training_set(browser, base_url) -> None:
    tab = Tab(browser, base_url, "vera")
    tab.go("/lineage")
    tab.page.click("#lineage-roots a:text('source transactions')")
    tab.page.wait_for_url("**/lineage?node=data_source*")
    # the unversioned source node has no edges; its Delta versions do: go to version 3 with depth 2
    tab.go("/lineage?node=data_source:transactions@3&depth=2&direction=downstream")
    x, y = _node_point(tab.page, "delta_output:user_stats__v1@2")
    tab.page.mouse.click(x, y)
    tab.page.wait_for_url("**/lineage?node=delta_output*")
    x, y = _node_point(tab.page, "training_set:fraud_train@1")
    tab.shot("lineage-delta-output")
    tab.page.mouse.click(x, y)
    tab.page.wait_for_url("**/training-sets/fraud_train/1")
    assert tab.page.locator("#checksum").inner_text() == "9f2c" * 16
    # the depth control: depth 1 around the view shows only its neighbours
    tab.go("/lineage?node=feature_view_version:user_stats@1.0&depth=1")
    _node_point(tab.page, "feature_view_version:user_stats@1.0")
    ids = tab.page.evaluate("() => window.featurelakeLineage.nodes().map(n => n.id()).sort()")
    assert ids == [
        "data_source:transactions@3",
        "delta_output:user_stats__v1@2",
        "feature_service_version:fraud_model@1",
        "feature_view_version:user_stats@1.0",
    ]
    assert tab.errors == [] and tab.offsite == []
    tab.close()


def test_roles_four_eyes_and_approval_land_in_the_audit_log(browser, base_url, bworld) -> None:
    form = {"version": "1.1", "status": "active", "reason": "reviewed"}
    # a viewer: no form, and a forged POST (with her own CSRF token) is refused with the role named
    viewer = Tab(browser, base_url, "vera")
    viewer.go("/views/user_stats?version=1.1")
    r = viewer.page.request.post(
        base_url + "/views/user_stats/status", form={**form, "csrf_token": viewer.csrf()}
    )
    assert r.status == 403 and "needs the approver role" in r.text() and "viewer" in r.text()
    # no CSRF token at all: refused, nothing changed
    r = viewer.page.request.post(base_url + "/views/user_stats/status", form=form)
    assert r.status == 403 and "CSRF token missing or wrong" in r.text()
    viewer.close()
    # the author of 1.1 (alice) is refused by the four-eyes rule, in the page she submits
    author = Tab(browser, base_url, "alice")
    author.go("/views/user_stats?version=1.1")
    row = author.page.locator("#versions tr[data-version='1.1']")
    row.locator("input[name=reason]").fill("my own change")
    row.locator("button[type=submit]").click()
    author.page.wait_for_selector("#error-message")
    assert "four-eyes rule" in author.page.locator("#error-message").inner_text()
    author.shot("four-eyes-refused")
    author.close()
    assert bworld.registry.get_view_version(w.PROJECT, "user_stats", "1.1").status == "draft"
    # another approver activates it with a reason; the view and the audit log show it
    approver = Tab(browser, base_url, "bob")
    approver.go("/views/user_stats?version=1.1")
    row = approver.page.locator("#versions tr[data-version='1.1']")
    row.locator("select[name=status]").select_option("active")
    row.locator("input[name=reason]").fill("EUR wording checked by risk <b>team</b>")
    row.locator("button[type=submit]").click()
    approver.page.wait_for_selector("#done")
    assert approver.page.locator("#current-status").inner_text() == "active"
    approver.go("/audit?actor=bob")
    first = approver.page.locator("#audit tbody tr").first
    text = first.inner_text()
    assert (
        "status.set" in text
        and "user_stats@1.1" in text
        and "EUR wording checked by risk <b>team</b>" in text
    )
    approver.shot("audit-after-approval")
    assert approver.errors == [] and approver.offsite == []
    approver.close()
    (entry,) = bworld.registry.audit(project=w.PROJECT, action="status.set")
    assert entry.actor == "bob" and entry.after == {
        "status": "active",
        "reason": "EUR wording checked by risk <b>team</b>",
    }


def test_xss_payloads_in_descriptions_and_tags_render_as_text(browser, base_url) -> None:
    tab = Tab(browser, base_url, "vera")
    for path in ("/views/notes_view", "/?q=mallory"):
        tab.go(path)
        tab.page.wait_for_load_state("load")
        assert tab.page.evaluate("() => window.__xss === undefined")
        assert tab.page.locator("main img").count() == 0
        assert tab.page.locator("main script").count() == 0
        body = tab.page.locator("main").inner_text()
        assert w.XSS_DESCRIPTION in body and w.XSS_TAG in body
    tab.shot("xss-as-text")
    assert tab.errors == [] and tab.offsite == []
    tab.close()


def test_an_editor_edits_the_owner_in_the_page(browser, base_url, bworld) -> None:
    tab = Tab(browser, base_url, "ed")
    tab.go("/views/user_stats?version=1.0")
    assert tab.page.locator("form.lifecycle").count() == 0  # an editor cannot approve
    tab.page.locator("#edit-metadata summary").click()
    box = tab.page.locator("#edit-metadata form")
    box.locator("input[name=owner]").fill("fraud-<i>team</i>")
    box.locator("input[name=reason]").fill("team renamed")
    box.locator("button[type=submit]").click()
    tab.page.wait_for_selector("#done")
    assert "edited owner" in tab.page.locator("#done").inner_text()
    assert tab.page.locator("#owner").inner_text() == "fraud-<i>team</i>"  # shown as text
    assert tab.errors == [] and tab.offsite == []
    tab.shot("editor-edit")
    tab.close()
    (entry,) = bworld.registry.audit(project=w.PROJECT, action="view_version.metadata")
    assert (entry.actor, entry.after) == ("ed", {"owner": "fraud-<i>team</i>", "reason": "team renamed"})
