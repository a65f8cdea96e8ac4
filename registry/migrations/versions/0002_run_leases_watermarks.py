"""Job-run leases (abandoned-run detection) and named watermarks per view major version.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("fl_job_runs", sa.Column("lease_expires_at", TS, nullable=True))
    # Runs that were running before leases existed get a lease of their last heartbeat/start,
    # so a crashed pre-0002 run shows as abandoned instead of running forever.
    op.execute(
        "UPDATE fl_job_runs SET lease_expires_at = COALESCE(heartbeat_at, started_at) WHERE status = 'running'"
    )
    op.create_table(
        "fl_watermarks",
        sa.Column("project_id", ID, sa.ForeignKey("fl_projects.id"), primary_key=True),
        sa.Column("view_name", sa.String(200), primary_key=True),
        sa.Column("view_major", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", TS, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the registry schema is not downgraded; restore a backup instead")
