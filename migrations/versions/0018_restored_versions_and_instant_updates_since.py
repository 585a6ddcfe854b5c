"""A rule version restored from an earlier one names it; a connection says when instant updates were turned on

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rule_versions", sa.Column("restored_from", sa.Integer(), nullable=True))
    op.add_column("connections", sa.Column("callback_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("connections", sa.Column("callback_by", sa.String(length=320), nullable=True))


def downgrade() -> None:
    op.drop_column("connections", "callback_by")
    op.drop_column("connections", "callback_since")
    op.drop_column("rule_versions", "restored_from")
