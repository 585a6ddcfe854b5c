"""Query exports: Excel and CSV files written by the worker, their progress, and the file kept for a day

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "query_exports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("spec_hash", sa.String(length=16), nullable=False),
        sa.Column("saved_query_id", sa.BigInteger(), nullable=True),
        sa.Column("format", sa.String(length=4), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="queued", nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_written", sa.Integer(), server_default="0", nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("file", sa.LargeBinary(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("milliseconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("format in ('xlsx', 'csv')", name=op.f("ck_query_exports_format_is_known")),
        sa.CheckConstraint(
            "state in ('queued', 'running', 'done', 'failed')", name=op.f("ck_query_exports_state_is_known")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_query_exports_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_query_exports_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_exports")),
    )
    op.create_index(
        "ix_query_exports_tenant_id_user_id_created_at",
        "query_exports",
        ["tenant_id", "user_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_query_exports_tenant_id_expires_at", "query_exports", ["tenant_id", "expires_at"], unique=False)
    # An xlsx is a zip already: PostgreSQL's compression would find nothing to gain, and an uncompressed value can be
    # read in slices (substring) without decompressing it whole, so a download streams in flat memory.
    op.execute("ALTER TABLE query_exports ALTER COLUMN file SET STORAGE EXTERNAL")
    enable_tenant_rls("query_exports")
    grant_app("query_exports")
    grant_app_sequences()


def downgrade() -> None:
    op.drop_table("query_exports")
