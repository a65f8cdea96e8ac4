"""The one error handler of every command entry point: a red line and a non-zero exit.

Shared by the ``featurelake`` CLI (``featurelake.cli.main``) and the spark-submit entry points
(``jobs/*.py``), so a job prints its errors the same way wherever it runs.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

import click
from rich.console import Console
from rich.text import Text

from featurelake.errors import (
    AccessDeniedError,
    CheckFailedError,
    ConfigError,
    DefinitionError,
    FeatureStoreError,
    LakehouseError,
    MonitorError,
    RegistryError,
    RunConflictError,
    ServiceUnavailableError,
    TableNotFoundError,
    ValidationFailedError,
)

# Exit codes of every command and spark-submit job (README "Exit codes"; `featurelake --help`).
EXIT_OK = 0
EXIT_ERROR = 1  # the job failed for another reason (a bug, a failed write): read the red line
EXIT_BAD_INPUT = 2  # bad arguments, settings or definitions, unknown names (click's usage errors use 2 too)
EXIT_UNAVAILABLE = 3  # a service did not answer: PostgreSQL, Redis, S3, the Spark master
EXIT_CHECK_FAILED = 4  # the data failed a check: expectations (backfill), mismatches (online check)
EXIT_CONFLICT = 5  # another live run holds the same view and days (retry later, or --wait)
EXIT_WARN = 6  # `featurelake monitor`: at least one check warned, none failed

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 the job failed (read the red line); 2 bad input (arguments, settings, "
    "definitions, unknown names, a refused credential or too small a role); 3 a service did not answer (PostgreSQL, Redis, S3, Spark); 4 the data "
    "failed a check (expectations, online/offline mismatches, a failed monitor check); 5 another run holds "
    "the same view and days; 6 a monitor check warned (none failed)."
)


def exit_code_for(err: FeatureStoreError) -> int:
    """The exit code for an error (see the ``EXIT_*`` constants)."""
    from featurelake.lakehouse.storage import network_cause

    if isinstance(err, RunConflictError):
        return EXIT_CONFLICT
    if isinstance(err, ServiceUnavailableError):
        return EXIT_UNAVAILABLE
    if isinstance(err, LakehouseError) and err.__cause__ is not None and network_cause(err.__cause__):
        return EXIT_UNAVAILABLE
    if isinstance(err, ValidationFailedError | CheckFailedError):
        return EXIT_CHECK_FAILED
    bad_input = (
        ConfigError | DefinitionError | RegistryError | TableNotFoundError | MonitorError | AccessDeniedError
    )
    if isinstance(err, bad_input):
        return EXIT_BAD_INPUT
    return EXIT_ERROR


def _red_line(message: str) -> None:
    # Text, not markup: messages quote user values ("[x]", SQL, paths) that must print verbatim.
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text("Error: ", style="red") + Text(message))


def run_click_entrypoint(
    command: click.Command,
    argv: list[str] | None,
    *,
    prog_name: str,
    exit_code_for: Callable[[FeatureStoreError], int] = exit_code_for,
) -> None:
    """Run a click command with the one error handler: a red line and a non-zero exit.

    Used by the ``featurelake`` CLI and by the spark-submit entry points (``jobs/*.py``), so a
    job prints its errors the same way wherever it runs. ``--debug`` in ``argv`` adds the traceback.

    Args:
        command: the click command or group.
        argv: the arguments (default ``sys.argv[1:]``).
        prog_name: the program name shown in usage lines.
        exit_code_for: the exit code for a FeatureStoreError (default: :func:`exit_code_for`).
    """
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
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
    # Without standalone mode, click returns the code a command passed to ``ctx.exit`` (monitor's
    # 4 and 6) instead of raising it: hand it on, or a scheduler would see 0.
    if isinstance(code, int) and code:
        sys.exit(code)
