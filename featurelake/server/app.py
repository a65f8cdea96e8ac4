"""``featurelake serve``: an HTTP feature server speaking Feast's feature-server protocol.

* ``POST /get-online-features``: Feast's request ``{"features": [...] | "feature_service": ...,
  "entities": {"join_key": [values...]}, "full_feature_names": false}`` and response
  ``{"metadata": {"feature_names": [...]}, "results": [{"values", "statuses", "event_timestamps"}]}``.
* ``GET /health``: the server and its Redis cluster.
* ``GET /registry/feature-views``, ``/registry/entities``, ``/registry/feature-services``:
  read-only registry listings with lifecycle status.
* ``GET /openapi.json`` (and ``/docs``): the OpenAPI document.
* ``GET /metrics``: Prometheus metrics (:mod:`featurelake.server.metrics`): latency per feature
  service, value statuses per view, errors.

Errors of ``/get-online-features`` are Feast's (see the README's compatibility table): a body
that is not JSON or not a request gets 422 with FastAPI's validation ``detail``; an unknown
view or service, or missing request data, gets 404 with Feast's error class as the JSON string
``{"module": "feast.errors", "class": ..., "message": ...}``; a duplicate feature name gets that
shape with ``FeatureNameCollisionError`` and 400 (Feast: 500); any other bad request (where Feast
answers 500 with its exception's text) 400 with a JSON string naming every problem and its
fix. Bodies over ``max_request_bytes`` get 413, an unreachable Redis cluster 503.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, is_dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from featurelake.errors import ConfigError, FeatureStoreError, ServiceUnavailableError
from featurelake.jobs.online import OnlineFeatureClient
from featurelake.server.body import BodyTooLarge, read_body
from featurelake.server.lookup import PlanCache, serve_plan
from featurelake.server.metrics import ServingMetrics

DEFAULT_MAX_REQUEST_BYTES = 1_000_000
INLINE_MAX_BYTES = 8_192  # smaller request bodies are served on the event loop (no thread hop)
_FIELDS = frozenset(
    {"entities", "features", "feature_service", "full_feature_names", "include_feature_view_version_metadata"}
)
_ERROR_KINDS = {
    400: "bad_request",
    404: "not_found",
    413: "too_large",
    422: "bad_request",
    503: "unavailable",
    500: "internal",
}


class GetOnlineFeaturesRequest(BaseModel):
    """Feast's feature server request."""

    model_config = ConfigDict(extra="forbid")

    entities: dict[str, list[Any]] = Field(description="join key (or request data) name -> one value per row")
    features: list[str] = Field(default_factory=list, description="'view:feature' references")
    feature_service: str | None = Field(default=None, description="a feature service (instead of features)")
    full_feature_names: bool = False
    include_feature_view_version_metadata: bool = Field(
        default=False, description="add metadata.feature_view_metadata: the feature views read"
    )


def _plain_request(payload: Any) -> tuple[dict[str, list[Any]], int] | None:
    """``(entities, rows)`` of a well-formed request with equal non-empty entity columns, else None.

    What this accepts, the request model accepts as it is (no coercion); anything else takes the
    model's path, which answers it (or words its 422) as before.
    """
    if payload.__class__ is not dict or not payload.keys() <= _FIELDS:
        return None
    entities = payload.get("entities")
    features = payload.get("features", [])
    service = payload.get("feature_service")
    if entities.__class__ is not dict or not entities or features.__class__ is not list:
        return None
    if not (service is None or service.__class__ is str) or bool(features) == bool(service):
        return None
    if any(f.__class__ is not str for f in features):
        return None
    if payload.get("full_feature_names", False).__class__ is not bool:
        return None
    if payload.get("include_feature_view_version_metadata", False).__class__ is not bool:
        return None
    n = -1
    for column in entities.values():
        if column.__class__ is not list or (n >= 0 and len(column) != n):
            return None
        if float in set(map(type, column)):  # orjson reads an integer beyond 64 bits as a float
            return None
        n = len(column)
    return (entities, n) if n > 0 else None


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        out = {k: _plain(v) for k, v in asdict(value).items()}
        if hasattr(value, "major") and hasattr(value, "minor") and "version" not in out:
            out["version"] = value.version  # "M.m", a property that asdict() leaves out
        return out
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return value


def _json(document: dict[str, Any]) -> Response:
    """A 200 JSON response encoded with orjson (JSON-equal to starlette's ``JSONResponse``)."""
    try:
        body = orjson.dumps(document)
    except TypeError:  # an integer beyond 64 bits: the standard library writes any size
        return JSONResponse(document)
    return Response(body, media_type="application/json")


