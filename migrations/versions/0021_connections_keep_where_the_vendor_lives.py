"""A connection keeps where its vendor lives in clear, so console links never open its sealed config

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Filled by the next save or sync of each connection: only the application holds the keys to the config.
    op.add_column("connections", sa.Column("base_url", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("connections", "base_url")
