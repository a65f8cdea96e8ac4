"""Roles on the feature server: the same credentials and roles as the console.

Installed by :func:`featurelake.server.app.create_app` only when access control is configured
(``console.identities`` or ``console.jwt``) and ``console.server_access`` is not ``off``. A pure
ASGI middleware that looks at the path alone, so requests it does not guard pay one prefix test:

* ``registry`` (the default): ``/registry/...`` needs the viewer role;
* ``all``: also ``POST /get-online-features`` (viewer) and ``POST /push`` (editor).

``/health``, ``/metrics`` and the OpenAPI document stay open (probes and scrapers). A refused
request gets ``{"detail": "<why>"}`` with 401 (and ``WWW-Authenticate: Bearer``) or 403.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

from featurelake.access_control.credentials import CredentialChecker, require_role
from featurelake.config.settings import ConsoleRole
from featurelake.errors import AccessDeniedError

ServerAccess = Literal["registry", "all"]
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

# path prefix -> (the role it needs, what it is called in a refusal)
_GUARDED: dict[ServerAccess, tuple[tuple[str, ConsoleRole, str], ...]] = {
    "registry": (("/registry/", "viewer", "reading the registry"),),
    "all": (
        ("/registry/", "viewer", "reading the registry"),
        ("/get-online-features", "viewer", "reading online features"),
        ("/push", "editor", "pushing events"),
    ),
}


def guarded(path: str, mode: ServerAccess) -> tuple[ConsoleRole, str] | None:
    """The (role, action) ``path`` needs under ``mode``, or None if it is open."""
    for prefix, role, action in _GUARDED[mode]:
        if path == prefix.rstrip("/") or path.startswith(prefix):
            return role, action
    return None


class RoleGuard:
    """ASGI middleware enforcing :func:`guarded` with a :class:`CredentialChecker`.

    Args:
        app: the wrapped ASGI app.
        checker: identities and JWT settings (``console``).
        mode: which paths to guard.
    """

    def __init__(self, app: ASGIApp, *, checker: CredentialChecker, mode: ServerAccess):
        self.app = app
        self.checker = checker
        self.mode = mode

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        need = guarded(scope.get("path", ""), self.mode) if scope["type"] == "http" else None
        if need is None:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            identity = self.checker.identify_header(headers.get("authorization"))
            require_role(identity, need[0], need[1])
        except AccessDeniedError as err:
            await _refuse(send, err)
            return
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)


async def _refuse(send: Any, err: AccessDeniedError) -> None:
    body = json.dumps({"detail": str(err)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if err.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
