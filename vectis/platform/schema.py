"""DDL that SQLAlchemy models cannot express: row-level security and the runtime role's grants.

Migrations call these; nothing else does. Keeping the SQL in one place means every tenant table gets the
very same policy, and the catalog test (``tests/test_tenancy.py``) checks that no table was forgotten.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.sql.elements import quoted_name

TENANT_PREDICATE = "tenant_id = current_setting('vectis.tenant_id')::bigint"


def _ident(name: str) -> str:
    # Role and table names come from our own config and migrations, never from users; quote anyway.
    return '"' + str(quoted_name(name, quote=True)).replace('"', '""') + '"'


def app_role() -> str:
    role: str = op.get_context().config.attributes["app_role"]  # type: ignore[union-attr]
    return role


def enable_tenant_rls(table: str) -> None:
    """RLS for a table with a ``tenant_id`` column: the bound tenant only, for every command.

    ``FORCE`` makes the owner obey the policies too; the owner's own ``system_access`` policy is what
    lets :func:`vectis.db.system_session` span tenants, and it names that role explicitly.
    """
    t = _ident(table)
    op.execute(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON {t} USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})")
    op.execute(f"CREATE POLICY system_access ON {t} TO CURRENT_USER USING (true) WITH CHECK (true)")


def grant_app(table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    op.execute(f"GRANT {privileges} ON {_ident(table)} TO {_ident(app_role())}")


def grant_app_sequences() -> None:
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {_ident(app_role())}")
