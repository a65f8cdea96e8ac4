"""Who is acting: ``--actor``, then ``$FEATURELAKE_ACTOR``, then the OS user."""

from __future__ import annotations

import getpass
import os


def resolve_actor(explicit: str | None = None) -> str:
    """Return the actor to record in the registry and audit log."""
    if explicit:
        return explicit
    env = os.environ.get("FEATURELAKE_ACTOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"
