"""devices from any RMM; alerts and timeline entries may name their device, and alerts carry a condition class

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_link_id", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=True),
        sa.Column("device_class", sa.String(length=20), server_default="other", nullable=False),
        sa.Column("vendor_class", sa.String(length=100), nullable=True),
        sa.Column("os_name", sa.String(length=300), nullable=True),
        sa.Column("online", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("serial", sa.String(length=200), nullable=True),
        sa.Column("make", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("last_seen_run_id", sa.BigInteger(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name=op.f("fk_devices_connection_id_connections"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_devices_customer_id_customers"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_link_id"],
            ["customer_links.id"],
            name=op.f("fk_devices_customer_link_id_customer_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_devices_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    op.create_index(
        "ix_devices_tenant_id_connection_id_external_id",
        "devices",
        ["tenant_id", "connection_id", "external_id"],
        unique=True,
    )
    op.create_index(
        "ix_devices_tenant_id_customer_id_online_name", "devices", ["tenant_id", "customer_id", "online", "name"]
    )
    op.create_index("ix_devices_tenant_id_name", "devices", ["tenant_id", "name"])
    op.create_index("ix_devices_customer_link_id", "devices", ["customer_link_id"])
    enable_tenant_rls("devices")
    grant_app("devices")
    grant_app_sequences()

    # Both columns are new and empty, so adding them rewrites nothing; the partial indexes hold no row yet.
    op.add_column("alerts", sa.Column("device_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_alerts_device_id_devices"), "alerts", "devices", ["device_id"], ["id"], ondelete="SET NULL"
    )
    op.create_index("ix_alerts_device_id", "alerts", ["device_id"], postgresql_where=sa.text("device_id IS NOT NULL"))
    op.add_column("alerts", sa.Column("condition_class", sa.String(length=20), server_default="other", nullable=False))
    # The alerts so far are Vectis's own backup alerts and rules' (rule:<id>, "other"): the classifier's answer for
    # each condition that exists today.
    op.execute("UPDATE alerts SET condition_class = 'backup' WHERE condition LIKE 'backup%'")

    op.add_column("timeline_events", sa.Column("device_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_timeline_events_device_id_devices"),
        "timeline_events",
        "devices",
        ["device_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ix_timeline_events_device_id",
        "timeline_events",
        ["device_id"],
        postgresql_where=sa.text("device_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_timeline_events_device_id", table_name="timeline_events")
    op.drop_constraint(op.f("fk_timeline_events_device_id_devices"), "timeline_events", type_="foreignkey")
    op.drop_column("timeline_events", "device_id")
    op.drop_column("alerts", "condition_class")
    op.drop_index("ix_alerts_device_id", table_name="alerts")
    op.drop_constraint(op.f("fk_alerts_device_id_devices"), "alerts", type_="foreignkey")
    op.drop_column("alerts", "device_id")
    op.drop_table("devices")
