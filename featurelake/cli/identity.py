"""The CLI's identity: ``$FEATURELAKE_TOKEN`` checked like the console's bearer tokens and JWTs.

Without the variable the CLI runs in local developer mode, as before: the actor is ``--actor``,
``$FEATURELAKE_ACTOR`` or the OS user, and no role is checked (unless
``console.cli_identity_required`` is on). With it, the token's identity is the actor of every
audited change, and the commands that change lifecycle status or approve need a role:
``registry status set`` and ``apply --status active`` the approver role (with the four-eyes
rule, an author cannot activate their own version), ``apply --status draft`` and
``registry cancel-run`` the editor role.

The CLI talks to the registry database directly, so whoever holds its credentials can write
it; this policy keeps honest operators inside the rules and names them in the audit log, and
the database credentials stay the hard boundary.
"""

from __future__ import annotations

import os
from typing import Any

from featurelake.access_control.credentials import CredentialChecker, Identity, require_role
from featurelake.config.settings import ConsoleRole, Settings
from featurelake.errors import AccessDeniedError, ConfigError

TOKEN_ENV = "FEATURELAKE_TOKEN"


def cli_identity(settings: Settings, environ: dict[str, str] | None = None) -> Identity | None:
    """The identity ``$FEATURELAKE_TOKEN`` names, or None when it is not set (local developer mode).

    Raises:
        ConfigError: the variable is set but no identities or JWT issuer are configured.
        AccessDeniedError: the token is refused (the reason says why).
    """
    token = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    if not token:
        return None
    if not settings.console.access_configured:
        raise ConfigError(
            f"${TOKEN_ENV} is set but console.identities and console.jwt are empty in the settings, so the "
            f"token cannot be checked; configure them, or unset {TOKEN_ENV} for local developer mode"
        )
    return CredentialChecker(settings.console).identify(token)


def require(identity: Identity | None, settings: Settings, role: ConsoleRole, action: str) -> Identity | None:
    """Check ``action`` against the policy; returns the identity (None: local developer mode).

    Raises:
        AccessDeniedError: the role is too small (403), or no identity while
            ``console.cli_identity_required`` is on (401).
    """
    if identity is None:
        if settings.console.cli_identity_required:
            raise AccessDeniedError(
                f"{action} needs an identity (console.cli_identity_required is on): "
                f"export {TOKEN_ENV}=<your token or JWT>"
            )
        return None
    require_role(identity, role, action)
    return identity


def check_four_eyes(identity: Identity | None, settings: Settings, version: Any, label: str) -> None:
    """Refuse activating a version its author approves, when ``console.four_eyes`` is on.

    Raises:
        AccessDeniedError: 403 naming the author and what to do instead.
    """
    if identity is not None and settings.console.four_eyes and version.created_by == identity.name:
        raise AccessDeniedError(
            f"four-eyes rule: {identity.name!r} created {label} and cannot approve it; another approver must",
            status=403,
        )
