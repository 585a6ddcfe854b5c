"""Ticket search by each tenant's own words and without a whole-row hash; the whole queue in order by one index

The word indexes held each row's words plus its tenant as one more word, and a search asked for both. But GIN
answers a prefix ("outlook:*") by gathering every matching entry of every tenant before it meets the tenant's word:
a search cost as much as all tenants' tickets together, and grew with every workspace added. Now each word is
stored as the tenant's own ('42:outlook', by tenant_words()), so a search reads only its tenant's entries; the
function takes the words and makes them the bound tenant's itself.

ticket_search() (migration 0017) also matched tenant_id by an index, which the planner answered with a bitmap of all
the tenant's 200,000 tickets ANDed to the word match (13 ms of a 40 ms search), then removed duplicates by hashing
every found row whole (spilling to disk at 13,000 rows). Now the summary matches come first and the tickets found by
a note add only those not already found, each read once by its key; tenant_id is checked on each row as read.

"All" tickets, older than 30 days (183,000 of 200,000) were sorted whole for a page of 51: the queue's order index
leads with closed. One on (tenant_id, vendor_updated_at) walks the order for every state.

The order indexes of tickets and customers ended in id, for ties. But PostgreSQL checks every new note's (alert's,
timeline row's) ticket, and every row's customer, with "id = $1", and any index holding id can answer it by reading
itself whole: when the statistics say the table is empty (a new installation, a table emptied and vacuumed) every
index costs nothing to the planner and it took one of these, 0.9 ms a check, so a first sync of 600,000 notes would
take hours. Without id (ties are few: the queue sorts them as it reads), only the primary key can answer it.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 16:20:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from vectis.platform.schema import app_role

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORD_INDEXES = (
    ("ix_tickets_summary_words", "tickets", "summary"),
    ("ix_ticket_notes_body_words", "ticket_notes", "body"),
)

# A text's words, each made the tenant's own: 'tenant:word'. The 'simple' configuration keeps every word as written
# (no stemming, no stop words), which suits hostnames and names.
TENANT_WORDS = """
CREATE FUNCTION tenant_words(tenant bigint, body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT array_to_tsvector(ARRAY(SELECT tenant::text || ':' || lexeme FROM unnest(to_tsvector('simple'::regconfig, body))))
$$
"""

# The same columns as 0017's (vectis/tickets/queries.py, SEARCHED). "IS TRUE" keeps the tenant check a filter on rows
# already read: as an index condition it fetched every ticket of the tenant. Each word is a prefix ("print" finds
# "printer"); a ticket matches when every word is in its summary or every word is in one of its notes.
COLUMNS = (
    "id", "connection_id", "customer_id", "board_id", "status_name", "closed", "assignee", "assignee_external_id",
    "opened_at", "vendor_updated_at",
)  # fmt: skip
_T = ", ".join(f"t.{column}" for column in COLUMNS)
SEARCH_FUNCTION = f"""
CREATE FUNCTION ticket_search(words text[]) RETURNS TABLE (
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
    )
    SELECT * FROM by_summary
    UNION ALL
    SELECT {_T} FROM tickets t, bound
    WHERE t.id IN (SELECT n.ticket_id FROM ticket_notes n, bound WHERE tenant_words(n.tenant_id, n.body) @@ bound.q)
      AND (t.tenant_id = bound.tenant) IS TRUE
      AND NOT EXISTS (SELECT FROM by_summary s WHERE s.id = t.id)
$$
"""


def _grant(signature: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    role = op.get_bind().dialect.identifier_preparer.quote(app_role())
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {role}")


def upgrade() -> None:
    op.execute("DROP FUNCTION ticket_search(tsquery)")
    op.execute(TENANT_WORDS)
    for index, table, column in WORD_INDEXES:
        op.execute(f"DROP INDEX {index}")
        op.execute(f"CREATE INDEX {index} ON {table} USING gin (tenant_words(tenant_id, {column}))")
    op.execute(SEARCH_FUNCTION)
    _grant("ticket_search(text[])")
    op.create_index("ix_tickets_tenant_id_updated_at", "tickets", ["tenant_id", "vendor_updated_at"])
    for old, new, table, columns in ORDER_INDEXES:
        op.drop_index(old, table_name=table)
        op.create_index(new, table, list(columns))


# (with id, without, table, the columns without id): an id a foreign key checks is found by the primary key alone.
ORDER_INDEXES = (
    ("ix_tickets_tenant_id_closed_updated_at_id", "ix_tickets_tenant_id_closed_updated_at", "tickets", ("tenant_id", "closed", "vendor_updated_at")),
    ("ix_customers_tenant_id_name_id", "ix_customers_tenant_id_name", "customers", ("tenant_id", "name")),
)  # fmt: skip


def _migration_0017() -> ModuleType:
    path = Path(__file__).with_name("0017_psa_members_authorship_and_ticket_search.py")
    spec = importlib.util.spec_from_file_location("migration_0017", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    earlier = _migration_0017()
    for old, new, table, columns in ORDER_INDEXES:
        op.drop_index(new, table_name=table)
        op.create_index(old, table, [*columns, "id"])
    op.drop_index("ix_tickets_tenant_id_updated_at", table_name="tickets")
    op.execute("DROP FUNCTION ticket_search(text[])")
    for index, table, column in WORD_INDEXES:
        op.execute(f"DROP INDEX {index}")
        op.execute(f"CREATE INDEX {index} ON {table} USING gin ({earlier._words('', column)})")
    op.execute("DROP FUNCTION tenant_words(bigint, text)")
    op.execute(earlier.SEARCH_FUNCTION)
    _grant("ticket_search(tsquery)")
