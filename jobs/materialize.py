"""Materialize a feature view's latest values into the Redis cluster (a spark-submit job).

    spark-submit jobs/materialize.py --view NAME (--start TS --end TS | --incremental)

The job asks the registry which version of the view to serve (archived views refuse), pins
that version's Delta table at its latest version ``W``, keeps the latest row per entity with
``event_timestamp < end`` (ties: latest ``created_timestamp``) and writes it from the executors
into the cluster, newer-wins (an equal ``_ts`` overwrites, so a corrected value takes effect).
Which files it reads depends on the mode, recorded in the run's report:

- ``window`` (``--start/--end``): the date partitions of ``start <= event_timestamp < end``.
- ``changes`` (``--incremental`` after an earlier ``changes``/``full`` run that read Delta
  version ``V`` up to ``end0``): the files the Delta log says were added by commits
  ``V+1 .. W`` (:mod:`featurelake.lakehouse.changes`: OPTIMIZE/Z-order commits add nothing), whatever their
  event time, plus the partitions of ``end0 <= event_timestamp < end``. A late event or a
  ``replace_range`` backfill of an old day is therefore materialized by the next run.
- ``full`` (``--incremental`` with no earlier run, or when the log cannot say what changed,
  e.g. cleaned up): the whole table up to ``end``.

The run is recorded in the registry (Delta version read, mode, from/to versions, files and rows
read, entities written, skipped-as-older) and a successful run sets the view's ``materialize``
watermark to ``end`` (kept for readers of it; it no longer bounds incremental reads).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from featurelake.errors import ConfigError, FeatureStoreError
from featurelake.jobs.heartbeat import Heartbeat
from featurelake.spec import CREATED_TIMESTAMP, EVENT_TIMESTAMP, online_key_ttl_seconds, partitions_covering

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from featurelake.config.settings import Settings
    from featurelake.lakehouse.tables import DataFile, Lakehouse
    from featurelake.registry.writer import Registry

WATERMARK = "materialize"


Mode = Literal["window", "changes", "full"]
_BASELINE_MODES = ("changes", "full")  # runs after which every row up to their end is online
_BASELINE_SEARCH = 500  # newest materialize runs searched for one (windowed runs are skipped)


@dataclass(frozen=True)
class MaterializeResult:
    """What one materialization did.

    Attributes:
        mode: ``window`` (``start``..``end``), ``changes`` (files changed since ``from_version``,
            plus event times ``start``..``end``) or ``full`` (the whole table up to ``end``).
        from_version: the Delta version the previous run read (``changes`` only).
        delta_version: the Delta version read (the ``to`` version).
        files_read: data files read.
        rows_read: rows in those files (Delta statistics).
        fallback: why an incremental run read the whole table (None if it did not fall back).
        engine: ``spark`` (executors write) or ``local`` (a small run: this process reads the files
            with pyarrow and writes with the same writer; see ``online.local_max_rows``).
    """

    run_id: str
    view: str
    version: str
    table: str
    delta_version: int
    start: datetime | None
    end: datetime
    written: int
    skipped_older: int
    mode: Mode = "window"
    from_version: int | None = None
    files_read: int = 0
    rows_read: int = 0
    fallback: str | None = None
    engine: str = "spark"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def parse_timestamp(text: str, *, option: str) -> datetime:
    """Parse an ISO date or timestamp given on the command line (UTC unless it says otherwise).

    Raises:
        ConfigError: naming the option and the value.
    """
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ConfigError(
            f"{option} {text!r} is not an ISO date or timestamp; write e.g. 2026-01-31 or 2026-01-31T12:00:00Z"
        ) from None


def key_ttl_seconds(settings: Settings, definition: dict[str, Any]) -> int | None:
    """The Redis key expiry of one view's writes: the view's ``ViewSpec.online_key_ttl`` (0 =
    none) recorded in its registry definition, else the global ``online.key_ttl_seconds``, else none.

    Args:
        settings: featurelake settings.
        definition: the view version's stored definition (``ViewVersion.definition``, which
            holds :func:`featurelake.spec.view_definition`'s output under ``"spec"``).
    """
    own = online_key_ttl_seconds(definition.get("spec") or {})
    if own is None:
        return settings.online.key_ttl_seconds
    return own or None


def redis_target(
    settings: Settings, *, batch_size: int = 2000, definition: dict[str, Any] | None = None
) -> Any:
    """The executors' write target from the online settings.

    Args:
        settings: featurelake settings (``online.*``).
        batch_size: rows per pipelined round.
        definition: the view version's stored definition, for its own key expiry (None: the
            global ``online.key_ttl_seconds``); see :func:`key_ttl_seconds`.

    Raises:
        ConfigError: no Redis nodes configured.
    """
    from featurelake.lakehouse.online.spark_writer import RedisTarget

    if not settings.online.nodes:
        raise ConfigError(
            "no Redis cluster configured (online.nodes is empty); set online.nodes in featurelake.yaml, "
            "FEATURELAKE_ONLINE_NODES=127.0.0.1:7101,..., or run `featurelake services up`"
        )
    return RedisTarget(
        nodes=tuple(settings.online.nodes),
        project=settings.project,
        password=settings.online.password(),
        username=settings.online.username(),
        ssl=settings.online.ssl,
        ssl_ca_file=settings.online.ca_file(),
        key_ttl_seconds=key_ttl_seconds(settings, definition or {}),
        batch_size=batch_size,
        replica_acks=settings.online.replica_acks,
        credentials_from=settings.online.credentials_from(),
    )


@dataclass(frozen=True)
class _Plan:
    """Which files of the pinned snapshot a run reads, and why."""

    mode: Mode
    start: datetime | None  # event-time lower bound of ``window`` (None: from the beginning)
    changed: list[DataFile]  # read whatever their event time (``changes`` mode)
    window: list[DataFile]  # read for ``start <= event_timestamp``
    from_version: int | None
    table_id: str
    fallback: str | None = None

    def files(self) -> dict[str, DataFile]:
        return {f.path: f for f in [*self.changed, *self.window]}


def _baseline(
    registry: Registry, project: str, view: str, table: str
) -> tuple[int, datetime, str | None] | None:
    """(Delta version, end, table id) of the newest run after which every row up to its end is online.

    Those are ``changes`` and ``full`` runs of this table; a ``window`` run only covered its window,
    so it is skipped (rows changed before its start may still be missing online).
    """
    for run in registry.list_runs(
        project, kind="materialize", status="succeeded", target=view, limit=_BASELINE_SEARCH
    ):
        report = run.report or {}
        versions = [t.version for t in run.inputs if t.table == table and t.version is not None]
        end = run.params.get("end")
        if report.get("mode") in _BASELINE_MODES and versions and isinstance(end, str):
            return versions[0], _utc(datetime.fromisoformat(end)), report.get("table_id")
    return None


def _plan(
    *,
    registry: Registry,
    lakehouse: Lakehouse,
    project: str,
    view: str,
    table: str,
    delta_version: int,
    start: datetime | None,
    end: datetime,
    incremental: bool,
) -> _Plan:
    from featurelake.lakehouse.changes import ChangesUnavailable, changed_files, table_id

    def covering(lo: datetime) -> list[DataFile]:
        if lo >= end:
            return []
        return lakehouse.files(
            table, version=delta_version, date_range=partitions_covering(lo, end - timedelta(microseconds=1))
        )

    fallback = None
    if incremental:
        base = _baseline(registry, project, view, table)
        if base is None:
            fallback = f"no earlier incremental or full run read table {table}"
        else:
            since, since_end, since_id = base
            try:
                changes = changed_files(
                    lakehouse, table, since_version=since, to_version=delta_version, table_id=since_id
                )
            except ChangesUnavailable as err:
                fallback = err.reason
            else:
                # Rows already in the table at ``since`` but with event times in since_end..end were
                # outside the previous run's window: read those partitions too.
                return _Plan(
                    "changes", since_end, changes.files, covering(since_end), since, changes.table_id
                )
    tid = table_id(lakehouse, table, version=delta_version)
    if start is not None:
        return _Plan("window", start, [], covering(start), None, tid)
    return _Plan("full", None, [], lakehouse.files(table, version=delta_version), None, tid, fallback)


def _read(
    spark: SparkSession,
    lakehouse: Lakehouse,
    plan: _Plan,
    *,
    table: str,
    delta_version: int,
    columns: list[str],
    end: datetime,
) -> DataFrame:
    from pyspark.sql import functions as F

    before_end = F.col(EVENT_TIMESTAMP) < F.lit(end)
    frames = []
    if plan.changed:
        df = lakehouse.read(
            spark, table, version=delta_version, columns=columns, files=[f.path for f in plan.changed]
        )
        frames.append(df.where(before_end))
    if plan.window:
        df = lakehouse.read(
            spark, table, version=delta_version, columns=columns, files=[f.path for f in plan.window]
        )
        cond = (
            before_end if plan.start is None else before_end & (F.col(EVENT_TIMESTAMP) >= F.lit(plan.start))
        )
        frames.append(df.where(cond))
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df)  # a row in both is deduplicated by the latest-per-entity step
    return out


def _resolve(
    settings: Settings,
    registry: Registry,
    lakehouse: Lakehouse,
    *,
    view: str,
    start: datetime | None,
    end: datetime | None,
    incremental: bool,
    version: str | None,
) -> tuple[Any, Any, datetime | None, datetime, int]:
    """The checks of a materialization, before any work: (view version, Redis target, start, end, Delta version).

    Raises:
        ConfigError: a bad window or no Redis configured.
        RegistryError: unknown or archived view.
        LakehouseError: the table is missing.
    """
    if incremental and start is not None:
        raise ConfigError("give either --incremental or --start/--end, not both")
    vv = registry.assert_usable(settings.project, view, version, "materialize")
    target = redis_target(settings, definition=vv.definition)
    end = _utc(end) if end else datetime.now(UTC)
    start = _utc(start) if start else None
    if start is not None and start >= end:
        raise ConfigError(
            f"materialization window start {start.isoformat()} is not before end {end.isoformat()}; "
            "pass an earlier --start or a later --end"
        )
    return vv, target, start, end, lakehouse.version(vv.table_name)


def _read_arrow(lakehouse: Lakehouse, plan: _Plan, *, columns: list[str], end: datetime) -> Any:
    """The planned files as one Arrow table, filtered like :func:`_read` (the small-run path)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    fs = lakehouse.storage.filesystem()
    parts = []
    for files, lo in ((plan.changed, None), (plan.window, plan.start)):
        for f in files:
            present = pq.read_schema(f.path, filesystem=fs).names
            part = pq.read_table(f.path, filesystem=fs, columns=[c for c in columns if c in present])
            ts = part.column(EVENT_TIMESTAMP)
            keep = pc.less(ts, pa.scalar(end, type=ts.type))
            if lo is not None:
                keep = pc.and_(keep, pc.greater_equal(ts, pa.scalar(lo, type=ts.type)))
            parts.append(part.filter(keep))
    if not parts:
        return None
    # files written before a column was added lack it: it reads as null there
    table = pa.concat_tables(parts, promote_options="default")
    return table.select([c for c in columns if c in table.column_names])


