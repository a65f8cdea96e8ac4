"""Erasure requests (right to erasure), their steps, and training sets marked by them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "fl_erasure_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", ID, sa.ForeignKey("fl_projects.id"), nullable=False),
        sa.Column("join_keys", JSON, nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("key_hashes", JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("report", JSON, nullable=True),
    )
    op.create_index("fl_ix_erasure_requests_project", "fl_erasure_requests", ["project_id", "created_at"])
    op.create_table(
        "fl_erasure_steps",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), sa.ForeignKey("fl_erasure_requests.id"), nullable=False),
        sa.Column("step", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("target", sa.String(400), nullable=False),
        sa.Column("version_before", sa.BigInteger, nullable=True),
        sa.Column("version_after", sa.BigInteger, nullable=True),
        sa.Column("rows_removed", sa.BigInteger, nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("finished_at", TS, nullable=False),
        sa.UniqueConstraint("request_id", "step", name="fl_uq_erasure_steps_request_step"),
    )
    op.create_table(
        "fl_training_set_erasures",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("project_id", ID, sa.ForeignKey("fl_projects.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("request_id", sa.String(36), sa.ForeignKey("fl_erasure_requests.id"), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("superseded_by", sa.Integer, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint(
            "project_id", "name", "version", "request_id", name="fl_uq_training_set_erasures_key"
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("the registry schema is not downgraded; restore a backup instead")
