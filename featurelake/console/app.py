"""The governance console: server-rendered pages over the registry, each with a JSON twin.

Routes stay thin: parse, call :mod:`featurelake.console.queries` (or the registry's lifecycle
API), render. ``/api/...`` returns the same dicts the pages render; ``/api/openapi.json``
describes them. Security: every request but ``/login`` and ``/static`` is authenticated
(:mod:`featurelake.console.access`), every state-changing request carries a CSRF token bound to
its credential, templates autoescape, and every response carries a strict CSP (no inline
scripts, no framing).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from featurelake.config.settings import ConsoleRole
from featurelake.console import queries
from featurelake.console.access import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AccessControl,
    Principal,
    csrf_matches,
)
from featurelake.errors import AccessDeniedError, ConfigError, FeatureStoreError, RegistryError
from featurelake.registry import ALLOWED_TRANSITIONS, Node, Registry

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PUBLIC_PATHS = ("/login", "/static/", "/healthz")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ConsoleHTTPError(Exception):
    """An error answered with ``status`` and a message (HTML page or ``{"detail": ...}``)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class StatusChange(BaseModel):
    """A lifecycle change requested through the API."""

    model_config = ConfigDict(extra="forbid")
    status: str = Field(description="draft, active, deprecated or archived")
    reason: str = Field(description="why; recorded in the audit log")


class MetadataEdit(BaseModel):
    """A view version's catalogue fields, edited through the API (omitted fields stay)."""

    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(default=None, max_length=4000)
    owner: str | None = Field(default=None, min_length=1, max_length=200)
    tags: dict[str, str] | None = Field(default=None, description="the complete new tag set")
    reason: str = Field(default="", max_length=1000, description="optional; recorded in the audit log")