def materialize_view(
    spark: SparkSession | None,
    *,
    settings: Settings,
    registry: Registry,
    lakehouse: Lakehouse,
    view: str,
    actor: str,
    start: datetime | None = None,
    end: datetime | None = None,
    incremental: bool = False,
    version: str | None = None,
    partitions: int | None = None,
    progress: Callable[[str], None] | None = None,
    allow_local: bool = True,
) -> MaterializeResult:
    """Materialize one view into the online store and record the run.

    Args:
        spark: the Spark session; None, or a run that reads at most ``online.local_max_rows``
            rows, writes from this process without Spark (same writer, same guarantees).
        settings: featurelake settings (project, online nodes, default key TTL).
        registry: the registry (view version, status, runs, watermark).
        lakehouse: the Delta tables.
        view: the feature view name.
        actor: who runs it.
        start: window start (inclusive): read only ``start <= event_timestamp < end``
            (``window`` mode). None without ``incremental``: the whole table (``full`` mode).
        end: rows with ``event_timestamp < end`` only; default now.
        incremental: read the files the Delta log says changed since the previous ``changes`` or
            ``full`` run of this view version (``changes`` mode), whatever their event time; the
            whole table on the first run or when the log cannot tell (``full`` mode).
        version: the view version (default: the active one).
        partitions: Spark tasks writing to Redis (default: the shuffle partitions).
        progress: called with one line per step (plan, read and write, done).
        allow_local: let a small run (at most ``online.local_max_rows`` rows to read) skip Spark;
            False always writes from the executors (``spark-submit jobs/materialize.py``).

    Returns:
        The run's result (mode, Delta versions, files and rows read, entities written).

    Raises:
        ConfigError: a bad window or no Redis configured.
        RegistryError: unknown or archived view.
        LakehouseError: the table is missing or lacks columns.
        ServiceUnavailableError: Redis did not accept the writes through retries.
    """
    from featurelake.jobs.online import online_view_from_registry
    from featurelake.lakehouse.online.spark_writer import write_online, write_online_local
    from featurelake.lakehouse.online.writer import WriteStats
    from featurelake.registry.types import Node

    vv, target, start, end, delta_version = _resolve(
        settings,
        registry,
        lakehouse,
        view=view,
        start=start,
        end=end,
        incremental=incremental,
        version=version,
    )
    online_view = online_view_from_registry(vv)
    version_label = f"{vv.major}.{vv.minor}"
    params = {
        "view": view,
        "version": version_label,
        "start": start,
        "end": end,
        "incremental": incremental,
        "table": vv.table_name,
        "delta_version": delta_version,
        "spark_master": spark.sparkContext.master if spark is not None else None,
    }
    run_id = registry.start_run(settings.project, "materialize", params, actor, target=view)
    inputs = [{"table": vv.table_name, "version": delta_version}]
    try:
        with Heartbeat(registry, run_id):
            plan = _plan(
                registry=registry,
                lakehouse=lakehouse,
                project=settings.project,
                view=view,
                table=vv.table_name,
                delta_version=delta_version,
                start=start,
                end=end,
                incremental=incremental,
            )
            files = plan.files()
            say = progress or (lambda line: None)
            say(
                f"{view}: {plan.mode} read of {vv.table_name}@{delta_version}: {len(files)} file(s), "
                f"{sum(f.num_records or 0 for f in files.values()):,} row(s); writing to Redis"
            )
            rows_planned = sum(f.num_records or 0 for f in files.values())
            small = allow_local and rows_planned <= settings.online.local_max_rows
            engine = "local" if spark is None or small else "spark"
            if files:
                columns = [
                    *online_view.join_key_names,
                    EVENT_TIMESTAMP,
                    CREATED_TIMESTAMP,
                    *online_view.feature_names,
                ]
                if engine == "local":  # small: Spark's fixed cost would dominate
                    arrow = _read_arrow(lakehouse, plan, columns=columns, end=end)
                    stats = (
                        WriteStats()
                        if arrow is None
                        else write_online_local(arrow, view=online_view, target=target)
                    )
                else:
                    df = _read(
                        spark,
                        lakehouse,
                        plan,
                        table=vv.table_name,
                        delta_version=delta_version,
                        columns=columns,
                        end=end,
                    )
                    stats = write_online(df, view=online_view, target=target, partitions=partitions)
            else:
                stats = WriteStats()  # nothing changed: no Spark job, no Redis round trip
    except BaseException as err:
        registry.finish_run(run_id, status="failed", error=f"{type(err).__name__}: {err}", inputs=inputs)
        raise
    rows_read = sum(f.num_records or 0 for f in files.values())
    say(f"{view}: {stats.written:,} entities written, {stats.skipped_older:,} already newer online")
    online_node = f"redis://{settings.project}/{view}"
    registry.finish_run(
        run_id,
        status="succeeded",
        rows_in=stats.written + stats.skipped_older,
        rows_out=stats.written,
        inputs=inputs,
        outputs=[{"table": online_node, "version": None}],
        report={
            "mode": plan.mode,
            "from_version": plan.from_version,
            "to_version": delta_version,
            "table_id": plan.table_id,
            "files_read": len(files),
            "rows_read": rows_read,
            "fallback": plan.fallback,
            "engine": engine,
            "skipped_older": stats.skipped_older,
            "nodes": list(target.nodes),
        },
        lineage_edges=[(Node.delta_output(vv.table_name, delta_version), Node.data_source(online_node))],
    )
    registry.set_watermark(settings.project, view, vv.major, WATERMARK, end, actor=actor, run_id=run_id)
    return MaterializeResult(
        run_id,
        view,
        version_label,
        vv.table_name,
        delta_version,
        plan.start,
        end,
        stats.written,
        stats.skipped_older,
        mode=plan.mode,
        from_version=plan.from_version,
        files_read=len(files),
        rows_read=rows_read,
        fallback=plan.fallback,
        engine=engine,
    )


