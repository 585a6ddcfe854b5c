"""The hub's Contracts tab in the browser: a customer's agreements from ConnectWise with their monthly value,
renewal and lines, reached from the hub's tabs, at desktop width and at a phone's 390 px without sideways scroll."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, ViewportSize, expect
from sqlalchemy import select

from tests.conftest import TenantFixture, pid
from tests.e2e.test_shell import sign_in
from tests.vendors.support import add_connection, forget_synced, serve_app, sync
from tests.vendors.test_connectwise import config as connectwise_config
from vectis.models import Contract
from vectis.platform import db
from vectis.simulators import connectwise

DESKTOP: ViewportSize = {"width": 1360, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def northwind_contracts(app: Flask, northwind: TenantFixture) -> Iterator[int]:
    """Northwind on the ConnectWise simulator, synced; the customer whose contract renews first."""
    for url in serve_app(connectwise.create_app(connectwise.ConnectWiseState.seeded())):
        setup = add_connection(app, northwind.id, "connectwise", connectwise_config(url))
        assert sync(app, setup).status == "succeeded"
    with app.app_context(), db.tenant_session(northwind.id) as s:
        customer_id = s.scalar(
            select(Contract.customer_id)
            .where(
                Contract.connection_id == setup.connection_id,  # not another test's contracts in this tenant
                Contract.status == "active",
                Contract.ends_on >= datetime.now(UTC).date(),
            )
            .order_by(Contract.ends_on)
            .limit(1)
        )
    assert customer_id is not None
    yield customer_id
    forget_synced(app, northwind.id)


def test_a_technician_reads_a_customers_contracts_before_the_renewal_call(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    northwind_contracts: int,
    screenshots_dir: Path,
) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in(page, app, live_server, northwind.slug, northwind.admin)
    page.goto(f"http://{northwind.host}:{live_server}/customers/{pid(app, 'customer', northwind_contracts)}")
    heading = page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("navigation", name=heading).get_by_role("link", name="Contracts").click()
    expect(page).to_have_url(re.compile(r"/customers/cus_[0-9a-z]{13}/contracts$"))
    card = page.get_by_test_id("contracts")
    expect(card.get_by_test_id("contract").first).to_contain_text(re.compile(r"Renews in \d+ days"))
    expect(card.get_by_test_id("contract-summary")).to_contain_text("in force")
    expect(card.get_by_test_id("contract-value").first).to_contain_text(re.compile(r"^\$[\d,]+(\.\d\d)?/mo$"))
    expect(card).to_contain_text("No end date")
    expect(card.get_by_test_id("contract-line").first).to_be_visible()
    page.screenshot(path=str(screenshots_dir / "hub-contracts.png"), full_page=True)

    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1, "contracts scroll sideways"
    page.screenshot(path=str(screenshots_dir / "hub-contracts-390.png"), full_page=True)

    page.reload()  # the tab is a URL of its own
    expect(page.get_by_test_id("contracts")).to_be_visible()
