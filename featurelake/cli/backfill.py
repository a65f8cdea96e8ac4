"""``featurelake backfill``: compute a feature view for a range of days (in-process Spark).

The same job runs on a cluster with ``spark-submit jobs/backfill.py`` and the same options.
"""

from __future__ import annotations

from typing import Any

import click

from featurelake.cli.context import AppContext, emit, output_option, pass_app
from featurelake.jobs.backfill import backfill_options, options_from_cli


@click.command(name="backfill")
@backfill_options
@click.option("--master", default=None, help="Spark master URL (default: the settings' spark.master).")
@output_option
@pass_app
def backfill(app: AppContext, master: str | None, output: str, **cli: Any) -> None:
    """Compute VIEW for days START..END into its Delta feature table, validated, in one commit.

    A day D holds the values that became true at the end of D (the windows end there).
    """
    from featurelake.jobs.backfill import dry_run_lines, prepare_backfill, run_with_progress, summary_lines
    from featurelake.lakehouse.spark import build_spark_session

    options = options_from_cli(**cli)
    settings = app.settings
    plan = prepare_backfill(settings, options)  # bad input fails here, before Spark starts
    if options.dry_run:
        plan.registry.dispose()
        report = plan.to_dict(options)
        emit(
            report,
            output,
            lambda console: [console.print(line, markup=False) for line in dry_run_lines(report)],
        )
        return
    spark = build_spark_session(
        app_name=f"featurelake-backfill-{options.view}",
        master=master or settings.spark.master,
        conf=settings.spark.conf,
    )
    result = run_with_progress(spark, settings, options, actor=app.actor, plan=plan)
    emit(result.to_dict(), output, lambda console: [console.print(line) for line in summary_lines(result)])
