"""the customer portal: its users (and the sites each may see), the workspace's branding, and its surface switches

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("portal_users", "portal_user_sites", "portal_branding", "portal_settings", "portal_mail_optouts")


def _tenant(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "portal_users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("setup_token_hash", sa.String(length=64), nullable=True),
        sa.Column("setup_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("invited_by", sa.String(length=320), nullable=False),
        sa.Column("last_signed_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_portal_users_customer_id_customers"), ondelete="CASCADE"
        ),
        _tenant("portal_users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_users")),
    )
    op.create_index("ix_portal_users_tenant_id_email", "portal_users", ["tenant_id", "email"], unique=True)
    op.create_index("ix_portal_users_tenant_id_customer_id", "portal_users", ["tenant_id", "customer_id"])
    op.create_index("ix_portal_users_setup_token_hash", "portal_users", ["setup_token_hash"], unique=True)

    op.create_table(
        "portal_user_sites",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("portal_user_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_user_id"],
            ["portal_users.id"],
            name=op.f("fk_portal_user_sites_portal_user_id_portal_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_portal_user_sites_customer_id_customers"),
            ondelete="CASCADE",
        ),
        _tenant("portal_user_sites"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_user_sites")),
    )
    op.create_index(
        "ix_portal_user_sites_tenant_id_portal_user_id_customer_id",
        "portal_user_sites",
        ["tenant_id", "portal_user_id", "customer_id"],
        unique=True,
    )
    op.create_index(op.f("ix_portal_user_sites_customer_id"), "portal_user_sites", ["customer_id"])

    op.create_table(
        "portal_branding",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("accent", sa.String(length=7), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_content_type", sa.String(length=40), nullable=True),
        sa.Column("postal_address", sa.String(length=500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        _tenant("portal_branding"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_branding")),
    )
    op.create_index("ix_portal_branding_tenant_id", "portal_branding", ["tenant_id"], unique=True)

    op.create_table(
        "portal_settings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("tickets", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("assets", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("backups", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("board_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_portal_settings_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["board_id"],
            ["ticket_boards.id"],
            name=op.f("fk_portal_settings_board_id_ticket_boards"),
            ondelete="SET NULL",
        ),
        _tenant("portal_settings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_settings")),
    )
    # One workspace row (customer_id NULL) and one per customer: NULLs count as equal here.
    op.create_index(
        "ix_portal_settings_tenant_id_customer_id",
        "portal_settings",
        ["tenant_id", "customer_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "portal_mail_optouts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("portal_user_id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_user_id"],
            ["portal_users.id"],
            name=op.f("fk_portal_mail_optouts_portal_user_id_portal_users"),
            ondelete="CASCADE",
        ),
        _tenant("portal_mail_optouts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_mail_optouts")),
    )
    op.create_index(
        "ix_portal_mail_optouts_tenant_id_portal_user_id_category",
        "portal_mail_optouts",
        ["tenant_id", "portal_user_id", "category"],
        unique=True,
    )
    # Portal mail: its category (only transactional mail is sent whatever a person unsubscribed from) and the branded
    # shell the worker renders it in.
    op.add_column(
        "mail_outbox", sa.Column("category", sa.String(length=20), server_default="transactional", nullable=False)
    )
    op.add_column("mail_outbox", sa.Column("shell", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    for table in TABLES:
        enable_tenant_rls(table)
        grant_app(table)
    grant_app_sequences()


def downgrade() -> None:
    op.drop_column("mail_outbox", "shell")
    op.drop_column("mail_outbox", "category")
    for table in reversed(TABLES):
        op.drop_table(table)
