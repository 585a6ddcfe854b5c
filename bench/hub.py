"""The customer hub at MSP scale (issue 7): p95 server time of the hub page, the Backups tab (htmx partial)
and a filtered timeline page, through the real app (routing, tenancy, sessions, templates), each also as a
ratio to the raw SQL of the same queries run directly on the same database. Goals: hub < 150 ms and <= 2x
its raw SQL; a timeline page < 50 ms and flat between 10k and 2M events; the first page of /customers (badges,
open tickets and alerts, contacts: issue 16) <= 2x its raw SQL.

    .venv/bin/python bench/hub.py [--big-tenant SLUG] [--requests 40]

Without --big-tenant it uses the tenant with the most timeline events (fill one with bench/generate.py).
A small tenant (500 customers, 10,000 events) is generated for the comparison on each run.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from _env import bench_app, percentile
from flask import Flask
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Connection

from tests.conftest import TenantFixture, login, pid
from vectis.demo.datagen import generate
from vectis.demo.seed import DEMO_PASSWORD, demo_totp_secret
from vectis.identity.passwords import hash_password
from vectis.models import Customer, Tenant, TimelineEvent, User
from vectis.platform import db
from vectis.platform.crypto import Sealed

HUB_GOAL_MS, HUB_RATIO_GOAL, TIMELINE_GOAL_MS, LIST_RATIO_GOAL = 150.0, 2.0, 50.0, 2.0


@dataclass
class Statements:
    seen: list[tuple[str, Any]]


@contextmanager
def recording(app: Flask) -> Iterator[Statements]:
    """Every statement the app sends while inside, with its parameters, to be run again raw."""
    engine = app.extensions["vectis.platform.db"].app_engine
    found = Statements([])

    def record(  # noqa: PLR0917 - the signature SQLAlchemy calls
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if not many:
            found.seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", record)


def raw_seconds(app: Flask, tenant_id: int, statements: list[tuple[str, Any]]) -> float:
    """The same statements on one connection, straight through the driver, in the tenant's transaction."""
    engine = app.extensions["vectis.platform.db"].app_engine
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute("SELECT set_config('vectis.tenant_id', %s, true)", (str(tenant_id),))
            for statement, parameters in statements:
                if "set_config('vectis.tenant_id'" in statement:
                    continue
                cursor.execute(statement, parameters)
                cursor.fetchall() if cursor.description else None
            seconds = time.perf_counter() - started
        raw.rollback()
    return seconds


def ensure_user(tenant: Tenant) -> TenantFixture:
    email = f"bench@{tenant.slug}.test"
    with db.system_session() as s:
        user = s.scalar(select(User).where(User.tenant_id == tenant.id, User.email == email))
        if user is None:
            user = User(
                tenant_id=tenant.id,
                email=email,
                name="Bench Technician",
                role="admin",
                password_hash=hash_password(DEMO_PASSWORD),
                totp_secret=Sealed.seal(tenant.id, demo_totp_secret(email)),
                mfa_enrolled_at=datetime.now(UTC),
            )
            s.add(user)
            s.flush()
        return TenantFixture(tenant.id, tenant.slug, f"{tenant.slug}.localhost", email, {email: user.id})


# Requests run on a thread of their own: a request inside this thread's app context would share its ``g``
# (and so one database session and CSRF token) with every other request, as no real request does.
WEB = ThreadPoolExecutor(max_workers=1)


def measure(app: Flask, fixture: TenantFixture, label: str, path: str, n: int, *, htmx: bool = False) -> float:
    return measure_with_raw(app, fixture, label, path, n, htmx=htmx)[0]


def measure_with_raw(
    app: Flask, fixture: TenantFixture, label: str, path: str, n: int, *, htmx: bool = False
) -> tuple[float, float]:
    """p95 of the request and of its raw SQL, in ms."""
    client = WEB.submit(login, app, fixture).result()
    headers = {"HX-Request": "true"} if htmx else {}
    WEB.submit(client.get, path, headers=headers).result()  # warm: templates compiled, statements cached
    samples, raws = [], []
    for _ in range(n):
        with recording(app) as statements:
            started = time.perf_counter()
            response = WEB.submit(client.get, path, headers=headers).result()
            samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
        raws.append(raw_seconds(app, fixture.id, statements.seen))
    p95, raw95 = percentile(samples, 95) * 1000, percentile(raws, 95) * 1000
    print(f"  {label:<34} p95 {p95:7.1f} ms   raw SQL p95 {raw95:6.1f} ms   ratio {p95 / raw95:4.2f}")
    return p95, raw95


