"""Personal access tokens for the REST API and the MCP endpoint, and each workspace's longest token life

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Which workspace a token belongs to, by its hash alone: a request's session sees only its own host's tokens, so a
# token presented at another workspace would otherwise look like no token at all. It answers the tenant id and
# nothing else about the token (SECURITY DEFINER: it reads past row-level security, for this one fact).
WORKSPACE_OF_A_HASH = """
CREATE FUNCTION api_token_tenant(hash text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT tenant_id FROM api_tokens WHERE token_hash = hash
$$
"""


def upgrade() -> None:
    op.add_column("tenants", sa.Column("max_token_days", sa.SmallInteger(), server_default="365", nullable=False))
    op.create_check_constraint("max_token_days_in_range", "tenants", "max_token_days BETWEEN 1 AND 3650")
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=320), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_tokens_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    op.create_index("ix_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=True)
    op.create_index("ix_api_tokens_tenant_id_user_id", "api_tokens", ["tenant_id", "user_id"], unique=False)
    enable_tenant_rls("api_tokens")
    grant_app("api_tokens")
    grant_app_sequences()
    op.execute(WORKSPACE_OF_A_HASH)


def downgrade() -> None:
    op.execute("DROP FUNCTION api_token_tenant(text)")
    op.drop_table("api_tokens")
    op.drop_constraint("ck_tenants_max_token_days_in_range", "tenants", type_="check")
    op.drop_column("tenants", "max_token_days")
