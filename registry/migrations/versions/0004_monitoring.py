"""Monitor check outcomes: one row per view, feature, metric and day of a monitor run.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "fl_monitor_checks",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("project_id", ID, sa.ForeignKey("fl_projects.id"), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("view", sa.String(200), nullable=False),
        sa.Column("view_version", sa.String(20), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(40), nullable=False),
        sa.Column("day", sa.Date, nullable=True),
        sa.Column("window_start", sa.Date, nullable=True),
        sa.Column("window_end", sa.Date, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("warn", sa.Float, nullable=True),
        sa.Column("fail", sa.Float, nullable=True),
        sa.Column("reference", sa.String(300), nullable=False),
        sa.Column("delta_versions", JSON, nullable=False),
        sa.Column("details", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index(
        "fl_ix_monitor_checks_view", "fl_monitor_checks", ["project_id", "view", "feature", "created_at"]
    )
    op.create_index("fl_ix_monitor_checks_run", "fl_monitor_checks", ["run_id"])


def downgrade() -> None:
    raise NotImplementedError("the registry schema is not downgraded; restore a backup instead")
