"""Engines, sessions and tenant scoping.

Two roles, two engines:

- the **app engine** connects as the unprivileged runtime role (not superuser, not owner, no BYPASSRLS).
  Every transaction it begins first runs ``set_config('vectis.tenant_id', <id>, true)`` (i.e. ``SET LOCAL``),
  so row-level security sees exactly one tenant. With no tenant bound the setting is empty, the policies'
  ``::bigint`` cast fails, and the query raises: fail closed, never "no filter".
- the **owner engine** is for migrations and :func:`system_session` only (the scheduler, key rotation,
  the demo seed): work that spans tenants on purpose, in one place that is easy to grep for.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    String,
    any_,
    bindparam,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from vectis.platform.config import Settings


class TenantSession(Session):
    """A session whose every transaction is bound to ``info['tenant_id']`` (or to no tenant at all)."""


@event.listens_for(TenantSession, "after_begin")
def _bind_tenant(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    tenant_id = session.info.get("tenant_id")
    # Straight to the driver: the same statement opens every transaction of every request, and SQLAlchemy's
    # execution around it (context, result) cost more than PostgreSQL spends on it (bench/hub.py, the
    # per-request overhead). Always set it, even to '': a transaction never inherits a tenant from whoever used
    # the connection before. For work that is replayed idempotently on loss (sync pages with their cursor),
    # commits need not wait for the disk: a crash may forget the last commits, never half of one, and the next
    # run writes them again. A sync's lane waits for a row lock only so long (``vectis.ingest.lanes``). All the
    # settings go in the one round trip; otherwise the server's own setting stays.
    bound = (
        "" if tenant_id is None else str(int(tenant_id)),
        bool(session.info.get("asynchronous_commit")),
        str(session.info.get("lock_timeout") or ""),
    )
    cursor = connection.connection.cursor()
    try:
        cursor.execute(_BIND, bound)
    except connection.dialect.loaded_dbapi.Error:
        # Said again through SQLAlchemy, which raises its own error for it (and, for a lost connection,
        # invalidates the pool), as every other statement's failure does.
        connection.exec_driver_sql(_BIND, bound)
    finally:
        cursor.close()


_BIND = (
    "SELECT set_config('vectis.tenant_id', %s, true), set_config('synchronous_commit', "
    "CASE WHEN %s THEN 'off' ELSE current_setting('synchronous_commit') END, true), "
    "set_config('lock_timeout', coalesce(nullif(%s, ''), current_setting('lock_timeout')), true)"
)


@dataclass
class Database:
    app_engine: Engine
    owner_engine: Engine
    tenant_sessions: sessionmaker[TenantSession]
    system_sessions: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        common: dict[str, Any] = {}
        app_engine = create_engine(
            settings.database_app_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            connect_args=_connect_args(settings.database_app_url, "vectis"),
            **common,
        )
        owner_engine = create_engine(
            settings.database_url,
            pool_size=2,
            max_overflow=2,
            connect_args=_connect_args(settings.database_url, "vectis-system"),
            **common,
        )
        for engine in (app_engine, owner_engine):
            _ping_when_idle(engine)
        return cls(
            app_engine=app_engine,
            owner_engine=owner_engine,
            tenant_sessions=sessionmaker(app_engine, class_=TenantSession),
            system_sessions=sessionmaker(owner_engine),
        )

    def dispose(self) -> None:
        self.app_engine.dispose()
        self.owner_engine.dispose()


IDLE_BEFORE_PING = 5.0  # seconds


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it may have died: when it sat idle a while, or when something
    arrived on it while it was idle. PostgreSQL sends an idle connection nothing unless it ends it (a restart, a
    terminated backend), so a look at the socket, with no round trip, finds those; a connection used a moment ago
    and quiet since is alive, and a ping on every checkout cost each request a round trip (bench/api.py). One found
    dead is replaced before anyone uses it, as SQLAlchemy's ``pool_pre_ping`` would."""

    @event.listens_for(engine, "checkin")
    def returned(dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def taken(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None:
            return  # connected just now
        if time.monotonic() - returned_at < IDLE_BEFORE_PING and _quiet(dbapi_connection):
            return  # used a moment ago, and nothing came since
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as gone:
            raise DisconnectionError(str(gone)) from gone  # the pool drops it and connects anew


def _quiet(dbapi_connection: Any) -> bool:
    """Nothing waits to be read on the connection's socket (a zero-timeout poll: a system call, no round trip)."""
    try:
        socket = dbapi_connection.pgconn.socket
    except Exception:  # closed or broken: not quiet, and the ping will say so
        return False
    poller = select.poll()
    poller.register(socket, select.POLLIN)
    return not poller.poll(0)


def _connect_args(url: str, name: str) -> dict[str, str]:
    """Every session in UTC: timestamptz comes back in the session's zone, and a server initialised with the
    machine's (Debian's initdb does that) or a database or role set to another would make every page show
    the wrong hour while saying UTC. Options the URL already gives are kept; ours come last, so they win.
    (A pgbouncer in between must pass ``options`` through; the formatters in ``vectis.platform.dates`` convert
    to UTC anyway, so a session in another zone would still show the right hour.)"""
    given = make_url(url).query.get("options") or ""
    options = given if isinstance(given, str) else " ".join(given)
    return {"application_name": name, "options": f"{options} -c timezone=UTC".strip()}


def among(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column = ANY(:ids)``: the ids travel as one array parameter. ``in_()`` sends one parameter per id,
    and at a list page's 500 ids building and binding those cost more than PostgreSQL spends on the query."""
    return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger)))  # type: ignore[no-any-return]