def plan_materialize(
    *,
    settings: Settings,
    registry: Registry,
    lakehouse: Lakehouse,
    view: str,
    start: datetime | None = None,
    end: datetime | None = None,
    incremental: bool = False,
    version: str | None = None,
) -> dict[str, Any]:
    """What :func:`materialize_view` would read and write, without Spark and without writing.

    The dry run of ``featurelake materialize --dry-run``: the mode (window, changes, full), the
    Delta versions, files and rows it would read, and the Redis nodes and key TTL it would write.

    Raises:
        ConfigError: a bad window or no Redis configured.
        RegistryError: unknown or archived view.
        LakehouseError: the table is missing.
    """
    vv, target, start, end, delta_version = _resolve(
        settings,
        registry,
        lakehouse,
        view=view,
        start=start,
        end=end,
        incremental=incremental,
        version=version,
    )
    plan = _plan(
        registry=registry,
        lakehouse=lakehouse,
        project=settings.project,
        view=view,
        table=vv.table_name,
        delta_version=delta_version,
        start=start,
        end=end,
        incremental=incremental,
    )
    files = plan.files()
    return {
        "dry_run": True,
        "view": view,
        "version": f"{vv.major}.{vv.minor}",
        "mode": plan.mode,
        "fallback": plan.fallback,
        "table": vv.table_name,
        "from_version": plan.from_version,
        "to_version": delta_version,
        "window": [None if plan.start is None else plan.start.isoformat(), end.isoformat()],
        "files_to_read": len(files),
        "rows_to_read": sum(f.num_records or 0 for f in files.values()),
        "partitions": sorted({str(p) for f in files.values() for p in f.partition_values.values()}),
        "writes": {"redis_nodes": list(target.nodes), "key_ttl_seconds": target.key_ttl_seconds},
    }


