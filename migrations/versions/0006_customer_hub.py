"""The customer hub: contact and location on customers, internal notes, and their timeline entries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("contact_name", sa.String(200), nullable=True))
    op.add_column("customers", sa.Column("contact_email", sa.String(320), nullable=True))
    op.add_column("customers", sa.Column("contact_phone", sa.String(60), nullable=True))
    op.add_column("customers", sa.Column("location", sa.String(200), nullable=True))
    op.create_table(
        "customer_notes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_customer_notes_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_notes_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_customer_notes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_notes")),
    )
    op.create_index("ix_customer_notes_tenant_id_customer_id", "customer_notes", ["tenant_id", "customer_id"])
    enable_tenant_rls("customer_notes")
    grant_app("customer_notes")
    grant_app_sequences()
    op.add_column("timeline_events", sa.Column("note_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        "fk_timeline_events_note_id_customer_notes",
        "timeline_events",
        "customer_notes",
        ["note_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index("ix_timeline_events_note_id", "timeline_events", ["note_id"])
    # The customer list sorts and searches by name; the hub's Backups tab reads a customer's jobs.
    op.create_index("ix_customers_tenant_id_name_id", "customers", ["tenant_id", "name", "id"])


def downgrade() -> None:
    op.drop_index("ix_customers_tenant_id_name_id", table_name="customers")
    op.drop_index("ix_timeline_events_note_id", table_name="timeline_events")
    op.drop_constraint("fk_timeline_events_note_id_customer_notes", "timeline_events", type_="foreignkey")
    op.drop_column("timeline_events", "note_id")
    op.drop_table("customer_notes")
    for column in ("location", "contact_phone", "contact_email", "contact_name"):
        op.drop_column("customers", column)