def parse_tags(text: str) -> dict[str, str]:
    """The edit form's ``key=value`` lines as a tag mapping (values may hold commas).

    Raises:
        ConsoleHTTPError: 400 naming a line that is not ``key=value``.
    """
    tags: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConsoleHTTPError(
                400, f"tag {line.strip()[:60]!r} is not key=value; write one key=value per line"
            )
        tags[key.strip()] = value.strip()
    return tags


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1`` or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConsoleHTTPError(
            400, f"{name} {value!r} is not an ISO date or time; use e.g. 2026-12-07 or 2026-12-07T10:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _https(request: Request) -> bool:
    # cookies are Secure when the console is reached over HTTPS (behind a TLS proxy that says so)
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # a spreadsheet would run a cell starting with these as a formula (CSV injection)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def create_app(
    registry: Registry,
    *,
    project: str,
    access: AccessControl,
    table_facts: queries.TableFacts | None = None,
) -> FastAPI:
    """The console's ASGI app.

    Args:
        registry: the registry (read through its reader API; only lifecycle changes write).
        project: the project shown.
        access: identities, roles, sessions and the four-eyes rule.
        table_facts: Delta table facts of a table name (see :func:`featurelake.console.delta.table_facts`).
    """
    app = FastAPI(
        title="featurelake governance console",
        description="Registry, lineage, versions, approvals, runs, training sets, monitoring and audit log. "
        "Authenticate with `Authorization: Bearer <token>`; state-changing requests need the "
        "`X-CSRF-Token` header from `GET /api/session`.",
        docs_url=None,  # FastAPI's docs pages load scripts from a CDN: the console works offline
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    search_index = queries.SearchIndex()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )

    def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        principal: Principal | None = getattr(request.state, "principal", None)
        html = env.get_template(template).render(
            principal=principal, project=project, path=request.url.path, demo=access.demo_local, **ctx
        )
        return HTMLResponse(html, status_code=status)

    def error(request: Request, status: int, message: str) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=status, headers=headers)
        if status == 401:
            token = secrets.token_urlsafe(24)
            resp = render(request, "login.html", 401, message=message, login_csrf=token)
            resp.set_cookie(
                LOGIN_CSRF_COOKIE,
                token,
                httponly=True,
                samesite="strict",
                path="/login",
                secure=_https(request),
            )
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        return render(request, "error.html", status, code=status, message=message)

    @app.exception_handler(ConsoleHTTPError)
    async def console_error(request: Request, err: ConsoleHTTPError) -> Response:
        return error(request, err.status, err.message)

    @app.exception_handler(FeatureStoreError)
    async def registry_error(request: Request, err: FeatureStoreError) -> Response:
        return error(request, 404 if request.method in SAFE_METHODS else 409, str(err))

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        sid = request.cookies.get(SESSION_COOKIE)
        refused: AccessDeniedError | None = None
        try:
            principal = access.authenticate(
                authorization=request.headers.get("authorization"), session_id=sid
            )
        except AccessDeniedError as err:  # a refused bearer token or JWT: said below, never echoed
            principal, refused = None, err
        new_sid = None
        if principal is None and access.demo_local and not request.headers.get("authorization"):
            if path.startswith("/api/"):
                principal = access.demo_principal()
            else:  # a browser: a session cookie binds its CSRF token
                new_sid = access.demo_session()
                principal = access.authenticate(authorization=None, session_id=new_sid)
        request.state.principal = principal
        try:
            if refused is not None and not path.startswith(PUBLIC_PATHS):
                raise ConsoleHTTPError(refused.status, str(refused))
            if principal is None and not path.startswith(PUBLIC_PATHS):
                wrong = bool(request.headers.get("authorization")) or bool(sid)
                raise ConsoleHTTPError(
                    401,
                    "the token is wrong or the session expired; sign in again"
                    if wrong
                    else "sign in: send `Authorization: Bearer <token>` (or sign in on /login)",
                )
            response = await call_next(request)
        except ConsoleHTTPError as err:
            response = error(request, err.status, err.message)
        except FeatureStoreError as err:
            response = error(request, 404 if request.method in SAFE_METHODS else 409, str(err))
        if new_sid is not None:
            response.set_cookie(
                SESSION_COOKIE, new_sid, httponly=True, samesite="strict", path="/", secure=_https(request)
            )
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if not path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def who(request: Request) -> Principal:
        principal: Principal | None = request.state.principal
        if principal is None:  # the middleware lets only public paths through without one
            raise ConsoleHTTPError(401, "sign in first")
        return principal

    def check_csrf(request: Request, principal: Principal, form: dict[str, str] | None = None) -> None:
        given = request.headers.get(CSRF_HEADER) or (form or {}).get(CSRF_FIELD)
        if not csrf_matches(principal.csrf, given):
            raise ConsoleHTTPError(
                403,
                "CSRF token missing or wrong: submit the form from the console page, or send the "
                "X-CSRF-Token header that GET /api/session returns",
            )

    def require(principal: Principal, role: ConsoleRole, action: str) -> None:
        if not principal.may(role):
            raise ConsoleHTTPError(
                403,
                f"{action} needs the {role} role; {principal.name!r} has the {principal.role} role "
                "(ask an admin to change console.identities in featurelake.yaml)",
            )

    async def read_form(request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", errors="replace")
        return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}

    async def change_status(
        principal: Principal, name: str, version: str, status: str, reason: str
    ) -> dict[str, Any]:
        require(principal, "approver", "changing a version's lifecycle status")
        if not reason.strip():
            raise ConsoleHTTPError(400, f"changing {name} {version} to {status} needs a reason; write why")
        statuses = {t for _, t in ALLOWED_TRANSITIONS}
        if status not in statuses:
            raise ConsoleHTTPError(400, f"status {status!r} is not one of {', '.join(sorted(statuses))}")
        vv = await run_in_threadpool(registry.get_view_version, project, name, version)
        if access.four_eyes and status == "active" and vv.created_by == principal.name:
            raise ConsoleHTTPError(
                403,
                f"four-eyes rule: {principal.name!r} created feature view {name!r} version {vv.version} "
                "and cannot approve it; another approver must",
            )
        shown, old, new = await run_in_threadpool(
            lambda: registry.set_status(
                project,
                name,
                vv.version,
                status,
                reason=reason,
                actor=principal.name,
                object_type="view",  # type: ignore[arg-type]
            )
        )
        return {
            "view": name,
            "version": shown,
            "from": old,
            "to": new,
            "actor": principal.name,
            "reason": reason,
        }

    async def edit_metadata(
        principal: Principal, name: str, version: str, edit: MetadataEdit
    ) -> dict[str, Any]:
        require(principal, "editor", "editing a view's description, owner or tags")
        try:
            shown, before, after = await run_in_threadpool(
                lambda: registry.edit_view_metadata(
                    project,
                    name,
                    version or None,
                    actor=principal.name,
                    description=edit.description,
                    owner=edit.owner,
                    tags=edit.tags,
                    reason=edit.reason.strip(),
                )
            )
        except RegistryError as err:
            unknown = "is not in project" in str(err) or "has no version" in str(err)
            raise ConsoleHTTPError(404 if unknown else 400, str(err)) from None
        return {"view": name, "version": shown, "before": before, "after": after, "actor": principal.name}

    def facts(name: str) -> dict[str, Any]:
        if table_facts is None:
            return {"name": name, "exists": False, "error": "no lakehouse configured"}
        return table_facts(name)

    # ------------------------------------------------------------------ session

    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        resp = render(request, "login.html", message="", login_csrf=token)
        resp.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login", secure=_https(request)
        )
        return resp

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await read_form(request)
        if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), form.get(CSRF_FIELD)):
            raise ConsoleHTTPError(403, "CSRF token missing or wrong: reload /login and sign in again")
        try:
            found = access.identify_token(form.get("token", ""))
        except AccessDeniedError as err:
            raise ConsoleHTTPError(err.status, str(err)) from None
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(
            SESSION_COOKIE,
            access.start_session(found.name, found.role, not_after=found.expires),  # no longer than a JWT
            httponly=True,
            samesite="strict",
            path="/",
            secure=_https(request),
        )
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        principal = who(request)
        check_csrf(request, principal, await read_form(request))
        access.end_session(request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/api/session", tags=["session"])
    async def api_session(request: Request) -> dict[str, Any]:
        """Who you are, your role, and the CSRF token your state-changing requests must send."""
        p = who(request)
        return {
            "name": p.name,
            "role": p.role,
            "via": p.via,
            "csrf_token": p.csrf,
            "four_eyes": access.four_eyes,
        }

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # ------------------------------------------------------------------ search

    @app.get("/api/search", tags=["registry"])
    async def api_search(request: Request, q: str = "") -> dict[str, Any]:
        """Views, features, services, sources and entities matching every word of ``q``."""
        who(request)
        return await run_in_threadpool(lambda: queries.search(registry, project, q, index=search_index))

    @app.get("/", include_in_schema=False)
    async def search_page(request: Request, q: str = "") -> Response:
        return render(request, "search.html", data=await api_search(request, q))

    # ------------------------------------------------------------------ views

    @app.get("/api/views/{name}", tags=["registry"])
    async def api_view(
        request: Request,
        name: str,
        version: str | None = None,
        diff_from: str | None = None,
        diff_to: str | None = None,
    ) -> dict[str, Any]:
        """A view version: definition, versions, diff of two versions, status history, tags, Delta table."""
        who(request)
        return await run_in_threadpool(
            lambda: queries.view_page(
                registry,
                project,
                name,
                version=version or None,
                diff_from=diff_from or None,
                diff_to=diff_to or None,
                table_facts=facts,
            )
        )

    @app.get("/views/{name}", include_in_schema=False)
    async def view_page(
        request: Request,
        name: str,
        version: str | None = None,
        diff_from: str | None = None,
        diff_to: str | None = None,
    ) -> Response:
        data = await api_view(request, name, version, diff_from, diff_to)
        transitions: dict[str, list[str]] = {}
        for v in data["versions"]:
            transitions[v["version"]] = sorted(t for s, t in ALLOWED_TRANSITIONS if s == v["status"])
        return render(
            request,
            "view.html",
            data=data,
            transitions=transitions,
            done=request.query_params.get("done", ""),
        )

    @app.post("/api/views/{name}/versions/{version}/status", tags=["lifecycle"])
    async def api_set_status(
        request: Request, name: str, version: str, change: StatusChange
    ) -> dict[str, Any]:
        """Activate, deprecate or archive a view version (approver role, a reason, the CSRF header)."""
        principal = who(request)
        check_csrf(request, principal)
        return await change_status(principal, name, version, change.status, change.reason)

    @app.post("/views/{name}/status", include_in_schema=False)
    async def form_set_status(request: Request, name: str) -> Response:
        principal = who(request)
        form = await read_form(request)
        check_csrf(request, principal, form)
        result = await change_status(
            principal, name, form.get("version", ""), form.get("status", ""), form.get("reason", "")
        )
        done = f"{result['version']}: {result['from']} -> {result['to']}"
        return RedirectResponse(
            f"/views/{quote(name, safe='')}?" + urlencode({"version": result["version"], "done": done}),
            status_code=303,
        )

    @app.post("/api/views/{name}/versions/{version}/metadata", tags=["catalogue"])
    async def api_edit_metadata(
        request: Request, name: str, version: str, edit: MetadataEdit
    ) -> dict[str, Any]:
        """Edit a view version's description, owner or tags (editor role, the CSRF header); audited."""
        principal = who(request)
        check_csrf(request, principal)
        return await edit_metadata(principal, name, version, edit)

    @app.post("/views/{name}/metadata", include_in_schema=False)
    async def form_edit_metadata(request: Request, name: str) -> Response:
        principal = who(request)
        form = await read_form(request)
        check_csrf(request, principal, form)
        try:
            edit = MetadataEdit(
                description=form.get("description", "").strip(),
                owner=form.get("owner", "").strip(),
                tags=parse_tags(form.get("tags", "")),
                reason=form.get("reason", ""),
            )
        except ValueError as err:
            raise ConsoleHTTPError(400, f"the edit is not valid: {err}") from None
        result = await edit_metadata(principal, name, form.get("version", ""), edit)
        changed = ", ".join(sorted(result["after"])) or "nothing changed"
        done = f"{result['version']}: edited {changed}"
        return RedirectResponse(
            f"/views/{quote(name, safe='')}?" + urlencode({"version": result["version"], "done": done}),
            status_code=303,
        )

    # ------------------------------------------------------------------ lineage

    @app.get("/api/lineage", tags=["lineage"])
    async def api_lineage(
        request: Request, node: str = "", depth: int = 3, direction: str = "both"
    ) -> dict[str, Any]:
        """The lineage DAG around ``node`` (``kind:name[@version]``), ``depth`` hops up- and/or downstream."""
        who(request)
        if not node:
            return {
                "project": project,
                "root": "",
                "nodes": [],
                "edges": [],
                "depth": depth,
                "direction": direction,
            }
        try:
            parsed = Node.parse(node)
        except ValueError as err:
            raise ConsoleHTTPError(400, str(err)) from None
        if not 1 <= depth <= 10 or direction not in ("upstream", "downstream", "both"):
            raise ConsoleHTTPError(
                400, f"depth {depth} must be 1..10 and direction {direction!r} upstream, downstream or both"
            )
        return await run_in_threadpool(
            lambda: queries.lineage_graph(registry, project, parsed, depth=depth, direction=direction)
        )

    @app.get("/lineage", include_in_schema=False)
    async def lineage_page(
        request: Request, node: str = "", depth: int = 3, direction: str = "both"
    ) -> Response:
        data = await api_lineage(request, node, depth, direction)
        roots = [] if node else await run_in_threadpool(queries.lineage_roots, registry, project)
        return render(request, "lineage.html", data=data, roots=roots)

    # ------------------------------------------------------------------ runs

    @app.get("/api/runs", tags=["runs"])
    async def api_runs(
        request: Request, kind: str = "", status: str = "", limit: int = 100
    ) -> dict[str, Any]:
        """Runs (backfill, materialize, training-set, monitor, maintenance), newest first."""
        who(request)
        return await run_in_threadpool(
            lambda: queries.runs_page(
                registry, project, kind=kind or None, status=status or None, limit=limit
            )
        )

    @app.get("/runs", include_in_schema=False)
    async def runs_page(request: Request, kind: str = "", status: str = "") -> Response:
        return render(request, "runs.html", data=await api_runs(request, kind, status))

    @app.get("/api/runs/{run_id}", tags=["runs"])
    async def api_run(request: Request, run_id: str) -> dict[str, Any]:
        """One run: status, timings, rows, Delta versions read and written, error and report."""
        who(request)
        return await run_in_threadpool(queries.run_page, registry, run_id)

    @app.get("/runs/{run_id}", include_in_schema=False)
    async def run_page(request: Request, run_id: str) -> Response:
        return render(request, "run.html", run=await api_run(request, run_id))

    # ------------------------------------------------------------------ training sets

    @app.get("/api/training-sets", tags=["training sets"])
    async def api_training_sets(request: Request) -> dict[str, Any]:
        """Every training set version."""
        who(request)
        return await run_in_threadpool(queries.training_sets_page, registry, project)

    @app.get("/training-sets", include_in_schema=False)
    async def training_sets_page(request: Request) -> Response:
        return render(request, "training_sets.html", data=await api_training_sets(request))

    @app.get("/api/training-sets/{name}/{version}", tags=["training sets"])
    async def api_training_set(request: Request, name: str, version: int) -> dict[str, Any]:
        """One training set version: pinned inputs, checksum, reproduce status, commands."""
        who(request)
        return await run_in_threadpool(queries.training_set_page, registry, project, name, version)

    @app.get("/training-sets/{name}/{version}", include_in_schema=False)
    async def training_set_page(request: Request, name: str, version: int) -> Response:
        return render(request, "training_set.html", ts=await api_training_set(request, name, version))

    # ------------------------------------------------------------------ monitoring

    @app.get("/api/monitoring", tags=["monitoring"])
    async def api_monitoring(request: Request, view: str = "") -> dict[str, Any]:
        """Freshness per view, drift over time, online/offline skew (from monitor runs)."""
        who(request)
        return await run_in_threadpool(lambda: queries.monitoring_page(registry, project, view=view or None))

    @app.get("/monitoring", include_in_schema=False)
    async def monitoring_page(request: Request, view: str = "") -> Response:
        return render(request, "monitoring.html", data=await api_monitoring(request, view))

    # ------------------------------------------------------------------ audit

    @app.get("/api/audit", tags=["audit"])
    async def api_audit(
        request: Request,
        actor: str = "",
        object: str = "",
        since: str = "",
        until: str = "",
        limit: int = 500,
    ) -> dict[str, Any]:
        """The append-only audit log, newest first; ``object`` is a key prefix (e.g. ``user_stats@``)."""
        who(request)
        start, end = _parse_time("since", since), _parse_time("until", until)
        return await run_in_threadpool(
            lambda: queries.audit_page(
                registry,
                project,
                actor=actor,
                obj=object,
                since=start,
                until=end,
                limit=min(max(limit, 1), 10_000),
            )
        )

    @app.get("/audit", include_in_schema=False)
    async def audit_page(
        request: Request, actor: str = "", object: str = "", since: str = "", until: str = ""
    ) -> Response:
        data = await api_audit(request, actor, object, since, until)
        query = urlencode(
            {k: v for k, v in (("actor", actor), ("object", object), ("since", since), ("until", until)) if v}
        )
        return render(
            request, "audit.html", data=data, csv_href="/audit.csv" + (f"?{query}" if query else "")
        )

    @app.get("/audit.csv", tags=["audit"])
    async def audit_csv(
        request: Request, actor: str = "", object: str = "", since: str = "", until: str = ""
    ) -> Response:
        """The filtered audit log as CSV (cells that a spreadsheet would run as formulas are quoted)."""
        data = await api_audit(request, actor, object, since, until, limit=10_000)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(
            ["id", "at", "actor", "project", "action", "object_type", "object_key", "before", "after"]
        )
        for e in data["entries"]:
            writer.writerow(
                [
                    _csv_cell(e[k])
                    for k in (
                        "id",
                        "at",
                        "actor",
                        "project",
                        "action",
                        "object_type",
                        "object_key",
                        "before_text",
                        "after_text",
                    )
                ]
            )
        return Response(
            buf.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{project}-audit.csv"'},
        )

    return app


def check_bind(host: str, *, demo_local: bool, access: AccessControl) -> None:
    """Refuse unsafe start-ups: demo mode off loopback, or no identities without demo mode.

    Raises:
        ConfigError: naming the fix.
    """
    if demo_local and not is_loopback(host):
        raise ConfigError(
            f"--demo-local turns sign-in off, so it only binds a loopback address, not {host!r}; "
            "use --host 127.0.0.1, or configure console.identities and drop --demo-local"
        )
    if not demo_local and not access.settings.access_configured:
        raise ConfigError(
            "console.identities in featurelake.yaml is empty and console.jwt is not set, so nobody could "
            "sign in; add identities (`featurelake console --new-token` prints a token and its hash), "
            "configure console.jwt, or start with --demo-local"
        )
