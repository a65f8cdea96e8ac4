"""Who is asking and what they may do: bearer tokens, browser sessions, roles, CSRF tokens.

Tokens are never stored: settings hold each identity's token SHA-256 (``console.identities``);
signed JWTs are checked offline against ``console.jwt``'s JWKS file
(:mod:`featurelake.access_control`, shared with the feature server and the CLI).
A browser signs in once with its token and gets an HttpOnly, SameSite=Strict session cookie;
API clients send ``Authorization: Bearer <token>`` on every request. Every state-changing
request must also carry a CSRF token bound to its credential (the session's own random token,
or an HMAC of the bearer token's hash for API clients: ``GET /api/session`` returns it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from featurelake.access_control.credentials import (
    CredentialChecker,
    Identity,
    new_token,
    role_at_least,
    token_hash,
)
from featurelake.config.settings import ConsoleRole, ConsoleSettings

__all__ = [
    "AccessControl",
    "Principal",
    "csrf_matches",
    "new_token",
    "role_at_least",
    "token_hash",
]

SESSION_COOKIE = "fl_session"
LOGIN_CSRF_COOKIE = "fl_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Principal:
    """The identity behind one request.

    Attributes:
        name: the identity's name, recorded as the actor in the audit log.
        role: its console role.
        csrf: the CSRF token state-changing requests of this credential must carry.
        via: ``session``, ``bearer`` (a configured token), ``jwt`` or ``demo-local``.
    """

    name: str
    role: ConsoleRole
    csrf: str
    via: str

    def may(self, needed: ConsoleRole) -> bool:
        """Whether this principal's role includes ``needed``."""
        return role_at_least(self.role, needed)


@dataclass
class _Session:
    name: str
    role: ConsoleRole
    csrf: str
    expires: float


@dataclass
class AccessControl:
    """Authenticates requests against the configured identities and keeps browser sessions.

    Args:
        settings: the ``console`` settings (identities, four-eyes rule, session lifetime).
        demo_local: no sign-in; every request acts as ``demo_actor`` with the admin role (only
            allowed on a loopback address: :func:`featurelake.console.app.create_app` checks).
        demo_actor: the identity name used in demo mode.
    """

    settings: ConsoleSettings
    demo_local: bool = False
    demo_actor: str = "demo-local"
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _sessions: dict[str, _Session] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    checker: CredentialChecker = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.checker = CredentialChecker(self.settings)

    @property
    def four_eyes(self) -> bool:
        """Whether the author of a version is refused approving it."""
        return self.settings.four_eyes

    def identify_token(self, token: str) -> Identity:
        """The identity a bearer token or JWT names.

        Raises:
            AccessDeniedError: why the credential is refused (401), or 403 for a role-less JWT.
        """
        return self.checker.identify(token)

    def bearer_csrf(self, token: str) -> str:
        """The CSRF token bound to a bearer token (valid as long as the server runs)."""
        return hmac.new(self._secret, b"csrf:" + token_hash(token).encode(), hashlib.sha256).hexdigest()

    def authenticate(self, *, authorization: str | None, session_id: str | None) -> Principal | None:
        """The principal of a request, or None (no credential, or an expired or unknown session).

        A bearer token wins over a session cookie; in demo mode anything unauthenticated acts as
        the demo identity (its CSRF token is bound to the session cookie, see :meth:`demo_session`).

        Raises:
            AccessDeniedError: a bearer credential was sent and is refused (the reason says why).
        """
        if authorization:
            who = self.checker.identify_header(authorization)
            token = authorization.partition(" ")[2].strip()
            return Principal(
                who.name, who.role, self.bearer_csrf(token), "bearer" if who.via == "token" else "jwt"
            )
        session = self._session(session_id)
        if session is not None:
            return Principal(session.name, session.role, session.csrf, "session")
        return None

    def _session(self, session_id: str | None) -> _Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if session.expires < time.time():
                del self._sessions[session_id]
                return None
            return session

    def start_session(self, name: str, role: ConsoleRole, *, not_after: float | None = None) -> str:
        """Create a browser session for an identity; returns the cookie value (a random id).

        Args:
            name: the identity.
            role: its role.
            not_after: the session ends then at the latest (a JWT's expiry), epoch seconds.
        """
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            for key in [k for k, s in self._sessions.items() if s.expires < now]:
                del self._sessions[key]
            expires = now + 60 * self.settings.session_minutes
            if not_after is not None:
                expires = min(expires, not_after)
            self._sessions[sid] = _Session(name, role, secrets.token_urlsafe(32), expires)
        return sid

    def demo_session(self) -> str:
        """A session for the demo identity (demo mode: a browser needs one for its CSRF token)."""
        return self.start_session(self.demo_actor, "admin")

    def demo_principal(self) -> Principal:
        """The demo identity for API calls without a session (demo mode only)."""
        csrf = hmac.new(self._secret, b"csrf:demo-local", hashlib.sha256).hexdigest()
        return Principal(self.demo_actor, "admin", csrf, "demo-local")

    def end_session(self, session_id: str | None) -> None:
        """Forget a session (sign out)."""
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a request's CSRF token with the credential's."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
