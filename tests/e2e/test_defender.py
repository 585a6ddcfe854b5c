"""Microsoft Defender with many customer tenants in the browser: the setup page asks for the app, its secret and the
tenant list; after a sync, the Security page shows each tenant's detections on that tenant's customer. Screenshots at
desktop and phone width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.test_alerts import DESKTOP, both_widths
from tests.e2e.test_shell import sign_in
from tests.m365_world import workspace
from tests.vendors.support import add_connection, serve_app, sync, vendor_url
from vectis.simulators.defender import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DefenderState, create_app


def test_one_defender_connection_shows_every_tenants_detections_on_its_customer(
    app: Flask, page: Page, live_server: int, make_user: Any, screenshots_dir: Path
) -> None:
    tenant, admin = workspace(app, make_user)
    state = DefenderState.seeded()
    first, second = list(state.tenants)[:2]
    config = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "tenant_ids": f"{first}\n{second}"}
    for url in serve_app(create_app(state)):
        with vendor_url(app, "defender", url):
            setup = add_connection(app, tenant.id, "defender", config)
            assert sync(app, setup).status == "succeeded"
    base = f"http://{tenant.slug}.localhost:{live_server}"
    page.set_viewport_size(DESKTOP)
    sign_in(page, app, live_server, tenant.slug, admin.email)

    page.goto(f"{base}/admin/integrations/defender")
    tenants = page.locator("textarea#field-tenant_ids")
    expect(tenants).to_have_value(f"{first}\n{second}")
    expect(page.get_by_text("Customer matching").first).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(DEMO_CLIENT_SECRET)
    both_widths(page, screenshots_dir, "defender-setup")

    page.goto(f"{base}/security")
    theirs = next(a for a in state.alerts.values() if a["_tenant"] == second)
    expect(page.locator("body")).to_contain_text(theirs["title"])
    expect(page.locator("body")).to_contain_text(second)  # its customer: the tenant, until an admin renames it
    both_widths(page, screenshots_dir, "defender-security")
