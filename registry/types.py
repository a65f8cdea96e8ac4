"""The registry's public value types: frozen dataclasses, free of SQLAlchemy.

Jobs and the CLI receive these from :class:`registry.RegistryReader` and pass the
``*Def`` types to :meth:`registry.Registry.apply_definitions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

Status = Literal["draft", "active", "deprecated", "archived"]
STATUSES: tuple[Status, ...] = ("draft", "active", "deprecated", "archived")

#: Allowed lifecycle transitions: forward only, plus re-activating a deprecated version.
ALLOWED_TRANSITIONS: frozenset[tuple[Status, Status]] = frozenset(
    {
        ("draft", "active"),
        ("active", "deprecated"),
        ("deprecated", "archived"),
        ("deprecated", "active"),
    }
)

RunKind = Literal["backfill", "materialize", "training-set", "maintenance", "monitor", "stream"]
RUN_KINDS: tuple[RunKind, ...] = (
    "backfill",
    "materialize",
    "training-set",
    "maintenance",
    "monitor",
    "stream",
)
RunStatus = Literal["running", "succeeded", "failed", "abandoned"]
# "reproduce": rebuild a registered training set from its pinned inputs; archived versions stay
# readable for that (archiving stops new use, not the audit of what was already built).
Purpose = Literal["backfill", "materialize", "serve", "train", "reproduce"]
ChangeKind = Literal["added", "minor", "breaking", "unchanged", "removed"]

NodeKind = Literal[
    "data_source",
    "feature_view_version",
    "delta_output",
    "feature_service_version",
    "training_set",
    "model",
    "monitor_run",
]
NODE_KINDS: tuple[NodeKind, ...] = (
    "data_source",
    "feature_view_version",
    "delta_output",
    "feature_service_version",
    "training_set",
    "model",
    "monitor_run",
)
Direction = Literal["upstream", "downstream"]


# --------------------------------------------------------------------------- definitions (input)


@dataclass(frozen=True)
class JoinKey:
    """One join key of an entity and its value type (Feast ``ValueType`` name, e.g. ``INT64``)."""

    name: str
    dtype: str


@dataclass(frozen=True)
class EntityDef:
    """An entity as declared in the feature repo."""

    name: str
    join_keys: tuple[JoinKey, ...]
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceDef:
    """A data source (a Delta table or another input) as declared in the feature repo."""

    name: str
    kind: str
    location: str
    timestamp_field: str = ""
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureDef:
    """One feature of a view: name, dtype (Feast type name, e.g. ``Float64``), description, tags."""

    name: str
    dtype: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ViewDef:
    """A feature view as declared in the feature repo (Feast fields plus our spec).

    ``definition`` is the complete JSON-serialisable definition; its stable hash decides
    whether an apply is a no-op. ``transformation`` is the transformation text (SQL, Python
    source or the aggregation spec rendered as text).
    """

    name: str
    entities: tuple[str, ...]
    features: tuple[FeatureDef, ...]
    ttl: timedelta
    source: str = ""
    transformation: str = ""
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    definition: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceDef:
    """A feature service: which features of which views (names only; versions resolved on apply)."""

    name: str
    features: tuple[tuple[str, tuple[str, ...]], ...]  # (view name, feature names)
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Definitions:
    """Everything one feature repo declares, ready for plan/apply."""

    entities: tuple[EntityDef, ...] = ()
    sources: tuple[SourceDef, ...] = ()
    views: tuple[ViewDef, ...] = ()
    services: tuple[ServiceDef, ...] = ()


# --------------------------------------------------------------------------- records (output)


@dataclass(frozen=True)
class Entity:
    """An entity stored in the registry."""

    project: str
    name: str
    join_keys: tuple[JoinKey, ...]
    description: str
    owner: str
    tags: dict[str, str]


@dataclass(frozen=True)
class DataSource:
    """A data source stored in the registry."""

    project: str
    name: str
    kind: str
    location: str
    timestamp_field: str
    description: str
    owner: str
    tags: dict[str, str]


@dataclass(frozen=True)
class Feature:
    """One feature row of a view version."""

    name: str
    dtype: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ViewVersion:
    """One version of a feature view.

    ``table_name`` is the Delta table of the major version (``<view>__v<major>``): minor
    versions share storage, a breaking change gets a new table.
    """

    project: str
    name: str
    major: int
    minor: int
    table_name: str
    status: Status
    entities: tuple[JoinKey, ...]
    entity_names: tuple[str, ...]
    features: tuple[Feature, ...]
    ttl: timedelta
    source: str
    transformation: str
    definition: dict[str, Any]
    definition_hash: str
    change: Literal["initial", "minor", "breaking"]
    description: str
    owner: str
    tags: dict[str, str]
    created_by: str
    created_at: datetime
    status_reason: str = ""

    @property
    def version(self) -> str:
        """``"<major>.<minor>"``."""
        return f"{self.major}.{self.minor}"

    @property
    def join_keys(self) -> tuple[str, ...]:
        """The join key names, in entity order."""
        return tuple(k.name for k in self.entities)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature names, in definition order."""
        return tuple(f.name for f in self.features)


