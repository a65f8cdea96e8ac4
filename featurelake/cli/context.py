"""State shared by every CLI command: settings, actor, output format."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from featurelake.actor import resolve_actor
from featurelake.config.settings import Settings, load_settings
from featurelake.errors import ConfigError

if TYPE_CHECKING:  # the JWT libraries load only when a token is checked
    from featurelake.access_control.credentials import Identity

output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)


@dataclass
class AppContext:
    """Created once per invocation by the root group; commands get it with ``pass_app``."""

    config_path: str | None = None
    actor_option: str | None = None
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)
    _identity: Identity | None = field(default=None, repr=False)
    _identity_checked: bool = field(default=False, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def identity(self) -> Identity | None:
        """The identity ``$FEATURELAKE_TOKEN`` names (None: local developer mode, no token)."""
        if not self._identity_checked:
            from featurelake.cli.identity import cli_identity

            self._identity = cli_identity(self.settings)
            self._identity_checked = True
        return self._identity

    @property
    def actor(self) -> str:
        """Who the registry records: the token's identity if one is set, else --actor / env / OS user.

        Raises:
            ConfigError: --actor names someone else than the token's identity.
        """
        if os.environ.get("FEATURELAKE_TOKEN", "").strip():
            identity = self.identity
            if identity is not None:
                if self.actor_option and self.actor_option != identity.name:
                    raise ConfigError(
                        f"--actor {self.actor_option!r} differs from {identity.name!r}, the identity of "
                        "$FEATURELAKE_TOKEN; drop --actor (the token names who acts)"
                    )
                return identity.name
        return resolve_actor(self.actor_option)

    @property
    def console(self) -> Console:
        return Console(highlight=False, soft_wrap=True)


pass_app = click.make_pass_decorator(AppContext)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def emit(data: Any, output: str, render_text: Callable[[Console], None] | None = None) -> None:
    """Print ``data`` as JSON, or call ``render_text`` (or print it plainly) for text output."""
    if output == "json":
        click.echo(json.dumps(data, default=_default, indent=2, sort_keys=False))
        return
    console = Console(highlight=False, soft_wrap=True)
    if render_text is not None:
        render_text(console)
    else:
        console.print(data)