def dry_run_line(report: dict[str, Any]) -> str:
    """One line describing :func:`plan_materialize`'s report."""
    versions = (
        f"{report['from_version']}->{report['to_version']}"
        if report["mode"] == "changes"
        else f"@{report['to_version']}"
    )
    return (
        f"dry run: {report['view']} v{report['version']} [{report['mode']}] Delta {report['table']} {versions}: "
        f"would read {report['files_to_read']} files / {report['rows_to_read']} rows and write the latest row per "
        f"entity to {len(report['writes']['redis_nodes'])} Redis node(s); nothing was read or written"
    )


def run(
    *,
    settings: Settings,
    view: str,
    actor: str,
    start: datetime | None = None,
    end: datetime | None = None,
    incremental: bool = False,
    version: str | None = None,
    spark: SparkSession | None = None,
) -> MaterializeResult:
    """Open the registry, the lakehouse and (unless given) a Spark session, then materialize."""
    from featurelake.jobs.wiring import open_job_registry, submit_master
    from featurelake.lakehouse.spark import build_spark_session
    from featurelake.lakehouse.tables import Lakehouse

    registry = open_job_registry(settings)
    try:
        lakehouse = Lakehouse(settings.storage_root, settings.storage.storage_options())
        # Unknown or archived views, bad windows and missing tables fail here, before Spark starts.
        plan_materialize(
            settings=settings,
            registry=registry,
            lakehouse=lakehouse,
            view=view,
            start=start,
            end=end,
            incremental=incremental,
            version=version,
        )
        # Under spark-submit its --master wins (a cluster); run as a script, the settings' master.
        spark = spark or build_spark_session(
            app_name=f"featurelake-materialize-{view}",
            master=submit_master(settings),
            conf=settings.spark.conf,
        )
        return materialize_view(
            spark,
            settings=settings,
            registry=registry,
            lakehouse=lakehouse,
            view=view,
            actor=actor,
            start=start,
            end=end,
            incremental=incremental,
            version=version,
            allow_local=False,  # a spark-submit job: the user chose a cluster
        )
    finally:
        registry.dispose()


