"""Writes reach a vendor at most once: an 'unknown' audit result, the attempt mark on queued actions, callbacks
waiting for their signing key

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 20:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vectis.platform.crypto import SealedType

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_audit_log_result_is_known"), "audit_log", type_="check")
    op.create_check_constraint(
        op.f("ck_audit_log_result_is_known"), "audit_log", "result in ('ok', 'failed', 'blocked', 'dry_run', 'unknown')"
    )
    op.add_column("queued_actions", sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("pending_body", SealedType(), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_deliveries", "pending_body")
    op.drop_column("queued_actions", "attempted_at")
    op.drop_constraint(op.f("ck_audit_log_result_is_known"), "audit_log", type_="check")
    op.create_check_constraint(
        op.f("ck_audit_log_result_is_known"), "audit_log", "result in ('ok', 'failed', 'blocked', 'dry_run')"
    )
