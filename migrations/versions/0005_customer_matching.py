"""Customer matching: links may wait unlinked or be kept separate; rows remember their vendor account

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKED_TABLES = ("backup_connectors", "backup_audit_events", "timeline_events")


def upgrade() -> None:
    op.add_column("connections", sa.Column("creates_customers", sa.Boolean(), nullable=True))
    op.add_column("customer_links", sa.Column("status", sa.String(20), server_default="linked", nullable=False))
    op.add_column("customer_links", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("customer_links", "customer_id", nullable=True)
    op.drop_constraint("fk_customer_links_customer_id_customers", "customer_links", type_="foreignkey")
    op.create_foreign_key(
        "fk_customer_links_customer_id_customers",
        "customer_links",
        "customers",
        ["customer_id"],
        ["id"],
        ondelete="SET NULL",
    )
    # Connections that already synced made their customers: they keep doing so.
    op.execute(
        "UPDATE connections SET creates_customers = true "
        "WHERE EXISTS (SELECT 1 FROM customer_links l WHERE l.connection_id = connections.id)"
    )
    for table in LINKED_TABLES:
        op.add_column(table, sa.Column("customer_link_id", sa.BigInteger(), nullable=True))
        op.create_foreign_key(
            f"fk_{table}_customer_link_id_customer_links",
            table,
            "customer_links",
            ["customer_link_id"],
            ["id"],
            ondelete="SET NULL",
        )
        op.create_index(f"ix_{table}_customer_link_id", table, ["customer_link_id"])


def downgrade() -> None:
    for table in LINKED_TABLES:
        op.drop_index(f"ix_{table}_customer_link_id", table_name=table)
        op.drop_constraint(f"fk_{table}_customer_link_id_customer_links", table, type_="foreignkey")
        op.drop_column(table, "customer_link_id")
    op.execute("DELETE FROM customer_links WHERE customer_id IS NULL")
    op.drop_constraint("fk_customer_links_customer_id_customers", "customer_links", type_="foreignkey")
    op.create_foreign_key(
        "fk_customer_links_customer_id_customers",
        "customer_links",
        "customers",
        ["customer_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.alter_column("customer_links", "customer_id", nullable=False)
    op.drop_column("customer_links", "decided_at")
    op.drop_column("customer_links", "status")
    op.drop_column("connections", "creates_customers")
