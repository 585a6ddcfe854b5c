"""The installation's id key, which enciphers public ids

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vectis.platform.schema import grant_app

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "installation",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("id_key", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_installation_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    # Made once, here: every public id in every URL is enciphered with it.
    op.bulk_insert(table, [{"id": 1, "id_key": secrets.token_bytes(32)}])
    grant_app("installation", "SELECT")


def downgrade() -> None:
    op.drop_table("installation")
