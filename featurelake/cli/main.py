"""The ``featurelake`` command line: one click group, one module per noun, loaded lazily.

Commands import their heavy libraries (Spark, Feast, SQLAlchemy) only when they run, so
``featurelake --help`` starts in well under a second and needs no JVM.
"""

from __future__ import annotations

import importlib

import click

from featurelake.cli.context import AppContext
from featurelake.jobs.entrypoint import run_click_entrypoint

# command name -> "module:attribute" of a click command or group.
_COMMANDS: dict[str, str] = {
    "backfill": "featurelake.cli.backfill:backfill",
    "console": "featurelake.cli.console:console",
    "demo": "featurelake.cli.demo:demo",
    "erase": "featurelake.cli.erase:erase",
    "apply": "featurelake.cli.apply:apply",
    "plan": "featurelake.cli.apply:plan",
    "registry": "featurelake.cli.registry:registry",
    "materialize": "featurelake.cli.materialize:materialize",
    "monitor": "featurelake.cli.monitor:monitor",
    "online": "featurelake.cli.online:online",
    "serve": "featurelake.cli.serve:serve",
    "push": "featurelake.cli.stream:push",
    "services": "featurelake.cli.services:services",
    "stream": "featurelake.cli.stream:stream",
    "table": "featurelake.cli.table:table",
    "training-set": "featurelake.cli.training_set:training_set",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Settings file (default: $FEATURELAKE_CONFIG, then ./featurelake.yaml, else embedded defaults).",
)
@click.option(
    "--actor",
    default=None,
    help="Who is acting, recorded in the registry (default: $FEATURELAKE_ACTOR, then the OS user).",
)
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@click.version_option(package_name="featurelake")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, actor: str | None, debug: bool) -> None:
    """featurelake: a lakehouse feature store on Delta, Spark, Postgres and Redis.

    \b
    Exit codes: 0 ok; 1 the job failed (read the red line); 2 bad input (arguments,
    settings, definitions, unknown names); 3 a service did not answer (PostgreSQL, Redis,
    S3, Spark); 4 the data failed a check (expectations, online/offline mismatches,
    a training set that does not reproduce, a failed monitor check); 5 another run
    holds the same view and days; 6 a monitor check warned (none failed).
    """
    ctx.obj = AppContext(config_path=config_path, actor_option=actor, debug=debug)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``featurelake``."""
    run_click_entrypoint(cli, argv, prog_name="featurelake")


if __name__ == "__main__":
    main()