def describe(result: MaterializeResult) -> str:
    """One line: view, mode, Delta versions, files and rows read, entities written."""
    versions = (
        f"{result.from_version}->{result.delta_version}"
        if result.mode == "changes"
        else f"@{result.delta_version}"
    )
    why = f" (incremental fell back: {result.fallback})" if result.fallback else ""
    return (
        f"{result.view} v{result.version} [{result.mode}{why}, {result.engine}] Delta {result.table} {versions}: "
        f"{result.files_read} files / {result.rows_read} rows read, {result.written} entities written, "
        f"{result.skipped_older} already newer"
    )


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry point."""
    from featurelake.actor import resolve_actor
    from featurelake.config.settings import load_settings

    parser = argparse.ArgumentParser(prog="materialize.py", description=__doc__.splitlines()[0])
    parser.add_argument("--view", required=True, help="feature view to materialize")
    parser.add_argument("--start", help="window start, inclusive (ISO date or timestamp, UTC)")
    parser.add_argument("--end", help="rows with event_timestamp before this only (default: now)")
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="read only the files the Delta log says changed since the last incremental or full run "
        "(late and backfilled rows included); the whole table the first time",
    )
    parser.add_argument("--version", help="view version (default: the active one)")
    parser.add_argument(
        "--config", help="featurelake.yaml (default: $FEATURELAKE_CONFIG or ./featurelake.yaml)"
    )
    parser.add_argument("--actor", help="who runs it (default: $FEATURELAKE_ACTOR or the OS user)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be read and written; start no Spark, write nothing",
    )
    args = parser.parse_args(argv)
    from featurelake.jobs.entrypoint import exit_code_for

    try:
        if not args.incremental and not (args.start and args.end):
            raise ConfigError("give --start TS --end TS, or --incremental")
        settings = load_settings(args.config)
        if args.dry_run:
            from featurelake.lakehouse.tables import Lakehouse
            from featurelake.registry.writer import open_registry

            registry = open_registry(settings.registry_url, create=False)
            try:
                report = plan_materialize(
                    settings=settings,
                    registry=registry,
                    lakehouse=Lakehouse(settings.storage_root, settings.storage.storage_options()),
                    view=args.view,
                    start=parse_timestamp(args.start, option="--start") if args.start else None,
                    end=parse_timestamp(args.end, option="--end") if args.end else None,
                    incremental=args.incremental,
                    version=args.version,
                )
            finally:
                registry.dispose()
            print(dry_run_line(report))
            return 0
        result = run(
            settings=settings,
            view=args.view,
            actor=resolve_actor(args.actor),
            start=parse_timestamp(args.start, option="--start") if args.start else None,
            end=parse_timestamp(args.end, option="--end") if args.end else None,
            incremental=args.incremental,
            version=args.version,
        )
    except FeatureStoreError as err:
        print(f"Error: {err}", file=sys.stderr)
        return exit_code_for(err)
    print(f"materialized {describe(result)}; run {result.run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
