"""portal password reset and two-factor sign-in: a reset link's hash on the portal user, their TOTP secret and
recovery codes, the workspace's "require two-factor" switch; one-time mail links sealed, and mail kept as sent

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-08 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vectis.platform.crypto import SealedType
from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # New nullable columns on tables that already have RLS, FORCE and the app role's grants.
    op.add_column("portal_users", sa.Column("reset_token_hash", sa.String(length=64), nullable=True))
    op.add_column("portal_users", sa.Column("reset_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("portal_users", sa.Column("totp_secret", SealedType(), nullable=True))
    op.add_column("portal_users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column("portal_users", sa.Column("mfa_enrolled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_portal_users_reset_token_hash", "portal_users", ["reset_token_hash"], unique=True)
    op.add_column("portal_settings", sa.Column("require_mfa", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("mail_outbox", sa.Column("link", SealedType(), nullable=True))
    op.add_column("mail_outbox", sa.Column("sent_as", SealedType(), nullable=True))

    op.create_table(
        "portal_recovery_codes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("portal_user_id", sa.BigInteger(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_user_id"],
            ["portal_users.id"],
            name=op.f("fk_portal_recovery_codes_portal_user_id_portal_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portal_recovery_codes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_recovery_codes")),
    )
    op.create_index(
        "ix_portal_recovery_codes_tenant_id_portal_user_id", "portal_recovery_codes", ["tenant_id", "portal_user_id"]
    )
    enable_tenant_rls("portal_recovery_codes")
    grant_app("portal_recovery_codes")
    grant_app_sequences()


def downgrade() -> None:
    op.drop_table("portal_recovery_codes")
    op.drop_column("mail_outbox", "sent_as")
    op.drop_column("mail_outbox", "link")
    op.drop_column("portal_settings", "require_mfa")
    op.drop_index("ix_portal_users_reset_token_hash", table_name="portal_users")
    for column in ("mfa_enrolled_at", "totp_last_step", "totp_secret", "reset_expires_at", "reset_token_hash"):
        op.drop_column("portal_users", column)
