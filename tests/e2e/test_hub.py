"""The customer hub in the browser: Ctrl+K to a customer, switch tabs, filter the timeline, add a note."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import TenantFixture
from tests.e2e.test_shell import sign_in
from tests.vendors.support import add_connection, sync, vendor_url
from tests.vendors.test_keepit import CONFIG as KEEPIT_CONFIG
from tests.vendors.test_keepit import serve as serve_keepit
from tests.vendors.test_veeam import serve as serve_vspc
from vectis.models import Connection, Customer
from vectis.platform import db
from vectis.simulators import vspc
from vectis.simulators.keepit import KeepitState


@pytest.fixture
def synced_northwind(app: Flask, northwind: TenantFixture) -> Iterator[None]:
    """Northwind with Veeam (its customers) and Keepit synced from the simulators."""
    for sim in serve_vspc(vspc.VspcState.seeded()):
        config = {"base_url": sim.url, "username": vspc.DEMO_USERNAME, "password": vspc.DEMO_PASSWORD, "api_key": ""}
        assert sync(app, add_connection(app, northwind.id, "veeam", config)).status == "succeeded"
    for keepit in serve_keepit(KeepitState.seeded()):
        with vendor_url(app, "keepit", keepit.url + "/{region}"):
            assert sync(app, add_connection(app, northwind.id, "keepit", KEEPIT_CONFIG)).status == "succeeded"
    yield
    with app.app_context(), db.system_session() as s:
        for model in (Connection, Customer):
            for row in s.scalars(select(model).where(model.tenant_id == northwind.id)):
                s.delete(row)


def test_a_technician_opens_a_customer_with_ctrl_k_and_works_its_hub(
    app: Flask, page: Page, live_server: int, synced_northwind: None, screenshots_dir: Path
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    expect(page.get_by_test_id("customer-row")).to_have_count(12)
    page.screenshot(path=str(screenshots_dir / "customers.png"), full_page=True)

    page.keyboard.press("Control+k")
    expect(page.get_by_role("dialog", name="Go to a customer")).to_be_visible()
    page.keyboard.type("aldridge")
    expect(page.locator("#palette-results .palette-item")).to_have_count(1)
    expect(page.locator("#palette-results .palette-item")).to_contain_text("Aldridge")
    page.screenshot(path=str(screenshots_dir / "palette.png"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Aldridge")
    backups = page.get_by_test_id("backups")
    expect(backups).to_contain_text("Veeam")
    expect(backups).to_contain_text("Keepit")  # Keepit's "Aldridge and Co" linked to it by name
    page.screenshot(path=str(screenshots_dir / "hub-backups.png"), full_page=True)

    page.get_by_role("navigation", name=page.get_by_role("heading", level=1).inner_text()).get_by_role(
        "link", name="Timeline"
    ).click()
    expect(page).to_have_url(re.compile(r"/customers/cus_[0-9a-z]{13}/timeline$"))
    expect(page.get_by_test_id("timeline")).to_be_visible()
    page.get_by_label("Keepit").check()
    expect(page.get_by_test_id("filter-chips")).to_contain_text("Source: Keepit")
    assert "source=Keepit" in page.url
    page.get_by_label("Note", exact=True).fill(
        "Spoke to their office manager: the NAS moves to the new rack on Friday."
    )
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#flash")).to_contain_text("Note added to")
    expect(page.get_by_test_id("note").first).to_contain_text("the NAS moves to the new rack on Friday")
    page.screenshot(path=str(screenshots_dir / "hub-timeline.png"), full_page=True)

    page.reload()  # every state is a URL
    expect(page.get_by_test_id("note").first).to_be_visible()
    page.goto(f"http://northwind.localhost:{live_server}/timeline")
    expect(page.get_by_test_id("timeline")).to_contain_text("Spoke to their office manager")
    page.screenshot(path=str(screenshots_dir / "timeline.png"), full_page=True)
