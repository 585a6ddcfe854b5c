"""Daily metrics and SLA snapshots per customer, and the PSA's SLA fields on tickets

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAILY_COUNTS = (
    "tickets_opened",
    "tickets_closed",
    "tickets_open_at_end",
    "backup_runs",
    "backup_runs_succeeded",
    "backup_runs_warning",
)
SLA_COUNTS = ("tickets_in_sla", "tickets_out_of_sla", "tickets_without_sla")
SLA_DAY_COUNTS = (
    "tickets_responded",
    "tickets_resolved",
    "tickets_resolved_out_of_sla",
    "tickets_awaiting_response",
)


def _per_customer_day(table: str, *columns: sa.Column[Any]) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *columns,
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f(f"fk_{table}_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    op.create_index(f"ix_{table}_tenant_id_customer_id_day", table, ["tenant_id", "customer_id", "day"], unique=True)
    op.create_index(f"ix_{table}_tenant_id_day", table, ["tenant_id", "day"], unique=False)
    enable_tenant_rls(table)
    grant_app(table)


def upgrade() -> None:
    _per_customer_day(
        "daily_metrics",
        *(sa.Column(name, sa.Integer(), nullable=False) for name in DAILY_COUNTS),
        sa.Column("backup_success_rate", sa.Numeric(5, 2), nullable=True),
        sa.Column("alerts_opened", sa.Integer(), nullable=False),
    )
    _per_customer_day(
        "sla_snapshots",
        *(sa.Column(name, sa.Integer(), nullable=False) for name in SLA_COUNTS),
        sa.Column("in_sla_rate", sa.Numeric(5, 2), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in SLA_DAY_COUNTS),
    )
    grant_app_sequences()

    op.add_column("tickets", sa.Column("sla_name", sa.String(length=200), nullable=True))
    op.add_column("tickets", sa.Column("in_sla", sa.Boolean(), nullable=True))
    op.add_column("tickets", sa.Column("sla_status", sa.String(length=100), nullable=True))
    op.add_column("tickets", sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for column in ("resolved_at", "responded_at", "sla_status", "in_sla", "sla_name"):
        op.drop_column("tickets", column)
    op.drop_table("sla_snapshots")
    op.drop_table("daily_metrics")
