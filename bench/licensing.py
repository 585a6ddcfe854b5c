"""The hub's Licensing tab at MSP scale (issue 22): p95 server time of a 40-subscription customer's Licensing tab (the
htmx partial and the whole hub page on it) and of a seat change's preflight, through the real app (routing, tenancy,
sessions, templates), each beside the raw SQL of the same statements. Goal: the tab < 100 ms.

    .venv/bin/python bench/licensing.py [--customers 500] [--subscriptions 5000] [--requests 80] [--smoke]

A generated tenant: a Pax8 connection whose companies are --customers customers, --subscriptions subscriptions over
them (the first customer has 40), eight weeks of seats for each, and a PSA contract billing half the big customer's
products (so the margin per SKU is worked out too), written the way the syncs write them, made on the first run and
kept for the next ones.

The Microsoft 365 bench (and any other hub tab's) can call :func:`licensing_figures` with its own app and tenant.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from _env import bench_app
from _report import Figure, report
from flask import Flask
from hub import Timing, ensure_user, measure
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.conftest import TenantFixture, pid
from vectis.connectors.base import ContractLineRecord, ContractRecord, LicenceSubscriptionRecord
from vectis.contracts.writer import write_contracts
from vectis.devices.writer import links_of
from vectis.ingest.matching import Account, link_accounts
from vectis.licensing.writer import week_of, write_subscriptions
from vectis.models import Connection, Customer, LicenseSubscription, LicenseUsage, Tenant
from vectis.platform import db
from vectis.platform.bulk import upsert
from vectis.platform.crypto import Sealed
from vectis.simulators.pax8.seed import CATALOGUE

TAB_GOAL_MS = 100.0  # issue 22: the Licensing tab of a 40-subscription customer
HUB_GOAL_MS = 150.0  # the hub page's own goal (issue 7), here opened on the Licensing tab
PREFLIGHT_GOAL_MS = 100.0
BIG = 40
WEEKS = 8
BIG_NAME = "Bench Licensing Ltd"


def _connection(s: Session, tenant_id: int, vendor: str, name: str) -> Connection:
    found: Connection | None = s.scalar(select(Connection).where(Connection.vendor == vendor))
    if found is None:
        found = Connection(tenant_id=tenant_id, vendor=vendor, name=name, config=Sealed.seal(tenant_id, {}),
                           creates_customers=True)  # fmt: skip
        s.add(found)
        s.flush()
    return found


def _record(n: int, company: str, today: date) -> LicenceSubscriptionRecord:
    product = CATALOGUE[n % len(CATALOGUE)]
    committed = product.term in ("Annual", "2-Year", "3-Year")
    return LicenceSubscriptionRecord(
        external_id=f"bench-sub-{n}", customer_external_id=company,
        product_name=product.name if n < len(CATALOGUE) else f"{product.name} ({n // len(CATALOGUE)})",
        product_external_id=f"bench-product-{n % len(CATALOGUE)}", sku=product.sku, quantity=5 + n % 50,
        unit_cost=Decimal(product.cost), unit_price=Decimal(product.price), currency="USD",
        billing_term=product.term.lower() if product.term != "One-Time" else "one-time", vendor_term=product.term,
        status="active", vendor_status="Active",
        commitment_ends_on=today + timedelta(days=30 + n % 300) if committed else None,
        starts_on=today - timedelta(days=60 + n % 300),
    )  # fmt: skip


def generated(app: Flask, customers: int, subscriptions: int) -> tuple[Tenant, int, int]:
    """The bench tenant, its 40-subscription customer and one of its subscriptions: the ones made earlier if there
    are, else new ones."""
    slug = f"licensing-{customers}-{subscriptions}"
    with db.system_session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == slug))
        fresh = tenant is None
        if tenant is None:
            tenant = Tenant(slug=slug, name=f"Bench MSP, {subscriptions:,} subscriptions")
            s.add(tenant)
            s.flush()
        s.expunge(tenant)
    if fresh:
        started = time.perf_counter()
        _generate(tenant.id, customers, subscriptions)
        with db.system_session() as s:
            s.execute(text("ANALYZE"))
        print(f"{slug}: generated in {time.perf_counter() - started:.0f} s", flush=True)
    with db.tenant_session(tenant.id) as s:
        customer = s.scalar(select(Customer.id).where(Customer.name == BIG_NAME))
        assert customer is not None
        subscription = s.scalar(
            select(LicenseSubscription.id)
            .where(LicenseSubscription.customer_id == customer, LicenseSubscription.billing_term == "monthly")
            .limit(1)
        )
        assert subscription is not None
    return tenant, customer, subscription


def _generate(tenant_id: int, customers: int, subscriptions: int) -> None:
    today = datetime.now(UTC).date()
    with db.tenant_session(tenant_id) as s:
        pax8 = _connection(s, tenant_id, "pax8", "Pax8")
        names = [BIG_NAME, *(f"Bench Customer {n:03d}" for n in range(customers - 1))]
        link_accounts(s, pax8, [Account(f"company-{n}", name) for n, name in enumerate(names)])
        records = [_record(n, "company-0" if n < BIG else f"company-{1 + n % (customers - 1)}", today)
                   for n in range(subscriptions)]  # fmt: skip
        account = links_of(s, pax8)
        ids: dict[str, int] = {}
        for start in range(0, len(records), 500):
            ids.update(write_subscriptions(s, pax8, "Pax8", records[start : start + 500], account))
        # Eight weeks of seats a subscription, as eight weekly syncs leave them.
        usage = [
            {"tenant_id": tenant_id, "subscription_id": ids[r.external_id], "week": week_of(today) - timedelta(weeks=w),
             "quantity": max(1, r.quantity - w % 3), "observed_at": datetime.now(UTC)}
            for r in records for w in range(1, WEEKS)
        ]  # fmt: skip
        for start in range(0, len(usage), 5000):
            upsert(s.connection(), LicenseUsage.__table__, usage[start : start + 5000],  # type: ignore[arg-type]
                   conflict=("tenant_id", "subscription_id", "week"))  # fmt: skip
        # The PSA bills half the big customer's products.
        psa = _connection(s, tenant_id, "connectwise", "ConnectWise PSA")
        link_accounts(s, psa, [Account("psa-big", BIG_NAME)])
        lines = tuple(
            ContractLineRecord(f"line-{n}", r.sku, r.product_name, Decimal(r.quantity), Decimal("24.00"),
                               Decimal("24.00") * r.quantity)
            for n, r in enumerate(records[:BIG:2])
        )  # fmt: skip
        contract = ContractRecord(
            "bench-agreement", "psa-big", "Microsoft 365", "Managed Services", "active", "Active",
            today - timedelta(days=300), None, datetime.now(UTC), billing_cycle="Monthly",
            cycles_per_year=Decimal(12), bill_amount=sum((line.amount or Decimal(0) for line in lines), Decimal(0)),
            currency="USD", lines=lines,
        )  # fmt: skip
        write_contracts(s, psa, [contract], links_of(s, psa))


def licensing_figures(
    app: Flask, fixture: TenantFixture, customer: int, subscription: int, n: int, *, label: str = ""
) -> tuple[list[Figure], dict[str, Timing]]:
    """The Licensing tab's figures for ``customer`` of ``fixture``'s tenant (and a seat change's preflight of its
    ``subscription``), ``n`` requests each: what ``make bench`` judges, for this bench or another tab's."""
    tab = f"/customers/{pid(app, 'customer', customer)}/licensing"
    preflight = f"/subscriptions/{pid(app, 'subscription', subscription)}/preflight?quantity=99"
    timings = {
        "tab": measure(app, fixture, f"Licensing tab (htmx), {BIG} subs", tab, n, htmx=True),
        "hub": measure(app, fixture, "hub page on the Licensing tab", tab, n),
        "preflight": measure(app, fixture, "seat change preflight", preflight, n, htmx=True),
    }
    figures = [
        Figure(f"Licensing tab p95, {BIG} subscriptions{label}", timings["tab"].p95, "ms", TAB_GOAL_MS),
        Figure(f"hub page on the Licensing tab p95{label}", timings["hub"].p95, "ms", HUB_GOAL_MS),
        Figure(f"seat change preflight p95{label}", timings["preflight"].p95, "ms", PREFLIGHT_GOAL_MS),
    ]
    return figures, timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument(
        "--subscriptions", type=int, default=5_000, help="in the tenant, the big customer's 40 among them"
    )
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--smoke", action="store_true", help="50 customers, 500 subscriptions and 20 requests")
    args = parser.parse_args()
    if args.smoke:
        args.customers, args.subscriptions, args.requests = 50, 500, 20
    with bench_app() as app:
        tenant, customer, subscription = generated(app, args.customers, args.subscriptions)
        fixture = ensure_user(tenant)
        figures, _ = licensing_figures(
            app, fixture, customer, subscription, args.requests, label=f", {args.subscriptions:,} in all"
        )
    report(figures)


if __name__ == "__main__":
    main()
