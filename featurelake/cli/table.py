"""`featurelake table describe | history | optimize | vacuum | expire | list`: Delta tables under the storage root."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from featurelake.cli.context import AppContext, emit, output_option, pass_app


def resolve_table_name(app: AppContext, name: str) -> str:
    """Map what the user typed to a Delta table name.

    ``NAME`` is a Delta table name when such a table exists under the storage root; otherwise a
    feature view name resolves, through the registry, to its current version's table, and
    ``VIEW:VERSION`` (``user_profile:2`` or ``user_profile:2.1``) to that version's table.

    Raises:
        LakehouseError: neither a table nor a registered feature view has that name.
    """
    from featurelake.errors import RegistryError, TableNotFoundError

    view, _, version = name.partition(":")
    if not version and _lakehouse(app).exists(name):
        return name
    from featurelake.registry import open_registry

    try:
        vv = open_registry(app.settings.registry_url, create=False).get_view_version(
            app.settings.project, view, version or None
        )
    except RegistryError as err:
        raise TableNotFoundError(
            f"table {name!r} does not exist under {app.settings.storage_root}, and it is neither a feature "
            f"view of project {app.settings.project!r} ({err}); see `featurelake table list` and "
            "`featurelake registry list`"
        ) from None
    return vv.table_name


def _lakehouse(app: AppContext) -> Any:
    from featurelake.jobs.wiring import lakehouse_from_settings

    return lakehouse_from_settings(app.settings)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


_table_arg = click.argument("name", metavar="TABLE_OR_VIEW")


def _date_range(start: date | None, end: date | None) -> tuple[date, date] | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise click.UsageError("give both --from and --to (dates, inclusive), or neither")
    return (start, end)


_from_option = click.option(
    "--from",
    "start",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First date partition (YYYY-MM-DD).",
)
_to_option = click.option(
    "--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last date partition (YYYY-MM-DD)."
)


@click.group()
def table() -> None:
    """Inspect and maintain Delta tables under the storage root."""


@table.command("list")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also list the private staging tables of running (or killed) backfills (_staging__...).",
)
@output_option
@pass_app
def list_cmd(app: AppContext, show_all: bool, output: str) -> None:
    """List the Delta tables under the storage root (staging tables of backfills only with --all)."""
    names = [n for n in _lakehouse(app).list_tables() if show_all or not n.startswith("_staging__")]
    emit(
        names,
        output,
        lambda c: [c.print(n, markup=False) for n in names] if names else c.print("(no tables)"),
    )


@table.command("describe")
@_table_arg
@output_option
@pass_app
def describe_cmd(app: AppContext, name: str, output: str) -> None:
    """Version, partitions, file count and sizes, last OPTIMIZE/Z-order, protocol and schema."""
    info = _lakehouse(app).describe(resolve_table_name(app, name))
    data = asdict(info)

    def render(c: Console) -> None:
        c.print(f"[bold]{info.name}[/bold]  {info.uri}")
        c.print(f"version          {info.version}")
        c.print(
            f"partitioned by   {', '.join(info.partition_columns) or '(none)'}  ({info.partitions} partitions)"
        )
        c.print(
            f"files            {info.num_files}  total {_human(info.size_bytes)}  "
            f"(min {_human(info.min_file_bytes)}, max {_human(info.max_file_bytes)})"
        )
        c.print(f"rows             {info.num_rows}")
        c.print(f"last modified    {info.last_modified.isoformat() if info.last_modified else '-'}")
        if info.last_optimize:
            z = info.last_optimize.get("zorder_by") or []
            c.print(
                f"last optimize    version {info.last_optimize['version']} at "
                f"{info.last_optimize['timestamp'].isoformat()}"
                + (f", Z-order by {', '.join(z)}" if z else ", compaction")
            )
        else:
            c.print("last optimize    never")
        p = info.protocol
        c.print(f"protocol         reader {p['min_reader_version']} / writer {p['min_writer_version']}")
        c.print("schema           " + ", ".join(f"{n} {t}" for n, t in info.schema))

    emit(data, output, render)


@table.command("history")
@_table_arg
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most this many commits.")
@output_option
@pass_app
def history_cmd(app: AppContext, name: str, limit: int | None, output: str) -> None:
    """The table's commits, newest first."""
    rows = _lakehouse(app).history(resolve_table_name(app, name), limit=limit)

    def render(c: Console) -> None:
        t = Table("version", "time (UTC)", "operation", "parameters", "metrics")
        for h in rows:
            when = datetime.fromtimestamp(h["timestamp"] / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
            metrics = h.get("operationMetrics") or {}
            short = {
                k: v
                for k, v in metrics.items()
                if k
                in (
                    "num_added_files",
                    "num_removed_files",
                    "num_added_rows",
                    "numFilesAdded",
                    "numFilesRemoved",
                )
            }
            t.add_row(
                str(h["version"]),
                when,
                h.get("featurelake.operation") or h.get("operation", "?"),
                str(h.get("operationParameters", {})),
                str(short),
            )
        c.print(t)

    emit(rows, output, render)


@table.command("optimize")
@_table_arg
@click.option(
    "--zorder-by", "zorder_by", default=None, metavar="COLS", help="Comma-separated columns to Z-order by."
)
@_from_option
@_to_option
@output_option
@pass_app
def optimize_cmd(
    app: AppContext,
    name: str,
    zorder_by: str | None,
    start: datetime | None,
    end: datetime | None,
    output: str,
) -> None:
    """Compact small files and optionally Z-order them, within a date range if given."""
    cols = [c.strip() for c in zorder_by.split(",") if c.strip()] if zorder_by else None
    rng = _date_range(start.date() if start else None, end.date() if end else None)
    metrics = _lakehouse(app).optimize(resolve_table_name(app, name), zorder_by=cols, date_range=rng)
    emit(
        metrics,
        output,
        lambda c: c.print(
            f"optimized {name}: version {metrics['version']}, {metrics.get('numFilesRemoved', 0)} files rewritten into "
            f"{metrics.get('numFilesAdded', 0)}" + (f", Z-ordered by {', '.join(cols)}" if cols else "")
        ),
    )


@table.command("vacuum")
@_table_arg
@click.option(
    "--retention-hours",
    type=click.IntRange(min=0),
    default=168,
    show_default=True,
    help="Keep files needed by versions newer than this.",
)
@click.option("--dry-run", is_flag=True, help="Only list the files that would be deleted.")
@output_option
@pass_app
def vacuum_cmd(app: AppContext, name: str, retention_hours: int, dry_run: bool, output: str) -> None:
    """Delete data files no longer referenced by recent versions, and staging tables of killed backfills."""
    lakehouse, table_name = _lakehouse(app), resolve_table_name(app, name)
    files = lakehouse.vacuum(table_name, retention=timedelta(hours=retention_hours), dry_run=dry_run)
    swept: list[str] = []
    if not dry_run:
        from featurelake.errors import RegistryNotFoundError
        from featurelake.jobs.backfill import sweep_stale_staging
        from featurelake.registry import open_registry

        try:
            registry = open_registry(app.settings.registry_url, create=False)
        except RegistryNotFoundError:
            registry = None  # no registry: no backfill can have staged anything here
        if registry is not None:
            try:
                swept = sweep_stale_staging(lakehouse, registry, app.settings.project, None, table_name)
            finally:
                registry.dispose()
    verb = "would delete" if dry_run else "deleted"
    emit(
        {"dry_run": dry_run, "files": files, "staging_tables_removed": swept},
        output,
        lambda c: c.print(
            f"{verb} {len(files)} files from {name}"
            + (f"; removed {len(swept)} staging table(s) of killed backfills" if swept else ""),
            markup=False,
        ),
    )


@table.command("expire")
@click.option("--view", default=None, help="Only this view (default: every view with a retention).")
@click.option("--dry-run", is_flag=True, help="Only list the partitions that would be deleted.")
@click.option("--force", is_flag=True, help="Proceed although training sets pin files that would be removed.")
@output_option
@pass_app
def expire_cmd(app: AppContext, view: str | None, dry_run: bool, force: bool, output: str) -> None:
    """Delete date partitions older than each view's retention (ViewSpec(retention=...)), then vacuum.

    Training sets pinned to versions holding those partitions are listed first; without
    --force the command then refuses and changes nothing.
    """
    from featurelake.errors import LakehouseError
    from featurelake.jobs.expire import expire_from_settings, expiry_lines

    result = expire_from_settings(app.settings, app.actor, view=view, dry_run=dry_run, force=force)
    emit(result.to_dict(), output, lambda c: [c.print(line) for line in expiry_lines(result)])
    if result.refused:
        blocking = sorted({ts for t in result.tables for ts in t.blocking_training_sets})
        raise LakehouseError(
            f"table expire refused: training sets {', '.join(blocking)} pin files it would remove; "
            "rerun with --force to proceed (they can no longer be read or reproduced after the vacuum)"
        )
