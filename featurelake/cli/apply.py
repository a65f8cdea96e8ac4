"""``featurelake plan`` and ``featurelake apply``: the feature repo into our registry and Feast's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from featurelake.cli.context import AppContext, emit, output_option, pass_app

_LABELS = {"added": "added", "minor": "changed (minor)", "breaking": "changed BREAKING", "removed": "removed"}


def _render(plan: Any, *, applied: bool) -> Any:
    def render(console: Console) -> None:
        changes = [c for c in plan.changes if c.kind != "unchanged"]
        if not changes:
            console.print(f"No changes: project {plan.project} is up to date.", markup=False)
            return
        for kind in ("added", "minor", "breaking", "removed"):
            group = [c for c in changes if c.kind == kind]
            if not group:
                continue
            console.print(f"{_LABELS[kind]}:", style="bold red" if kind == "breaking" else "bold")
            for c in group:
                versions = f" {c.from_version or ''} -> {c.to_version}" if c.to_version else ""
                why = f" ({'; '.join(c.reasons)})" if c.reasons and kind != "added" else ""
                console.print(f"  {c.object_type} {c.name}{versions}{why}", markup=False)
        console.print(
            "Applied." if applied else "Nothing written (plan only); run `featurelake apply`.", markup=False
        )

    return render


def _plan_json(plan: Any) -> dict[str, Any]:
    return {
        "project": plan.project,
        "changes": [
            {
                "object_type": c.object_type,
                "name": c.name,
                "kind": c.kind,
                "from_version": c.from_version,
                "to_version": c.to_version,
                "reasons": list(c.reasons),
            }
            for c in plan.changes
        ],
    }


repo_option = click.option(
    "--repo",
    "repo_path",
    type=click.Path(file_okay=False),
    default=None,
    help="Feature repo folder (default: settings.feature_repo).",
)


@contextmanager
def repo_sees_settings(settings: Any) -> Iterator[None]:
    """Let the feature repo see featurelake's resolved storage root while it is imported.

    The repo's sources name their Delta tables under ``$FEATURELAKE_STORAGE_ROOT`` (else a
    folder next to the repo), so a copy of the repo in another folder, planned with the same
    settings, names the same tables and plans no change. An explicit variable wins.
    """
    had = "FEATURELAKE_STORAGE_ROOT" in os.environ
    if not had:
        os.environ["FEATURELAKE_STORAGE_ROOT"] = settings.storage_root
    try:
        yield
    finally:
        if not had:
            os.environ.pop("FEATURELAKE_STORAGE_ROOT", None)


@click.command("plan")
@repo_option
@output_option
@pass_app
def plan(app: AppContext, repo_path: str | None, output: str) -> None:
    """Show what `apply` would change (added / changed minor / changed BREAKING / removed); writes nothing."""
    from featurelake.errors import RegistryNotFoundError
    from featurelake.jobs.apply import plan_repo
    from featurelake.registry import open_registry

    settings = app.settings
    try:
        reg = open_registry(settings.registry_url, create=False)
    except RegistryNotFoundError:  # nothing applied yet: plan against an empty registry, create nothing
        reg = open_registry("sqlite://")
    with repo_sees_settings(settings):
        result = plan_repo(reg, project=settings.project, repo_path=Path(repo_path or settings.feature_repo))
    emit(_plan_json(result), output, _render(result, applied=False))


@click.command("apply")
@repo_option
@click.option(
    "--status",
    type=click.Choice(["active", "draft"]),
    default="active",
    show_default=True,
    help="Status of the versions this apply creates.",
)
@click.option("--skip-feast", is_flag=True, help="Only write featurelake's registry, not Feast's.")
@output_option
@pass_app
def apply(app: AppContext, repo_path: str | None, status: str, skip_feast: bool, output: str) -> None:
    """Apply the feature repo to featurelake's registry and Feast's registry in one step.

    With $FEATURELAKE_TOKEN set: --status draft needs the editor role; --status active (the
    versions are approved as they are created) the approver role, and is refused under
    console.four_eyes (apply as drafts; another approver activates them).
    """
    from featurelake.cli.identity import require
    from featurelake.errors import AccessDeniedError
    from featurelake.jobs.apply import apply_repo
    from featurelake.registry import open_registry

    settings = app.settings
    if status == "active":
        identity = require(app.identity, settings, "approver", "applying versions as active")
        if identity is not None and settings.console.four_eyes:
            raise AccessDeniedError(
                f"four-eyes rule: {identity.name!r} cannot create versions as active (that approves their "
                "own change); run `featurelake apply --status draft`, then another approver activates them",
                status=403,
            )
    else:
        require(app.identity, settings, "editor", "applying versions as drafts")
    reg = open_registry(settings.registry_url)
    with repo_sees_settings(settings):
        result = apply_repo(
            reg,
            project=settings.project,
            repo_path=Path(repo_path or settings.feature_repo).resolve(),
            actor=app.actor,
            status=status,  # type: ignore[arg-type]
            registry_url=settings.registry_url,
            online=settings.online,
            feast=not skip_feast,
        )
    emit(_plan_json(result), output, _render(result, applied=True))
