"""Ticket search reads no pending list; the whole queue in order by one index

The word indexes were GIN with PostgreSQL's default fast update: new entries wait in an unsorted pending list until
VACUUM (or 4 MB of them) merges it, and every search reads the whole list and rechecks its rows. After a sync wrote
a few thousand notes the list held 11,000 entries and a three-word search spent half its 90 ms there; with
autovacuum late or off it never shrinks. Turned off, each note pays for its words when written (in the worker),
never when searched. The list already there is merged now: turning fast update off does not flush it.

"All" tickets, older than 30 days (183,000 of 200,000) were sorted whole for a page of 51: the queue's order index
leads with closed. One on (tenant_id, vendor_updated_at, id) walks the order for every state.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 16:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORD_INDEXES = ("ix_tickets_summary_words", "ix_ticket_notes_body_words")


def upgrade() -> None:
    for index in WORD_INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")
    op.create_index("ix_tickets_tenant_id_updated_at_id", "tickets", ["tenant_id", "vendor_updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_tenant_id_updated_at_id", table_name="tickets")
    for index in WORD_INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
