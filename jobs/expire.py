"""Retention: delete the date partitions of feature tables older than their view's ``retention``.

    featurelake table expire [--view V] [--dry-run] [--force]
    spark-submit jobs/expire.py --view V

Each table's expired partitions leave in ONE partition-level delete commit (whole files, no
rewrite), then the table is vacuumed with the vacuum retention, so the removed files are
deleted once that much older. Each table is a registry ``maintenance`` run. Training sets
pinned to a version that still holds an expiring partition would lose it at that vacuum:
they are listed first and the command refuses unless ``force``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from featurelake.errors import DefinitionError

if TYPE_CHECKING:
    from featurelake.config.settings import Settings
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import Registry

VACUUM_RETENTION = timedelta(days=7)


@dataclass
class TableExpiry:
    """The expiry of one table: the plan and, unless dry, what the delete did."""

    view: str
    table: str
    retention_days: int
    cutoff: date
    partitions: list[str]
    files: int
    rows: int
    bytes: int
    blocking_training_sets: list[str] = field(default_factory=list)
    version_before: int | None = None
    version_after: int | None = None
    rows_removed: int | None = None
    vacuumed: list[str] = field(default_factory=list)
    run_id: str | None = None


@dataclass
class ExpiryResult:
    """What ``table expire`` found and did."""

    dry_run: bool
    tables: list[TableExpiry]
    refused: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        from dataclasses import asdict

        return {"dry_run": self.dry_run, "refused": self.refused, "tables": [asdict(t) for t in self.tables]}


def plan_expiry(
    registry: Any, lakehouse: Lakehouse, project: str, view: str | None, today: date
) -> list[TableExpiry]:
    """The expired partitions of every table of every view with a retention (or of ``view``).

    Raises:
        DefinitionError: ``view`` is named but has no retention.
    """
    from featurelake.lakehouse.erasure import pinned_files_expire
    from featurelake.lakehouse.erasure import plan_expiry as plan_table
    from featurelake.spec import retention_days

    names = [view] if view else [v.name for v in registry.list_views(project)]
    out: list[TableExpiry] = []
    training = registry.list_training_sets(project)
    for name in names:
        current = registry.get_view_version(project, name)
        days = retention_days(current.definition.get("spec") or {})
        if days is None:
            if view:
                raise DefinitionError(
                    f"view {view!r} has no retention; set ViewSpec(retention=timedelta(days=N)) in the "
                    "feature repo and run `featurelake apply`"
                )
            continue
        cutoff = today - timedelta(days=days)
        for table in dict.fromkeys(vv.table_name for vv in registry.list_view_versions(project, name)):
            if not lakehouse.exists(table):
                continue
            p = plan_table(lakehouse, table, cutoff)
            blocking = []
            for ts in training:
                for pin in (*ts.feature_tables, ts.entity_source):
                    if pin.table == table and pin.version is not None:
                        if pinned_files_expire(lakehouse, table, pin.version, p.column, cutoff):
                            blocking.append(f"{ts.name}@{ts.version}")
                            break
            out.append(
                TableExpiry(
                    view=name,
                    table=table,
                    retention_days=days,
                    cutoff=cutoff,
                    partitions=p.partitions,
                    files=p.files,
                    rows=p.rows,
                    bytes=p.bytes,
                    blocking_training_sets=blocking,
                )
            )
    return out


def run_expiry(
    *,
    registry: Registry,
    lakehouse: Lakehouse,
    project: str,
    actor: str,
    view: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    today: date | None = None,
) -> ExpiryResult:
    """Expire partitions older than each view's retention; see the module docstring.

    Args:
        registry: the registry (writer).
        lakehouse: the tables.
        project: registry project.
        actor: who runs it.
        view: only this view (default: every view with a retention).
        dry_run: only list; change nothing.
        force: proceed although training sets pin files that would be removed.
        today: the date the retention counts back from (default: today, UTC).

    Returns:
        Per table: the plan, and what was deleted and vacuumed. ``refused`` when training sets
        block and ``force`` is not given (then nothing is changed).
    """
    from featurelake.lakehouse.erasure import expire

    today = today or datetime.now(UTC).date()
    plans = plan_expiry(registry, lakehouse, project, view, today)
    blocked = [p for p in plans if p.blocking_training_sets and p.files]
    if dry_run or (blocked and not force):
        return ExpiryResult(
            dry_run=dry_run, tables=plans, refused=bool(blocked and not force and not dry_run)
        )
    for p in plans:
        if not p.files:
            continue
        params = {"operation": "expire", "view": p.view, "table": p.table, "cutoff": p.cutoff.isoformat()}
        run_id = registry.start_run(project, "maintenance", params, actor, target=p.table)
        try:
            res = expire(lakehouse, p.table, p.cutoff, run_id=run_id)
            p.version_before, p.version_after, p.rows_removed = (
                res.version_before,
                res.version_after,
                res.rows_removed,
            )
            p.vacuumed = lakehouse.vacuum(p.table, retention=VACUUM_RETENTION)
            registry.finish_run(
                run_id,
                status="succeeded",
                rows_out=res.rows_removed,
                inputs=[{"table": p.table, "version": res.version_before}],
                outputs=[{"table": p.table, "version": res.version_after}],
                report={
                    "operation": "expire",
                    "partitions": p.partitions,
                    "files_removed": res.files_removed,
                    "rows_removed": res.rows_removed,
                    "vacuumed": len(p.vacuumed),
                    "training_sets_affected": p.blocking_training_sets,
                },
            )
            p.run_id = run_id
        except BaseException as err:
            registry.finish_run(run_id, status="failed", error=f"{type(err).__name__}: {err}")
            raise
    return ExpiryResult(dry_run=False, tables=plans)


def expiry_lines(result: ExpiryResult) -> list[str]:
    """Text output of ``table expire``."""
    lines = []
    for t in result.tables:
        head = f"{t.table} (view {t.view}, retention {t.retention_days}d, partitions before {t.cutoff})"
        if not t.files:
            lines.append(f"{head}: nothing to expire")
            continue
        verb = "would delete" if result.dry_run or result.refused else "deleted"
        lines.append(f"{head}: {verb} {len(t.partitions)} partition(s), {t.files} files, {t.rows} rows")
        if t.blocking_training_sets:
            lines.append(f"  training sets pinned to these files: {', '.join(t.blocking_training_sets)}")
        if t.version_after is not None:
            lines.append(
                f"  v{t.version_before} -> v{t.version_after}; vacuumed {len(t.vacuumed)} file(s); run {t.run_id}"
            )
    if result.refused:
        lines.append(
            "refused: the training sets listed above pin files that expiry would remove (they could no longer be "
            "read or reproduced after the vacuum); rerun with --force to proceed"
        )
    return lines or ["no view has a retention (ViewSpec(retention=...))"]


def expire_from_settings(
    settings: Settings, actor: str, *, view: str | None, dry_run: bool, force: bool
) -> ExpiryResult:
    """Open the registry and the lakehouse of ``settings`` and run :func:`run_expiry`."""
    from featurelake.jobs.wiring import lakehouse_from_settings, open_job_registry

    registry = open_job_registry(settings)
    try:
        return run_expiry(
            registry=registry,
            lakehouse=lakehouse_from_settings(settings),
            project=settings.project,
            actor=actor,
            view=view,
            dry_run=dry_run,
            force=force,
        )
    finally:
        registry.dispose()


@click.command(name="expire.py", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--view", default=None, help="Only this view (default: every view with a retention).")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("--force", is_flag=True, help="Proceed although training sets pin expiring files.")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None, help="featurelake.yaml."
)
@click.option("--actor", default=None, help="Who runs it (default: $FEATURELAKE_ACTOR, then the OS user).")
def submit_main(
    view: str | None, dry_run: bool, force: bool, config_path: str | None, actor: str | None
) -> None:
    """spark-submit entry point: delete partitions older than each view's retention."""
    from featurelake.actor import resolve_actor
    from featurelake.config.settings import load_settings

    result = expire_from_settings(
        load_settings(config_path), resolve_actor(actor), view=view, dry_run=dry_run, force=force
    )
    for line in expiry_lines(result):
        click.echo(line)
    if result.refused:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    """Run the entry point with the CLI's error handling."""
    from featurelake.jobs.entrypoint import run_click_entrypoint

    run_click_entrypoint(submit_main, argv, prog_name="expire.py")


if __name__ == "__main__":
    main()
