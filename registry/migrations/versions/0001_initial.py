"""Initial registry schema: definitions, versions, services, runs, lineage, training sets, audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _project_fk() -> sa.Column:
    return sa.Column("project_id", ID, sa.ForeignKey("fl_projects.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "fl_projects", _id(),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    for table, extra in (
        ("fl_entities", [sa.Column("join_keys", JSON, nullable=False)]),
        ("fl_data_sources", [
            sa.Column("kind", sa.String(50), nullable=False),
            sa.Column("location", sa.Text, nullable=False),
            sa.Column("timestamp_field", sa.String(200), nullable=False),
        ]),
    ):
        op.create_table(
            table, _id(), _project_fk(),
            sa.Column("name", sa.String(200), nullable=False),
            *extra,
            sa.Column("description", sa.Text, nullable=False),
            sa.Column("owner", sa.String(200), nullable=False),
            sa.Column("tags", JSON, nullable=False),
            sa.Column("definition_hash", sa.String(64), nullable=False),
            sa.Column("created_at", TS, nullable=False),
            sa.Column("updated_at", TS, nullable=False),
            sa.Column("removed_at", TS, nullable=True),
            sa.UniqueConstraint("project_id", "name", name=f"fl_uq_{table[3:]}_project_name"),
        )
    op.create_table(
        "fl_feature_views", _id(), _project_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("removed_at", TS, nullable=True),
        sa.UniqueConstraint("project_id", "name", name="fl_uq_feature_views_project_name"),
    )
    op.create_table(
        "fl_feature_view_versions", _id(),
        sa.Column("view_id", ID, sa.ForeignKey("fl_feature_views.id"), nullable=False),
        sa.Column("major", sa.Integer, nullable=False),
        sa.Column("minor", sa.Integer, nullable=False),
        sa.Column("table_name", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("status_changed_by", sa.String(200), nullable=False),
        sa.Column("status_changed_at", TS, nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("entities", JSON, nullable=False),
        sa.Column("ttl_seconds", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("transformation", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("view_id", "major", "minor", name="fl_uq_fvv_view_major_minor"),
    )
    op.create_index("fl_ix_fvv_view_status", "fl_feature_view_versions", ["view_id", "status"])
    op.create_table(
        "fl_features", _id(),
        sa.Column("view_version_id", ID, sa.ForeignKey("fl_feature_view_versions.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("dtype", sa.String(100), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.UniqueConstraint("view_version_id", "name", name="fl_uq_features_version_name"),
    )
    op.create_table(
        "fl_feature_services", _id(), _project_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("removed_at", TS, nullable=True),
        sa.UniqueConstraint("project_id", "name", name="fl_uq_feature_services_project_name"),
    )
    op.create_table(
        "fl_feature_service_versions", _id(),
        sa.Column("service_id", ID, sa.ForeignKey("fl_feature_services.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("status_changed_by", sa.String(200), nullable=False),
        sa.Column("status_changed_at", TS, nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("service_id", "version", name="fl_uq_fsv_service_version"),
    )
    op.create_table(
        "fl_feature_service_features", _id(),
        sa.Column("service_version_id", ID, sa.ForeignKey("fl_feature_service_versions.id"), nullable=False),
        sa.Column("view_id", ID, sa.ForeignKey("fl_feature_views.id"), nullable=False),
        sa.Column("view_name", sa.String(200), nullable=False),
        sa.Column("view_major", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("feature_name", sa.String(200), nullable=False),
        sa.UniqueConstraint("service_version_id", "view_name", "feature_name", name="fl_uq_fsf_version_view_feature"),
    )
    op.create_index("fl_ix_fsf_view", "fl_feature_service_features", ["view_id", "view_major"])
    op.create_table(
        "fl_job_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        _project_fk(),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("rows_in", sa.BigInteger, nullable=True),
        sa.Column("rows_out", sa.BigInteger, nullable=True),
        sa.Column("inputs", JSON, nullable=False),
        sa.Column("outputs", JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("report", JSON, nullable=True),
    )
    op.create_index("fl_ix_job_runs_project_kind_target", "fl_job_runs", ["project_id", "kind", "target", "status"])
    op.create_index("fl_ix_job_runs_started", "fl_job_runs", ["project_id", "started_at"])
    op.create_table(
        "fl_lineage_nodes", _id(), _project_fk(),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("project_id", "kind", "name", "version", name="fl_uq_lineage_nodes_key"),
    )
    op.create_table(
        "fl_lineage_edges", _id(),
        sa.Column("src_id", ID, sa.ForeignKey("fl_lineage_nodes.id"), nullable=False),
        sa.Column("dst_id", ID, sa.ForeignKey("fl_lineage_nodes.id"), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("src_id", "dst_id", name="fl_uq_lineage_edges_src_dst"),
    )
    op.create_index("fl_ix_lineage_edges_dst", "fl_lineage_edges", ["dst_id", "src_id"])
    op.create_table(
        "fl_training_sets", _id(), _project_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("service_version", sa.Integer, nullable=False),
        sa.Column("entity_source", JSON, nullable=False),
        sa.Column("feature_tables", JSON, nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("output", JSON, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("checksum", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("project_id", "name", "version", name="fl_uq_training_sets_name_version"),
    )
    op.create_table(
        "fl_models", _id(), _project_fk(),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("training_set", sa.String(200), nullable=False),
        sa.Column("training_set_version", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("project_id", "name", name="fl_uq_models_project_name"),
    )
    op.create_table(
        "fl_audit_log", _id(),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("object_type", sa.String(40), nullable=False),
        sa.Column("object_key", sa.String(600), nullable=False),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
    )
    op.create_index("fl_ix_audit_project_at", "fl_audit_log", ["project", "at"])
    op.create_index("fl_ix_audit_object", "fl_audit_log", ["object_type", "object_key"])

    if op.get_bind().dialect.name == "postgresql":
        # The audit log is append-only in the database too, whoever connects.
        op.execute(
            """
            CREATE FUNCTION fl_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION 'fl_audit_log is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
            END $$;
            """
        )
        op.execute(
            "CREATE TRIGGER fl_audit_log_no_update_delete BEFORE UPDATE OR DELETE ON fl_audit_log "
            "FOR EACH ROW EXECUTE FUNCTION fl_audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER fl_audit_log_no_truncate BEFORE TRUNCATE ON fl_audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION fl_audit_log_append_only()"
        )
    else:
        # SQLite: the same guarantee with triggers (TRUNCATE does not exist there).
        for op_name in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER fl_audit_log_no_{op_name.lower()} BEFORE {op_name} ON fl_audit_log "
                f"BEGIN SELECT RAISE(ABORT, 'fl_audit_log is append-only: {op_name} is not allowed'); END"
            )


def downgrade() -> None:
    raise NotImplementedError("the registry schema is not downgraded; restore a backup instead")
