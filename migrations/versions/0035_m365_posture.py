"""microsoft 365 posture per customer tenant: the four panels' status and rows (secure scores by day, managed devices,
conditional access policies, privileged users)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 05:42:52.247211
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TABLES = ("m365_panels", "m365_secure_scores", "m365_managed_devices", "m365_ca_policies", "m365_privileged_users")


def upgrade() -> None:
    op.create_table(
        "m365_ca_policies",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_external_id", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=60), nullable=False),
        sa.Column("controls", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("for_admins", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_m365_ca_policies_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_m365_ca_policies_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_m365_ca_policies")),
    )
    op.create_index(
        "ix_m365_ca_policies_key",
        "m365_ca_policies",
        ["tenant_id", "connection_id", "tenant_external_id", "external_id"],
        unique=True,
    )
    op.create_table(
        "m365_managed_devices",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_external_id", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("os", sa.String(length=100), nullable=True),
        sa.Column("compliance_state", sa.String(length=30), nullable=False),
        sa.Column("user_principal_name", sa.String(length=300), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_policies", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_m365_managed_devices_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_m365_managed_devices_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_m365_managed_devices")),
    )
    op.create_index(
        "ix_m365_managed_devices_key",
        "m365_managed_devices",
        ["tenant_id", "connection_id", "tenant_external_id", "external_id"],
        unique=True,
    )
    op.create_table(
        "m365_panels",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_external_id", sa.String(length=100), nullable=False),
        sa.Column("panel", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_m365_panels_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_m365_panels_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_m365_panels")),
    )
    op.create_index(
        "ix_m365_panels_key", "m365_panels", ["tenant_id", "connection_id", "tenant_external_id", "panel"], unique=True
    )
    op.create_table(
        "m365_privileged_users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_external_id", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("user_principal_name", sa.String(length=300), nullable=True),
        sa.Column("roles", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("mfa_registered", sa.Boolean(), nullable=True),
        sa.Column("methods", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_m365_privileged_users_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_m365_privileged_users_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_m365_privileged_users")),
    )
    op.create_index(
        "ix_m365_privileged_users_key",
        "m365_privileged_users",
        ["tenant_id", "connection_id", "tenant_external_id", "external_id"],
        unique=True,
    )
    op.create_table(
        "m365_secure_scores",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_external_id", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("current_score", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_m365_secure_scores_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_m365_secure_scores_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_m365_secure_scores")),
    )
    op.create_index(
        "ix_m365_secure_scores_key",
        "m365_secure_scores",
        ["tenant_id", "connection_id", "tenant_external_id", "day"],
        unique=True,
    )
    for table in TABLES:
        enable_tenant_rls(table)
        grant_app(table)
    grant_app_sequences()


def downgrade() -> None:
    op.drop_index("ix_m365_secure_scores_key", table_name="m365_secure_scores")
    op.drop_table("m365_secure_scores")
    op.drop_index("ix_m365_privileged_users_key", table_name="m365_privileged_users")
    op.drop_table("m365_privileged_users")
    op.drop_index("ix_m365_panels_key", table_name="m365_panels")
    op.drop_table("m365_panels")
    op.drop_index("ix_m365_managed_devices_key", table_name="m365_managed_devices")
    op.drop_table("m365_managed_devices")
    op.drop_index("ix_m365_ca_policies_key", table_name="m365_ca_policies")
    op.drop_table("m365_ca_policies")
