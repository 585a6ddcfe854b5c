"""ticket_search() reads each note's words once, whatever the statistics say

Its notes half asked "t.id IN (the notes that match)" of every ticket of the tenant. With statistics taken while the
tables were nearly empty (CI, 7 Dec: a test database analyzed early, then filled) the planner believed both held a row,
ran that question as a nested loop, and read every note's words again for every ticket: 1,800 tickets x 3,600 notes,
minutes for one search. The notes that match are now found first, once (a materialized step, which no estimate can
fold into a loop), and their tickets read by key.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-09 12:00:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _migration_0023() -> ModuleType:
    path = Path(__file__).with_name("0023_search_without_a_pending_list.py")
    spec = importlib.util.spec_from_file_location("migration_0023", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_T = _migration_0023()._T
SEARCH_FUNCTION = f"""
CREATE OR REPLACE FUNCTION ticket_search(words text[]) RETURNS TABLE (
    id bigint, connection_id bigint, customer_id bigint, board_id bigint, status_name varchar, closed boolean,
    assignee varchar, assignee_external_id varchar, opened_at timestamptz, vendor_updated_at timestamptz
)
LANGUAGE sql STABLE SECURITY DEFINER ROWS 200 SET search_path = public, pg_temp AS $$
    WITH bound AS (
        SELECT current_setting('vectis.tenant_id')::bigint AS tenant,
               (SELECT string_agg(format('%L:*', current_setting('vectis.tenant_id')::bigint::text || ':' || w), ' & ')
                FROM unnest(words) AS w)::tsquery AS q
    ), by_summary AS MATERIALIZED (
        SELECT {_T} FROM tickets t, bound
        WHERE tenant_words(t.tenant_id, t.summary) @@ bound.q AND (t.tenant_id = bound.tenant) IS TRUE
    ), by_note AS MATERIALIZED (
        SELECT DISTINCT n.ticket_id FROM ticket_notes n, bound
        WHERE tenant_words(n.tenant_id, n.body) @@ bound.q AND (n.tenant_id = bound.tenant) IS TRUE
    )
    SELECT * FROM by_summary
    UNION ALL
    SELECT {_T} FROM by_note m JOIN tickets t ON t.id = m.ticket_id, bound
    WHERE (t.tenant_id = bound.tenant) IS TRUE
      AND NOT EXISTS (SELECT FROM by_summary s WHERE s.id = t.id)
$$
"""


def upgrade() -> None:
    op.execute(SEARCH_FUNCTION)  # CREATE OR REPLACE keeps the function's grants


def downgrade() -> None:
    op.execute(_migration_0023().SEARCH_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
