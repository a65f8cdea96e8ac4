"""Stream a feature view: Spark Structured Streaming into the view's Delta table and Redis, exactly once.

``spark-submit jobs/stream.py --view V [--source delta|redis|kafka] [--checkpoint DIR]
[--trigger 5s] [--available-now] [--watermark 10m]`` (``featurelake stream run`` runs the same).

1. The view's registered aggregation definition (:mod:`featurelake.jobs.stream_plan`) names
   its source and aggregations. Sources: ``delta`` (default) follows the source Delta table's
   log (:mod:`featurelake.lakehouse.streaming.delta_source`); ``redis`` reads the view's event
   log, a Redis Stream that ``featurelake push`` and ``POST /push`` append to
   (:mod:`featurelake.lakehouse.streaming.redis_source`); ``kafka`` uses Spark's own Kafka
   source (JSON values with the event columns) and needs the ``spark-sql-kafka-0-10`` jars on
   the classpath (``--packages``): written and documented, NOT exercised here (no Maven).
2. Event-time window aggregations with a watermark
   (:mod:`featurelake.lakehouse.streaming.aggregations`), the batch engine's semantics.
3. Each micro-batch goes to Delta (append, one commit carrying the Delta ``txn`` of the stream
   id and batch id) and to Redis (newer-wins), see :mod:`featurelake.lakehouse.streaming.sink`.
4. The registry records the stream as a ``stream`` run holding the view (a second stream of the
   same view is refused, naming it) with its batches, rows, late rows dropped, source offsets
   and the Delta versions it wrote, plus lineage source -> Delta versions -> Redis. A status file
   (``featurelake stream status``) is rewritten after every batch.

``--available-now`` processes everything available (including the batch that closes the
windows the watermark passed) and stops; otherwise the stream runs until
``featurelake stream stop --view V`` (or a signal).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.errors import ConfigError, FeatureStoreError
from featurelake.jobs.stream_plan import (
    SOURCES,
    StreamDefinition,
    claim_checkpoint,
    default_checkpoint,
    event_schema,
    parse_duration,
    stream_definition,
    stream_dir,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from featurelake.config.settings import Settings

# a stream holds its view for all days: a second stream of the view overlaps it and is refused
_SPAN = ("0001-01-01", "9999-12-31")


@dataclass(frozen=True)
class StreamOptions:
    """How to run a view's stream.

    Attributes:
        view: the feature view.
        source: ``delta`` (the view's source table), ``redis`` (its event log) or ``kafka``.
        checkpoint: Spark's checkpoint folder (default: under the home, one per view).
        trigger: micro-batch interval, e.g. ``5s``.
        available_now: process what is available, close what the watermark passed, then stop.
        watermark: how late an event may arrive and still count in every window (None: the
            view's ``ViewSpec.watermark``, else 10 minutes).
        max_per_trigger: Delta versions (delta) or entries (redis) per micro-batch at most.
        online: also write Redis (False: Delta only).
        version: the view version (default: the active one).
        kafka_bootstrap: Kafka bootstrap servers (``--source kafka``).
        kafka_topic: Kafka topic (``--source kafka``).
    """

    view: str
    source: str = "delta"
    checkpoint: str | None = None
    trigger: timedelta = timedelta(seconds=5)
    available_now: bool = False
    watermark: timedelta | None = None
    max_per_trigger: int | None = None
    online: bool = True
    version: str | None = None
    kafka_bootstrap: str | None = None
    kafka_topic: str | None = None


@dataclass
class StreamResult:
    """What a stream run did (also its registry report)."""

    run_id: str
    view: str
    table: str
    stream_id: str
    checkpoint: str
    batches: list[dict[str, Any]] = field(default_factory=list)
    late_rows_dropped: int = 0
    input_rows: int = 0
    last_offsets: Any = None

    @property
    def delta_versions(self) -> list[int]:
        """The Delta versions this run committed."""
        return [b["delta_version"] for b in self.batches if b.get("delta_version") is not None]

    def to_dict(self) -> dict[str, Any]:
        """The run's report."""
        return {
            "view": self.view,
            "table": self.table,
            "stream_id": self.stream_id,
            "checkpoint": self.checkpoint,
            "batches": len(self.batches),
            "rows_written": sum(b["rows"] for b in self.batches),
            "delta_versions": self.delta_versions,
            "replayed_batches_skipped": sum(1 for b in self.batches if b["delta_skipped"]),
            "redis_written": sum(b["redis_written"] for b in self.batches),
            "late_rows_dropped": self.late_rows_dropped,
            "input_rows": self.input_rows,
            "last_offsets": self.last_offsets,
            "last_batch": self.batches[-1] if self.batches else None,
        }


def check_options(options: StreamOptions) -> None:
    """Refuse bad options before anything starts.

    Raises:
        ConfigError: naming the bad option.
    """
    if options.source not in SOURCES:
        raise ConfigError(f"--source {options.source!r} is not one of {', '.join(SOURCES)}")
    if options.source == "kafka" and not (options.kafka_bootstrap and options.kafka_topic):
        raise ConfigError("--source kafka needs --kafka-bootstrap HOST:PORT and --kafka-topic NAME")
    if options.max_per_trigger is not None and options.max_per_trigger < 1:
        raise ConfigError(f"--max-per-trigger {options.max_per_trigger} must be at least 1")


def build_source(
    spark: SparkSession,
    settings: Settings,
    lakehouse: Any,
    definition: StreamDefinition,
    options: StreamOptions,
    *,
    group: str,
) -> DataFrame:
    """The streaming DataFrame of the view's events (entity columns renamed to the join keys)."""
    from pyspark.sql import functions as F

    from featurelake.lakehouse.schema import arrow_to_spark

    schema = event_schema(lakehouse, definition)
    if options.source == "delta":
        from featurelake.lakehouse.streaming import delta_source

        delta_source.register(spark)
        spec = delta_source.DeltaStreamSpec(
            root=lakehouse.storage.root,
            table=definition.source,
            storage_options=lakehouse.storage.storage_options,
            max_versions_per_trigger=options.max_per_trigger,
            parallelism=max(1, spark.sparkContext.defaultParallelism),
        )
        df = spark.readStream.format(delta_source.SOURCE_NAME).option("spec", spec.to_option()).load()
    elif options.source == "redis":
        from featurelake.jobs.materialize import redis_target
        from featurelake.lakehouse.streaming import redis_source
        from featurelake.lakehouse.streaming.event_log import event_log_key

        target = redis_target(settings)
        spec_r = redis_source.RedisStreamSpec(
            nodes=list(target.nodes),
            key=event_log_key(settings.project, definition.view),
            group=group,
            schema=arrow_to_spark(schema).json(),
            password=target.password,
            username=target.username,
            ssl=target.ssl,
            ssl_ca_file=target.ssl_ca_file,
            max_entries_per_trigger=options.max_per_trigger,
        )
        redis_source.register(spark)
        df = spark.readStream.format(redis_source.SOURCE_NAME).option("spec", spec_r.to_option()).load()
    else:  # kafka: Spark's own source; needs spark-sql-kafka-0-10 on the classpath (not here)
        raw = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", options.kafka_bootstrap)
            .option("subscribe", options.kafka_topic)
            .option("startingOffsets", "earliest")
        )
        if options.max_per_trigger:
            raw = raw.option("maxOffsetsPerTrigger", str(options.max_per_trigger))
        parsed = raw.load().select(
            F.from_json(F.col("value").cast("string"), arrow_to_spark(schema)).alias("e")
        )
        df = parsed.select("e.*")
    return df.select(
        *[F.col(src).alias(key) for src, key in definition.entity_columns.items()],
        *[c for c in df.columns if c not in definition.entity_columns],
    )


class _Progress:
    """Collects the query's progress (late rows, offsets) from a StreamingQueryListener."""

    def __init__(self) -> None:
        self.by_batch: dict[int, dict[str, Any]] = {}

    def listener(self) -> Any:
        from pyspark.sql.streaming import StreamingQueryListener

        progress = self

        class _L(StreamingQueryListener):
            def onQueryStarted(self, event: Any) -> None:
                pass

            def onQueryProgress(self, event: Any) -> None:
                p = json.loads(event.progress.json)
                progress.by_batch[int(p["batchId"])] = p

            def onQueryIdle(self, event: Any) -> None:
                pass

            def onQueryTerminated(self, event: Any) -> None:
                pass

        return _L()

    def late_rows(self) -> int:
        return sum(
            sum(int(op.get("numRowsDroppedByWatermark", 0)) for op in p.get("stateOperators", []))
            for p in self.by_batch.values()
        )

    def input_rows(self) -> int:
        return sum(int(p.get("numInputRows", 0)) for p in self.by_batch.values())

    def last(self) -> dict[str, Any] | None:
        return self.by_batch[max(self.by_batch)] if self.by_batch else None


def preflight(settings: Settings, options: StreamOptions, *, actor: str, registry: Any = None) -> None:
    """Every check of a stream that needs no Spark, so refusals come in seconds, not after a JVM start.

    Checks the options, the view (usable, an aggregation view, its source table and columns), the
    Redis settings, the checkpoint's owner and that no live stream holds the view (dead local ones
    are reaped). :func:`run_stream` repeats them (another stream may start in between; the
    registry's lock decides).

    Raises:
        ConfigError, DefinitionError, RegistryError, LakehouseError, RunConflictError: as
        :func:`run_stream`.
    """
    from featurelake.errors import RunConflictError
    from featurelake.jobs.materialize import redis_target
    from featurelake.jobs.stream_plan import MARKER
    from featurelake.jobs.wiring import lakehouse_from_settings
    from featurelake.registry.writer import open_registry

    check_options(options)
    own = registry is None
    registry = registry or open_registry(settings.registry_url, create=False)
    try:
        vv = registry.assert_usable(settings.project, options.view, options.version, "materialize")
        event_schema(lakehouse_from_settings(settings), stream_definition(vv))
        if options.online:
            redis_target(settings, definition=vv.definition)
        checkpoint = options.checkpoint or default_checkpoint(settings, options.view)
        marker = os.path.join(checkpoint, MARKER)
        if os.path.exists(marker):
            claim_checkpoint(checkpoint, project=settings.project, view=options.view, source=options.source)
        reap_dead_streams(registry, settings.project, options.view, actor=actor)
        for run in registry.list_runs(settings.project, kind="stream", status="running", target=options.view):
            params = run.params or {}
            raise RunConflictError(
                f"a stream of view {options.view!r} is already running: run {run.run_id} (pid {params.get('pid')} on "
                f"{params.get('host')}, started {run.started_at:%Y-%m-%d %H:%M:%S} UTC by {run.actor}); stop it with "
                f"`featurelake stream stop --view {options.view}` (or `featurelake registry cancel-run {run.run_id}` "
                "if its process is dead)"
            )
    finally:
        if own:
            registry.dispose()


def run_stream(
    spark: SparkSession,
    settings: Settings,
    options: StreamOptions,
    *,
    actor: str,
    registry: Any = None,
) -> StreamResult:
    """Run a view's stream until it drains (``available_now``) or is asked to stop; record the run.

    Raises:
        ConfigError: bad options, or a checkpoint of another stream.
        DefinitionError: the view cannot stream (not an aggregation view).
        RegistryError: unknown or archived view.
        RunConflictError: a stream of the view is already running (named).
        LakehouseError: the source table is missing.
    """
    from featurelake.jobs.heartbeat import Heartbeat
    from featurelake.jobs.materialize import redis_target
    from featurelake.jobs.online import online_view_from_registry
    from featurelake.jobs.wiring import lakehouse_from_settings, open_job_registry
    from featurelake.lakehouse.streaming.aggregations import stream_window_aggregations
    from featurelake.lakehouse.streaming.sink import BatchResult, FeatureStreamSink
    from featurelake.registry.types import Node

    check_options(options)
    own = registry is None
    registry = registry or open_job_registry(settings)
    try:
        lakehouse = lakehouse_from_settings(settings)
        vv = registry.assert_usable(settings.project, options.view, options.version, "materialize")
        definition = stream_definition(vv)
        event_schema(lakehouse, definition)  # the source exists and has the columns, before anything starts
        target = redis_target(settings, definition=vv.definition) if options.online else None
        checkpoint = options.checkpoint or default_checkpoint(settings, options.view)
        watermark = options.watermark if options.watermark is not None else definition.watermark
        stream_id = claim_checkpoint(
            checkpoint, project=settings.project, view=options.view, source=options.source
        )
        folder = stream_dir(settings, options.view)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "stop").unlink(missing_ok=True)
        params = {
            "view": options.view,
            "version": vv.version,
            "table": vv.table_name,
            "source": options.source,
            "checkpoint": checkpoint,
            "stream_id": stream_id,
            "watermark_seconds": int(watermark.total_seconds()),
            "available_now": options.available_now,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "spark_master": spark.sparkContext.master,
        }
        reap_dead_streams(registry, settings.project, options.view, actor=actor)
        run_id = registry.start_run(
            settings.project, "stream", params, actor, target=options.view, exclusive_span=_SPAN
        )
        result = StreamResult(run_id, options.view, vv.table_name, stream_id, checkpoint)
        progress = _Progress()
        status_path = folder / "status.json"

        def write_status(state: str) -> None:
            last = progress.last() or {}
            status = {
                "state": state,
                "run_id": run_id,
                "pid": os.getpid(),
                "view": options.view,
                "source": options.source,
                "updated_at": datetime.now(UTC).isoformat(),
                **result.to_dict(),
                "late_rows_dropped": progress.late_rows(),
                "input_rows": progress.input_rows(),
                "input_rows_per_second": last.get("inputRowsPerSecond"),
                "processed_rows_per_second": last.get("processedRowsPerSecond"),
                "source_offsets": [
                    {
                        "start": s.get("startOffset"),
                        "end": s.get("endOffset"),
                        "latest": s.get("latestOffset"),
                    }
                    for s in last.get("sources", [])
                ],
                "watermark": (last.get("eventTime") or {}).get("watermark"),
                "watermark_delay_seconds": int(watermark.total_seconds()),
            }
            tmp = status_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(status, indent=1, default=str))
            tmp.replace(status_path)

        def on_batch(b: BatchResult) -> None:
            result.batches.append(dict(b.__dict__))
            write_status("running")

        sink = FeatureStreamSink(
            lakehouse=lakehouse,
            table=vv.table_name,
            app_id=stream_id,
            join_keys={k.name: k.dtype for k in vv.entities},
            features={f.name: f.dtype for f in vv.features},
            online_view=online_view_from_registry(vv) if options.online else None,
            target=target,
            on_batch=on_batch,
        )
        listener = progress.listener()
        spark.streams.addListener(listener)
        try:
            with Heartbeat(registry, run_id):
                events = build_source(
                    spark, settings, lakehouse, definition, options, group=f"featurelake:{stream_id}"
                )
                features = stream_window_aggregations(
                    events,
                    keys=list(definition.entity_columns.values()),
                    timestamp_column=definition.timestamp_column,
                    aggregations=definition.aggregations,
                    granularity=definition.granularity,  # type: ignore[arg-type]
                    watermark=watermark,
                    view=options.view,
                )
                query = (
                    features.writeStream.outputMode("append")
                    .foreachBatch(sink)
                    .option("checkpointLocation", checkpoint)
                    .queryName(f"featurelake-{settings.project}-{options.view}")
                    .trigger(processingTime=f"{int(options.trigger.total_seconds() * 1000)} milliseconds")
                    .start()
                )
                write_status("running")
                if options.available_now:
                    query.processAllAvailable()
                    query.stop()
                else:
                    while query.isActive:
                        query.awaitTermination(1)
                        if (folder / "stop").exists():
                            (folder / "stop").unlink(missing_ok=True)
                            query.stop()
                if query.exception() is not None:
                    raise query.exception()  # type: ignore[misc]
            time.sleep(0.2)  # the listener's last progress event arrives asynchronously
        except BaseException as err:
            result.late_rows_dropped, result.input_rows = progress.late_rows(), progress.input_rows()
            registry.finish_run(
                run_id,
                status="failed",
                error=f"{type(err).__name__}: {str(err)[:3000]}",
                outputs=[{"table": vv.table_name, "version": v} for v in result.delta_versions],
                report=result.to_dict(),
            )
            write_status("failed")
            raise
        finally:
            spark.streams.removeListener(listener)
        result.late_rows_dropped, result.input_rows = progress.late_rows(), progress.input_rows()
        last = progress.last() or {}
        result.last_offsets = [s.get("endOffset") for s in last.get("sources", [])]
        source_node = (
            Node.data_source(definition.source)
            if options.source == "delta"
            else Node.data_source(f"{options.source}://{settings.project}/{options.view}")
        )
        edges = []
        for v in result.delta_versions:
            edges.append((source_node, Node.delta_output(vv.table_name, v)))
            if options.online:
                edges.append(
                    (
                        Node.delta_output(vv.table_name, v),
                        Node.data_source(f"redis://{settings.project}/{options.view}"),
                    )
                )
        registry.finish_run(
            run_id,
            status="succeeded",
            rows_in=result.input_rows,
            rows_out=sum(b["rows"] for b in result.batches),
            outputs=[{"table": vv.table_name, "version": v} for v in result.delta_versions],
            report=result.to_dict(),
            lineage_edges=edges,
        )
        write_status("stopped")
        return result
    finally:
        if own:
            registry.dispose()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:  # PID 1 reaps late: a zombie is dead (DESIGN.md)
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not os.path.exists("/proc")


