"""A workspace whose ConnectWise is the simulator over real HTTP, with a parent customer and its sites, and portal
users made for tests: what tests/test_portal.py and tests/e2e/test_portal.py share."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import func, select, update

from tests.conftest import HostClient, TenantFixture, client_for, csrf_token
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync
from tests.vendors.test_connectwise import config
from vectis.branding.logo import sanitise_svg
from vectis.identity.passwords import hash_password
from vectis.models import (
    Customer,
    PortalBranding,
    PortalSettings,
    PortalUser,
    PortalUserSite,
    Tenant,
    Ticket,
    TicketBoard,
)
from vectis.platform import db
from vectis.simulators.connectwise import ConnectWiseState, create_app

PASSWORD = "portal-password-123"
# The MSP's logo, with a script the upload's sanitiser must take out.
LOGO = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 150 32"><rect width="32" height="32" rx="8"
 fill="#0f766e"/><path d="M8 22 L16 8 L24 22 Z" fill="#fff"/><text x="40" y="22" font-size="16" font-weight="700"
 font-family="sans-serif" fill="#0f766e">NORTHSTAR</text><script>alert(1)</script></svg>"""


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)  # bcrypt at cost 12: once per run is enough


@dataclass
class World:
    tenant: TenantFixture
    setup: Setup
    state: ConnectWiseState
    parent: int  # the customer with the most tickets, made the parent of the next two
    sites: list[int] = field(default_factory=list)
    board: int = 0

    @property
    def portal_host(self) -> str:
        return f"portal.{self.tenant.slug}.localhost"


def world(app: Flask) -> Iterator[World]:
    """A fresh workspace synced from its own ConnectWise simulator: the three customers with the most tickets are
    a parent and two sites; the parent's new portal tickets go to the simulator's first board."""
    state = ConnectWiseState.seeded()
    for url in serve_app(create_app(state)):
        tenant_id = new_tenant(app)
        with app.app_context(), db.system_session() as s:
            slug = str(s.scalar(select(Tenant.slug).where(Tenant.id == tenant_id)))
        tenant = TenantFixture(tenant_id, slug, f"{slug}.localhost", "", {})
        setup = add_connection(app, tenant_id, "connectwise", config(url))
        assert sync(app, setup).status == "succeeded"
        with app.app_context(), db.tenant_session(tenant_id) as s:
            busiest = (
                s.execute(
                    select(Ticket.customer_id)
                    .where(Ticket.customer_id.is_not(None))
                    .group_by(Ticket.customer_id)
                    .order_by(func.count().desc(), Ticket.customer_id)
                    .limit(3)
                )
                .scalars()
                .all()
            )
            parent, *sites = [int(found or 0) for found in busiest]
            s.execute(update(Customer).where(Customer.id.in_(sites)).values(parent_id=parent))
            board = s.scalar(select(TicketBoard.id).order_by(TicketBoard.external_id).limit(1))
            assert board is not None
            s.add(PortalSettings(tenant_id=tenant_id, customer_id=parent, board_id=board))
        yield World(tenant, setup, state, parent, list(sites), board)


def portal_user(
    app: Flask, where: World, role: str = "member", *, customer: int | None = None, sites: list[int] | None = None
) -> PortalUser:
    """A portal user who has set their password (``PASSWORD``)."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@customer.test"
    with app.app_context(), db.tenant_session(where.tenant.id) as s:
        user = PortalUser(
            tenant_id=where.tenant.id, customer_id=customer or where.parent, name=f"Pat {role.title()}",
            email=email, role=role, password_hash=password_hash(), invited_by="test",
        )  # fmt: skip
        s.add(user)
        s.flush()
        for site in sites or []:
            s.add(PortalUserSite(tenant_id=where.tenant.id, portal_user_id=user.id, customer_id=site))
        s.flush()
        s.expunge(user)
        return user


def portal_client(app: Flask, host: str) -> HostClient:
    return client_for(app, host)


def portal_login(app: Flask, where: World, user: PortalUser) -> HostClient:
    client = portal_client(app, where.portal_host)
    response = client.post(
        "/signin", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client, "/signin")}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def branded_world(app: Flask, **branding: str) -> Iterator[World]:
    """``world`` with the MSP's branding (Northstar IT: its logo and accent), and whatever more ``branding`` sets."""
    for where in world(app):
        with app.app_context(), db.tenant_session(where.tenant.id) as s:
            logo = sanitise_svg(LOGO)
            s.add(
                PortalBranding(
                    tenant_id=where.tenant.id, company_name="Northstar IT", accent="#0f766e",
                    logo=logo.content, logo_content_type=logo.content_type, **branding,
                )
            )  # fmt: skip
        yield where
