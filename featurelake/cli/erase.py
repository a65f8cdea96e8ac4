"""`featurelake erase` (right to erasure) and `featurelake erase status [REQUEST]`."""

from __future__ import annotations

import json
from typing import Any

import click

from featurelake.cli.context import AppContext, emit, output_option, pass_app
from featurelake.jobs.erase import erase_options


@click.group(invoke_without_command=True)
@erase_options
@output_option
@pass_app
@click.pass_context
def erase(ctx: click.Context, app: AppContext, output: str, **cli: Any) -> None:
    """Erase entities from every offline table, the online store and the training sets.

    \b
    featurelake erase --entity user_id=42 --reason "GDPR Art. 17, ticket 123"
    featurelake erase --file ids.csv --reason "..." --dry-run
    featurelake erase --entity user_id=42 --reason "..." --purge --rewrite-training-sets
    featurelake erase status [REQUEST] [--output json|html]

    A killed run resumes when run again with the same keys. Without --purge the deleted rows
    stay readable by time travel until the next vacuum after the retention; --purge deletes
    those files now.
    """
    if ctx.invoked_subcommand is not None:
        return
    from featurelake.jobs.erase import erase_from_settings, result_lines

    progress = (lambda m: None) if output == "json" else (lambda m: click.echo(m, err=True))
    result = erase_from_settings(app.settings, app.actor, progress=progress, **cli)
    emit(result.to_dict(), output, lambda c: [c.print(line) for line in result_lines(result)])


@erase.command("status")
@click.argument("request", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Requests listed.")
@click.option(
    "--output", "-o", type=click.Choice(["text", "json", "html"]), default="text", show_default=True
)
@pass_app
def status_cmd(app: AppContext, request: str | None, limit: int, output: str) -> None:
    """Show one erasure request with its steps (or list the project's requests)."""
    from dataclasses import asdict

    from featurelake.jobs.erase import report_html, report_text
    from featurelake.registry import open_registry

    registry = open_registry(app.settings.registry_url, create=False)
    try:
        if request is None:
            requests = registry.list_erasure_requests(app.settings.project, limit=limit)
            rows = [
                {
                    "request_id": r.request_id,
                    "status": r.status,
                    "dry_run": r.dry_run,
                    "keys": len(r.key_hashes),
                    "actor": r.actor,
                    "created_at": r.created_at,
                    "reason": r.reason,
                }
                for r in requests
            ]
            if output == "html":
                output = "json"
            emit(
                rows,
                output,
                lambda c: (
                    [
                        c.print(
                            f"{r['request_id']}  {r['status']:<9} {'dry-run ' if r['dry_run'] else ''}"
                            f"{r['keys']} key(s)  {r['created_at'].isoformat()}  {r['actor']}: {r['reason']}"
                        )
                        for r in rows
                    ]
                    or c.print("(no erasure requests)")
                ),
            )
            return
        req = registry.get_erasure_request(request)
    finally:
        registry.dispose()
    if output == "html":
        click.echo(report_html(req))
        return
    data = asdict(req)
    data.pop("salt")  # the salt stays in the registry: with it, small key spaces could be enumerated
    emit(
        json.loads(json.dumps(data, default=str)),
        output,
        lambda c: [c.print(line) for line in report_text(req)],
    )
