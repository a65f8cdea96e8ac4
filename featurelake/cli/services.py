"""`featurelake services up | down | status`: the local stack (see infra/local/README.md)."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from featurelake.cli.context import AppContext, emit, output_option, pass_app

_only_option = click.option(
    "--only",
    default=None,
    metavar="NAMES",
    help="Comma-separated subset of postgres,redis,s3,spark (default: all).",
)


@click.group()
def services() -> None:
    """Run the local stack on 127.0.0.1: PostgreSQL, Redis cluster, S3 (moto_server), Spark standalone."""


def _echo(output: str) -> Any:
    # With --output json, progress goes to stderr so stdout stays valid JSON.
    return lambda line: click.echo(line, err=output == "json")


@services.command("up")
@_only_option
@output_option
@pass_app
def up_cmd(app: AppContext, only: str | None, output: str) -> None:
    """Start the services (idempotent) and wait until each one answers."""
    from featurelake.localstack import parse_services, up

    state = up(app.settings, services=parse_services(only), echo=_echo(output))
    if output == "json":
        emit(state, output)


@services.command("down")
@_only_option
@click.option(
    "--purge", is_flag=True, help="Also delete the data folders (Postgres data, Redis cluster config)."
)
@pass_app
def down_cmd(app: AppContext, only: str | None, purge: bool) -> None:
    """Stop the services (fine if they are already stopped)."""
    from featurelake.localstack import down, parse_services

    down(app.settings, services=parse_services(only), purge=purge, echo=click.echo)


@services.command("status")
@_only_option
@output_option
@pass_app
def status_cmd(app: AppContext, only: str | None, output: str) -> None:
    """Show each service's address, pid and health (exit code 0 even when down)."""
    from featurelake.localstack import parse_services, status

    report = status(app.settings, services=parse_services(only))

    def render(console: Console) -> None:
        for name, svc in report["services"].items():
            word, colour = (
                ("healthy", "green")
                if svc["healthy"]
                else ("unhealthy", "yellow")
                if svc["running"]
                else ("DOWN", "red")
            )
            pid = svc.get("pid") or "-"
            console.print(
                f"{name:<9} [{colour}]{word:<10}[/{colour}] {svc['address']:<22} pid {pid!s:<8} {svc.get('detail', '')}"
            )
        down = [n for n, s in report["services"].items() if not s["healthy"]]
        if down:
            console.print(
                f"[red]not healthy: {', '.join(down)}[/red]: run `featurelake services up`; logs in "
                f"{report['state_file'].rsplit('/', 1)[0]}/logs/"
            )
        else:
            console.print(f"all healthy; addresses in {report['state_file']}")

    emit(report, output, render)
