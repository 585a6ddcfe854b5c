"""The Microsoft 365 tab in the browser (issue 22): a customer's hub opens its Microsoft 365 tab from the tab bar and
shows four panels, each with when it was read; the Secure Score sparkline is drawn, with its gap; a tenant without
Entra ID P1 shows Conditional Access and MFA as unknown, with the reason. Screenshots at desktop and phone width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.conftest import pid
from tests.e2e.test_alerts import DESKTOP, both_widths
from tests.e2e.test_shell import sign_in
from tests.m365_world import World, synced


@pytest.fixture
def m365_world(app: Flask, make_user: Any) -> Iterator[World]:
    with synced(app, make_user, (0, 1)) as world:
        yield world


def test_the_microsoft_365_tab_shows_four_panels_and_the_reasons_it_cannot_show_more(
    app: Flask, page: Page, live_server: int, m365_world: World, screenshots_dir: Path
) -> None:
    w = m365_world
    base = f"http://{w.tenant.slug}.localhost:{live_server}"
    page.set_viewport_size(DESKTOP)
    sign_in(page, app, live_server, w.tenant.slug, w.admin.email)
    first = w.customers[w.tenant_at(0)]
    page.goto(f"{base}/customers/{pid(app, 'customer', first)}")
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Microsoft 365").first.click()
    expect(page).to_have_url(f"{base}/customers/{pid(app, 'customer', first)}/m365")
    panels = page.get_by_test_id("m365")
    for name in ("m365-intune", "m365-score", "m365-access", "m365-mfa"):
        expect(panels.get_by_test_id(name)).to_have_attribute("data-state", "known")
    expect(panels.get_by_test_id("m365-asof")).to_have_count(4)
    expect(panels.get_by_test_id("sparkline")).to_be_visible()
    assert panels.get_by_test_id("sparkline").locator("path").count() == 2  # the two days without a score
    expect(panels.get_by_test_id("m365-noncompliant")).to_have_count(2)
    expect(panels.get_by_test_id("m365-policy").and_(page.locator('[data-state="enabledForReportingButNotEnforced"]')))\
        .to_have_count(1)  # fmt: skip
    both_widths(page, screenshots_dir, "hub-m365")

    second = w.customers[w.tenant_at(1)]
    page.goto(f"{base}/customers/{pid(app, 'customer', second)}/m365")
    access = page.get_by_test_id("m365-access")
    expect(access).to_have_attribute("data-state", "unknown")
    expect(access).to_contain_text("Needs Entra ID P1.")
    expect(access).not_to_contain_text("Not covered")
    expect(page.get_by_test_id("m365-mfa")).to_contain_text("Needs Entra ID P1.")
    both_widths(page, screenshots_dir, "hub-m365-unlicensed")

    # The setup page: one tenant a line, the secret never shown back.
    page.goto(f"{base}/admin/integrations/m365")
    tenants = page.locator("textarea#field-tenant_ids")
    expect(tenants).to_have_value(f"{w.tenant_at(0)}\n{w.tenant_at(1)}")
    page.screenshot(path=str(screenshots_dir / "integration-m365.png"), full_page=True)