def create_app(
    sdk: OnlineFeatureClient,
    *,
    registry: Any | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    pusher: Any | None = None,
    access: Any | None = None,
    access_mode: str = "registry",
) -> FastAPI:
    """Build the FastAPI application.

    Args:
        sdk: the online client (catalog + Redis cluster).
        registry: a ``registry.RegistryReader`` for the registry endpoints (None: they answer 503).
        max_request_bytes: larger request bodies (of ``/get-online-features`` and ``/push``) are
            refused with 413.
        pusher: a ``featurelake.jobs.push.Pusher`` to serve ``POST /push`` (None: no push route).
        access: a ``featurelake.access_control.credentials.CredentialChecker`` to enforce roles
            (None: every endpoint is open); see :mod:`featurelake.server.access`.
        access_mode: ``registry`` (guard ``/registry/...``) or ``all`` (also lookups and push).
    """
    project = sdk.catalog.project
    app = FastAPI(
        title="featurelake feature server",
        description="Online features from the Redis cluster in Feast's protocol, plus read-only registry views.",
        version="1",
    )

    metrics = ServingMetrics()
    plans = PlanCache()
    app.state.lookup_plans = plans  # request shape -> plan (tests and profiling read it)
    project_bytes = project.encode("utf8")

    def error(status: int, detail: Any) -> JSONResponse:
        return JSONResponse(status_code=status, content={"detail": detail})

    @app.post(
        "/get-online-features",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": GetOnlineFeaturesRequest.model_json_schema()}},
            }
        },
        responses={
            400: {"description": "an invalid request (Feast: 500); a JSON string naming every problem"},
            404: {"description": "unknown view or service, missing request data: Feast's error class"},
            413: {"description": "body too large"},
            422: {"description": "the body is not JSON or not a request (FastAPI's validation detail)"},
            503: {"description": "the Redis cluster is unavailable"},
        },
    )
    async def get_online_features(request: Request) -> Any:
        """Look up online features for entity rows (Feast's request/response shape)."""
        started = time.perf_counter()
        try:
            info: dict[str, Any] = {}  # what the request served, for the metrics (never shared)
            response = await _get_online_features(request, info)
        except Exception:
            metrics.record(service=None, seconds=time.perf_counter() - started, code=500, error="internal")
            raise
        metrics.record(
            service=info.get("feature_service"),
            seconds=time.perf_counter() - started,
            code=response.status_code,
            error=_ERROR_KINDS.get(response.status_code) if response.status_code >= 400 else None,
            **info.get("served", {}),
        )
        return response

    async def _get_online_features(request: Request, info: dict[str, Any]) -> Any:
        try:
            raw = await read_body(request, max_request_bytes)
        except BodyTooLarge as err:
            return JSONResponse(status_code=413, content=err.message("send fewer entity rows per request"))
        # Parsing, the Redis round trips and the JSON encoding block: a large request runs in a
        # worker thread so it never holds up the event loop (other requests, /health); a small
        # one costs less than the thread hop would.
        if len(raw) <= INLINE_MAX_BYTES:
            return _serve(raw, info)
        return await run_in_threadpool(_serve, raw, info)

    def _serve(raw: bytes, info: dict[str, Any]) -> Any:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _serve_model(raw, info)
        plain = _plain_request(payload)
        if plain is None:
            return _serve_model(raw, info)
        entities, n = plain
        service = payload.get("feature_service")
        plan = plans.get(
            sdk.catalog,
            features=payload.get("features") or None,
            feature_service=service,
            full_feature_names=payload.get("full_feature_names", False),
            entity_names=list(entities),
        )
        if plan is None:
            return _serve_model(raw, info)
        info["feature_service"] = service
        try:
            result = serve_plan(
                plan,
                sdk.client,
                project_bytes,
                entities,
                n,
                include_feature_view_version_metadata=payload.get(
                    "include_feature_view_version_metadata", False
                ),
            )
        except ServiceUnavailableError as err:
            return JSONResponse(status_code=503, content=str(err))
        if result is None:  # a key value of the wrong type: the SDK path names it
            return _serve_model(raw, info)
        info["served"] = {"counts": result.counts}
        return _json(result.document)

    def _serve_model(raw: bytes, info: dict[str, Any]) -> Any:
        # Errors as Feast's server gives them: FastAPI's 422 for a body that is not a request,
        # Feast's error class for what Feast names with one, else the message as a JSON string.
        # Parsed again with the standard library: orjson reads an integer beyond 64 bits as a
        # float, and the errors name the value as sent.
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError as err:
            return JSONResponse(
                status_code=422,
                content={
                    "detail": [
                        {
                            "type": "json_invalid",
                            "loc": ["body", err.pos],
                            "msg": "JSON decode error",
                            "input": {},
                            "ctx": {"error": err.msg},
                        }
                    ]
                },
            )
        except UnicodeDecodeError as err:
            return JSONResponse(
                status_code=422,
                content={
                    "detail": [
                        {
                            "type": "json_invalid",
                            "loc": ["body"],
                            "msg": f"JSON decode error: {err}",
                            "input": {},
                        }
                    ]
                },
            )
        try:
            req = GetOnlineFeaturesRequest.model_validate(payload)
        except ValidationError as err:
            detail = [{**e, "loc": ["body", *e["loc"]]} for e in err.errors(include_url=False)]
            return JSONResponse(status_code=422, content={"detail": jsonable_encoder(detail)})
        info["feature_service"] = req.feature_service
        try:
            response = sdk.get_online_features(
                entity_rows=req.entities,
                features=req.features or None,
                feature_service=req.feature_service,
                full_feature_names=req.full_feature_names,
            )
        except ServiceUnavailableError as err:
            return JSONResponse(status_code=503, content=str(err))
        except FeatureStoreError as err:
            feast = getattr(err, "feast", None)  # a FeastErrorClass: Feast names this one with its own class
            if feast is not None:
                message = f"{feast.message}; {'; '.join(err.problems)}"
                detail = {"module": "feast.errors", "class": feast.feast_class, "message": message}
                return JSONResponse(status_code=feast.status, content=json.dumps(detail))
            return JSONResponse(
                status_code=400, content="; ".join(getattr(err, "problems", None) or [str(err)])
            )
        refs = sdk.catalog.resolve(features=req.features or None, feature_service=req.feature_service)
        info["served"] = {"refs": refs, "names": response.names, "statuses": response.statuses}
        return _json(
            response.to_feast_json(
                include_feature_view_version_metadata=req.include_feature_view_version_metadata
            )
        )

    @app.get("/metrics")
    def prometheus_metrics() -> Any:
        """Prometheus metrics: latency per feature service, value statuses per view, errors."""
        return Response(metrics.exposition(), media_type=metrics.content_type)

    @app.get("/health")
    def health() -> Any:
        """200 if the Redis cluster's slot map can be read, else 503."""
        try:
            sdk.client.refresh()
        except ServiceUnavailableError as err:
            return error(503, str(err))
        return {"status": "ok", "project": project, "redis_masters": sdk.client.masters()}

    def registry_list(kind: str) -> Any:
        if registry is None:
            return error(503, "this server runs without a registry; start it with a reachable registry.url")
        try:
            if kind == "views":
                items = registry.list_views(project)
            elif kind == "entities":
                items = registry.list_entities(project)
            else:
                items = registry.list_services(project)
        except FeatureStoreError as err:
            return error(503, str(err))
        return {"project": project, "items": _plain(list(items))}

    @app.get("/registry/feature-views")
    def feature_views() -> Any:
        """The current version of every feature view, with its status."""
        return registry_list("views")

    @app.get("/registry/entities")
    def entities() -> Any:
        """Every entity and its join keys."""
        return registry_list("entities")

    @app.get("/registry/feature-services")
    def feature_services() -> Any:
        """The current version of every feature service, with its status."""
        return registry_list("services")

    if pusher is not None:
        from featurelake.server.push import push_router

        app.include_router(push_router(pusher, max_request_bytes=max_request_bytes))
    if access is not None:
        _guard_with_roles(app, access, access_mode)
    return app


