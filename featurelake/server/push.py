"""``POST /push``: events into a stream feature view's event log, in Feast's push request shape.

Request (Feast's ``PushFeaturesRequest``)::

    {"push_source_name": "card_push" | "<view>" | "<source table>",
     "df": {"card": [1, 2], "ts": ["2026-12-07T10:00:00Z", ...], "amount": [3.5, 9.0]},
     "to": "online" | "offline" | "online_and_offline"}

``push_source_name`` names the view (or its source table, or a Feast push source whose name
is one of those); the response says how many rows were appended and their stream ids. A row
missing a join key or the event time, a value of the wrong type, an unknown column or an
unknown view gets 400 naming it, and nothing is appended; Redis down gets 503; a body that is
not JSON or not a push request 422 (FastAPI's validation ``detail``); a body over the server's
``max_request_bytes`` (``featurelake serve --max-request-bytes``) 413 naming the limit, before
it is parsed.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from featurelake.errors import FeatureStoreError, ServiceUnavailableError
from featurelake.server.body import BodyTooLarge, read_body


class PushRequest(BaseModel):
    """Feast's push request."""

    model_config = ConfigDict(extra="forbid")

    push_source_name: str = Field(description="the stream feature view, its source table or push source")
    df: dict[str, list[Any]] = Field(description="column name -> one value per row")
    to: Literal["online", "offline", "online_and_offline"] = "online"
    allow_registry_cache: bool = True  # Feast's field, accepted and ignored: each push reads the registry


def push_router(pusher: Any, *, max_request_bytes: int) -> APIRouter:
    """The ``/push`` route, appending through ``pusher`` (a :class:`featurelake.jobs.push.Pusher`).

    Args:
        pusher: validates and appends the rows.
        max_request_bytes: larger bodies get 413 before they are parsed.
    """
    router = APIRouter()

    def _push(raw: bytes) -> JSONResponse:
        import pyarrow as pa

        try:
            req = PushRequest.model_validate_json(raw)
        except ValidationError as err:  # not JSON, or not a push request: FastAPI's 422 shape
            detail = [{**e, "loc": ["body", *e["loc"]]} for e in err.errors(include_url=False)]
            return JSONResponse(status_code=422, content={"detail": jsonable_encoder(detail)})

        lengths = {k: len(v) for k, v in req.df.items()}
        if len(set(lengths.values())) > 1:
            return JSONResponse(
                status_code=400,
                content={"detail": f"columns of df have different lengths {lengths}; give one value per row"},
            )
        try:
            view = pusher.view_for_push_source(req.push_source_name)
            columns = {}
            for name, values in req.df.items():
                try:
                    columns[name] = pa.array(values)
                except OverflowError:
                    return JSONResponse(
                        status_code=400,
                        content={
                            "detail": f"column {name!r} holds an integer outside the int64 range "
                            f"[{-(2**63)}, {2**63 - 1}]; send values that fit"
                        },
                    )
                except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
                    return JSONResponse(
                        status_code=400,
                        content={
                            "detail": f"column {name!r} mixes value types ({err}); send one type per column"
                        },
                    )
            result = pusher.push(view, pa.table(columns), to=req.to)
        except ServiceUnavailableError as err:
            return JSONResponse(status_code=503, content={"detail": str(err)})
        except FeatureStoreError as err:
            return JSONResponse(
                status_code=400, content={"detail": getattr(err, "problems", None) or str(err)}
            )
        return JSONResponse(
            {
                "view": result.view,
                "rows": result.rows,
                "stream": result.key,
                "first_id": result.first_id,
                "last_id": result.last_id,
            }
        )

    @router.post(
        "/push",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PushRequest.model_json_schema()}},
            }
        },
        responses={
            400: {"description": "an unknown view, or rows that do not fit its event schema (named)"},
            413: {
                "description": "body larger than max_request_bytes (featurelake serve --max-request-bytes)"
            },
            422: {"description": "the body is not JSON or not a push request (FastAPI's validation detail)"},
            503: {"description": "the Redis cluster is unavailable"},
        },
    )
    async def push(request: Request) -> Any:
        """Append events to a stream feature view's event log (Feast's push request shape)."""
        try:
            raw = await read_body(request, max_request_bytes)
        except BodyTooLarge as err:
            return JSONResponse(
                status_code=413, content={"detail": err.message("push fewer rows per request")}
            )
        return await run_in_threadpool(_push, raw)

    return router
