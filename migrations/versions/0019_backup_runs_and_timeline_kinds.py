"""Backup runs as Vectis sees them (the run-history strip), and an index over the timeline's kinds (its filter)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backup_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("backup_connector_id", sa.BigInteger(), nullable=False),
        sa.Column("run_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("vendor_status", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["backup_connector_id"],
            ["backup_connectors.id"],
            name=op.f("fk_backup_runs_backup_connector_id_backup_connectors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_backup_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_runs")),
    )
    op.create_index(
        "ix_backup_runs_tenant_id_backup_connector_id_run_key",
        "backup_runs",
        ["tenant_id", "backup_connector_id", "run_key"],
        unique=True,
    )
    op.create_index(
        "ix_backup_runs_tenant_id_backup_connector_id_started_at",
        "backup_runs",
        ["tenant_id", "backup_connector_id", "started_at"],
        unique=False,
    )
    enable_tenant_rls("backup_runs")
    grant_app("backup_runs")
    grant_app_sequences()
    op.create_index("ix_timeline_events_tenant_id_kind", "timeline_events", ["tenant_id", "kind"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_timeline_events_tenant_id_kind", table_name="timeline_events")
    op.drop_table("backup_runs")
