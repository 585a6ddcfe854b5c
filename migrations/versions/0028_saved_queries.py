"""Saved queries of the query builder, shared with the team by role

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_queries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("owner_label", sa.String(length=320), nullable=False),
        sa.Column("audience", sa.String(length=20), server_default="everyone", nullable=False),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("spec_hash", sa.String(length=16), nullable=False),
        sa.Column("run_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_saved_queries_owner_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_saved_queries_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_queries")),
    )
    op.create_index("ix_saved_queries_tenant_id_name", "saved_queries", ["tenant_id", "name"], unique=False)
    op.create_index("ix_saved_queries_owner_id", "saved_queries", ["owner_id"], unique=False)
    enable_tenant_rls("saved_queries")
    grant_app("saved_queries")
    grant_app_sequences()
    # An export names the saved query it ran; deleting the query keeps the export (and its audit row).
    op.create_index("ix_query_exports_saved_query_id", "query_exports", ["saved_query_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_query_exports_saved_query_id_saved_queries"),
        "query_exports",
        "saved_queries",
        ["saved_query_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_query_exports_saved_query_id_saved_queries"), "query_exports", type_="foreignkey")
    op.drop_index("ix_query_exports_saved_query_id", table_name="query_exports")
    op.drop_table("saved_queries")
