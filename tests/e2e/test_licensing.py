"""Licensing in the browser (issue 22): a customer's Licensing tab shows its Pax8 subscriptions with cost, term and
renewal; a technician changes seats inline, reads the preflight (term, commitment end, unit cost, monthly delta) and
confirms it; a mid-term reduction of an annual (NCE) term shows why it cannot go now and schedules it for renewal.
Screenshots at desktop and phone width."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import TenantFixture, pid
from tests.e2e.test_alerts import DESKTOP, both_widths
from tests.e2e.test_shell import sign_in
from tests.licensing_world import a_contract_billing
from tests.vendors.support import add_connection, new_tenant, serve_app, sync, vendor_url
from vectis.connectors.base import LicenceSubscriptionRecord
from vectis.devices.writer import links_of
from vectis.licensing.writer import write_subscriptions
from vectis.models import Connection, CustomerLink, LicenseScheduledChange, LicenseSubscription, Tenant
from vectis.platform import db
from vectis.simulators.pax8 import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Pax8State, create_app


@dataclass
class World:
    tenant: TenantFixture
    tech: str
    state: Pax8State
    customer_id: int
    subscription_id: int
    external_id: str
    product: str
    quantity: int


@pytest.fixture
def pax8_world(app: Flask, make_user: Any) -> Iterator[World]:
    """A workspace of its own whose only tool is Pax8 (its companies are the customers), synced from the simulator,
    which stays up for the changes the browser makes."""
    tenant_id = new_tenant(app)
    with app.app_context(), db.system_session() as s:
        slug = s.scalars(select(Tenant.slug).where(Tenant.id == tenant_id)).one()
    tenant = TenantFixture(tenant_id, slug, f"{slug}.localhost", "", {})
    tech = make_user(tenant, "technician").email
    state = Pax8State.seeded()
    company = state.demo_company["id"]
    annual = next(s for s in state.subscriptions.values() if s["companyId"] == company and s["billingTerm"] == "Annual")
    for url in serve_app(create_app(state)):
        with vendor_url(app, "pax8", url):
            setup = add_connection(
                app, tenant_id, "pax8", {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
            )
            run = sync(app, setup)
            assert run.status == "succeeded", run.error
            with app.app_context(), db.tenant_session(tenant_id) as s:
                row = s.scalars(
                    select(LicenseSubscription).where(LicenseSubscription.external_id == annual["id"])
                ).one()
                found = World(tenant, tech, state, row.customer_id or 0, row.id, row.external_id, row.product_name,
                              row.quantity)  # fmt: skip
                link = row.customer_link_id
            # The PSA bills the product at $24 a seat: the tab shows the revenue and the margin beside the cost.
            a_contract_billing(app, tenant_id, link, found.product, found.quantity, f"{24 * found.quantity}")
            yield found


def test_a_technician_changes_seats_inline_after_reading_the_preflight(
    app: Flask, page: Page, live_server: int, pax8_world: World, screenshots_dir: Path
) -> None:
    w = pax8_world
    base = f"http://{w.tenant.slug}.localhost:{live_server}"
    page.set_viewport_size(DESKTOP)
    sign_in(page, app, live_server, w.tenant.slug, w.tech)
    page.goto(f"{base}/customers/{pid(app, 'customer', w.customer_id)}/licensing")
    page.wait_for_load_state("load")  # htmx is deferred: a click before it loads would load the whole page
    row = page.locator(f"#subscription-{w.subscription_id}")
    expect(row).to_contain_text(w.product)
    expect(row).to_contain_text("Annual (NCE)")
    expect(row.get_by_test_id("seats")).to_contain_text(str(w.quantity))
    expect(row.get_by_test_id("revenue")).to_have_text(f"${24 * w.quantity:,}")
    expect(row.get_by_test_id("margin")).to_contain_text(f"${(24 - 19.8) * w.quantity:,.2f}".replace(".00", ""))
    both_widths(page, screenshots_dir, "licensing-tab")

    # More seats: the preflight says what it costs before anything is sent.
    row.get_by_test_id("seat-input").fill(str(w.quantity + 2))
    row.get_by_test_id("change-seats").click()
    preflight = page.locator(f"#subscription-{w.subscription_id}").get_by_test_id("preflight")
    expect(preflight.get_by_test_id("preflight-term")).to_have_text("Annual (NCE)")
    expect(preflight.get_by_test_id("preflight-unit")).to_have_text("$19.80/seat/mo")
    expect(preflight.get_by_test_id("preflight-delta")).to_have_text("+$39.60/mo")
    expect(preflight.get_by_test_id("preflight-commitment")).not_to_have_text("No commitment")
    assert not [r for r in w.state.received() if r["method"] == "PUT"]  # a preflight sends nothing
    page.screenshot(path=str(screenshots_dir / "licensing-preflight.png"), full_page=True)
    preflight.get_by_test_id("confirm-seats").click()
    row = page.locator(f"#subscription-{w.subscription_id}")
    expect(row.get_by_test_id("subscription-message")).to_contain_text(f"{w.quantity} → {w.quantity + 2} seats in Pax8")
    expect(row.get_by_test_id("seats")).to_contain_text(str(w.quantity + 2))
    assert w.state.subscriptions[w.external_id]["quantity"] == w.quantity + 2
    page.screenshot(path=str(screenshots_dir / "licensing-changed.png"), full_page=True)

    # Fewer seats mid-term: refused with the renewal date, and offered for renewal instead.
    row.get_by_test_id("seat-input").fill(str(w.quantity - 1))
    row.get_by_test_id("change-seats").click()
    row = page.locator(f"#subscription-{w.subscription_id}")
    refusal = row.get_by_test_id("refusal")
    expect(refusal).to_contain_text("can only go down at renewal, on")
    expect(row.get_by_test_id("confirm-seats")).to_have_count(0)
    page.screenshot(path=str(screenshots_dir / "licensing-refused.png"), full_page=True)
    row.get_by_test_id("schedule").click()
    row = page.locator(f"#subscription-{w.subscription_id}")
    expect(row.get_by_test_id("subscription-message")).to_contain_text("Scheduled for renewal")
    expect(row.get_by_test_id("scheduled")).to_contain_text(f"{w.quantity - 1} seats from")
    assert w.state.subscriptions[w.external_id]["quantity"] == w.quantity + 2  # nothing sent for the reduction
    both_widths(page, screenshots_dir, "licensing-scheduled")

    # A quote for more seats, from the same row.
    row.get_by_test_id("quote").click()
    form = page.locator(f"#subscription-{w.subscription_id}").get_by_test_id("quote-form")
    form.get_by_label("Seats").fill("5")
    form.get_by_label("Notes").fill("Five more for the new office")
    page.screenshot(path=str(screenshots_dir / "licensing-quote.png"), full_page=True)
    form.get_by_test_id("create-quote").click()
    row = page.locator(f"#subscription-{w.subscription_id}")
    expect(row.get_by_test_id("subscription-message")).to_contain_text(f"Quote created in Pax8 for 5 × {w.product}")
    (quote,) = w.state.quotes.values()
    assert quote["notes"] == "Five more for the new office" and quote["lineItems"][0]["quantity"] == 5


def test_a_scheduled_change_that_failed_shows_on_its_row_and_totals_stay_in_their_currencies(
    app: Flask, page: Page, live_server: int, pax8_world: World, screenshots_dir: Path
) -> None:
    w = pax8_world
    with app.app_context(), db.tenant_session(w.tenant.id) as s:
        row = s.get(LicenseSubscription, w.subscription_id)
        assert row is not None and row.customer_link_id is not None
        s.add(
            LicenseScheduledChange(
                tenant_id=w.tenant.id, subscription_id=row.id, quantity=w.quantity - 3, due_on=date.today(),
                state="failed", requested_by="Robin", done_at=datetime.now(UTC),
                result="Pax8 did not accept it: the Annual term ends on 2027-06-24.",
            )
        )  # fmt: skip
        connection = s.get(Connection, row.connection_id)
        link = s.get(CustomerLink, row.customer_link_id)
        assert connection is not None and link is not None
        record = LicenceSubscriptionRecord(
            external_id="gbp-e2e", customer_external_id=link.external_id, product_name="Exchange Online (Plan 1)",
            product_external_id="p-gbp", sku=None, quantity=10, unit_cost=Decimal("3.20"), unit_price=None,
            currency="GBP", billing_term="monthly", vendor_term="Monthly", status="active", vendor_status="Active",
            commitment_ends_on=None,
        )  # fmt: skip
        write_subscriptions(s, connection, "Pax8", [record], links_of(s, connection))
    base = f"http://{w.tenant.slug}.localhost:{live_server}"
    page.set_viewport_size(DESKTOP)
    sign_in(page, app, live_server, w.tenant.slug, w.tech)
    page.goto(f"{base}/customers/{pid(app, 'customer', w.customer_id)}/licensing")
    attention = page.locator(f"#subscription-{w.subscription_id}").get_by_test_id("scheduled-attention")
    expect(attention).to_contain_text(f"Scheduled change to {w.quantity - 3} seats failed on")
    expect(attention).to_contain_text("the Annual term ends on 2027-06-24")
    expect(page.get_by_test_id("licensing-attention")).to_have_text("1 needs attention")
    expect(page.get_by_test_id("hub-licence-changes")).to_have_text("1 licence change needs attention")
    expect(page.get_by_test_id("licensing-summary")).to_contain_text("cost £32/mo")
    both_widths(page, screenshots_dir, "licensing-attention")
