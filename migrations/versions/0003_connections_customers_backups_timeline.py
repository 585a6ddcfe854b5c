"""Connections, sync runs and stream cursors; customers and their vendor links; backups; the timeline

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.crypto import SealedType
from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

TABLES = (
    "connections",
    "sync_runs",
    "stream_cursors",
    "customers",
    "customer_links",
    "backup_connectors",
    "backup_connector_status",
    "backup_audit_events",
    "timeline_events",
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("vendor", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("config", SealedType(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("sync_interval_minutes", sa.Integer(), server_default="15", nullable=False),
        sa.Column("rate_limit_per_second", sa.Float(), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_connections_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
    )
    op.create_index("ix_connections_tenant_id_next_run_at", "connections", ["tenant_id", "next_run_at"], unique=False)
    op.create_index("ix_connections_tenant_id_vendor", "connections", ["tenant_id", "vendor"], unique=True)
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("normalized_name", sa.String(length=300), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["customers.id"], name=op.f("fk_customers_parent_id_customers"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_customers_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_index(
        "ix_customers_tenant_id_normalized_name", "customers", ["tenant_id", "normalized_name"], unique=False
    )
    op.create_table(
        "backup_audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_backup_audit_events_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_backup_audit_events_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_backup_audit_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_audit_events")),
    )
    op.create_index(
        "ix_backup_audit_events_tenant_id_connection_id_external_id",
        "backup_audit_events",
        ["tenant_id", "connection_id", "external_id"],
        unique=True,
    )
    op.create_index(
        "ix_backup_audit_events_tenant_id_customer_id_occurred_at",
        "backup_audit_events",
        ["tenant_id", "customer_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "backup_connectors",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("vendor_type", sa.String(length=80), nullable=False),
        sa.Column("protected_object", sa.String(length=300), nullable=True),
        sa.Column("last_seen_run_id", sa.BigInteger(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_backup_connectors_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_backup_connectors_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_backup_connectors_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_connectors")),
    )
    op.create_index(
        "ix_backup_connectors_tenant_id_connection_id_external_id",
        "backup_connectors",
        ["tenant_id", "connection_id", "external_id"],
        unique=True,
    )
    op.create_index(
        "ix_backup_connectors_tenant_id_customer_id", "backup_connectors", ["tenant_id", "customer_id"], unique=False
    )
    op.create_table(
        "customer_links",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("external_name", sa.String(length=300), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_customer_links_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_links_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_customer_links_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_links")),
    )
    op.create_index(
        "ix_customer_links_tenant_id_connection_id_external_id",
        "customer_links",
        ["tenant_id", "connection_id", "external_id"],
        unique=True,
    )
    op.create_index(
        "ix_customer_links_tenant_id_customer_id", "customer_links", ["tenant_id", "customer_id"], unique=False
    )
    op.create_table(
        "stream_cursors",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("cursor", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_stream_cursors_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_stream_cursors_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_cursors")),
    )
    op.create_index(
        "ix_stream_cursors_tenant_id_connection_id_stream",
        "stream_cursors",
        ["tenant_id", "connection_id", "stream"],
        unique=True,
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("requests_made", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sync_runs_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sync_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index(
        "ix_sync_runs_tenant_id_connection_id_id", "sync_runs", ["tenant_id", "connection_id", "id"], unique=False
    )
    op.create_table(
        "timeline_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("connection_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_timeline_events_connection_id_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_timeline_events_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_timeline_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_events")),
    )
    op.create_index(
        "ix_timeline_events_tenant_id_connection_id_dedup_key",
        "timeline_events",
        ["tenant_id", "connection_id", "dedup_key"],
        unique=True,
    )
    op.create_index(
        "ix_timeline_events_tenant_id_customer_id_occurred_at_id",
        "timeline_events",
        ["tenant_id", "customer_id", "occurred_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_timeline_events_tenant_id_occurred_at_id",
        "timeline_events",
        ["tenant_id", "occurred_at", "id"],
        unique=False,
    )
    op.create_table(
        "backup_connector_status",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("backup_connector_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("vendor_status", sa.String(length=40), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_duration_seconds", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["backup_connector_id"],
            ["backup_connectors.id"],
            name=op.f("fk_backup_connector_status_backup_connector_id_backup_connectors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_backup_connector_status_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_connector_status")),
    )
    op.create_index(
        "ix_backup_connector_status_tenant_id_backup_connector_id",
        "backup_connector_status",
        ["tenant_id", "backup_connector_id"],
        unique=True,
    )
    for table in TABLES:
        enable_tenant_rls(table)
        grant_app(table)
    grant_app_sequences()


def downgrade() -> None:
    op.drop_index("ix_backup_connector_status_tenant_id_backup_connector_id", table_name="backup_connector_status")
    op.drop_table("backup_connector_status")
    op.drop_index("ix_timeline_events_tenant_id_occurred_at_id", table_name="timeline_events")
    op.drop_index("ix_timeline_events_tenant_id_customer_id_occurred_at_id", table_name="timeline_events")
    op.drop_index("ix_timeline_events_tenant_id_connection_id_dedup_key", table_name="timeline_events")
    op.drop_table("timeline_events")
    op.drop_index("ix_sync_runs_tenant_id_connection_id_id", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_index("ix_stream_cursors_tenant_id_connection_id_stream", table_name="stream_cursors")
    op.drop_table("stream_cursors")
    op.drop_index("ix_customer_links_tenant_id_customer_id", table_name="customer_links")
    op.drop_index("ix_customer_links_tenant_id_connection_id_external_id", table_name="customer_links")
    op.drop_table("customer_links")
    op.drop_index("ix_backup_connectors_tenant_id_customer_id", table_name="backup_connectors")
    op.drop_index("ix_backup_connectors_tenant_id_connection_id_external_id", table_name="backup_connectors")
    op.drop_table("backup_connectors")
    op.drop_index("ix_backup_audit_events_tenant_id_customer_id_occurred_at", table_name="backup_audit_events")
    op.drop_index("ix_backup_audit_events_tenant_id_connection_id_external_id", table_name="backup_audit_events")
    op.drop_table("backup_audit_events")
    op.drop_index("ix_customers_tenant_id_normalized_name", table_name="customers")
    op.drop_table("customers")
    op.drop_index("ix_connections_tenant_id_vendor", table_name="connections")
    op.drop_index("ix_connections_tenant_id_next_run_at", table_name="connections")
    op.drop_table("connections")
