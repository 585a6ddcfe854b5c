"""The demo's customer portal: once acme's ConnectWise has synced, the customer with the most tickets becomes a
parent of the next two (its sites), its new portal tickets go to the first board, acme gets a brand, and two portal
users are made: an Admin who sees the whole customer and a Member limited to one site. Idempotent: a restart finds
them and changes nothing."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import func, select, update

from vectis.branding.logo import sanitise_svg
from vectis.demo.seed import DEMO_PASSWORD
from vectis.identity.passwords import hash_password
from vectis.models import (
    Connection,
    Customer,
    PortalBranding,
    PortalSettings,
    PortalUser,
    PortalUserSite,
    Tenant,
    Ticket,
    TicketBoard,
)
from vectis.platform.db import system_session, tenant_session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoPortalUser:
    email: str
    name: str
    role: str
    one_site: bool  # limited to the first site


DEMO_PORTAL_USERS = (
    DemoPortalUser("dana@customer.example", "Dana Owner", "admin", one_site=False),
    DemoPortalUser("sam@customer.example", "Sam Site", "member", one_site=True),
)
ACCENT = "#0f766e"
LOGO = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 150 32"><rect width="32" height="32" rx="8"
fill="#0f766e"/><path d="M8 23 L16 8 L24 23 Z" fill="#ffffff"/><text x="40" y="22" font-size="15" font-weight="700"
font-family="system-ui, sans-serif" fill="#0f766e">ACME IT</text></svg>"""


def seed_portal(tenant_id: int) -> bool:
    """Make the demo portal if its tickets are there; whether the portal is ready (made now or before)."""
    with tenant_session(tenant_id) as s:
        if s.scalar(select(PortalUser.id).where(PortalUser.email == DEMO_PORTAL_USERS[0].email)) is not None:
            return True
        psa = s.scalar(select(Connection.id).where(Connection.vendor == "connectwise"))
        busiest = list(
            s.execute(
                select(Ticket.customer_id)
                .where(Ticket.connection_id == psa, Ticket.customer_id.is_not(None))
                .group_by(Ticket.customer_id)
                .order_by(func.count().desc(), Ticket.customer_id)
                .limit(3)
            ).scalars()
        )
        board = s.scalar(select(TicketBoard.id).where(TicketBoard.connection_id == psa).order_by(TicketBoard.id))
        if psa is None or len(busiest) < 3 or board is None:
            return False
        parent, *sites = [int(found or 0) for found in busiest]
        s.execute(update(Customer).where(Customer.id.in_(sites), Customer.parent_id.is_(None)).values(parent_id=parent))
        if s.scalar(select(PortalSettings.id).where(PortalSettings.customer_id == parent)) is None:
            s.add(PortalSettings(tenant_id=tenant_id, customer_id=parent, board_id=board))
        if s.scalar(select(PortalBranding.id)) is None:
            logo = sanitise_svg(LOGO)
            s.add(
                PortalBranding(
                    tenant_id=tenant_id, company_name="Acme IT Services", accent=ACCENT, logo=logo.content,
                    logo_content_type=logo.content_type,
                )
            )  # fmt: skip
        password = hash_password(DEMO_PASSWORD)
        for demo in DEMO_PORTAL_USERS:
            user = PortalUser(
                tenant_id=tenant_id, customer_id=parent, name=demo.name, email=demo.email, role=demo.role,
                password_hash=password, invited_by="the demo",
            )  # fmt: skip
            s.add(user)
            s.flush()
            if demo.one_site:
                s.add(PortalUserSite(tenant_id=tenant_id, portal_user_id=user.id, customer_id=sites[0]))
        return True


def seed_portal_after_first_sync(
    app: Flask, slug: str = "acme", *, timeout: float = 600, every: float = 5
) -> threading.Thread:
    """In the background: wait for ConnectWise's first sync, then make the demo portal (once)."""

    def wait_then_seed() -> None:
        with app.app_context():
            with system_session() as s:
                tenant_id = s.scalar(select(Tenant.id).where(Tenant.slug == slug))
            if tenant_id is None:
                return
            deadline = time.monotonic() + timeout
            try:
                while time.monotonic() < deadline:
                    if seed_portal(tenant_id):
                        print(f"vectis: the demo portal of {slug} is ready", flush=True)
                        return
                    time.sleep(every)
            except Exception:  # a demo nicety must never take the demo down
                log.exception("demo portal failed")

    thread = threading.Thread(target=wait_then_seed, name="demo-portal", daemon=True)
    thread.start()
    return thread