def reap_dead_streams(registry: Any, project: str, view: str, *, actor: str) -> list[str]:
    """Cancel running stream runs of ``view`` whose process on THIS host is gone (``kill -9``).

    A killed stream's run would hold the view until its lease expires (2 minutes); its process
    id and host are in its params, so a restart on the same host frees it at once (audited).
    Runs of other hosts wait for their lease.

    Returns:
        The cancelled run ids.
    """
    cancelled = []
    for run in registry.list_runs(project, kind="stream", status="running", target=view):
        params = run.params or {}
        if (
            params.get("host") == socket.gethostname()
            and params.get("pid")
            and not _alive(int(params["pid"]))
        ):
            registry.cancel_run(run.run_id, actor=actor, reason=f"stream process {params['pid']} is gone")
            cancelled.append(run.run_id)
    return cancelled


def request_stop(settings: Settings, view: str) -> bool:
    """Ask the running stream of ``view`` (on this machine's home) to stop after its current batch.

    Returns:
        True if a stream status says one is running.
    """
    folder = stream_dir(settings, view)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stop").write_text(datetime.now(UTC).isoformat())
    status_path = folder / "status.json"
    return status_path.exists() and json.loads(status_path.read_text()).get("state") == "running"


def options_from_args(args: argparse.Namespace) -> StreamOptions:
    """StreamOptions from parsed command-line arguments (shared by the CLI and spark-submit)."""
    return StreamOptions(
        view=args.view,
        source=args.source,
        checkpoint=args.checkpoint,
        trigger=parse_duration(args.trigger, option="--trigger"),
        available_now=args.available_now,
        watermark=None if args.watermark is None else parse_duration(args.watermark, option="--watermark"),
        max_per_trigger=args.max_per_trigger,
        online=not args.no_online,
        version=args.version,
        kafka_bootstrap=args.kafka_bootstrap,
        kafka_topic=args.kafka_topic,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's options (``spark-submit jobs/stream.py --help``)."""
    parser.add_argument("--view", required=True, help="the aggregation feature view to stream")
    parser.add_argument("--source", default="delta", choices=SOURCES, help="where events come from")
    parser.add_argument("--checkpoint", help="Spark checkpoint folder (default: one per view under the home)")
    parser.add_argument("--trigger", default="5s", help="micro-batch interval (default 5s)")
    parser.add_argument(
        "--available-now",
        "--once",
        dest="available_now",
        action="store_true",
        help="process what is available (and close the windows the watermark passed), then stop",
    )
    parser.add_argument(
        "--watermark", help="how late events may arrive (default: the view's ViewSpec.watermark, else 10m)"
    )
    parser.add_argument(
        "--max-per-trigger", type=int, help="Delta versions / Redis entries per micro-batch at most"
    )
    parser.add_argument("--no-online", action="store_true", help="write the Delta table only, not Redis")
    parser.add_argument("--version", help="view version (default: the active one)")
    parser.add_argument("--kafka-bootstrap", help="Kafka bootstrap servers (--source kafka)")
    parser.add_argument("--kafka-topic", help="Kafka topic (--source kafka)")
    parser.add_argument(
        "--config", help="featurelake.yaml (default: $FEATURELAKE_CONFIG or ./featurelake.yaml)"
    )
    parser.add_argument("--actor", help="who runs it (default: $FEATURELAKE_ACTOR or the OS user)")


def describe(result: StreamResult) -> str:
    """One line: batches, rows, Delta versions, late rows."""
    r = result.to_dict()
    return (
        f"stream of {result.view} -> {result.table}: {r['batches']} batch(es), {r['rows_written']} row(s), "
        f"Delta versions {r['delta_versions'] or 'none'}, {r['replayed_batches_skipped']} replayed batch(es) "
        f"skipped, {r['late_rows_dropped']} late row(s) dropped; run {result.run_id}"
    )


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry point."""
    from featurelake.actor import resolve_actor
    from featurelake.config.settings import load_settings
    from featurelake.jobs.entrypoint import exit_code_for
    from featurelake.jobs.wiring import submit_master
    from featurelake.lakehouse.spark import build_spark_session

    parser = argparse.ArgumentParser(prog="stream.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        options = options_from_args(args)
        actor = resolve_actor(args.actor)
        preflight(settings, options, actor=actor)  # refusals before the JVM starts
        spark = build_spark_session(
            app_name=f"featurelake-stream-{options.view}",
            master=submit_master(settings),
            conf=settings.spark.conf,
        )
        result = run_stream(spark, settings, options, actor=actor)
    except FeatureStoreError as err:
        print(f"Error: {err}", file=sys.stderr)
        return exit_code_for(err)
    print(describe(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
