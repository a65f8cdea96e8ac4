"""What a stream of a view reads and writes, resolved before Spark starts.

A stream feature view is an aggregation view (``AggregationTransform`` in its ``ViewSpec``):
its registered definition says the source table, the event time column, the entity columns,
the granularity and the aggregations; the streaming job and ``featurelake push`` take them from
the registry (the version ``featurelake apply`` recorded), so stream, push and backfill agree.

The event schema is the view's source Delta table's columns that the view reads (entity
columns, event time, aggregated columns), with the table's types: pushed rows are checked
against it and the Redis Streams source decodes events into it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurelake.errors import ConfigError, DefinitionError
from featurelake.stream_spec import DEFAULT_WATERMARK, watermark_of

if TYPE_CHECKING:
    import pyarrow as pa

    from featurelake.config.settings import Settings
    from featurelake.lakehouse.aggregations import WindowAggregation
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import ViewVersion

SOURCES = ("delta", "redis", "kafka")
MARKER = "featurelake-stream.json"


@dataclass(frozen=True)
class StreamDefinition:
    """The streaming side of an aggregation view, from its registered definition.

    Attributes:
        view: the view.
        source: the raw Delta table the view aggregates.
        timestamp_column: its event time column.
        entity_columns: source column -> join key.
        granularity: ``daily`` or ``hourly``.
        aggregations: the features, as the batch engine takes them.
        watermark: how late events may arrive (the spec's ``watermark``, else the default).
    """

    view: str
    source: str
    timestamp_column: str
    entity_columns: dict[str, str]
    granularity: str
    aggregations: tuple[WindowAggregation, ...]
    watermark: timedelta = DEFAULT_WATERMARK

    @property
    def event_columns(self) -> list[str]:
        """Source columns the view reads: entity columns, event time, aggregated columns."""
        cols = [*self.entity_columns, self.timestamp_column]
        cols += sorted({a.column for a in self.aggregations if a.column and a.column not in cols})
        return cols

    @property
    def required_columns(self) -> list[str]:
        """Columns every event must carry (non-null): the entity columns and the event time."""
        return [*self.entity_columns, self.timestamp_column]


def stream_definition(vv: ViewVersion) -> StreamDefinition:
    """The view version's aggregation definition (engine-free, from the registry).

    Raises:
        DefinitionError: the view is not an aggregation view (a custom SparkTransform cannot stream).
    """
    from featurelake.lakehouse.aggregations import WindowAggregation

    definition = vv.definition if isinstance(vv.definition, dict) else {}
    spec = definition.get("spec") or definition  # the registry keeps view_definition() under "spec"
    transform = (spec.get("breaking") or {}).get("transform") or {}
    if transform.get("kind") != "aggregation":
        raise DefinitionError(
            f"feature view {vv.name!r} version {vv.version} is not an aggregation view "
            f"(transform kind {transform.get('kind')!r}); only views with an AggregationTransform can stream"
        )
    aggs = tuple(
        WindowAggregation(name, a["function"], a["column"], timedelta(seconds=int(a["window_seconds"])))
        for name, a in transform["aggregations"].items()
    )
    order = {f.name: i for i, f in enumerate(vv.features)}
    return StreamDefinition(
        view=vv.name,
        source=transform["source"],
        timestamp_column=transform["timestamp_column"],
        entity_columns=dict(transform["entity_columns"]),
        granularity=transform.get("granularity", "daily"),
        aggregations=tuple(sorted(aggs, key=lambda a: order.get(a.name, len(order)))),
        watermark=watermark_of(spec),
    )


def event_schema(lakehouse: Lakehouse, definition: StreamDefinition) -> pa.Schema:
    """The events' Arrow schema: the view's columns of its source table, with the table's types.

    Raises:
        LakehouseError: the source table does not exist.
        DefinitionError: the source table lacks a column the view reads.
    """
    import pyarrow as pa

    from featurelake.lakehouse.schema import table_arrow_schema

    table = table_arrow_schema(lakehouse._load(definition.source))
    missing = [c for c in definition.event_columns if c not in table.names]
    if missing:
        raise DefinitionError(
            f"view {definition.view!r} reads columns {missing} that its source table {definition.source!r} "
            f"does not have (it has {table.names}); fix the view's entities or aggregations"
        )
    return pa.schema([table.field(c) for c in definition.event_columns])


def stream_dir(settings: Settings, view: str) -> Path:
    """Where a view's stream keeps its default checkpoint, status and stop request."""
    return Path(settings.home).resolve() / "streams" / settings.project / view


def default_checkpoint(settings: Settings, view: str) -> str:
    """The default checkpoint location of a view's stream (local disk under the home)."""
    return str(stream_dir(settings, view) / "checkpoint")


def claim_checkpoint(checkpoint: str, *, project: str, view: str, source: str) -> str:
    """Check (or create) the checkpoint's owner marker; returns the stream id (the Delta app id).

    A checkpoint belongs to one stream: its project, view and source. The marker file holds a
    stream id generated on first use, which names the Delta app transactions of the stream, so
    a restart from the same checkpoint recognises the batches it already committed.

    Raises:
        ConfigError: the checkpoint belongs to another view, project or source.
    """
    if "://" in checkpoint and not checkpoint.startswith("file://"):
        # Spark writes a streaming checkpoint (the offsets and commits logs of our Python sources
        # included) through Hadoop's file systems: s3a:// needs the hadoop-aws and AWS SDK jars,
        # which come from Maven and are not in the pyspark wheel; our sources cannot move their
        # offsets elsewhere (Spark, not the source, writes them).
        raise ConfigError(
            f"checkpoint {checkpoint!r} is not on local disk; Spark keeps checkpoints on S3 only through s3a:// "
            "with the hadoop-aws jars (from Maven, not installed here): pass a local folder (or a mounted one)"
        )
    marker = Path(checkpoint.removeprefix("file://")).resolve() / MARKER
    owner = json.loads(marker.read_text()) if marker.exists() else None
    if owner is not None:
        mine = {"project": project, "view": view, "source": source}
        theirs = {k: owner.get(k) for k in mine}
        if theirs != mine:
            raise ConfigError(
                f"checkpoint {checkpoint!r} belongs to the stream of view {owner.get('view')!r} "
                f"(project {owner.get('project')!r}, source {owner.get('source')!r}), not view {view!r} "
                f"(source {source!r}); pass another --checkpoint (or none, for the view's default)"
            )
        return str(owner["stream_id"])
    stream_id = f"featurelake-stream:{project}:{view}:{uuid.uuid4().hex[:12]}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps({"project": project, "view": view, "source": source, "stream_id": stream_id})
    )
    return stream_id


def parse_duration(text: str, *, option: str) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d`` (or plain seconds) as a timedelta.

    Raises:
        ConfigError: naming the option and the value.
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    try:
        if raw and raw[-1] in units:
            seconds = float(raw[:-1]) * units[raw[-1]]
        else:
            seconds = float(raw)
    except ValueError:
        seconds = -1
    if seconds < 0:
        raise ConfigError(f"{option} {text!r} is not a duration; write e.g. 30s, 10m, 2h")
    return timedelta(seconds=seconds)


def read_status(settings: Settings, view: str) -> dict[str, Any] | None:
    """The last status a view's stream wrote (None: never ran here)."""
    path = stream_dir(settings, view) / "status.json"
    return json.loads(path.read_text()) if path.exists() else None
