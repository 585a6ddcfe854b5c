"""webhook_deliveries.test: a delivery Vectis sent itself to prove its webhook address, and the log newest first

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_deliveries", sa.Column("test", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.create_index(
        "ix_webhook_deliveries_tenant_id_received_at", "webhook_deliveries", ["tenant_id", "received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_tenant_id_received_at", table_name="webhook_deliveries")
    op.drop_column("webhook_deliveries", "test")
