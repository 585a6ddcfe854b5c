"""Retention policies: how long each workspace keeps rule activity, sync runs and vendor callbacks

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 22:24:18.021032
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vectis.platform.schema import enable_tenant_rls, grant_app

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("rule_activity_days", sa.Integer(), server_default="90", nullable=False),
        sa.Column("sync_run_days", sa.Integer(), server_default="90", nullable=False),
        sa.Column("webhook_days", sa.Integer(), server_default="30", nullable=False),
        sa.Column("rejected_webhook_days", sa.Integer(), server_default="7", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "rejected_webhook_days BETWEEN 1 AND 90", name=op.f("ck_retention_policies_rejected_webhook_days_in_range")
        ),
        sa.CheckConstraint(
            "rule_activity_days BETWEEN 30 AND 730", name=op.f("ck_retention_policies_rule_activity_days_in_range")
        ),
        sa.CheckConstraint(
            "sync_run_days BETWEEN 7 AND 730", name=op.f("ck_retention_policies_sync_run_days_in_range")
        ),
        sa.CheckConstraint("webhook_days BETWEEN 7 AND 365", name=op.f("ck_retention_policies_webhook_days_in_range")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_retention_policies_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_retention_policies")),
    )
    enable_tenant_rls("retention_policies")
    grant_app("retention_policies", "SELECT, INSERT, UPDATE")
    # The nightly purge runs as the app, tenant by tenant under RLS: it deletes sent mail and done actions.
    grant_app("mail_outbox", "DELETE")
    grant_app("queued_actions", "DELETE")
    op.create_index("ix_rule_events_tenant_id_occurred_at", "rule_events", ["tenant_id", "occurred_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rule_events_tenant_id_occurred_at", table_name="rule_events")
    op.drop_table("retention_policies")
