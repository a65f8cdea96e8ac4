"""``featurelake training-set create | reproduce | show | list | export``: point-in-time training sets.

The same build runs on a cluster with ``spark-submit jobs/training_set.py`` and the same options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from featurelake.cli.context import AppContext, emit, output_option, pass_app
from featurelake.jobs.training_set import create_options


def _registry(app: AppContext) -> Any:
    from featurelake.jobs.wiring import open_job_registry

    return open_job_registry(app.settings)


def _lakehouse(app: AppContext) -> Any:
    from featurelake.jobs.wiring import lakehouse_from_settings

    return lakehouse_from_settings(app.settings)


def _spark(app: AppContext, master: str | None) -> Any:
    from featurelake.lakehouse.spark import build_spark_session

    settings = app.settings
    return build_spark_session(
        app_name="featurelake-training-set", master=master or settings.spark.master, conf=settings.spark.conf
    )


def _ts_dict(ts: Any) -> dict[str, Any]:
    return {
        "name": ts.name,
        "version": ts.version,
        "service": f"{ts.service}:v{ts.service_version}",
        "rows": ts.row_count,
        "checksum": ts.checksum,
        "table": ts.output.table,
        "delta_version": ts.output.version,
        "entity_source": ts.entity_source.as_dict(),
        "feature_tables": [t.as_dict() for t in ts.feature_tables],
        "features": list(ts.features),
        "created_by": ts.created_by,
        "created_at": ts.created_at,
        "run_id": ts.run_id,
    }


_master_option = click.option(
    "--master", default=None, help="Spark master URL (default: the settings' spark.master)."
)


@click.group(name="training-set")
def training_set() -> None:
    """Build, reproduce and read point-in-time correct training sets (pinned Delta snapshots)."""


@training_set.command("create")
@create_options
@_master_option
@output_option
@pass_app
def create(
    app: AppContext,
    service: str,
    entities: str,
    name: str,
    mode: str,
    timestamp_column: str,
    naive_timestamps: str,
    master: str | None,
    output: str,
) -> None:
    """Join ENTITIES with SERVICE's features as they were at each row's time; write and register it."""
    from featurelake.jobs.training_set import check_create_request, create_training_set

    registry, lakehouse = _registry(app), _lakehouse(app)
    check_create_request(
        registry, lakehouse, project=app.settings.project, name=name, service=service, entities=entities
    )  # bad input fails here, before Spark starts
    created = create_training_set(
        spark=_spark(app, master),
        lakehouse=lakehouse,
        registry=registry,
        project=app.settings.project,
        name=name,
        service=service,
        entities=entities,
        actor=app.actor,
        mode=mode,  # type: ignore[arg-type]
        timestamp_column=timestamp_column,
        naive_timestamps=naive_timestamps,  # type: ignore[arg-type]
    )
    emit(
        created.__dict__,
        output,
        lambda c: c.print(
            f"training set [bold]{created.name}[/bold] v{created.version}: {created.rows:,} rows -> "
            f"{created.table}@{created.delta_version}, checksum {created.checksum}"
        ),
    )


@training_set.command("reproduce")
@click.argument("name")
@click.option("--version", type=int, default=None, help="Training set version (default: newest).")
@_master_option
@output_option
@pass_app
def reproduce(app: AppContext, name: str, version: int | None, master: str | None, output: str) -> None:
    """Rebuild NAME from its pinned Delta versions (time travel) and check it equals the original."""
    from featurelake.jobs.training_set import reproduce_training_set

    result = reproduce_training_set(
        spark=_spark(app, master),
        lakehouse=_lakehouse(app),
        registry=_registry(app),
        project=app.settings.project,
        name=name,
        version=version,
    )
    data = {
        "name": result.name,
        "version": result.version,
        "equal": result.equal,
        "expected": result.expected,
        "got": result.got,
    }
    emit(
        data,
        output,
        lambda c: c.print(
            f"[green]identical[/green]: {name} v{result.version} rebuilt with checksum {result.got}"
            if result.equal
            else f"[red]DIFFERENT[/red]: {name} v{result.version} expected {result.expected}, rebuilt {result.got}"
        ),
    )
    if not result.equal:
        raise SystemExit(4)  # a failed check (jobs/entrypoint.py EXIT_CHECK_FAILED)


@training_set.command("show")
@click.argument("name")
@click.option("--version", type=int, default=None, help="Training set version (default: newest).")
@output_option
@pass_app
def show(app: AppContext, name: str, version: int | None, output: str) -> None:
    """Show a training set version: pinned inputs, features, row count, checksum."""
    data = _ts_dict(_registry(app).get_training_set(app.settings.project, name, version))

    def render(console: Any) -> None:
        for key in (
            "name",
            "version",
            "service",
            "rows",
            "checksum",
            "table",
            "delta_version",
            "created_by",
            "created_at",
            "run_id",
        ):
            console.print(f"{key:>14}: {data[key]}")
        e = data["entity_source"]
        console.print(f"{'entities':>14}: {e['table']}@{e['version']}")
        for t in data["feature_tables"]:
            console.print(f"{'feature table':>14}: {t['table']}@{t['version']}")
        console.print(f"{'features':>14}: {', '.join(data['features'])}")

    emit(data, output, render)


@training_set.command("list")
@click.option("--name", default=None, help="Only versions of this training set.")
@output_option
@pass_app
def list_(app: AppContext, name: str | None, output: str) -> None:
    """List training sets (newest version first per name)."""
    rows = [_ts_dict(ts) for ts in _registry(app).list_training_sets(app.settings.project, name)]

    def render(console: Any) -> None:
        table = Table("name", "version", "service", "rows", "table", "created_at")
        for r in rows:
            table.add_row(
                r["name"],
                str(r["version"]),
                r["service"],
                f"{r['rows']:,}",
                f"{r['table']}@{r['delta_version']}",
                str(r["created_at"]),
            )
        console.print(table)

    emit(rows, output, render)


@training_set.command("export")
@click.argument("name")
@click.option("--version", type=int, default=None, help="Training set version (default: newest).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option(
    "--path", "path", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output file."
)
@output_option
@pass_app
def export(app: AppContext, name: str, version: int | None, fmt: str, path: Path, output: str) -> None:
    """Write a training set snapshot to one parquet or CSV file (read with delta-rs, no Spark)."""
    from featurelake.lakehouse.training import export_snapshot

    ts = _registry(app).get_training_set(app.settings.project, name, version)
    if ts.output.version is None:
        raise click.ClickException(f"training set {name} v{ts.version} has no pinned output version")
    rows = export_snapshot(_lakehouse(app), ts.output.table, ts.output.version, path, fmt=fmt)  # type: ignore[arg-type]
    emit(
        {"name": name, "version": ts.version, "path": str(path), "format": fmt, "rows": rows},
        output,
        lambda c: c.print(f"wrote {rows:,} rows of {name} v{ts.version} to {path} ({fmt})"),
    )
