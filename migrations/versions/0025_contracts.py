"""Contracts from the PSA (ConnectWise agreements now, Autotask and HaloPSA later) and their line items

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contracts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_link_id", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("contract_type", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("vendor_status", sa.String(length=60), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("billing_cycle", sa.String(length=60), nullable=True),
        sa.Column("bill_amount", sa.Numeric(14, 2), nullable=True),
        sa.Column("monthly_value", sa.Numeric(14, 2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("next_invoice_on", sa.Date(), nullable=True),
        sa.Column("vendor_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_contracts_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_contracts_customer_id_customers"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_link_id"],
            ["customer_links.id"],
            name=op.f("fk_contracts_customer_link_id_customer_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contracts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    op.create_index(
        "ix_contracts_tenant_id_connection_id_external_id",
        "contracts",
        ["tenant_id", "connection_id", "external_id"],
        unique=True,
    )
    op.create_index(
        "ix_contracts_tenant_id_customer_id_ends_on", "contracts", ["tenant_id", "customer_id", "ends_on"], unique=False
    )
    op.create_index("ix_contracts_customer_link_id", "contracts", ["customer_link_id"], unique=False)
    enable_tenant_rls("contracts")
    grant_app("contracts")

    op.create_table(
        "contract_line_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(14, 4), nullable=False),
        sa.Column("unit_price", sa.Numeric(14, 4), nullable=True),
        sa.Column("amount", sa.Numeric(14, 2), nullable=True),
        sa.Column("recurring", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("billable", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_line_items_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contract_line_items_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_line_items")),
    )
    op.create_index(
        "ix_contract_line_items_tenant_id_contract_id_external_id",
        "contract_line_items",
        ["tenant_id", "contract_id", "external_id"],
        unique=True,
    )
    # A removed contract (a PSA connection's thousands at once) finds its lines by this column alone.
    op.create_index("ix_contract_line_items_contract_id", "contract_line_items", ["contract_id"], unique=False)
    enable_tenant_rls("contract_line_items")
    grant_app("contract_line_items")
    grant_app_sequences()


def downgrade() -> None:
    op.drop_table("contract_line_items")
    op.drop_table("contracts")
