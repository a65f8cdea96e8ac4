"""``featurelake serve``: run the HTTP feature server (Feast's protocol) on the Redis cluster."""

from __future__ import annotations

import click

from featurelake.cli.context import AppContext, pass_app


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=6566, show_default=True, type=click.IntRange(1, 65535), help="Port to bind.")
@click.option(
    "--max-request-bytes",
    default=1_000_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Larger request bodies get 413.",
)
@pass_app
def serve(app: AppContext, host: str, port: int, max_request_bytes: int) -> None:
    """Serve POST /get-online-features, POST /push, GET /health, registry listings and /openapi.json.

    \b
    With console.identities or console.jwt configured, /registry/... needs a viewer's bearer
    token; console.server_access: all also guards lookups (viewer) and /push (editor).
    """
    from featurelake.jobs.online import connect, load_catalog
    from featurelake.jobs.push import Pusher
    from featurelake.registry.writer import open_registry
    from featurelake.server.app import create_app
    from featurelake.server.app import serve as run_server

    settings = app.settings
    guard = settings.console.server_access if settings.console.access_configured else "off"
    access = None
    if guard != "off":
        from featurelake.access_control.credentials import CredentialChecker

        access = CredentialChecker(settings.console)  # a bad JWKS file fails here, before binding
    registry = open_registry(settings.registry_url, create=False)
    try:
        catalog = load_catalog(settings, registry=registry)
        sdk = connect(settings, catalog)
        roles = {"off": "open", "registry": "roles on /registry", "all": "roles on every data endpoint"}[
            guard
        ]
        click.echo(
            f"featurelake feature server for project {settings.project!r} on http://{host}:{port} "
            f"(docs: /docs; access: {roles})"
        )
        run_server(
            create_app(
                sdk,
                registry=registry,
                max_request_bytes=max_request_bytes,
                pusher=Pusher(settings, registry),
                access=access,
                access_mode=guard,
            ),
            host=host,
            port=port,
        )
    finally:
        registry.dispose()
