"""The audit log (append-only, hash-chained), MFA recovery codes, invites, the mail outbox, queued actions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.crypto import SealedType
from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a row's hash covers, as text. jsonb renders deterministically; time as epoch microseconds so the
# session's TimeZone cannot change it. `flask vectis audit-verify` recomputes exactly this expression.
AUDIT_CANONICAL = """
CREATE FUNCTION audit_log_canonical(r audit_log) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_array(
    r.id, r.tenant_id, r.seq, (extract(epoch FROM r.occurred_at) * 1000000)::bigint,
    r.actor_type, r.actor_id, r.actor_label, r.surface, r.action, r.target_type, r.target_id, r.target_label,
    r.payload, r.result, r.vendor_status, r.error, r.request_id
  )::text
$$
"""

# Links each new row to the tenant's previous one. The advisory lock serialises writers per tenant, so the
# chain order (seq) is the order rows were written, whatever their ids; it is held until commit.
AUDIT_CHAIN = """
CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last_seq bigint;
  last_hash bytea;
BEGIN
  PERFORM pg_advisory_xact_lock(1635083124, NEW.tenant_id::int);
  SELECT seq, row_hash INTO last_seq, last_hash FROM audit_log
   WHERE tenant_id = NEW.tenant_id ORDER BY seq DESC LIMIT 1;
  NEW.seq := coalesce(last_seq, 0) + 1;
  NEW.prev_hash := coalesce(last_hash, '\\x'::bytea);
  NEW.row_hash := sha256(NEW.prev_hash || convert_to(audit_log_canonical(NEW), 'UTF8'));
  RETURN NEW;
END
$$
"""

AUDIT_IMMUTABLE = """
CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=False),
        sa.Column("surface", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("target_label", sa.String(length=320), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("vendor_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("row_hash", sa.LargeBinary(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "result in ('ok', 'failed', 'blocked', 'dry_run')", name=op.f("ck_audit_log_result_is_known")
        ),
        sa.CheckConstraint(
            "surface in ('ui', 'api', 'mcp', 'rule', 'portal', 'system')", name=op.f("ck_audit_log_surface_is_known")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_log_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_tenant_id_occurred_at", "audit_log", ["tenant_id", "occurred_at"], unique=False)
    op.create_index("ix_audit_log_tenant_id_seq", "audit_log", ["tenant_id", "seq"], unique=True)
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", SealedType(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_mail_outbox_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index("ix_mail_outbox_tenant_id_created_at", "mail_outbox", ["tenant_id", "created_at"], unique=False)
    op.create_table(
        "queued_actions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("verb", sa.String(length=64), nullable=False),
        sa.Column("target", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actor", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("surface", sa.String(length=10), nullable=False),
        sa.Column("payload", SealedType(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_queued_actions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queued_actions")),
    )
    op.create_index(
        "ix_queued_actions_tenant_id_created_at", "queued_actions", ["tenant_id", "created_at"], unique=False
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("invited_by", sa.BigInteger(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_invites_invited_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invites_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_invites_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
    )
    op.create_index("ix_invites_tenant_id_token_hash", "invites", ["tenant_id", "token_hash"], unique=True)
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_recovery_codes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    op.create_index("ix_recovery_codes_tenant_id_user_id", "recovery_codes", ["tenant_id", "user_id"], unique=False)
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column("users", sa.Column("mfa_enrolled_at", sa.DateTime(timezone=True), nullable=True))

    for table in ("audit_log", "mail_outbox", "queued_actions", "invites", "recovery_codes"):
        enable_tenant_rls(table)
    grant_app("audit_log", "SELECT, INSERT")  # append-only for the app, whatever the triggers say
    grant_app("mail_outbox", "SELECT, INSERT, UPDATE")
    grant_app("queued_actions", "SELECT, INSERT, UPDATE")
    grant_app("invites")
    grant_app("recovery_codes")
    grant_app_sequences()
    op.execute(AUDIT_CANONICAL)
    op.execute(AUDIT_CHAIN)
    op.execute(AUDIT_IMMUTABLE)
    op.execute(
        "CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_immutable()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")  # or drop_table would be refused
    op.execute("DROP TRIGGER audit_log_no_change ON audit_log")
    op.drop_column("users", "mfa_enrolled_at")
    op.drop_column("users", "totp_last_step")
    op.drop_index("ix_recovery_codes_tenant_id_user_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_index("ix_invites_tenant_id_token_hash", table_name="invites")
    op.drop_table("invites")
    op.drop_index("ix_queued_actions_tenant_id_created_at", table_name="queued_actions")
    op.drop_table("queued_actions")
    op.drop_index("ix_mail_outbox_tenant_id_created_at", table_name="mail_outbox")
    op.drop_table("mail_outbox")
    op.drop_index("ix_audit_log_tenant_id_seq", table_name="audit_log")
    op.drop_index("ix_audit_log_tenant_id_occurred_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION audit_log_immutable()")
    op.execute("DROP FUNCTION audit_log_chain()")
    op.execute("DROP FUNCTION audit_log_canonical(audit_log)")