def _guard_with_roles(app: FastAPI, checker: Any, mode: str) -> None:
    # kept apart from the lookup path: a pure ASGI middleware that only tests the request path
    from featurelake.server.access import RoleGuard

    if mode not in ("registry", "all"):
        raise ConfigError(f"server access mode {mode!r} is not registry or all (console.server_access)")
    app.add_middleware(RoleGuard, checker=checker, mode=mode)


def check_bind(host: str, port: int) -> None:
    """Refuse a port out of range or an address that cannot be bound, naming it.

    Raises:
        ConfigError: the port is out of range or the address cannot be bound (e.g. in use).
    """
    import socket

    if not 0 < port < 65536:
        raise ConfigError(f"port {port} is not a TCP port; pick one in 1..65535, e.g. --port 6566")
    # uvicorn logs a bind failure and exits with code 3; say which address and how to fix it instead
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ConfigError(
                f"cannot serve on {host}:{port} ({err.strerror or err}); pick a free port with --port "
                "or a local address with --host"
            ) from None


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 6566, workers_log_level: str = "warning") -> None:
    """Run ``app`` with uvicorn (one process) until interrupted.

    Raises:
        ConfigError: the port is out of range or the address cannot be bound (e.g. in use).
    """
    import uvicorn

    check_bind(host, port)
    uvicorn.run(app, host=host, port=port, log_level=workers_log_level, access_log=False)
