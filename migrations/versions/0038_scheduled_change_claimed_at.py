"""when a run claimed a scheduled seat change: one left running past the job's timeout shows as stuck

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 06:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column on a table that already has RLS, FORCE and the app role's grants: nothing else to add.
    op.add_column("license_scheduled_changes", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("license_scheduled_changes", "claimed_at")
