"""Endpoint security in the browser (issue 21): a customer's Security tab and the global Security page show
SentinelOne's detections as cards; a technician isolates an endpoint from the hub (the confirmation names the device
and the customer), sees it pending until SentinelOne confirms, then releases it. Screenshots at desktop and phone
width."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import TenantFixture, own_workspace, pid
from tests.e2e.test_alerts import DESKTOP, both_widths
from tests.e2e.test_shell import sign_in
from tests.vendors.support import add_connection, serve_app, sync
from vectis.models import Customer
from vectis.models.security import Detection
from vectis.platform import db
from vectis.simulators.huntress import DEMO_API_KEY as DEMO_HUNTRESS_KEY
from vectis.simulators.huntress import DEMO_API_SECRET as DEMO_HUNTRESS_SECRET
from vectis.simulators.sentinelone import DEMO_API_TOKEN, SentinelOneState, create_app


@dataclass
class World:
    tenant: TenantFixture
    tech: str
    state: SentinelOneState
    customer_id: int
    customer: str
    detection_id: int
    device: str


@pytest.fixture
def s1_world(app: Flask, make_user: Any) -> Iterator[World]:
    """A workspace of its own whose only tool is SentinelOne (so its sites are the customers), synced from the
    simulator, which stays up for the actions the browser takes."""
    tenant = own_workspace(app)
    tenant_id = tenant.id
    tech = make_user(tenant, "technician").email
    state = SentinelOneState.seeded()
    state.transition_seconds = 2.0  # long enough for the pending state to be seen and photographed
    for url in serve_app(create_app(state)):
        setup = add_connection(app, tenant_id, "sentinelone", {"console_url": url, "api_token": DEMO_API_TOKEN})
        run = sync(app, setup)
        assert run.status == "succeeded", run.error
        with app.app_context(), db.tenant_session(tenant_id) as s:
            found = s.execute(
                select(Detection.id, Detection.device_name, Customer.id, Customer.name)
                .join(Customer, Customer.id == Detection.customer_id)
                .where(Detection.status == "open", Detection.isolation == "connected")
                .order_by(Detection.severity, Detection.id)
            ).first()
        assert found is not None, "the seeded simulator has an open detection on a connected endpoint"
        yield World(tenant, tech, state, found[2], found[3], found[0], found[1] or "")


def test_a_technician_isolates_an_endpoint_from_the_hub_and_releases_it(
    app: Flask, page: Page, live_server: int, s1_world: World, screenshots_dir: Path
) -> None:
    w = s1_world
    base = f"http://{w.tenant.slug}.localhost:{live_server}"
    page.set_viewport_size(DESKTOP)
    sign_in(page, app, live_server, w.tenant.slug, w.tech)
    page.goto(f"{base}/customers/{pid(app, 'customer', w.customer_id)}/security")
    page.wait_for_load_state("load")  # htmx is deferred: a click before it loads would post the whole page
    card = page.locator(f"#detection-{w.detection_id}")
    expect(card).to_contain_text(w.device)
    expect(card).to_contain_text("SentinelOne")
    both_widths(page, screenshots_dir, "hub-security")

    card.get_by_text("Isolate…").click()
    confirm = card.locator("details.confirm .menu-panel")
    expect(confirm).to_contain_text(f"Isolate {w.device} at {w.customer}?")
    page.screenshot(path=str(screenshots_dir / "hub-security-isolate-confirm.png"), full_page=True)
    confirm.get_by_label("Comment").fill("Suspicious download: isolating while we check")
    confirm.get_by_role("button", name=f"Isolate {w.device}").click()

    card = page.locator(f"#detection-{w.detection_id}")
    expect(card.get_by_test_id("detection-message")).to_contain_text("Sent to SentinelOne")
    expect(card.get_by_test_id("isolation")).to_have_text("Isolation pending")
    page.screenshot(path=str(screenshots_dir / "hub-security-pending.png"), full_page=True)
    # The card asks SentinelOne again every few seconds until it confirms.
    expect(card.get_by_test_id("isolation")).to_have_text("Isolated", timeout=15_000)
    agent = next(a for a in w.state.agents.values() if a["computerName"] == w.device)
    assert agent["networkStatus"] == "disconnected"
    page.screenshot(path=str(screenshots_dir / "hub-security-isolated.png"), full_page=True)

    card.get_by_role("button", name="Release").click()
    card = page.locator(f"#detection-{w.detection_id}")
    expect(card.get_by_test_id("isolation")).to_have_text("Release pending")
    expect(card.get_by_test_id("isolation")).to_have_count(0, timeout=15_000)  # connected: no badge
    expect(card.get_by_text("Isolate…")).to_be_visible()

    page.goto(f"{base}/security")
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()
    expect(page.locator(f"#detection-{w.detection_id}")).to_contain_text(w.customer)
    both_widths(page, screenshots_dir, "security")

    # The customer list counts each customer's open detections beside its tickets and alerts.
    page.goto(f"{base}/customers")
    expect(page.get_by_test_id("open-counts").filter(has_text="detection").first).to_be_visible()
    page.screenshot(path=str(screenshots_dir / "customers-detections.png"))


def test_an_admin_sees_how_to_add_huntress_webhooks_by_hand_then_that_they_arrive(
    app: Flask, page: Page, live_server: int, make_user: Any, screenshots_dir: Path
) -> None:
    """Huntress has no API to add a webhook endpoint: the Webhooks section says where in the Huntress portal to add
    this connection's address and where its signing secret goes, then shows the signed calls as they come in."""
    from tests.vendors.test_huntress_webhooks import SECRET  # noqa: PLC0415 - one secret for both modules
    from vectis.simulators.huntress import HuntressState  # noqa: PLC0415
    from vectis.simulators.huntress import create_app as huntress_app  # noqa: PLC0415

    workspace = own_workspace(app)
    tenant_id, slug = workspace.id, workspace.slug
    admin = make_user(workspace, "admin").email
    state = HuntressState.seeded()
    for url in serve_app(huntress_app(state)):
        config = {"api_key": DEMO_HUNTRESS_KEY, "api_secret": DEMO_HUNTRESS_SECRET, "api_url": url}
        setup = add_connection(app, tenant_id, "huntress", {**config, "webhook_secret": SECRET})
        assert sync(app, setup).status == "succeeded"
        sign_in(page, app, live_server, slug, admin)
        page.goto(f"http://{slug}.localhost:{live_server}/admin/integrations/huntress")
        section = page.get_by_test_id("webhooks")
        expect(section.get_by_test_id("instant-state")).to_have_text("Set up in Huntress")
        expect(section.get_by_test_id("instant-setup")).to_contain_text("Settings → Webhooks → Add Endpoint")
        address = section.locator(".webhook-url").first.inner_text()
        requests.post(f"{url}/_sim/webhook_endpoints", json={"url": address, "secret": SECRET}, timeout=5)
        agent = next(iter(state.agents.values()))
        requests.post(f"{url}/_sim/incident_reports", json={"agent_id": agent["id"]}, timeout=5)
        state.drain()
        page.reload()
        expect(section.get_by_test_id("instant-state")).to_have_text("Receiving")
        expect(section.get_by_test_id("deliveries")).to_contain_text("detection")
        section.screenshot(path=str(screenshots_dir / "integration-huntress-webhooks.png"))
