"""Tenancy by construction: RLS on every tenant table, a runtime role that cannot bypass it, fail-closed
sessions, and no tenant leaking from one pooled transaction to the next."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import delete, event, insert, select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import TenantFixture, client_for, login
from vectis import create_app
from vectis.models import Tenant, User
from vectis.platform import db
from vectis.platform.config import Settings
from vectis.platform.tenancy import slug_from_host


def test_it_enables_and_forces_rls_with_a_policy_on_every_tenant_table(app: Flask) -> None:
    with app.app_context(), db.system_session() as s:
        rows = s.execute(
            text(
                """
                SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid
                         AND pg_get_expr(p.polqual, p.polrelid) LIKE '%current_setting(''vectis.tenant_id''%') AS tenant_policies
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind = 'r'
                   AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                               AND NOT a.attisdropped)
                """
            )
        ).all()
    assert rows, "expected tenant tables"
    missing = [r.relname for r in rows if not (r.relrowsecurity and r.relforcerowsecurity and r.tenant_policies)]
    assert missing == []
    not_null = _tenant_id_nullable(app)
    assert not_null == [], f"tenant_id must be NOT NULL: {not_null}"


def _tenant_id_nullable(app: Flask) -> list[str]:
    with app.app_context(), db.system_session() as s:
        return list(
            s.scalars(
                text(
                    "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND column_name = 'tenant_id' AND is_nullable = 'YES'"
                )
            )
        )


def test_it_puts_tenant_id_first_in_every_composite_index(app: Flask) -> None:
    with app.app_context(), db.system_session() as s:
        rows = s.execute(
            text(
                """
                SELECT t.relname AS table_name, i.relname AS index_name,
                       (SELECT attname FROM pg_attribute WHERE attrelid = t.oid AND attnum = x.indkey[0]) AS first_column
                  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                  JOIN pg_namespace n ON n.oid = t.relnamespace
                 WHERE n.nspname = 'public' AND x.indnatts > 1
                   AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'tenant_id')
                """
            )
        ).all()
    assert [r.index_name for r in rows if r.first_column != "tenant_id"] == []


def test_it_connects_as_a_role_that_cannot_bypass_rls(app: Flask, settings: Settings) -> None:
    with app.app_context(), db.database().app_engine.connect() as conn:
        role = conn.execute(
            text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        owned = conn.scalar(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
            )
        )
    assert role.rolname == settings.app_role
    assert role.rolsuper is False
    assert role.rolbypassrls is False
    assert owned == 0


def test_it_shows_a_bound_tenant_only_its_own_rows(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> None:
    with app.app_context(), db.tenant_session(acme.id) as s:
        emails = set(s.scalars(select(User.email)))
        assert set(acme.users) <= emails
        assert all(e.endswith("@acme.test") for e in emails)
        assert s.get(User, northwind.users[northwind.admin]) is None


def test_it_rejects_writing_another_tenants_row(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> None:
    with app.app_context(), pytest.raises(DBAPIError, match="row-level security"), db.tenant_session(acme.id) as s:
        s.execute(insert(User).values(tenant_id=northwind.id, email="mole@northwind.test", name="Mole", role="admin"))


def test_it_cannot_update_or_delete_another_tenants_rows(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    with app.app_context():
        with db.tenant_session(acme.id) as s:
            updated = s.execute(text("UPDATE users SET name = 'pwned' WHERE tenant_id = :t"), {"t": northwind.id})
            deleted = s.execute(text("DELETE FROM users WHERE tenant_id = :t"), {"t": northwind.id})
            assert (updated.rowcount, deleted.rowcount) == (0, 0)  # type: ignore[attr-defined]
        with db.system_session() as s:
            assert "pwned" not in set(s.scalars(select(User.name).where(User.tenant_id == northwind.id)))


def test_it_fails_closed_when_no_tenant_is_bound(app: Flask) -> None:
    with app.app_context(), db.unbound_session() as s, pytest.raises(DBAPIError, match="bigint"):
        s.scalars(select(User)).all()


def test_it_does_not_carry_a_tenant_into_the_next_transaction_on_a_pooled_connection(
    settings: Settings, acme: TenantFixture
) -> None:
    one = create_app({"db_pool_size": 1, "db_max_overflow": 0}, settings=settings)
    with one.app_context():
        with db.tenant_session(acme.id) as s:
            first_pid = s.scalar(text("SELECT pg_backend_pid()"))
            assert s.scalar(text("SELECT current_setting('vectis.tenant_id')")) == str(acme.id)
        with db.unbound_session() as s:
            assert s.scalar(text("SELECT pg_backend_pid()")) == first_pid  # same connection, reused
            assert s.scalar(text("SELECT current_setting('vectis.tenant_id', true)")) == ""
    one.extensions["vectis.platform.db"].dispose()


def test_only_a_replayable_transaction_commits_without_waiting_for_the_disk(app: Flask, acme: TenantFixture) -> None:
    with app.app_context(), db.tenant_session(acme.id) as s:
        server = s.scalar(text("SELECT reset_val FROM pg_settings WHERE name = 'synchronous_commit'"))
        assert s.scalar(text("SELECT current_setting('synchronous_commit')")) == server
        s.info["asynchronous_commit"] = True  # a sync page, committed with its cursor
        s.commit()
        assert s.scalar(text("SELECT current_setting('synchronous_commit')")) == "off"
        assert s.scalar(text("SELECT current_setting('vectis.tenant_id')")) == str(acme.id)
        s.info.pop("asynchronous_commit")
        s.commit()
        assert s.scalar(text("SELECT current_setting('synchronous_commit')")) == server


def test_it_serves_two_tenants_in_turn_from_a_pool_of_one(
    settings: Settings, acme: TenantFixture, northwind: TenantFixture
) -> None:
    one = create_app({"db_pool_size": 1, "db_max_overflow": 0}, settings=settings)
    acme_client, northwind_client = login(one, acme), login(one, northwind)
    for _ in range(3):
        acme_page = acme_client.get("/admin/users").get_data(as_text=True)
        northwind_page = northwind_client.get("/admin/users").get_data(as_text=True)
        assert "admin@acme.test" in acme_page and "northwind.test" not in acme_page
        assert "admin@northwind.test" in northwind_page and "acme.test" not in northwind_page
    one.extensions["vectis.platform.db"].dispose()


@pytest.mark.parametrize(
    ("host", "slug"),
    [
        ("acme.localhost", "acme"),
        ("acme.localhost:5000", "acme"),
        ("ACME.localhost.", "acme"),
        ("localhost:5000", None),
        ("a.b.localhost", None),
        ("acme.localhost.evil.example", None),
        ("evilacme.localhost.example", None),
    ],
)
def test_it_reads_the_tenant_slug_from_the_host(host: str, slug: str | None) -> None:
    assert slug_from_host(host, "localhost") == slug


def test_it_answers_an_unknown_host_with_a_plain_404_page(app: Flask) -> None:
    response = client_for(app, "nobody.localhost").get("/customers")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "no Vectis workspace at this address" in body
    assert "Traceback" not in body


def test_a_known_workspace_is_read_once_per_ttl_and_a_new_one_answers_at_once(app: Flask) -> None:
    """The host's workspace is kept per process for a short while (issue 17: a transaction per request for
    a row that all but never changes); one nobody has created yet is never kept, so creating it works now."""
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = app.extensions["vectis.platform.db"].app_engine
    slug = f"fresh{uuid.uuid4().hex[:8]}"
    client = client_for(app, f"{slug}.localhost")
    assert client.get("/signin").status_code == 404  # unknown workspace
    with app.app_context(), db.system_session() as s:
        s.add(Tenant(slug=slug, name="Fresh MSP"))
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get("/signin").status_code == 200  # known now: nothing was kept from the 404
        assert client.get("/signin").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
        with app.app_context(), db.system_session() as s:
            s.execute(delete(Tenant).where(Tenant.slug == slug))
    assert sum("FROM tenants" in statement for statement in statements) == 1
