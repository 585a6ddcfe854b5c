"""licence subscriptions, their weekly seats and the seat changes scheduled for renewal

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 05:42:07.808773
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "license_subscriptions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("vendor", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_link_id", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("product_name", sa.String(length=300), nullable=False),
        sa.Column("product_external_id", sa.String(length=100), nullable=True),
        sa.Column("sku", sa.String(length=100), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("billing_term", sa.String(length=20), nullable=False),
        sa.Column("vendor_term", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("vendor_status", sa.String(length=60), nullable=False),
        sa.Column("commitment_ends_on", sa.Date(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("vendor_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("last_seen_run_id", sa.BigInteger(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_license_subscriptions_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_license_subscriptions_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_link_id"],
            ["customer_links.id"],
            name=op.f("fk_license_subscriptions_customer_link_id_customer_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_license_subscriptions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_subscriptions")),
    )
    op.create_index(
        op.f("ix_license_subscriptions_customer_link_id"), "license_subscriptions", ["customer_link_id"], unique=False
    )
    op.create_index(
        "ix_license_subscriptions_tenant_id_connection_id_external_id",
        "license_subscriptions",
        ["tenant_id", "connection_id", "external_id"],
        unique=True,
    )
    op.create_index(
        "ix_license_subscriptions_tenant_id_customer_id_product_name",
        "license_subscriptions",
        ["tenant_id", "customer_id", "product_name"],
        unique=False,
    )
    op.create_table(
        "license_scheduled_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("audit_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["license_subscriptions.id"],
            name=op.f("fk_license_scheduled_changes_subscription_id_license_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_license_scheduled_changes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_scheduled_changes")),
    )
    op.create_index(
        "ix_license_scheduled_changes_one_pending",
        "license_scheduled_changes",
        ["tenant_id", "subscription_id"],
        unique=True,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        op.f("ix_license_scheduled_changes_subscription_id"),
        "license_scheduled_changes",
        ["subscription_id"],
        unique=False,
    )
    op.create_index(
        "ix_license_scheduled_changes_tenant_id_state_due_on",
        "license_scheduled_changes",
        ["tenant_id", "state", "due_on"],
        unique=False,
    )
    op.create_table(
        "license_usage",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["license_subscriptions.id"],
            name=op.f("fk_license_usage_subscription_id_license_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_license_usage_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_usage")),
    )
    op.create_index(
        "ix_license_usage_tenant_id_subscription_id_week",
        "license_usage",
        ["tenant_id", "subscription_id", "week"],
        unique=True,
    )
    # Every tenant table: row-level security forced, and the app role's grants (as 0034 does).
    for table in ("license_subscriptions", "license_usage", "license_scheduled_changes"):
        enable_tenant_rls(table)
        grant_app(table)
    grant_app_sequences()


def downgrade() -> None:
    op.drop_index("ix_license_usage_tenant_id_subscription_id_week", table_name="license_usage")
    op.drop_table("license_usage")
    op.drop_index("ix_license_scheduled_changes_tenant_id_state_due_on", table_name="license_scheduled_changes")
    op.drop_index(op.f("ix_license_scheduled_changes_subscription_id"), table_name="license_scheduled_changes")
    op.drop_index(
        "ix_license_scheduled_changes_one_pending",
        table_name="license_scheduled_changes",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_table("license_scheduled_changes")
    op.drop_index("ix_license_subscriptions_tenant_id_customer_id_product_name", table_name="license_subscriptions")
    op.drop_index("ix_license_subscriptions_tenant_id_connection_id_external_id", table_name="license_subscriptions")
    op.drop_index(op.f("ix_license_subscriptions_customer_link_id"), table_name="license_subscriptions")
    op.drop_table("license_subscriptions")
