"""The backfill job: compute a feature view for a range of days into its Delta feature table.

Run it with spark-submit (on any cluster) or through ``featurelake backfill`` (in-process)::

    spark-submit jobs/backfill.py --view user_transaction_stats --start 2024-03-01 --end 2024-03-31
    spark-submit --master spark://127.0.0.1:57077 jobs/backfill.py --view ... --missing-only

What a run does:

1. resolves the view version in the registry (an archived version refuses) and its spec in the
   feature repo (a repo definition that breaks with the registered one refuses: apply first);
2. pins every source at its current Delta version, checks the sources cover the date
   partitions the windows need (naming any that are missing), and records a ``running`` run
   that heartbeats while it works;
3. computes the days chunk by chunk (``--chunk-days``), each chunk reading only its partitions,
   and stages each chunk in a private Delta table (progress per chunk on the terminal and in
   ``<home>/runs/<run_id>/backfill.log``);
4. validates every staged row against the view's expectations (Great Expectations); on failure
   nothing is committed, the report goes to ``<home>/runs/<run_id>/validation.json``, the run is
   marked failed and the job exits non-zero;
5. commits the range with ONE ``replace_range`` Delta commit (``--missing-only``: one per
   contiguous run of missing days), Z-orders the touched partitions by the entity keys, and
   records the run (rows, every input and output Delta version, duration) and the lineage
   ``source@version -> view version -> table@version``.

A run killed at any point before step 5 leaves the feature table exactly as it was; its run
shows ``abandoned`` once its lease expires without a heartbeat.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from featurelake.errors import FeatureStoreError
from featurelake.jobs.backfill_plan import (
    DEFAULT_CHUNK_DAYS,
    DEFAULT_LEASE,
    BackfillOptions,
    BackfillPlan,
    dry_run_lines,
    prepare_backfill,
)
from featurelake.jobs.heartbeat import Heartbeat

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from featurelake.config.settings import Settings
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import Registry, ViewVersion
    from featurelake.spec import ViewSpec

log = logging.getLogger("featurelake.backfill")


@dataclass
class BackfillResult:
    """What a backfill did (also the run's report in the registry)."""

    run_id: str
    view: str
    version: str
    table: str
    ranges: list[tuple[date, date]]
    rows_read: int = 0
    rows_written: int = 0
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    zorder_version: int | None = None
    duration_s: float = 0.0
    chunks: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (dates as ISO strings)."""
        data = asdict(self)
        data["ranges"] = [[a.isoformat(), b.isoformat()] for a, b in self.ranges]
        return data


# --------------------------------------------------------------------------- helpers


def split_chunks(rng: tuple[date, date], chunk_days: int) -> list[tuple[date, date]]:
    """Split an inclusive range into chunks of at most ``chunk_days`` days."""
    lo, hi = rng
    out = []
    while lo <= hi:
        last = min(hi, lo + timedelta(days=chunk_days - 1))
        out.append((lo, last))
        lo = last + timedelta(days=1)
    return out


def _drop_table_folder(lakehouse: Lakehouse, name: str) -> None:
    try:
        lakehouse.drop(name)
    except FeatureStoreError as err:  # staging cleanup is best effort; the folder is private to the run
        log.warning("could not remove staging table %s: %s", name, err)


def staging_table_name(table: str, run_id: str) -> str:
    """The private staging table of one backfill run of ``table``."""
    return f"_staging__{table}__{re.sub(r'[^A-Za-z0-9]', '', run_id)[:16] or uuid.uuid4().hex[:16]}"


def sweep_stale_staging(
    lakehouse: Lakehouse, registry: Any, project: str, view: str | None, table: str
) -> list[str]:
    """Remove staging folders of ``table`` left by runs that are no longer alive (killed, abandoned).

    Runs when a backfill of the view starts and in ``featurelake table vacuum``; returns the
    staging tables it removed. ``view`` None: consider the running backfills of every view.

    A run killed with SIGKILL never reaches its ``finally``; its staging folder is private and
    never referenced by the feature table, so deleting it loses nothing.
    """
    import pyarrow.fs as pafs

    live = {
        staging_table_name(table, r.run_id)
        for r in registry.list_runs(project, kind="backfill", status="running", target=view, limit=1000)
    }
    removed: list[str] = []
    prefix = f"_staging__{table}__"
    try:
        fs = lakehouse.storage.filesystem()
        base = lakehouse.storage.table_path("x")[:-2]
        infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    except Exception as err:  # noqa: BLE001 - the sweep is housekeeping; the backfill itself goes on
        log.warning("could not list staging tables of %s: %s", table, err)
        return removed
    for info in infos:
        if (
            info.type == pafs.FileType.Directory
            and info.base_name.startswith(prefix)
            and info.base_name not in live
        ):
            log.info("removing stale staging table %s (its run is no longer running)", info.base_name)
            _drop_table_folder(lakehouse, info.base_name)
            removed.append(info.base_name)
    return removed


def _start_exclusive(
    registry: Registry, project: str, params: dict[str, Any], actor: str, view: str, options: BackfillOptions
) -> str:
    """Record the run holding ``options.start..options.end`` of the view, or refuse (or wait)."""
    from featurelake.errors import RunConflictError

    span = (options.start.isoformat(), options.end.isoformat())
    while True:
        try:
            return registry.start_run(
                project, "backfill", params, actor, target=view, lease=options.lease, exclusive_span=span
            )
        except RunConflictError as err:
            if not options.wait:
                raise
            log.info("waiting: %s", err)
            time.sleep(5)


def run_dir(settings: Settings, run_id: str) -> Path:
    """``<home>/runs/<run_id>``: the run's log and validation report."""
    path = Path(settings.home).resolve() / "runs" / run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


ProgressFn = Callable[[str, int, int], None]


def _no_progress(message: str, done: int, total: int) -> None:
    del message, done, total


# --------------------------------------------------------------------------- the job


def run_backfill(
    spark: SparkSession,
    settings: Settings,
    options: BackfillOptions,
    *,
    actor: str,
    progress: ProgressFn = _no_progress,
    plan: BackfillPlan | None = None,
) -> BackfillResult:
    """Backfill one view for ``options.start..options.end`` (see the module docstring).

    Args:
        spark: the Spark session to compute with.
        settings: storage, registry and feature repo settings.
        options: view, dates and mode.
        actor: who runs it (recorded in the registry).
        progress: called as ``progress(message, done, total)`` after each chunk and step.
        plan: the checks already done by :func:`prepare_backfill` (done here when None).

    Returns:
        The result (also stored as the run's report).

    Raises:
        DefinitionError: bad dates, no spec, or a repo definition that breaks with the registry.
        RegistryError: unknown or archived view version.
        LakehouseError: a source table is missing or does not cover the windows.
        TransformError: the custom transform failed or returned the wrong schema.
        ExpectationsFailed: expectations failed; nothing was committed.
    """
    from featurelake.lakehouse.transforms import computed_at

    plan = prepare_backfill(settings, options) if plan is None else plan
    registry, vv, spec, lakehouse = plan.registry, plan.vv, plan.spec, plan.lakehouse
    project, table, ranges, snapshots = settings.project, plan.table, plan.ranges, plan.snapshots

    params = {
        "view": vv.name,
        "version": vv.version,
        "table": table,
        "start": options.start.isoformat(),
        "end": options.end.isoformat(),
        "missing_only": options.missing_only,
        "chunk_days": options.chunk_days,
        "ranges": [[a.isoformat(), b.isoformat()] for a, b in ranges],
        "spark_master": spark.sparkContext.master,
    }
    run_id = _start_exclusive(registry, project, params, actor, vv.name, options)
    folder = run_dir(settings, run_id)
    handler = logging.FileHandler(folder / "backfill.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    result = BackfillResult(run_id=run_id, view=vv.name, version=vv.version, table=table, ranges=ranges)
    result.inputs = [{"table": s.table, "version": s.version} for s in snapshots.values()]
    began = time.monotonic()
    staging = staging_table_name(table, run_id)
    sweep_stale_staging(lakehouse, registry, project, vv.name, table)
    try:
        with Heartbeat(registry, run_id, options.lease):
            log.info(
                "run %s: backfill %s %s (%s) days %s..%s -> %s; ranges %s",
                run_id,
                vv.name,
                vv.version,
                spark.sparkContext.master,
                options.start,
                options.end,
                table,
                params["ranges"],
            )
            _stage(
                spark,
                lakehouse,
                spec,
                vv,
                ranges,
                snapshots,
                computed_at(snapshots),
                staging,
                options,
                result,
                progress,
            )
            _validate_and_commit(
                spark,
                lakehouse,
                spec,
                vv,
                staging,
                folder,
                result,
                progress,
                target_file_mb=options.target_file_mb,
            )
        result.duration_s = round(time.monotonic() - began, 3)
        edges = _lineage(vv, result)
        registry.finish_run(
            run_id,
            status="succeeded",
            rows_in=result.rows_read,
            rows_out=result.rows_written,
            inputs=result.inputs,
            outputs=result.outputs,
            report=result.to_dict(),
            lineage_edges=edges,
        )
        log.info(
            "run %s succeeded: %d rows read, %d written, %.1fs",
            run_id,
            result.rows_read,
            result.rows_written,
            result.duration_s,
        )
        return result
    except BaseException as err:
        result.duration_s = round(time.monotonic() - began, 3)
        log.error("run %s failed: %s", run_id, err)
        try:
            registry.finish_run(
                run_id,
                status="failed",
                rows_in=result.rows_read,
                rows_out=0,
                inputs=result.inputs,
                outputs=result.outputs,
                error=str(err)[:4000],
                report=result.to_dict(),
            )
        except Exception as finish_err:  # noqa: BLE001 - report the original error, not the bookkeeping one
            log.error("could not record run %s as failed: %s", run_id, finish_err)
        raise
    finally:
        _drop_table_folder(lakehouse, staging)
        log.removeHandler(handler)
        handler.close()


def _stage(
    spark: SparkSession,
    lakehouse: Lakehouse,
    spec: ViewSpec,
    vv: ViewVersion,
    ranges: list[tuple[date, date]],
    snapshots: dict[str, Any],
    created: datetime,
    staging: str,
    options: BackfillOptions,
    result: BackfillResult,
    progress: ProgressFn,
) -> None:
    """Compute every chunk and append it to the run's private staging table."""
    from featurelake.lakehouse.transforms import compute_view, wrap_transform_errors
    from featurelake.spec import EVENT_DATE

    join_keys = {k.name: k.dtype for k in vv.entities}
    features = {f.name: f.dtype for f in vv.features}
    chunks = [c for rng in ranges for c in split_chunks(rng, options.chunk_days)]
    total = len(chunks) + 2  # + validate + commit
    for i, (lo, hi) in enumerate(chunks, start=1):
        t0 = time.monotonic()
        rows = compute_view(
            spark,
            lakehouse,
            spec,
            start=lo,
            end=hi,
            snapshots=snapshots,
            join_keys=join_keys,
            features=features,
            created=created,
        )
        try:
            info = lakehouse.write(rows.df, staging, mode="append", partition_by=[EVENT_DATE])
        except Exception as err:  # noqa: BLE001 - user transforms fail here, when Spark evaluates them
            wrapped = wrap_transform_errors(vv.name, spec, err)
            if wrapped is err:
                raise
            raise wrapped from err
        result.rows_read += rows.rows_read
        seconds = round(time.monotonic() - t0, 3)
        result.chunks.append(
            {"start": lo.isoformat(), "end": hi.isoformat(), "rows": info.rows, "seconds": seconds}
        )
        log.info(
            "chunk %d/%d: days %s..%s computed, %d rows staged in %.1fs",
            i,
            len(chunks),
            lo,
            hi,
            info.rows,
            seconds,
        )
        progress(f"{vv.name}: days {lo}..{hi} ({info.rows} rows)", i, total)


def _validate_and_commit(
    spark: SparkSession,
    lakehouse: Lakehouse,
    spec: ViewSpec,
    vv: ViewVersion,
    staging: str,
    folder: Path,
    result: BackfillResult,
    progress: ProgressFn,
    *,
    target_file_mb: int | None = None,
) -> None:
    """Validate every staged row, then commit each range with one replace_range and Z-order it."""
    from featurelake.lakehouse.validation import ExpectationsFailed, gx_expectations, validate_dataframe
    from featurelake.spec import EVENT_DATE

    total = len(result.chunks) + 2
    staged_exists = lakehouse.exists(staging)
    if staged_exists:
        staged = lakehouse.read(spark, staging).cache()
    else:  # no chunk to compute (--missing-only with nothing missing)
        staged = None
    try:
        if staged is not None:
            t0 = time.monotonic()
            expectations = gx_expectations(spec.expectations, join_keys=vv.join_keys)
            report = validate_dataframe(staged, expectations, view=vv.name)
            result.validation = report.to_dict()
            (folder / "validation.json").write_text(json.dumps(report.to_dict(), indent=2))
            log.info("validation: %s (%.1fs)", report.summary().splitlines()[0], time.monotonic() - t0)
            progress(f"{vv.name}: validated {len(report.results)} expectations", total - 1, total)
            if not report.success:
                raise ExpectationsFailed(report, where=str(folder / "validation.json"))
        for lo, hi in result.ranges:
            if staged is not None:
                rows = staged.where(staged[EVENT_DATE].between(lo, hi))
            else:
                rows = None
            if rows is None:
                continue
            info = lakehouse.write(rows, vv.table_name, partition_by=[EVENT_DATE], replace_range=(lo, hi))
            result.rows_written += info.rows
            result.outputs.append({"table": vv.table_name, "version": info.version})
            log.info(
                "committed days %s..%s to %s version %d (%d rows)",
                lo,
                hi,
                vv.table_name,
                info.version,
                info.rows,
            )
        if result.outputs:
            lo = min(a for a, _ in result.ranges)
            hi = max(b for _, b in result.ranges)
            zorder = list(spec.zorder_by or vv.join_keys)
            try:
                metrics = lakehouse.optimize(
                    vv.table_name,
                    zorder_by=zorder,
                    date_range=(lo, hi),
                    target_size=target_file_mb * 1024 * 1024 if target_file_mb else None,
                )
                result.zorder_version = metrics.get("version")
                log.info(
                    "Z-ordered %s days %s..%s by %s -> version %s",
                    vv.table_name,
                    lo,
                    hi,
                    zorder,
                    result.zorder_version,
                )
            except FeatureStoreError as err:  # the data is committed; a missed Z-order only costs read speed
                log.warning(
                    "Z-order of %s failed (data is committed; run `featurelake table optimize`): %s",
                    vv.table_name,
                    err,
                )
        progress(f"{vv.name}: committed {result.rows_written} rows", total, total)
    finally:
        if staged is not None:
            staged.unpersist()


def _lineage(vv: ViewVersion, result: BackfillResult) -> list[tuple[Any, Any]]:
    from featurelake.registry import Node

    view_node = Node.feature_view_version(vv.name, vv.version)
    edges = [(Node.data_source(i["table"], i["version"]), view_node) for i in result.inputs]
    edges += [(view_node, Node.delta_output(o["table"], o["version"])) for o in result.outputs]
    return edges


# --------------------------------------------------------------------------- command line


def _parse_day(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        name = param.opts[0] if param is not None else "date"
        raise click.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD (e.g. 2024-03-01) for {name}"
        ) from None


def backfill_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The backfill options shared by ``featurelake backfill`` and ``spark-submit jobs/backfill.py``."""
    decorators = [
        click.option("--view", required=True, help="Feature view name."),
        click.option(
            "--start", required=True, callback=_parse_day, help="First day, YYYY-MM-DD (inclusive, UTC)."
        ),
        click.option(
            "--end", required=True, callback=_parse_day, help="Last day, YYYY-MM-DD (inclusive, UTC)."
        ),
        click.option(
            "--version", "view_version", default=None, help="View version (2 or 2.1); default current."
        ),
        click.option(
            "--missing-only", is_flag=True, help="Compute only days whose partition is still empty."
        ),
        click.option(
            "--chunk-days",
            type=int,
            default=DEFAULT_CHUNK_DAYS,
            show_default=True,
            help="Days computed per Spark job (progress is shown per chunk).",
        ),
        click.option(
            "--target-file-mb",
            type=int,
            default=None,
            help="Target file size (MB) of the Z-order step (default: delta-rs' 100 MB); smaller files "
            "let single-entity reads skip more files.",
        ),
        click.option(
            "--allow-future",
            is_flag=True,
            help="Allow days after today (UTC); refused by default, they have no complete data yet.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Check and print what would be read (source partitions and Delta versions) and written; "
            "start no Spark, write nothing.",
        ),
        click.option(
            "--wait",
            is_flag=True,
            help="If another live backfill of this view holds an overlapping range, wait for it "
            "(default: refuse at once, naming it).",
        ),
        click.option(
            "--lease-seconds",
            type=float,
            default=DEFAULT_LEASE.total_seconds(),
            hidden=True,
            help="Heartbeat lease of the run (a killed run shows abandoned after it).",
        ),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def options_from_cli(
    view: str,
    start: date,
    end: date,
    view_version: str | None,
    missing_only: bool,
    chunk_days: int,
    lease_seconds: float,
    target_file_mb: int | None = None,
    allow_future: bool = False,
    dry_run: bool = False,
    wait: bool = False,
) -> BackfillOptions:
    """Build :class:`BackfillOptions` from the parsed command line options."""
    return BackfillOptions(
        view=view,
        start=start,
        end=end,
        version=view_version,
        missing_only=missing_only,
        chunk_days=chunk_days,
        lease=timedelta(seconds=lease_seconds),
        target_file_mb=target_file_mb,
        allow_future=allow_future,
        dry_run=dry_run,
        wait=wait,
    )


def run_with_progress(
    spark: SparkSession,
    settings: Settings,
    options: BackfillOptions,
    *,
    actor: str,
    plan: BackfillPlan | None = None,
) -> BackfillResult:
    """Run a backfill with a rich progress bar and log lines on stderr.

    On a terminal: a progress bar and rich log lines. Elsewhere (spark-submit on a cluster, CI,
    a scheduler's log file): one plain, unwrapped line per chunk and step, which log collectors
    and ``grep`` read as they are.
    """
    import sys

    from rich.console import Console
    from rich.logging import RichHandler
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        plain = logging.StreamHandler(sys.stderr)
        plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s backfill: %(message)s"))
        log.addHandler(plain)
        log.setLevel(logging.INFO)
        try:
            return run_backfill(spark, settings, options, actor=actor, plan=plan)
        finally:
            log.removeHandler(plain)
    handler = RichHandler(console=console, show_path=False, markup=False)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with Progress(
            TextColumn("[bold]backfill[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task(options.view, total=None)

            def progress(message: str, done: int, total: int) -> None:
                bar.update(task, description=message, completed=done, total=total)

            return run_backfill(spark, settings, options, actor=actor, progress=progress, plan=plan)
    finally:
        log.removeHandler(handler)


def summary_lines(result: BackfillResult) -> list[str]:
    """Human-readable lines describing a finished backfill."""
    if not result.ranges:
        return [f"{result.view} {result.version}: nothing to do, every day in the range is already filled"]
    ranges = ", ".join(f"{a}..{b}" for a, b in result.ranges)
    outs = ", ".join(f"{o['table']}@{o['version']}" for o in result.outputs) or "-"
    ins = ", ".join(f"{i['table']}@{i['version']}" for i in result.inputs)
    return [
        f"{result.view} {result.version}: days {ranges} -> {outs} (Z-ordered: version {result.zorder_version})",
        f"  rows read {result.rows_read:,}, written {result.rows_written:,}, {result.duration_s:.1f}s; inputs {ins}",
        f"  run {result.run_id}",
    ]


@click.command(name="backfill", context_settings={"help_option_names": ["-h", "--help"]})
@backfill_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="Settings file.")
@click.option("--actor", default=None, help="Who runs it (default: $FEATURELAKE_ACTOR, then the OS user).")
def submit_main(config_path: str | None, actor: str | None, **cli: Any) -> None:
    """spark-submit entry point: compute a feature view for a range of days."""
    from featurelake.actor import resolve_actor
    from featurelake.config.settings import load_settings
    from featurelake.jobs.wiring import submit_master
    from featurelake.lakehouse.spark import build_spark_session

    settings = load_settings(config_path)
    options = options_from_cli(**cli)
    plan = prepare_backfill(settings, options)  # bad input fails here, before Spark starts
    if options.dry_run:
        plan.registry.dispose()
        for line in dry_run_lines(plan.to_dict(options)):
            click.echo(line)
        return
    spark = build_spark_session(
        app_name=f"featurelake-backfill-{options.view}",
        master=submit_master(settings),
        conf=settings.spark.conf,
    )
    try:
        result = run_with_progress(spark, settings, options, actor=resolve_actor(actor), plan=plan)
    finally:
        spark.stop()
    for line in summary_lines(result):
        click.echo(line)


def main(argv: list[str] | None = None) -> None:
    """Run the spark-submit entry point with the CLI's error handling (one red line, exit 1).

    Exit codes (jobs/entrypoint.py): 2 bad input, 3 a service did not answer, 4 a failed expectation
    (so schedulers can tell bad data from a broken job), 5 another run holds the same days.
    """
    from featurelake.jobs.entrypoint import run_click_entrypoint

    run_click_entrypoint(submit_main, argv, prog_name="backfill.py")


if __name__ == "__main__":
    main()