def among_text(column: Any, values: Iterable[str]) -> ColumnElement[bool]:
    """:func:`among` for text keys (a vendor's ids)."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(String)))  # type: ignore[no-any-return]


LIKE_ESCAPE = "\\"


def literal_like(text: str) -> str:
    """``text`` as a LIKE pattern that matches it literally: its ``%``, ``_`` and backslashes escaped (pass
    ``escape=LIKE_ESCAPE``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def containing(text: str) -> str:
    """A LIKE pattern for values that contain ``text`` as written (``escape=LIKE_ESCAPE``)."""
    return f"%{literal_like(text)}%"


def init_app(app: Flask, settings: Settings) -> Database:
    database = Database.from_settings(settings)
    app.extensions["vectis.platform.db"] = database
    app.teardown_appcontext(_close_request_session)
    return database


def database() -> Database:
    db: Database = current_app.extensions["vectis.platform.db"]
    return db


def session() -> TenantSession:
    """The request's session, bound to the tenant the request's host resolved to (``g.tenant``)."""
    if "db_session" not in g:
        tenant = g.get("tenant")
        s = database().tenant_sessions()
        s.info["tenant_id"] = tenant.id if tenant is not None else None
        g.db_session = s
    db_session: TenantSession = g.db_session
    return db_session


def durable(session: Session) -> None:
    """Commits of ``session`` wait for the disk again, from its current transaction on (undoing
    ``info["asynchronous_commit"]``): for the part of a request that writes what must outlive a crash."""
    if session.info.pop("asynchronous_commit", False) and session.in_transaction():
        session.execute(text("SET LOCAL synchronous_commit = on"))


def _close_request_session(exc: BaseException | None) -> None:
    s: TenantSession | None = g.pop("db_session", None)
    if s is not None:
        s.close()  # an uncommitted transaction rolls back: a failed request writes nothing


@contextmanager
def tenant_session(tenant_id: int) -> Iterator[TenantSession]:
    """A session for one tenant outside a request (jobs, CLI). Commits what is pending when the block
    ends, rolls back on error; code inside may commit on its own (``perform`` does)."""
    with database().tenant_sessions() as s:
        s.info["tenant_id"] = tenant_id
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


@contextmanager
def unbound_session() -> Iterator[TenantSession]:
    """A runtime-role session with no tenant: it can read the tenant registry and nothing else."""
    with database().tenant_sessions() as s:
        s.info["tenant_id"] = None
        yield s


@contextmanager
def system_session() -> Iterator[Session]:
    """The one way to work across tenants, as the schema owner. For the scheduler, key rotation,
    migrations and seeding; never for anything a request or a tenant's job does."""
    with database().system_sessions() as s, s.begin():
        yield s


# Autovacuum's own rule for when a table's statistics are stale: 50 rows plus 10 % of the table changed.
_STALE_STATISTICS = """
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
 WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
"""


def analyze_what_changed() -> list[str]:
    """ANALYZE every table whose statistics bulk writes have outdated, as autovacuum would at its next turn,
    now. A first sync loads thousands of rows into tables the planner still believes empty, and until
    autovacuum runs (never, where it is off) a query can pick a plan that is fine for ten rows and ruinous
    for ten thousand. Only an owner may ANALYZE: across tenants by nature, so a system session. A table that
    another ANALYZE or a VACUUM holds is skipped, not waited for. Returns the tables analyzed."""
    with system_session() as s:
        tables = [name for (name,) in s.execute(text(_STALE_STATISTICS))]
        for name in tables:
            s.execute(text(f'ANALYZE (SKIP_LOCKED) "{name}"'))
    return tables


# The schema's GIN indexes (ticket search's words): each keeps new rows' entries in a pending list until it is merged.
_WORD_INDEXES = """
SELECT c.oid::regclass::text FROM pg_class c JOIN pg_am am ON am.oid = c.relam
 WHERE am.amname = 'gin' AND c.relnamespace = current_schema()::regnamespace
"""


def merge_pending_words() -> int:
    """Merge every word index's pending list into the index, as VACUUM would; returns the pages merged. A GIN index
    takes a sync's new words into an unsorted list that every search reads whole and rechecks row by row, until
    VACUUM (late, or never where autovacuum is off) or 4 MB of them merge it: after a sync of a few thousand
    notes, half a three-word search's time. Merged in bulk here, after a sync, they cost the writer little and the
    searcher nothing; indexes that take each entry at once instead made a first sync's 600,000 notes ten times
    slower to write. Only an owner may merge them: a system session."""
    with system_session() as s:
        indexes = list(s.scalars(text(_WORD_INDEXES)))
        return sum(
            s.scalar(text("SELECT gin_clean_pending_list(CAST(:index AS regclass))"), {"index": index}) or 0
            for index in indexes
        )


@dataclass
class FreshStatistics:
    """For a long bulk writer (a backlog of rule events, a first sync's pages): call :meth:`keep` between
    its batches, and every ``every`` seconds what it has written so far gets statistics. Until then every
    query of a workspace the statistics have not seen yet is planned for a handful of rows (its tenant id is
    outside the column's common values), and index choices made for a handful ran 30x slower at 20,000."""

    every: float = 10.0
    _last: float | None = None  # the first call looks at once: a new workspace is unknown from its first batch

    def keep(self) -> None:
        if self._last is None or time.monotonic() - self._last >= self.every:
            analyze_what_changed()
            self._last = time.monotonic()
