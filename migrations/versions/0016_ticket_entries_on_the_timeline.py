"""Ticket entries on the timeline: each links to its ticket

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 23:31:24.130980
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("timeline_events", sa.Column("ticket_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_timeline_events_ticket_id"), "timeline_events", ["ticket_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_timeline_events_ticket_id_tickets"),
        "timeline_events",
        "tickets",
        ["ticket_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_timeline_events_ticket_id_tickets"), "timeline_events", type_="foreignkey")
    op.drop_index(op.f("ix_timeline_events_ticket_id"), table_name="timeline_events")
    op.drop_column("timeline_events", "ticket_id")
