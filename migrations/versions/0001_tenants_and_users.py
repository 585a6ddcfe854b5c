"""Tenants and their users, with row-level security and the runtime role's grants.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vectis.platform.crypto import SealedType
from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("slug ~ '^[a-z0-9](-?[a-z0-9])*$'", name=op.f("ck_tenants_slug_is_a_dns_label")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    # The registry is read before anyone signs in (host -> tenant), so every role may read it;
    # a tenant may update only its own row (branding, later).
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenants FORCE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY tenant_registry_read ON tenants FOR SELECT USING (true)")
    op.execute(
        "CREATE POLICY tenant_self_update ON tenants FOR UPDATE "
        "USING (id = current_setting('vectis.tenant_id')::bigint) "
        "WITH CHECK (id = current_setting('vectis.tenant_id')::bigint)"
    )
    op.execute("CREATE POLICY system_access ON tenants TO CURRENT_USER USING (true) WITH CHECK (true)")
    grant_app("tenants", "SELECT, UPDATE")

    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text()),
        sa.Column("totp_secret", SealedType()),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role in ('admin', 'technician', 'read_only')", name=op.f("ck_users_role_is_known")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index("ix_users_tenant_id_email", "users", ["tenant_id", "email"], unique=True)
    enable_tenant_rls("users")
    grant_app("users")
    grant_app_sequences()


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("tenants")
