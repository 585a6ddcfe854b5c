"""The demo MSP: tenant ``acme`` (three users, one per role) and a second tenant ``northwind``."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.connectors.factory import seal_config
from vectis.identity.passwords import hash_password
from vectis.models import Connection, Role, Rule, RuleVersion, SavedQuery, Tenant, User
from vectis.platform.crypto import Sealed
from vectis.platform.db import system_session
from vectis.query import examples
from vectis.query.spec import parse
from vectis.rules.definition import normalized
from vectis.rules.templates import TEMPLATES
from vectis.simulators import connectwise, defender, eset, graph, keepit, ninjaone, pax8, sentinelone
from vectis.simulators import huntress as huntress_sim

DEMO_PASSWORD = "vectis-demo"  # noqa: S105 - printed by make demo; demo only


@dataclass(frozen=True)
class DemoUser:
    tenant: str
    email: str
    name: str
    role: Role


# The demo's Veeam connection points at the bundled VSPC simulator (the Procfile's `sim` process).
DEMO_VSPC = {"base_url": "http://127.0.0.1:18080", "username": "vectis-svc", "password": "demo-password", "api_key": ""}

# Acme's Keepit connection reaches the Keepit simulator (the Procfile's `keepit` process) through
# VECTIS_VENDOR_URLS, which make demo sets. Veeam is acme's first tool: its companies are the customers,
# and Keepit's accounts link to them by name or wait in Admin -> Customer matching.
DEMO_KEEPIT = {
    "username": keepit.DEMO_USERNAME,
    "password": keepit.DEMO_PASSWORD,
    "region": keepit.DEFAULT_REGION,
    "account_guid": keepit.PARENT_GUID,
    "token_login": "",
    "token_password": "",
}

# Acme's ConnectWise PSA is the simulator (the Procfile's `connectwise` process); its companies link to
# the Veeam customers by name.
DEMO_CONNECTWISE = {
    "site_url": "http://127.0.0.1:18082",
    "company_id": connectwise.DEMO_COMPANY_ID,
    "public_key": connectwise.DEMO_PUBLIC_KEY,
    "private_key": connectwise.DEMO_PRIVATE_KEY,
    "client_id": "",
}

# Acme's NinjaOne reaches the NinjaOne simulator (the Procfile's `ninjaone` process) through VECTIS_VENDOR_URLS, as
# Keepit does: NinjaOne's host is derived from the region. Its organisations link to the Veeam customers by name; the
# two it names a little differently wait in Admin -> Customer matching with a suggestion.
DEMO_NINJAONE = {
    "client_id": ninjaone.DEMO_CLIENT_ID,
    "client_secret": ninjaone.DEMO_CLIENT_SECRET,
    "region": "app",
}

# Acme's SentinelOne console is the simulator (the Procfile's `sentinelone` process), typed in as its Console URL; its
# sites link to the Veeam customers by name, and its threats land as detections.
DEMO_SENTINELONE = {"console_url": "http://127.0.0.1:18084", "api_token": sentinelone.DEMO_API_TOKEN}

# Acme's ESET PROTECT Cloud is the simulator (the Procfile's `eset` process), reached through VECTIS_VENDOR_URLS as
# NinjaOne is: ESET's hosts are derived from the region. Its customer groups link to the Veeam customers by name.
DEMO_ESET = {"region": "eu", "username": eset.DEMO_USERNAME, "password": eset.DEMO_PASSWORD}

# Acme's Huntress account is the simulator (the Procfile's `huntress` process), typed in as its API URL; its
# organizations link to the Veeam customers by name, and its incident reports land as detections.
DEMO_HUNTRESS = {
    "api_key": huntress_sim.DEMO_API_KEY,
    "api_secret": huntress_sim.DEMO_API_SECRET,
    "api_url": "http://127.0.0.1:18086",
}

# Acme's Microsoft Defender is the MSP's multi-tenant app at the Defender simulator (the Procfile's `defender` process)
# with every customer's tenant, reached through VECTIS_VENDOR_URLS: Defender's hosts (Entra's sign-in and the API) are
# derived, never typed. Defender names no organisation: its tenants are listed by their .onmicrosoft.com domains, each
# with its customer's name, so they link to the demo customers by name.
DEMO_DEFENDER = {
    "client_id": defender.DEMO_CLIENT_ID,
    "client_secret": defender.DEMO_CLIENT_SECRET,
    "tenant_ids": "\n".join(defender.demo_tenant_domains()),
}

# Acme's Microsoft 365 is the MSP's multi-tenant app at the Graph simulator (the Procfile's `graph` process), reached
# through VECTIS_VENDOR_URLS, with every customer's tenant: their organisations link to the Veeam customers by name.
DEMO_M365 = {
    "client_id": graph.DEMO_CLIENT_ID,
    "client_secret": graph.DEMO_CLIENT_SECRET,
    "tenant_ids": "\n".join(graph.demo_tenant_ids()),
}
# Acme's Pax8 partner account at the Pax8 simulator (the Procfile's `pax8` process), reached through VECTIS_VENDOR_URLS:
# Pax8's host is derived, never typed. Its companies are the demo customers, named as the other simulators name them.
DEMO_PAX8 = {"client_id": pax8.DEMO_CLIENT_ID, "client_secret": pax8.DEMO_CLIENT_SECRET}

DEMO_TENANTS = {"acme": "Acme IT Services", "northwind": "Northwind Managed IT"}
DEMO_USERS = (
    DemoUser("acme", "admin@acme.test", "Avery Admin", Role.ADMIN),
    DemoUser("acme", "tech@acme.test", "Taylor Tech", Role.TECHNICIAN),
    DemoUser("acme", "viewer@acme.test", "Riley Viewer", Role.READ_ONLY),
    DemoUser("northwind", "admin@northwind.test", "Nora Admin", Role.ADMIN),
)


def demo_totp_secret(email: str) -> str:
    """Demo users are enrolled with known secrets, derived from their email (demo data only)."""
    return base64.b32encode(hashlib.sha256(f"vectis-demo-totp:{email}".encode()).digest()[:20]).decode()


def seed_demo() -> None:
    """Idempotent: a second run changes nothing that is already there."""
    password_hash = hash_password(DEMO_PASSWORD)
    with system_session() as s:
        tenants: dict[str, Tenant] = {}
        for slug, name in DEMO_TENANTS.items():
            tenant = s.scalar(select(Tenant).where(Tenant.slug == slug))
            if tenant is None:
                tenant = Tenant(slug=slug, name=name)
                s.add(tenant)
                s.flush()
            tenants[slug] = tenant
        for demo in DEMO_USERS:
            tenant = tenants[demo.tenant]
            user = s.scalar(select(User).where(User.tenant_id == tenant.id, User.email == demo.email))
            if user is None:
                user = User(
                    tenant_id=tenant.id,
                    email=demo.email,
                    name=demo.name,
                    role=demo.role.value,
                    password_hash=password_hash,
                )
                s.add(user)
            if user.totp_secret is None:  # demo users are always enrolled, with their known secret
                user.totp_secret = Sealed.seal(tenant.id, demo_totp_secret(demo.email))
                user.mfa_enrolled_at = datetime.now(UTC)
        acme = tenants["acme"]
        now = datetime.now(UTC)
        for vendor, name, config, creates, first_run in (
            ("veeam", "Veeam", DEMO_VSPC, True, now),
            ("keepit", "Keepit", DEMO_KEEPIT, False, now + timedelta(minutes=1)),
            ("connectwise", "ConnectWise PSA", DEMO_CONNECTWISE, False, now + timedelta(minutes=2)),
            ("ninjaone", "NinjaOne", DEMO_NINJAONE, False, now + timedelta(minutes=3)),
            ("sentinelone", "SentinelOne", DEMO_SENTINELONE, False, now + timedelta(minutes=4)),
            ("eset", "ESET", DEMO_ESET, False, now + timedelta(minutes=5)),
            ("huntress", "Huntress", DEMO_HUNTRESS, False, now + timedelta(minutes=6)),
            ("defender", "Microsoft Defender", DEMO_DEFENDER, False, now + timedelta(minutes=7)),
            ("m365", "Microsoft 365", DEMO_M365, False, now + timedelta(minutes=8)),
            ("pax8", "Pax8", DEMO_PAX8, False, now + timedelta(minutes=9)),
        ):
            if s.scalar(select(Connection.id).where(Connection.tenant_id == acme.id, Connection.vendor == vendor)):
                continue
            connection = Connection(
                tenant_id=acme.id,
                vendor=vendor,
                name=name,
                enabled=True,
                creates_customers=creates,
                next_run_at=first_run,
            )
            seal_config(connection, config, current_app.config["VECTIS_SETTINGS"])
            s.add(connection)
        _seed_rules(s, acme.id)
        _seed_queries(s, acme.id)


def _seed_rules(s: Session, tenant_id: int) -> None:
    """Two templates in dry-run, so the demo's Rules page shows History as syncs bring events in."""

    owner = s.scalar(select(User.id).where(User.tenant_id == tenant_id, User.role == "admin").order_by(User.id))
    for key in ("backup_stale_ticket", "critical_alert_ticket"):
        if s.scalar(select(Rule.id).where(Rule.tenant_id == tenant_id, Rule.template == key)):
            continue
        template = TEMPLATES[key]
        definition = normalized(template.definition)
        rule = Rule(
            tenant_id=tenant_id, name=template.name, mode="dry_run", version=1, trigger=definition["trigger"],
            owner_id=owner, template=key,
        )  # fmt: skip
        s.add(rule)
        s.flush()
        s.add(
            RuleVersion(
                tenant_id=tenant_id, rule_id=rule.id, version=1, definition=definition, created_by="Vectis demo"
            )
        )


def _seed_queries(s: Session, tenant_id: int) -> None:
    """The two questions of the product tour, saved and shared with everyone, owned by the admin."""
    owner = s.scalar(select(User).where(User.tenant_id == tenant_id, User.role == "admin").order_by(User.id))
    for name, description, raw in examples.SHARED:
        if s.scalar(select(SavedQuery.id).where(SavedQuery.tenant_id == tenant_id, SavedQuery.name == name)):
            continue
        spec = parse(raw)
        s.add(
            SavedQuery(
                tenant_id=tenant_id, name=name, description=description, owner_id=owner.id if owner else None,
                owner_label=owner.email if owner else "Vectis", audience="everyone", spec=spec.raw, spec_hash=spec.hash,
            )
        )  # fmt: skip
