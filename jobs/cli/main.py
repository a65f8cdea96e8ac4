"""The ``featurelake`` command line: one click group, one module per noun, loaded lazily.

Commands import their heavy libraries (Spark, Feast, SQLAlchemy) only when they run, so
``featurelake --help`` starts in well under a second and needs no JVM.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable

import click
from rich.console import Console
from rich.text import Text

from featurelake.errors import FeatureStoreError
from jobs.cli.context import AppContext

# command name -> "module:attribute" of a click command or group.
_COMMANDS: dict[str, str] = {
    "backfill": "jobs.cli.backfill:backfill",
    "demo": "jobs.cli.demo:demo",
    "apply": "jobs.cli.apply:apply",
    "plan": "jobs.cli.apply:plan",
    "registry": "jobs.cli.registry:registry",
    "materialize": "jobs.cli.materialize:materialize",
    "online": "jobs.cli.online:online",
    "serve": "jobs.cli.serve:serve",
    "services": "jobs.cli.services:services",
    "table": "jobs.cli.table:table",
    "training-set": "jobs.cli.training_set:training_set",
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
    """featurelake: a lakehouse feature store on Delta, Spark, Postgres and Redis."""
    ctx.obj = AppContext(config_path=config_path, actor_option=actor, debug=debug)


def _red_line(message: str) -> None:
    # Text, not markup: messages quote user values ("[x]", SQL, paths) that must print verbatim.
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text("Error: ", style="red") + Text(message))


def run_click_entrypoint(
    command: click.Command,
    argv: list[str] | None,
    *,
    prog_name: str,
    exit_code_for: Callable[[FeatureStoreError], int] = lambda err: 1,
) -> None:
    """Run a click command with the one error handler: a red line and a non-zero exit.

    Used by the ``featurelake`` CLI and by the spark-submit entry points (``jobs/*.py``), so a
    job prints its errors the same way wherever it runs. ``--debug`` in ``argv`` adds the traceback.

    Args:
        command: the click command or group.
        argv: the arguments (default ``sys.argv[1:]``).
        prog_name: the program name shown in usage lines.
        exit_code_for: the exit code for a FeatureStoreError (default 1).
    """
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        _red_line("aborted")
        sys.exit(1)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except FeatureStoreError as err:
        if debug:
            traceback.print_exc()
        _red_line(str(err))
        sys.exit(exit_code_for(err))
    except Exception as err:  # noqa: BLE001 - the one handler for unexpected errors
        if debug:
            traceback.print_exc()
        else:
            _red_line(f"{type(err).__name__}: {err} (run with --debug for the traceback)")
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``featurelake``."""
    run_click_entrypoint(cli, argv, prog_name="featurelake")


if __name__ == "__main__":
    main()
