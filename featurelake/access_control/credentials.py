"""Bearer credentials to identities and roles: token hashes from settings, or JWTs (offline JWKS).

One :class:`CredentialChecker` serves the console, the feature server's registry endpoints and
the CLI (``$FEATURELAKE_TOKEN``), so a role means the same everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from featurelake.access_control.jwks import JwtVerifier, looks_like_jwt
from featurelake.config.settings import CONSOLE_ROLES, ConsoleRole, ConsoleSettings
from featurelake.errors import AccessDeniedError


def token_hash(token: str) -> str:
    """The hex SHA-256 of a bearer token, as ``console.identities[].token_sha256`` stores it."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh random bearer token and its SHA-256 (put only the hash in the settings)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def role_at_least(role: ConsoleRole, needed: ConsoleRole) -> bool:
    """Whether ``role`` includes ``needed`` (viewer < editor < approver < admin)."""
    return CONSOLE_ROLES.index(role) >= CONSOLE_ROLES.index(needed)


@dataclass(frozen=True)
class Identity:
    """Who a credential names.

    Attributes:
        name: recorded as the actor in the audit log.
        role: viewer, editor, approver or admin.
        via: ``token`` (a configured token hash) or ``jwt``.
        expires: when the credential expires (epoch seconds; None: a token hash never does).
    """

    name: str
    role: ConsoleRole
    via: Literal["token", "jwt"]
    expires: float | None = None

    def may(self, needed: ConsoleRole) -> bool:
        """Whether this identity's role includes ``needed``."""
        return role_at_least(self.role, needed)


def require_role(identity: Identity, needed: ConsoleRole, action: str) -> None:
    """Refuse ``action`` unless ``identity`` has at least the ``needed`` role.

    Raises:
        AccessDeniedError: status 403, naming the action, the role it needs and the role held.
    """
    if not identity.may(needed):
        raise AccessDeniedError(
            f"{action} needs the {needed} role; {identity.name!r} has the {identity.role} role "
            "(ask an admin to change console.identities or the identity provider's groups)",
            status=403,
        )


class CredentialChecker:
    """Identifies bearer credentials against the ``console`` settings.

    Args:
        settings: ``console`` settings (``identities`` and optionally ``jwt``).

    Raises:
        ConfigError: ``console.jwt`` is set but its JWKS file cannot be used.
    """

    def __init__(self, settings: ConsoleSettings):
        self.settings = settings
        self.jwt = JwtVerifier(settings.jwt) if settings.jwt is not None else None

    @property
    def configured(self) -> bool:
        """Whether any credential can be accepted (token hashes or a JWT issuer)."""
        return self.settings.access_configured

    def match_token(self, token: str) -> tuple[str, ConsoleRole] | None:
        """The (name, role) whose token hash matches ``token``, or None."""
        digest = token_hash(token)
        found = None
        for ident in self.settings.identities:
            # compare every entry in constant time, so timing tells nothing about which matched
            if hmac.compare_digest(digest, ident.token_sha256):
                found = (ident.name, ident.role)
        return found

    def identify(self, token: str) -> Identity:
        """The identity a bearer credential names.

        Raises:
            AccessDeniedError: 401 with the reason (wrong token, a refused JWT), or 403 for a JWT
                that is valid but carries no console role.
        """
        token = token.strip()
        if not token:
            raise AccessDeniedError("the bearer token is empty")
        if self.jwt is not None and looks_like_jwt(token):
            name, role, expires = self.jwt.verify(token)
            return Identity(name, role, "jwt", expires)
        found = self.match_token(token)
        if found is None:
            raise AccessDeniedError(
                "the token matches no identity in console.identities"
                + ("" if self.jwt is None else " and is not a JWT")
            )
        return Identity(found[0], found[1], "token")

    def identify_header(self, authorization: str | None) -> Identity:
        """The identity of an ``Authorization: Bearer ...`` header.

        Raises:
            AccessDeniedError: no header, another scheme, or a refused credential (see :meth:`identify`).
        """
        if not authorization:
            raise AccessDeniedError("send `Authorization: Bearer <token>`")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise AccessDeniedError("only `Authorization: Bearer <token>` is accepted")
        return self.identify(token)