@dataclass(frozen=True)
class ServiceFeatures:
    """The features a service version takes from one view major version."""

    view: str
    view_major: int
    features: tuple[str, ...]


@dataclass(frozen=True)
class ServiceVersion:
    """One version of a feature service."""

    project: str
    name: str
    version: int
    status: Status
    views: tuple[ServiceFeatures, ...]
    definition_hash: str
    description: str
    owner: str
    tags: dict[str, str]
    created_by: str
    created_at: datetime
    status_reason: str = ""


@dataclass(frozen=True)
class TableVersion:
    """A Delta table (name or URI) pinned at a Delta version."""

    table: str
    version: int | None

    @classmethod
    def parse(cls, value: TableVersion | dict[str, Any]) -> TableVersion:
        """Accept a ``TableVersion`` or a ``{"table": ..., "version": ...}`` mapping."""
        if isinstance(value, TableVersion):
            return value
        return cls(
            table=str(value["table"]), version=None if value.get("version") is None else int(value["version"])
        )

    def as_dict(self) -> dict[str, Any]:
        """``{"table": ..., "version": ...}``."""
        return {"table": self.table, "version": self.version}


@dataclass(frozen=True)
class Run:
    """A job run. ``status`` is ``abandoned`` for a running run whose lease expired."""

    run_id: str
    project: str
    kind: RunKind
    target: str
    params: dict[str, Any]
    status: RunStatus
    actor: str
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime | None
    lease_expires_at: datetime | None
    rows_in: int | None
    rows_out: int | None
    inputs: tuple[TableVersion, ...]
    outputs: tuple[TableVersion, ...]
    error: str | None
    report: dict[str, Any] | None


@dataclass(frozen=True)
class Node:
    """A typed lineage node.

    Use the constructors: ``Node.data_source(table, delta_version)``,
    ``Node.feature_view_version(view, "1.0")``, ``Node.delta_output(table, version)``,
    ``Node.feature_service_version(name, version)``, ``Node.training_set(name, version)``,
    ``Node.model(name_or_uri)``.
    """

    kind: NodeKind
    name: str
    version: str = ""

    @classmethod
    def data_source(cls, table: str, delta_version: int | None = None) -> Node:
        """A source table, optionally at a Delta version."""
        return cls("data_source", table, "" if delta_version is None else str(delta_version))

    @classmethod
    def feature_view_version(cls, view: str, version: str | int) -> Node:
        """A feature view version (``"1.0"`` or a major number)."""
        return cls("feature_view_version", view, str(version))

    @classmethod
    def delta_output(cls, table: str, version: int) -> Node:
        """A Delta table version written by a job."""
        return cls("delta_output", table, str(version))

    @classmethod
    def feature_service_version(cls, name: str, version: int) -> Node:
        """A feature service version."""
        return cls("feature_service_version", name, str(version))

    @classmethod
    def training_set(cls, name: str, version: int) -> Node:
        """A registered training set version."""
        return cls("training_set", name, str(version))

    @classmethod
    def model(cls, name_or_uri: str) -> Node:
        """A model, identified by a name or URI recorded by the training pipeline."""
        return cls("model", name_or_uri, "")

    @classmethod
    def monitor_run(cls, view: str, run_id: str) -> Node:
        """A monitor run of a view (the run id is the version)."""
        return cls("monitor_run", view, run_id)

    @classmethod
    def parse(cls, text: str) -> Node:
        """Parse ``kind:name[@version]``, e.g. ``data_source:raw.tx@3`` or ``feature_view_version:stats@1.0``.

        Raises:
            ValueError: unknown kind or missing ``:``.
        """
        kind, sep, rest = text.partition(":")
        if not sep or kind not in NODE_KINDS:
            raise ValueError(
                f"lineage node {text!r} must be KIND:NAME[@VERSION] with KIND one of {', '.join(NODE_KINDS)}"
            )
        name, _, version = rest.rpartition("@") if "@" in rest else (rest, "", "")
        return cls(kind, name, version)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" + (f"@{self.version}" if self.version else "")


