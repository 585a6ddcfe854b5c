"""Audit seals: an HMAC of each audit entry's hash, keyed outside the database

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vectis.audit.seal import seal_of
from vectis.platform import config as vectis_config
from vectis.platform.schema import enable_tenant_rls, grant_app

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One function refuses changes to both append-only tables, naming the table it guards.
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _audit_key() -> bytes:
    key = op.get_context().config.attributes.get("audit_key")  # type: ignore[union-attr]
    return key if isinstance(key, bytes) and key else vectis_config.load().audit_key


def upgrade() -> None:
    op.create_table(
        "audit_seal",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("mac", sa.LargeBinary(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_seal_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_audit_seal")),
    )
    enable_tenant_rls("audit_seal")
    grant_app("audit_seal", "SELECT, INSERT")
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER audit_seal_no_change BEFORE UPDATE OR DELETE ON audit_seal "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_immutable()"
    )
    op.execute(
        "CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON audit_seal "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable()"
    )
    # The entries written before this migration get their seals now, with the key the app runs with.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT tenant_id, seq, row_hash FROM audit_log ORDER BY tenant_id, seq"))
    key = _audit_key()
    seals = [{"tenant_id": r.tenant_id, "seq": r.seq, "mac": seal_of(key, bytes(r.row_hash))} for r in rows]
    if seals:
        bind.execute(sa.text("INSERT INTO audit_seal (tenant_id, seq, mac) VALUES (:tenant_id, :seq, :mac)"), seals)


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_seal_no_truncate ON audit_seal")
    op.drop_table("audit_seal")
