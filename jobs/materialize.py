"""Materialize a feature view's latest values into the Redis cluster (a spark-submit job).

    spark-submit jobs/materialize.py --view NAME (--start TS --end TS | --incremental)

The job asks the registry which version of the view to serve (archived views refuse), reads
that version's Delta table at a pinned Delta version, partition-pruned to the window, keeps
the latest row per entity with ``start <= event_timestamp < end`` (ties: latest
``created_timestamp``) and writes it from the executors into the cluster, newer-wins. The run
is recorded in the registry (Delta version read, entities written, skipped-as-older), and a
successful run advances the view's ``materialize`` watermark to ``end``; ``--incremental``
starts from it (or from the beginning of the table on the first run).
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.errors import ConfigError, FeatureStoreError
from featurelake.spec import CREATED_TIMESTAMP, EVENT_TIMESTAMP, partitions_covering

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.settings import Settings
    from lakehouse.tables import Lakehouse
    from registry.writer import Registry

WATERMARK = "materialize"


@dataclass(frozen=True)
class MaterializeResult:
    """What one materialization did."""

    run_id: str
    view: str
    version: str
    table: str
    delta_version: int
    start: datetime | None
    end: datetime
    written: int
    skipped_older: int

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


def redis_target(settings: Settings, *, batch_size: int = 2000) -> Any:
    """The executors' write target from the online settings."""
    from lakehouse.online.spark_writer import RedisTarget

    if not settings.online.nodes:
        raise ConfigError(
            "no Redis cluster configured (online.nodes is empty); set online.nodes in featurelake.yaml, "
            "FEATURELAKE_ONLINE_NODES=127.0.0.1:7101,..., or run `featurelake services up`"
        )
    return RedisTarget(
        nodes=tuple(settings.online.nodes),
        project=settings.project,
        password=settings.online.password(),
        ssl=settings.online.ssl,
        key_ttl_seconds=settings.online.key_ttl_seconds,
        batch_size=batch_size,
        replica_acks=settings.online.replica_acks,
    )


