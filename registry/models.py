"""SQLAlchemy 2 models of the registry schema (the head of the Alembic migrations).

One code path for PostgreSQL and SQLite: JSON columns become JSONB on PostgreSQL, times are
stored in UTC. The migrations in ``registry/migrations/versions`` create exactly this schema;
``tests/registry/test_migrations.py`` checks that they agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGSERIAL.
IdType = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)

#: The Alembic revision this code expects; a test checks it equals the migration head.
SCHEMA_REVISION = "0004"


class Base(DeclarativeBase):
    """Declarative base of every registry table."""

    type_annotation_map = {dict[str, Any]: JsonType, datetime: Timestamp}


class ProjectRow(Base):
    __tablename__ = "fl_projects"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class EntityRow(Base):
    __tablename__ = "fl_entities"
    __table_args__ = (UniqueConstraint("project_id", "name", name="fl_uq_entities_project_name"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    name: Mapped[str] = mapped_column(String(200))
    join_keys: Mapped[Any] = mapped_column(JsonType)  # [{"name", "dtype"}]
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[Any] = mapped_column(JsonType)
    definition_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class DataSourceRow(Base):
    __tablename__ = "fl_data_sources"
    __table_args__ = (UniqueConstraint("project_id", "name", name="fl_uq_data_sources_project_name"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(50))
    location: Mapped[str] = mapped_column(Text)
    timestamp_field: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[Any] = mapped_column(JsonType)
    definition_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class FeatureViewRow(Base):
    __tablename__ = "fl_feature_views"
    __table_args__ = (UniqueConstraint("project_id", "name", name="fl_uq_feature_views_project_name"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class FeatureViewVersionRow(Base):
    __tablename__ = "fl_feature_view_versions"
    __table_args__ = (
        UniqueConstraint("view_id", "major", "minor", name="fl_uq_fvv_view_major_minor"),
        Index("fl_ix_fvv_view_status", "view_id", "status"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    view_id: Mapped[int] = mapped_column(ForeignKey("fl_feature_views.id"))
    major: Mapped[int] = mapped_column(Integer)
    minor: Mapped[int] = mapped_column(Integer)
    table_name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_changed_by: Mapped[str] = mapped_column(String(200))
    status_changed_at: Mapped[datetime]
    change: Mapped[str] = mapped_column(String(20))  # initial | minor | breaking
    definition: Mapped[Any] = mapped_column(JsonType)
    definition_hash: Mapped[str] = mapped_column(String(64))
    entities: Mapped[Any] = mapped_column(JsonType)  # {"names": [...], "join_keys": [{"name","dtype"}]}
    ttl_seconds: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(200), default="")
    transformation: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[Any] = mapped_column(JsonType)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class FeatureRow(Base):
    __tablename__ = "fl_features"
    __table_args__ = (UniqueConstraint("view_version_id", "name", name="fl_uq_features_version_name"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    view_version_id: Mapped[int] = mapped_column(ForeignKey("fl_feature_view_versions.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    dtype: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[Any] = mapped_column(JsonType)


class FeatureServiceRow(Base):
    __tablename__ = "fl_feature_services"
    __table_args__ = (UniqueConstraint("project_id", "name", name="fl_uq_feature_services_project_name"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class FeatureServiceVersionRow(Base):
    __tablename__ = "fl_feature_service_versions"
    __table_args__ = (UniqueConstraint("service_id", "version", name="fl_uq_fsv_service_version"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("fl_feature_services.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_changed_by: Mapped[str] = mapped_column(String(200))
    status_changed_at: Mapped[datetime]
    definition_hash: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[Any] = mapped_column(JsonType)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ServiceFeatureRow(Base):
    """One feature a service version uses, pinned to a view major version."""

    __tablename__ = "fl_feature_service_features"
    __table_args__ = (
        UniqueConstraint(
            "service_version_id", "view_name", "feature_name", name="fl_uq_fsf_version_view_feature"
        ),
        Index("fl_ix_fsf_view", "view_id", "view_major"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    service_version_id: Mapped[int] = mapped_column(ForeignKey("fl_feature_service_versions.id"))
    view_id: Mapped[int] = mapped_column(ForeignKey("fl_feature_views.id"))
    view_name: Mapped[str] = mapped_column(String(200))
    view_major: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    feature_name: Mapped[str] = mapped_column(String(200))


class JobRunRow(Base):
    __tablename__ = "fl_job_runs"
    __table_args__ = (
        Index("fl_ix_job_runs_project_kind_target", "project_id", "kind", "target", "status"),
        Index("fl_ix_job_runs_started", "project_id", "started_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    kind: Mapped[str] = mapped_column(String(30))
    target: Mapped[str] = mapped_column(String(300), default="")
    params: Mapped[Any] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]  # added by migration 0002
    rows_in: Mapped[int | None] = mapped_column(BigInteger)
    rows_out: Mapped[int | None] = mapped_column(BigInteger)
    inputs: Mapped[Any] = mapped_column(JsonType)
    outputs: Mapped[Any] = mapped_column(JsonType)
    error: Mapped[str | None] = mapped_column(Text)
    report: Mapped[Any | None] = mapped_column(JsonType)


class WatermarkRow(Base):
    """Named watermarks per view major version (added by migration 0002)."""

    __tablename__ = "fl_watermarks"
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"), primary_key=True)
    view_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    view_major: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[datetime]
    run_id: Mapped[str | None] = mapped_column(String(36))
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class MonitorCheckRow(Base):
    """One outcome of one monitor check (added by migration 0004): per view, feature, metric, day."""

    __tablename__ = "fl_monitor_checks"
    __table_args__ = (
        Index("fl_ix_monitor_checks_view", "project_id", "view", "feature", "created_at"),
        Index("fl_ix_monitor_checks_run", "run_id"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    run_id: Mapped[str] = mapped_column(String(36))
    view: Mapped[str] = mapped_column(String(200))
    view_version: Mapped[str] = mapped_column(String(20), default="")
    feature: Mapped[str] = mapped_column(String(200), default="")  # "" for view-level checks
    metric: Mapped[str] = mapped_column(String(40))
    day: Mapped[date | None] = mapped_column(Date)  # None: the whole detection window
    window_start: Mapped[date | None] = mapped_column(Date)
    window_end: Mapped[date | None] = mapped_column(Date)
    value: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10))
    warn: Mapped[float | None] = mapped_column(Float)
    fail: Mapped[float | None] = mapped_column(Float)
    reference: Mapped[str] = mapped_column(String(300), default="")
    delta_versions: Mapped[Any] = mapped_column(JsonType)
    details: Mapped[Any | None] = mapped_column(JsonType)
    created_at: Mapped[datetime]


class LineageNodeRow(Base):
    __tablename__ = "fl_lineage_nodes"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "name", "version", name="fl_uq_lineage_nodes_key"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(500))
    version: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime]


class LineageEdgeRow(Base):
    __tablename__ = "fl_lineage_edges"
    __table_args__ = (
        UniqueConstraint("src_id", "dst_id", name="fl_uq_lineage_edges_src_dst"),
        Index("fl_ix_lineage_edges_dst", "dst_id", "src_id"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    src_id: Mapped[int] = mapped_column(ForeignKey("fl_lineage_nodes.id"))
    dst_id: Mapped[int] = mapped_column(ForeignKey("fl_lineage_nodes.id"))
    run_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime]


class TrainingSetRow(Base):
    __tablename__ = "fl_training_sets"
    __table_args__ = (
        UniqueConstraint("project_id", "name", "version", name="fl_uq_training_sets_name_version"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    service: Mapped[str] = mapped_column(String(200))
    service_version: Mapped[int] = mapped_column(Integer)
    entity_source: Mapped[Any] = mapped_column(JsonType)
    feature_tables: Mapped[Any] = mapped_column(JsonType)
    features: Mapped[Any] = mapped_column(JsonType)
    output: Mapped[Any] = mapped_column(JsonType)
    row_count: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ModelRow(Base):
    __tablename__ = "fl_models"
    __table_args__ = (UniqueConstraint("project_id", "name", name="fl_uq_models_project_name"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    name: Mapped[str] = mapped_column(String(500))
    uri: Mapped[str] = mapped_column(Text, default="")
    training_set: Mapped[str] = mapped_column(String(200))
    training_set_version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class AuditRow(Base):
    """Append-only: the application only inserts; PostgreSQL refuses UPDATE/DELETE/TRUNCATE by trigger."""

    __tablename__ = "fl_audit_log"
    __table_args__ = (
        Index("fl_ix_audit_project_at", "project", "at"),
        Index("fl_ix_audit_object", "object_type", "object_key"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    project: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_key: Mapped[str] = mapped_column(String(600))
    before: Mapped[Any | None] = mapped_column(JsonType)
    after: Mapped[Any | None] = mapped_column(JsonType)


class ErasureRequestRow(Base):
    """One right-to-erasure request (added by migration 0003): salted key hashes, never raw keys."""

    __tablename__ = "fl_erasure_requests"
    __table_args__ = (Index("fl_ix_erasure_requests_project", "project_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    join_keys: Mapped[Any] = mapped_column(JsonType)  # [{"name", "dtype"}]
    salt: Mapped[str] = mapped_column(String(64))
    key_hashes: Mapped[Any] = mapped_column(JsonType)  # [hex sha256(salt, key)]
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    options: Mapped[Any] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20))  # running | succeeded | failed
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    report: Mapped[Any | None] = mapped_column(JsonType)


class ErasureStepRow(Base):
    """One finished step of an erasure request (a Delta delete, a Redis delete, a purge...)."""

    __tablename__ = "fl_erasure_steps"
    __table_args__ = (UniqueConstraint("request_id", "step", name="fl_uq_erasure_steps_request_step"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("fl_erasure_requests.id"))
    step: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(30))
    target: Mapped[str] = mapped_column(String(400))
    version_before: Mapped[int | None] = mapped_column(BigInteger)
    version_after: Mapped[int | None] = mapped_column(BigInteger)
    rows_removed: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[Any] = mapped_column(JsonType)
    actor: Mapped[str] = mapped_column(String(200))
    finished_at: Mapped[datetime]


class TrainingSetErasureRow(Base):
    """A training set version marked by an erasure request: holds erased data, or superseded."""

    __tablename__ = "fl_training_set_erasures"
    __table_args__ = (
        UniqueConstraint(
            "project_id", "name", "version", "request_id", name="fl_uq_training_set_erasures_key"
        ),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("fl_projects.id"))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(ForeignKey("fl_erasure_requests.id"))
    state: Mapped[str] = mapped_column(String(30))  # holds_erased_data | superseded
    superseded_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
