"""``featurelake demo``: the card-fraud demo (``generate`` writes its raw tables)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import click
from rich.console import Console

from featurelake.cli.context import AppContext, emit, output_option, pass_app


@click.group()
def demo() -> None:
    """The card-fraud demo domain: raw data and the end-to-end run."""


@demo.command()
@click.option(
    "--rows", type=click.IntRange(min=1), default=100_000, show_default=True, help="Transactions to generate."
)
@click.option(
    "--seed", type=int, default=42, show_default=True, help="Random seed; same arguments, same tables."
)
@click.option(
    "--days", type=click.IntRange(min=1), default=90, show_default=True, help="Days of transactions."
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="First day (YYYY-MM-DD, UTC). Default: DAYS days before today, so the data ends yesterday.",
)
@click.option("--users", type=click.IntRange(min=1), default=None, help="Users (default: rows/100).")
@click.option("--merchants", type=click.IntRange(min=1), default=None, help="Merchants (default: rows/1000).")
@output_option
@pass_app
def generate(
    app: AppContext,
    rows: int,
    seed: int,
    days: int,
    start: datetime | None,
    users: int | None,
    merchants: int | None,
    output: str,
) -> None:
    """Write the raw Delta tables raw_users, raw_merchants and raw_transactions to the storage root."""
    from featurelake.lakehouse.demo_data import generate as generate_demo

    first: date = start.date() if start else datetime.now(UTC).date() - timedelta(days=days)
    settings = app.settings
    with Console(stderr=True).status(f"generating {rows:,} transactions over {days} days ..."):
        result = generate_demo(
            None,
            settings.storage_root,
            rows=rows,
            seed=seed,
            start=first,
            days=days,
            users=users,
            merchants=merchants,
            storage_options=settings.storage.storage_options(),
        )
    data = {
        "seed": result.seed,
        "start": result.start,
        "end": result.end,
        "tables": {name: {"uri": uri, "rows": result.rows[name]} for name, uri in result.tables.items()},
    }

    def text(console: Console) -> None:
        console.print(f"demo data (seed {seed}) for {result.start} .. {result.end}:")
        for name, uri in result.tables.items():
            console.print(f"  {name:<18} {result.rows[name]:>12,} rows  {uri}")

    emit(data, output, text)


@demo.command("run")
@click.option(
    "--rows", type=click.IntRange(min=1), default=200_000, show_default=True, help="Transactions to generate."
)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@click.option("--days", type=click.IntRange(min=1), default=45, show_default=True, help="Days of data.")
@click.option(
    "--drift-days",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Shift the transaction amounts of the last N days (the monitor step detects it); 0: no shift.",
)
@pass_app
def run(app: AppContext, rows: int, seed: int, days: int, drift_days: int) -> None:
    """The main job end to end: generate -> apply -> backfill every view -> describe -> lineage (and more steps)."""
    from featurelake.jobs.demo_run import DemoContext, run_demo

    ctx = DemoContext(settings=app.settings, actor=app.actor, console=app.console)
    ctx.rows, ctx.seed, ctx.days, ctx.drift_days = rows, seed, days, drift_days
    run_demo(ctx)
    click.echo(
        "Browse it in the governance console: featurelake console --demo-local   (then open http://127.0.0.1:8890/)"
    )
