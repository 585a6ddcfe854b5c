"""Microsoft 365 posture for tests, written the way it is in production: a workspace of its own (with an admin who
signs in through the real forms), its Microsoft 365 connection to the Graph simulator on loopback, synced by the real
job, so its customers are the tenants' organisations and their panels what Graph said."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from tests.conftest import MadeUser, TenantFixture
from tests.vendors.support import Setup, add_connection, serve_app, sync, vendor_url
from vectis.models import Customer, CustomerLink, Tenant
from vectis.platform import db
from vectis.simulators.graph import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, GraphState, create_app


@dataclass
class World:
    """A workspace synced from the simulator: ``customers`` maps each Entra tenant id to its Vectis customer."""

    tenant: TenantFixture
    admin: MadeUser
    setup: Setup
    state: GraphState
    url: str
    customers: dict[str, int]

    def tenant_at(self, position: int) -> str:
        return list(self.state.tenants)[position]


def workspace(app: Flask, make_user: Callable[..., MadeUser]) -> tuple[TenantFixture, MadeUser]:
    slug = f"m{uuid.uuid4().hex[:10]}"
    with app.app_context(), db.system_session() as s:
        tenant = Tenant(slug=slug, name="M365 Test MSP")
        s.add(tenant)
        s.flush()
        fixture = TenantFixture(tenant.id, slug, f"{slug}.localhost", f"admin@{slug}.test", {})
    return fixture, make_user(fixture, "admin")


@contextmanager
def synced(
    app: Flask,
    make_user: Callable[..., MadeUser],
    positions: tuple[int, ...] = (0, 1, 2, 3),
    *,
    state: GraphState | None = None,
) -> Iterator[World]:
    """A fresh workspace whose Microsoft 365 connection lists the simulator's tenants at ``positions``, synced once
    (the simulator keeps serving while the caller looks, so it can sync again)."""
    state = state or GraphState.seeded()
    tenant, admin = workspace(app, make_user)
    ids = list(state.tenants)
    config = {
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "tenant_ids": "\n".join(ids[p] for p in positions),
    }
    for url in serve_app(create_app(state)):
        with vendor_url(app, "m365", url):
            setup = add_connection(app, tenant.id, "m365", config, creates_customers=True)
            run = sync(app, setup)
            assert run.status == "succeeded", run.error
            with app.app_context(), db.tenant_session(tenant.id) as s:
                linked = {
                    link.external_id: link.customer_id
                    for link in s.scalars(select(CustomerLink).where(CustomerLink.connection_id == setup.connection_id))
                    if link.customer_id is not None
                }
                assert all(s.get(Customer, c) is not None for c in linked.values())
            yield World(tenant, admin, setup, state, url, linked)