@dataclass(frozen=True)
class LineageEdge:
    """A directed edge ``src -> dst``, with the run that produced it (if any)."""

    src: Node
    dst: Node
    run_id: str | None
    depth: int = 1


@dataclass(frozen=True)
class TrainingSet:
    """A registered training set version with its pinned inputs."""

    project: str
    name: str
    version: int
    service: str
    service_version: int
    entity_source: TableVersion
    feature_tables: tuple[TableVersion, ...]
    features: tuple[str, ...]
    output: TableVersion
    row_count: int
    checksum: str
    created_by: str
    created_at: datetime
    run_id: str | None


@dataclass(frozen=True)
class MonitorCheck:
    """One outcome of one monitor check: a metric of a view (or of one feature) on a day.

    Attributes:
        view: the feature view.
        feature: the feature ("" for view-level checks: freshness, coverage, skew).
        metric: ``psi``, ``ks``, ``js``, ``null_rate``, ``mean_shift``, ``freshness_offline``,
            ``freshness_online``, ``online_coverage`` or ``skew``.
        status: ``ok``, ``warn`` or ``fail``.
        value: the metric's value (None when it could not be computed).
        day: the day checked (None: the whole detection window).
        window_start: first day of the detection window.
        window_end: last day of the detection window.
        warn: the warning threshold applied.
        fail: the failure threshold applied.
        reference: the reference (``training-set:NAME:VERSION``, ``window:A..B``, ``previous``).
        delta_versions: Delta tables read, table -> version.
        details: anything else (p-value, sample sizes, ages in seconds).
        view_version: the view version checked.
        run_id: the monitor run (set when read back).
        created_at: when it was recorded (set when read back).
    """

    view: str
    feature: str
    metric: str
    status: str
    value: float | None
    day: date | None = None
    window_start: date | None = None
    window_end: date | None = None
    warn: float | None = None
    fail: float | None = None
    reference: str = ""
    delta_versions: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] | None = None
    view_version: str = ""
    run_id: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One row of the append-only audit log."""

    id: int
    at: datetime
    actor: str
    project: str
    action: str
    object_type: str
    object_key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class Change:
    """One planned change to a view, service, entity or source."""

    object_type: Literal["entity", "source", "view", "service"]
    name: str
    kind: ChangeKind
    from_version: str | None
    to_version: str | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What an apply would change (``unchanged`` entries included for completeness)."""

    project: str
    changes: tuple[Change, ...]

    @property
    def has_changes(self) -> bool:
        """Whether applying would write anything."""
        return any(c.kind != "unchanged" for c in self.changes)

    def of_kind(self, kind: ChangeKind) -> tuple[Change, ...]:
        """The changes of one kind."""
        return tuple(c for c in self.changes if c.kind == kind)


# --------------------------------------------------------------------------- erasure (right to erasure)


@dataclass(frozen=True)
class ErasureStep:
    """One finished step of an erasure request (``kind``: delta, redis, training_set, purge)."""

    step: str
    kind: str
    target: str
    version_before: int | None
    version_after: int | None
    rows_removed: int | None
    detail: dict[str, Any]
    actor: str
    finished_at: datetime


@dataclass(frozen=True)
class ErasureRequest:
    """A right-to-erasure request: who, when, why, the salted hash of each key, and its steps.

    The raw key values are never stored: ``key_hashes`` are ``sha256(salt + key)`` (see
    :func:`featurelake.registry.stores.erasure.hash_key`), so a re-run with the same keys finds
    the request again and an auditor holding the key can check it was erased.
    """

    request_id: str
    project: str
    join_keys: tuple[JoinKey, ...]
    salt: str
    key_hashes: tuple[str, ...]
    reason: str
    actor: str
    dry_run: bool
    options: dict[str, Any]
    status: str
    created_at: datetime
    finished_at: datetime | None
    report: dict[str, Any] | None
    steps: tuple[ErasureStep, ...] = ()


@dataclass(frozen=True)
class TrainingSetErasure:
    """A training set version an erasure request touched: ``holds_erased_data`` or ``superseded``."""

    project: str
    name: str
    version: int
    request_id: str
    state: str
    superseded_by: int | None
    created_at: datetime
