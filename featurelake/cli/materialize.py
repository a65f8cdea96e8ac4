"""``featurelake materialize``: write a view's latest values into the Redis cluster (in-process Spark).

The same job runs on a cluster with ``spark-submit jobs/materialize.py`` and the same options.
"""

from __future__ import annotations

from datetime import datetime

import click
from rich.console import Console
from rich.markup import escape

from featurelake.cli.context import AppContext, emit, output_option, pass_app
from featurelake.errors import ConfigError, RegistryError


@click.command(name="materialize")
@click.option("--view", "views", multiple=True, help="Feature view to materialize (repeatable).")
@click.option("--all", "all_views", is_flag=True, help="Every active feature view of the project.")
@click.option("--start", default=None, help="Window start, inclusive (ISO date or timestamp, UTC).")
@click.option("--end", default=None, help="Window end, exclusive (default: now).")
@click.option(
    "--incremental",
    is_flag=True,
    help="Read only the files the Delta log says changed since the last incremental or full run "
    "(late and backfilled rows included, whatever their event time); the whole table the first time.",
)
@click.option("--version", default=None, help="View version (default: the active one).")
@click.option(
    "--master",
    default=None,
    help="Spark master URL (default: the settings' spark.master). Without it, a run that reads at most "
    "online.local_max_rows rows (default 250,000) writes from this process without starting Spark.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the mode, Delta versions, files and rows each view would read and the Redis nodes it would "
    "write; start no Spark, write nothing.",
)
@output_option
@pass_app
def materialize(
    app: AppContext,
    views: tuple[str, ...],
    all_views: bool,
    start: str | None,
    end: str | None,
    incremental: bool,
    version: str | None,
    master: str | None,
    dry_run: bool,
    output: str,
) -> None:
    """Materialize VIEW(s): the latest row per entity, newer-wins, into Redis.

    Prints the mode (window, changes or full) and the Delta versions read (from->to).
    """
    from featurelake.jobs.materialize import (
        MaterializeResult,
        describe,
        dry_run_line,
        materialize_view,
        parse_timestamp,
        plan_materialize,
    )
    from featurelake.jobs.wiring import open_job_registry
    from featurelake.lakehouse.spark import build_spark_session
    from featurelake.lakehouse.tables import Lakehouse

    if not views and not all_views:
        raise ConfigError("name a view with --view NAME (repeatable) or pass --all")
    if views and all_views:
        raise ConfigError("give --view NAME (repeatable) or --all, not both")
    if incremental and start is not None:
        raise ConfigError("give either --incremental or --start/--end, not both")
    if not incremental and start is None:
        raise ConfigError("give --start TS [--end TS], or --incremental")
    settings = app.settings
    start_ts: datetime | None = parse_timestamp(start, option="--start") if start else None
    end_ts: datetime | None = parse_timestamp(end, option="--end") if end else None
    registry = open_job_registry(settings)
    try:
        names = list(views) or [
            v.name for v in registry.list_views(settings.project) if v.status == "active" and v.entities
        ]
        if not names:
            raise RegistryError(
                f"project {settings.project!r} has no active feature view with entities to materialize; "
                "run `featurelake apply` first (see `featurelake registry list`)"
            )
        lakehouse = Lakehouse(settings.storage_root, settings.storage.storage_options())
        # unknown or archived views, bad windows and missing tables fail here, before Spark starts
        plans = [
            plan_materialize(
                settings=settings,
                registry=registry,
                lakehouse=lakehouse,
                view=name,
                start=start_ts,
                end=end_ts,
                incremental=incremental,
                version=version,
            )
            for name in names
        ]
        if dry_run:
            emit(plans, output, lambda console: [console.print(dry_run_line(p), markup=False) for p in plans])
            return
        err = Console(stderr=True, highlight=False, soft_wrap=True)

        def progress(line: str) -> None:
            err.print(f"{datetime.now():%H:%M:%S} materialize {line}", markup=False)

        spark = None  # small runs write from this process: Spark's start-up would dominate them
        if master is not None or any(p["rows_to_read"] > settings.online.local_max_rows for p in plans):
            progress(f"starting Spark ({master or settings.spark.master}) for {len(names)} view(s)")
            spark = build_spark_session(
                app_name="featurelake-materialize",
                master=master or settings.spark.master,
                conf=settings.spark.conf,
            )
        results = []
        for name in names:
            results.append(
                materialize_view(
                    spark,
                    settings=settings,
                    registry=registry,
                    lakehouse=lakehouse,
                    view=name,
                    actor=app.actor,
                    start=start_ts,
                    end=end_ts,
                    incremental=incremental,
                    version=version,
                    progress=progress,
                    allow_local=master is None,  # --master names a cluster: use it
                ).to_dict()
            )
    finally:
        registry.dispose()

    def text(console) -> None:
        for r in results:
            line = escape(describe(MaterializeResult(**r)))
            console.print(f"[green]materialized[/green] {line}; run {r['run_id']}")

    emit(results, output, text)
