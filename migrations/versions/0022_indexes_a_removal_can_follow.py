"""Indexes a removal can follow: a job's runs by the job, a customer's sites by the parent

Removing a backup job (or a connection with 5,000 of them) deletes its runs and status, removing a PSA connection
deletes its tickets with their notes, status changes and related records, removing a customer unlinks its sites;
PostgreSQL finds those rows by the referencing column alone, and the only indexes on it came after tenant_id: each
removed row read the whole child table (24 ms a job at 300,000 runs; a PSA's 200,000 tickets against 600,000 notes
would not finish).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 15:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows of tables whose rows go by the thousand (a PSA's tickets, a connection's jobs), found by their parent.
CHILDREN = (
    ("backup_runs", "backup_connector_id"),
    ("ticket_notes", "ticket_id"),
    ("ticket_status_changes", "ticket_id"),
    ("ticket_related", "ticket_id"),
    ("alerts", "ticket_id"),
    ("backup_connector_status", "backup_connector_id"),
)


def upgrade() -> None:
    op.create_index("ix_customers_parent_id", "customers", ["parent_id"])
    for table, column in CHILDREN:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table, column in CHILDREN:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    op.drop_index("ix_customers_parent_id", table_name="customers")
