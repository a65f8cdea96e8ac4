"""``featurelake console``: the governance console (registry, lineage, approvals) in the browser."""

from __future__ import annotations

import click

from featurelake.cli.context import AppContext, pass_app


@click.command(name="console")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8890, show_default=True, type=click.IntRange(1, 65535), help="Port to bind.")
@click.option(
    "--demo-local",
    is_flag=True,
    help="No sign-in: everyone acts as an admin named after --actor. Loopback addresses only.",
)
@click.option(
    "--new-token",
    is_flag=True,
    help="Print a fresh bearer token and the SHA-256 to put under console.identities, then exit.",
)
@pass_app
def console(app: AppContext, host: str, port: int, demo_local: bool, new_token: bool) -> None:
    """Serve the governance console: search, views and versions, lineage graph, runs, training sets,
    monitoring, audit log, approvals; every page also as JSON under /api (/api/openapi.json).

    \b
    Sign-in: bearer tokens of console.identities in featurelake.yaml, or JWTs checked against
    console.jwt's JWKS file (roles viewer, editor, approver, admin); editors edit descriptions,
    owners and tags; lifecycle changes need the approver role and a reason.
    """
    from featurelake.console.access import AccessControl
    from featurelake.console.access import new_token as make_token

    if new_token:
        token, digest = make_token()
        click.echo(f"token:        {token}\ntoken_sha256: {digest}")
        click.echo("Give the token to its owner; put only token_sha256 under console.identities.")
        return

    from featurelake.console.app import check_bind, create_app
    from featurelake.console.delta import table_facts
    from featurelake.jobs.wiring import lakehouse_from_settings
    from featurelake.registry.writer import open_registry
    from featurelake.server.app import serve as run_server

    settings = app.settings
    access = AccessControl(settings.console, demo_local=demo_local, demo_actor=app.actor)
    check_bind(host, demo_local=demo_local, access=access)
    registry = open_registry(settings.registry_url, create=False)
    lakehouse = lakehouse_from_settings(settings)
    try:
        web = create_app(
            registry,
            project=settings.project,
            access=access,
            table_facts=lambda name: table_facts(lakehouse, name),
        )
        mode = (
            "local demo, no sign-in"
            if demo_local
            else f"{len(settings.console.identities)} identities" + (", JWTs" if settings.console.jwt else "")
        )
        click.echo(f"featurelake console for project {settings.project!r} on http://{host}:{port}/ ({mode})")
        run_server(web, host=host, port=port)
    finally:
        registry.dispose()