class _Heartbeat:
    def __init__(self, registry: Registry, run_id: str, every: float = 60.0):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(registry, run_id, every), daemon=True)

    def _run(self, registry: Registry, run_id: str, every: float) -> None:
        while not self._stop.wait(every):
            try:
                registry.heartbeat(run_id)
            except FeatureStoreError:
                pass  # the run's lease will expire and show it abandoned; the job itself goes on

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def materialize_view(
    spark: SparkSession,
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
) -> MaterializeResult:
    """Materialize one view's window into the online store and record the run.

    Args:
        spark: the Spark session.
        settings: featurelake settings (project, online nodes, key TTL).
        registry: the registry (view version, status, runs, watermark).
        lakehouse: the Delta tables.
        view: the feature view name.
        actor: who runs it.
        start: window start (inclusive); with ``incremental`` it comes from the watermark.
        end: window end (exclusive); default now.
        incremental: continue from the last successful run's watermark.
        version: the view version (default: the active one).
        partitions: Spark tasks writing to Redis (default: the shuffle partitions).

    Returns:
        The run's result.

    Raises:
        ConfigError: a bad window or no Redis configured.
        RegistryError: unknown or archived view.
        LakehouseError: the table is missing or lacks columns.
        ServiceUnavailableError: Redis did not accept the writes through retries.
    """
    from jobs.online import online_view_from_registry
    from lakehouse.online.spark_writer import write_online
    from registry.types import Node

    if incremental and start is not None:
        raise ConfigError("give either --incremental or --start/--end, not both")
    vv = registry.assert_usable(settings.project, view, version, "materialize")
    online_view = online_view_from_registry(vv)
    target = redis_target(settings)
    end = _utc(end) if end else datetime.now(UTC)
    if incremental:
        start = registry.get_watermark(settings.project, view, vv.major, WATERMARK)
    start = _utc(start) if start else None
    if start is not None and start >= end:
        raise ConfigError(
            f"materialization window start {start.isoformat()} is not before end {end.isoformat()}; "
            "pass an earlier --start or a later --end"
        )
    version_label = f"{vv.major}.{vv.minor}"
    delta_version = lakehouse.version(vv.table_name)
    params = {
        "view": view,
        "version": version_label,
        "start": start,
        "end": end,
        "incremental": incremental,
        "table": vv.table_name,
        "delta_version": delta_version,
    }
    run_id = registry.start_run(settings.project, "materialize", params, actor, target=view)
    try:
        with _Heartbeat(registry, run_id):
            from pyspark.sql import functions as F

            date_range = partitions_covering(
                start or datetime(1970, 1, 2, tzinfo=UTC), end - timedelta(microseconds=1)
            )
            columns = [
                *online_view.join_key_names,
                EVENT_TIMESTAMP,
                CREATED_TIMESTAMP,
                *online_view.feature_names,
            ]
            df = lakehouse.read(
                spark,
                vv.table_name,
                version=delta_version,
                columns=columns,
                date_range=date_range if start is not None else None,
            )
            cond = F.col(EVENT_TIMESTAMP) < F.lit(end)
            if start is not None:
                cond = cond & (F.col(EVENT_TIMESTAMP) >= F.lit(start))
            stats = write_online(df.where(cond), view=online_view, target=target, partitions=partitions)
    except BaseException as err:
        registry.finish_run(
            run_id,
            status="failed",
            error=f"{type(err).__name__}: {err}",
            inputs=[{"table": vv.table_name, "version": delta_version}],
        )
        raise
    online_node = f"redis://{settings.project}/{view}"
    registry.finish_run(
        run_id,
        status="succeeded",
        rows_in=stats.written + stats.skipped_older,
        rows_out=stats.written,
        inputs=[{"table": vv.table_name, "version": delta_version}],
        outputs=[{"table": online_node, "version": None}],
        report={"skipped_older": stats.skipped_older, "nodes": list(target.nodes)},
        lineage_edges=[(Node.delta_output(vv.table_name, delta_version), Node.data_source(online_node))],
    )
    registry.set_watermark(settings.project, view, vv.major, WATERMARK, end, actor=actor, run_id=run_id)
    return MaterializeResult(
        run_id,
        view,
        version_label,
        vv.table_name,
        delta_version,
        start,
        end,
        stats.written,
        stats.skipped_older,
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
    from lakehouse.spark import build_spark_session
    from lakehouse.tables import Lakehouse
    from registry.writer import open_registry

    registry = open_registry(settings.registry_url)
    try:
        lakehouse = Lakehouse(settings.storage_root, settings.storage.storage_options())
        spark = spark or build_spark_session(
            app_name=f"featurelake-materialize-{view}", master=settings.spark.master, conf=settings.spark.conf
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
        )
    finally:
        registry.dispose()


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry point."""
    from featurelake.actor import resolve_actor
    from jobs.settings import load_settings

    parser = argparse.ArgumentParser(prog="materialize.py", description=__doc__.splitlines()[0])
    parser.add_argument("--view", required=True)
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--incremental", action="store_true")
    parser.add_argument("--version")
    parser.add_argument("--config")
    parser.add_argument("--actor")
    args = parser.parse_args(argv)
    try:
        if not args.incremental and not (args.start and args.end):
            raise ConfigError("give --start TS --end TS, or --incremental")
        settings = load_settings(args.config)
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
        return 1
    print(
        f"materialized {result.view} v{result.version} (Delta version {result.delta_version}): "
        f"{result.written} entities written, {result.skipped_older} already newer; run {result.run_id}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------- demo steps


def ensure_online_nodes(ctx: Any) -> None:
    """Demo helper: with no Redis configured, start the local stack's Redis cluster and use it."""
    if ctx.settings.online.nodes:
        return
    from jobs.localstack import up

    state = up(
        ctx.settings, services=["redis"], echo=lambda line: ctx.console.print(f"  {line}", markup=False)
    )
    nodes = list(state["redis"]["nodes"])
    online = ctx.settings.online.model_copy(update={"nodes": nodes})
    ctx.settings = ctx.settings.model_copy(update={"online": online})
    ctx.console.print(f"  using the local Redis cluster {','.join(nodes)}", markup=False)


def demo_materialize(ctx: Any) -> None:
    """Demo step: materialize every active online view (incrementally) into the Redis cluster."""
    ensure_online_nodes(ctx)
    registry, lakehouse = ctx.registry(), ctx.lakehouse()
    results = {}
    try:
        for vv in registry.list_views(ctx.settings.project):
            if vv.status != "active" or not vv.entities:  # on-demand views are computed at request time
                continue
            result = materialize_view(
                ctx.spark,
                settings=ctx.settings,
                registry=registry,
                lakehouse=lakehouse,
                view=vv.name,
                actor=ctx.actor,
                incremental=True,
            )
            results[vv.name] = result
            ctx.console.print(
                f"  {vv.name:<28} v{result.version}  Delta {result.table}@{result.delta_version}: "
                f"{result.written:,} entities written, {result.skipped_older:,} already newer",
                markup=False,
            )
    finally:
        registry.dispose()
    ctx.state["materialized"] = results
