"""An alert says when rules were told of it, so a mute that ends re-announces nothing rules already heard of

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
    # Announced: whatever has an alert.created still on record (the earliest, if a mute gave it back before).
    op.execute(
        """
        UPDATE alerts a SET announced_at = e.first
        FROM (
            SELECT tenant_id, subject_id, min(occurred_at) AS first FROM rule_events
            WHERE trigger = 'alert.created' AND subject_type = 'alert'
            GROUP BY tenant_id, subject_id
        ) e
        WHERE e.tenant_id = a.tenant_id AND e.subject_id = a.id
        """
    )
    # An open or acknowledged alert was announced when it opened or when its mute ended, even if the retention
    # purge has taken its event since; an acknowledged one was open once. A muted one with no event on record
    # stays unannounced: rules hear of it when its mute ends, as before.
    op.execute(
        """
        UPDATE alerts SET announced_at = first_seen_at
        WHERE announced_at IS NULL AND (state IN ('open', 'acknowledged') OR acknowledged_at IS NOT NULL)
        """
    )


def downgrade() -> None:
    op.drop_column("alerts", "announced_at")