def busiest_customer(tenant_id: int) -> int:
    with db.tenant_session(tenant_id) as s:
        found = s.execute(
            select(TimelineEvent.customer_id, func.count())
            .where(TimelineEvent.customer_id.is_not(None))
            .group_by(TimelineEvent.customer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
        assert found is not None
        parent = s.scalar(select(Customer.parent_id).where(Customer.id == found[0]))
        return int(parent or found[0] or 0)


def run(app: Flask, tenant: Tenant, n: int) -> tuple[float, float, float]:
    fixture = ensure_user(tenant)
    with db.tenant_session(tenant.id) as s:
        events = s.scalar(select(func.count()).select_from(TimelineEvent)) or 0
    customer = busiest_customer(tenant.id)
    week = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    print(f"{tenant.slug}: {events:,} timeline events; the busiest customer (#{customer})")
    listed, listed_raw = measure_with_raw(app, fixture, "customers, first page", "/customers", n)
    measure(app, fixture, "customers, needs attention first", "/customers?sort=attention", n)
    hub = measure(app, fixture, "hub page", f"/customers/{pid(app, 'customer', customer)}", n)
    measure(app, fixture, "Backups tab (htmx)", f"/customers/{pid(app, 'customer', customer)}/backups", n, htmx=True)
    measure(
        app,
        fixture,
        "customer timeline, Veeam, one week",
        f"/customers/{pid(app, 'customer', customer)}/timeline?week={week}&source=Veeam",
        n,
    )
    timeline = measure(app, fixture, "global timeline, Veeam", "/timeline?source=Veeam", n)
    measure(app, fixture, "global timeline, older page", "/timeline?source=Veeam&before=" + older_cursor(tenant.id), n)
    # Issue 16's filters: an event type hidden, and one customer (with its sites) on the global timeline.
    measure(app, fixture, "global timeline, sign-ins hidden", "/timeline?hide=backup.security&hide=backup.sign-in", n)
    customer_timeline = f"/timeline?customer={pid(app, 'customer', customer)}&hide=backup.security"
    measure(app, fixture, "global timeline, one customer", customer_timeline, n)
    return hub, timeline, listed / listed_raw


def older_cursor(tenant_id: int) -> str:
    """A cursor a month back: "load older" deep in the history."""
    with db.tenant_session(tenant_id) as s:
        found = s.execute(
            select(TimelineEvent.occurred_at, TimelineEvent.id)
            .where(TimelineEvent.occurred_at < datetime.now(UTC) - timedelta(days=30))
            .order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc())
            .limit(1)
        ).first()
    moment, ident = found if found else (datetime.now(UTC), 0)
    return f"{moment.isoformat()}_{ident}".replace("+", "%2B")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-tenant", default=None)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    with bench_app() as app:
        with db.system_session() as s:
            if args.big_tenant:
                big = s.scalar(select(Tenant).where(Tenant.slug == args.big_tenant))
            else:
                busiest = s.execute(
                    select(TimelineEvent.tenant_id)
                    .group_by(TimelineEvent.tenant_id)
                    .order_by(func.count().desc())
                    .limit(1)
                ).scalar()
                big = s.get(Tenant, busiest) if busiest else None
            small = Tenant(slug=f"hub{uuid.uuid4().hex[:8]}", name="Bench small MSP")
            s.add(small)
            s.flush()
            s.expunge_all()
        if big is None:
            raise SystemExit("no generated tenant: run bench/generate.py --events 2000000 first")
        generate(small.id, customers=500, jobs=5000, events=10_000)
        with db.system_session() as s:
            s.execute(text("ANALYZE"))
        _, small_timeline, _ = run(app, small, args.requests)
        hub, big_timeline, list_ratio = run(app, big, args.requests)
        print(
            f"hub page {hub:.1f} ms (goal < {HUB_GOAL_MS:g}); timeline page {big_timeline:.1f} ms at scale vs "
            f"{small_timeline:.1f} ms at 10k events (goal < {TIMELINE_GOAL_MS:g} ms, flat): "
            f"{big_timeline / small_timeline:.2f}x; /customers {list_ratio:.2f}x its raw SQL (goal <= "
            f"{LIST_RATIO_GOAL:g}x)"
        )


if __name__ == "__main__":
    main()
