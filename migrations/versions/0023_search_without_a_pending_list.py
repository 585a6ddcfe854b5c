"""Ticket search reads no pending list and hashes no whole rows; the whole queue in order by one index

The word indexes were GIN with PostgreSQL's default fast update: new entries wait in an unsorted pending list until
VACUUM (or 4 MB of them) merges it, and every search reads the whole list and rechecks its rows. After a sync wrote
a few thousand notes the list held 11,000 entries and a three-word search spent half its 90 ms there; with
autovacuum late or off it never shrinks. Turned off, each note pays for its words when written (in the worker),
never when searched. The list already there is merged now: turning fast update off does not flush it.

ticket_search() itself (migration 0017) matched on the tenant twice: by the tenant's word in the index and by
tenant_id, which the planner answered with a bitmap of all the tenant's 200,000 tickets ANDed to the word match
(13 ms of a 40 ms search). It then removed duplicates by hashing every found row whole (spilling to disk at 13,000
rows). Now the summary matches come first and the tickets found by a note add only those not already found, each
ticket read once by its key; tenant_id is checked on each row as read.

"All" tickets, older than 30 days (183,000 of 200,000) were sorted whole for a page of 51: the queue's order index
leads with closed. One on (tenant_id, vendor_updated_at, id) walks the order for every state.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 16:20:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORD_INDEXES = ("ix_tickets_summary_words", "ix_ticket_notes_body_words")


def _words(table: str, column: str) -> str:
    return f"(array_to_tsvector(ARRAY['tenant ' || {table}.tenant_id::text]) || to_tsvector('simple'::regconfig, {table}.{column}))"


# The same signature and columns as 0017's (vectis/tickets/queries.py, SEARCHED), so the grants stay. "IS TRUE"
# keeps the tenant check a filter on rows already read: as an index condition it fetched every ticket's entry.
COLUMNS = (
    "id", "connection_id", "customer_id", "board_id", "status_name", "closed", "assignee", "assignee_external_id",
    "opened_at", "vendor_updated_at",
)  # fmt: skip
_T = ", ".join(f"t.{column}" for column in COLUMNS)
SEARCH_FUNCTION = f"""
CREATE OR REPLACE FUNCTION ticket_search(words tsquery) RETURNS TABLE (
    id bigint, connection_id bigint, customer_id bigint, board_id bigint, status_name varchar, closed boolean,
    assignee varchar, assignee_external_id varchar, opened_at timestamptz, vendor_updated_at timestamptz
)
LANGUAGE sql STABLE SECURITY DEFINER ROWS 200 SET search_path = public, pg_temp AS $$
    WITH bound AS (
        SELECT current_setting('vectis.tenant_id')::bigint AS tenant,
               words && format('%L', 'tenant ' || current_setting('vectis.tenant_id')::bigint)::tsquery AS q
    ), by_summary AS MATERIALIZED (
        SELECT {_T} FROM tickets t, bound
        WHERE {_words("t", "summary")} @@ bound.q AND (t.tenant_id = bound.tenant) IS TRUE
    )
    SELECT * FROM by_summary
    UNION ALL
    SELECT {_T} FROM tickets t, bound
    WHERE t.id IN (SELECT n.ticket_id FROM ticket_notes n, bound WHERE {_words("n", "body")} @@ bound.q)
      AND (t.tenant_id = bound.tenant) IS TRUE
      AND NOT EXISTS (SELECT FROM by_summary s WHERE s.id = t.id)
$$
"""


def _earlier_search_function() -> str:
    path = Path(__file__).with_name("0017_psa_members_authorship_and_ticket_search.py")
    spec = importlib.util.spec_from_file_location("migration_0017", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.SEARCH_FUNCTION).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    for index in WORD_INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")
    op.create_index("ix_tickets_tenant_id_updated_at_id", "tickets", ["tenant_id", "vendor_updated_at", "id"])
    op.execute(SEARCH_FUNCTION)


def downgrade() -> None:
    op.execute(_earlier_search_function())
    op.drop_index("ix_tickets_tenant_id_updated_at_id", table_name="tickets")
    for index in WORD_INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
