"""Pooled connections: one that died while it sat idle is replaced before anyone uses it; one used a moment ago is
used without a ping (the round trip each request would otherwise pay)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import event, text

from tests.conftest import TenantFixture
from vectis.platform import db


@pytest.fixture
def database(app: Flask) -> Iterator[db.Database]:
    """Its own pool of one connection: which connection the next session gets is then certain."""
    own = db.Database.from_settings(replace(app.config["VECTIS_SETTINGS"], db_pool_size=1, db_max_overflow=0))
    yield own
    own.dispose()


def _backend(database: db.Database, tenant: TenantFixture) -> int:
    with database.tenant_sessions() as s:
        s.info["tenant_id"] = tenant.id
        pid: int = s.scalar(text("SELECT pg_backend_pid()"))
        s.commit()
    return pid


def _terminate(database: db.Database, pid: int) -> None:
    with database.owner_engine.connect() as owner:
        # Waits (up to 5 s) until the backend is gone, so its goodbye is on the socket when the pool next looks.
        assert owner.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()
        owner.commit()


def test_a_connection_the_server_ended_a_moment_after_its_use_is_replaced_before_use(
    database: db.Database, acme: TenantFixture
) -> None:
    """A server restarting mid-sync ends every connection; the pool's next one must not be a dead one, however
    recently it was used (found in tests/vendors/test_restarts.py)."""
    first = _backend(database, acme)
    _terminate(database, first)
    second = _backend(database, acme)
    assert second != first


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    database: db.Database, acme: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(database, acme)
    _terminate(database, first)  # the server went away (a restart, a failover) while the connection sat in the pool
    monkeypatch.setattr(db, "IDLE_BEFORE_PING", 0.0)  # and it sat there long enough to be asked
    second = _backend(database, acme)
    assert second != first


def test_a_connection_used_a_moment_ago_is_not_pinged(
    database: db.Database, acme: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _backend(database, acme)
    sent: list[str] = []
    event.listen(database.app_engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    pings: list[object] = []
    dialect = database.app_engine.dialect
    original = dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return original(dbapi_connection)  # type: ignore[arg-type]

    monkeypatch.setattr(dialect, "do_ping", counted)  # SQLAlchemy's ping, watched
    _backend(database, acme)
    assert pings == [] and any("pg_backend_pid" in s for s in sent)
