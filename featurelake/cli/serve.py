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
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes sharing the port (default: one per two cores; 1 serves in this process).",
)
@pass_app
def serve(app: AppContext, host: str, port: int, max_request_bytes: int, workers: int | None) -> None:
    """Serve POST /get-online-features, POST /push, GET /health, registry listings and /openapi.json.

    \b
    With console.identities or console.jwt configured, /registry/... needs a viewer's bearer
    token; console.server_access: all also guards lookups (viewer) and /push (editor); every
    worker checks roles the same way.
    """
    from featurelake.server.app import serve as run_server
    from featurelake.server.workers import access_mode, build_app, default_workers, run_workers

    settings = app.settings
    workers = workers or default_workers()
    # Built here even with workers: a bad setting, repo, registry, JWKS file or Redis fails now,
    # once, with its exit code, rather than in every worker.
    server, registry = build_app(settings, max_request_bytes=max_request_bytes)
    try:
        roles = {"off": "open", "registry": "roles on /registry", "all": "roles on every data endpoint"}[
            access_mode(settings)
        ]
        click.echo(
            f"featurelake feature server for project {settings.project!r} on http://{host}:{port} "
            f"({workers} worker{'s' if workers > 1 else ''}; docs: /docs; access: {roles})"
        )
        if workers == 1:
            run_server(server, host=host, port=port)
            return
        registry.dispose()
        run_workers(
            config_path=app.config_path,
            max_request_bytes=max_request_bytes,
            host=host,
            port=port,
            workers=workers,
        )
    finally:
        registry.dispose()
