"""Admin -> Integrations in the browser: Configure -> Test -> Save -> Sync now -> the rows are there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from rq import SimpleWorker
from sqlalchemy import select

from tests.conftest import TenantFixture
from tests.e2e.test_shell import sign_in
from tests.e2e.test_tickets import psa_northwind  # noqa: F401 - the ConnectWise fixture, shared
from tests.vendors.support import add_connection, sync, vendor_url
from tests.vendors.test_keepit import Keepit
from tests.vendors.test_keepit import serve as serve_keepit
from tests.vendors.test_veeam import Vspc, serve
from vectis.models import Connection, Customer
from vectis.platform import db
from vectis.platform.queues import queue, redis
from vectis.simulators import connectwise, keepit
from vectis.simulators.keepit import KeepitState
from vectis.simulators.vspc import DEMO_PASSWORD, DEMO_USERNAME, VspcState


def click_test(app: Flask, page: Page, screenshot: Path | None = None) -> None:
    """Test connection runs as a job: the page shows it running, the real worker code runs it, the page polls."""
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_test_id("test-running")).to_be_visible()
    if screenshot is not None:
        page.locator("#integration-form").screenshot(path=str(screenshot))
    with app.app_context():
        SimpleWorker([queue("interactive")], connection=redis()).work(burst=True)


@pytest.fixture
def vspc(app: Flask, northwind: TenantFixture) -> Iterator[Vspc]:
    yield from serve(VspcState.seeded())
    with app.app_context(), db.system_session() as s:
        for connection in s.scalars(select(Connection).where(Connection.tenant_id == northwind.id)):
            s.delete(connection)


def test_an_admin_connects_veeam_and_syncs_it(
    app: Flask, page: Page, live_server: int, vspc: Vspc, screenshots_dir: Path
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/admin/integrations/")
    card = page.locator('[data-vendor="veeam"]')
    expect(card).to_contain_text("Not configured")
    page.screenshot(path=str(screenshots_dir / "integrations.png"), full_page=True)
    card.get_by_role("link", name="Configure").click()

    page.get_by_label("VSPC base URL").fill(vspc.url)
    page.get_by_label("Username").fill(DEMO_USERNAME)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    click_test(app, page)
    expect(page.get_by_test_id("test-result")).to_contain_text("401 Unauthorized — Username / password pair is wrong.")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    click_test(app, page, screenshots_dir / "integration-test-running.png")
    expect(page.get_by_test_id("test-result")).to_have_text(
        f"Connected to Veeam VSPC {vspc.state.faults.server_version} — 12 companies visible"
    )
    page.locator("#integration-form").screenshot(path=str(screenshots_dir / "integration-test-result.png"))
    page.get_by_label("Enabled: sync on schedule").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Veeam settings saved (enabled).")
    expect(page.get_by_label("Password", exact=True)).to_have_value("••••••••")  # stored, never shown

    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-status")).to_contain_text("waiting for a worker to start it")
    expect(page.get_by_test_id("recent-runs")).to_contain_text("queued")
    with app.app_context():  # the real worker code runs the queued job
        SimpleWorker([queue("sync")], connection=redis()).work(burst=True)
    expect(page.locator("#sync-status")).to_contain_text("succeeded", timeout=10_000)
    expect(page.locator("#sync-status")).to_contain_text("12 companies")
    # Issue 16: Recent runs shows the finished run without a reload, and the run log reads as sentences.
    expect(page.get_by_test_id("recent-runs").locator("tbody tr").first).to_contain_text("succeeded")
    expect(page.get_by_test_id("recent-runs")).not_to_contain_text("queued")
    page.get_by_test_id("run-log").locator("summary").click()
    expect(page.get_by_test_id("run-log")).to_contain_text("Companies: fetched 1 page, 12 records in ")
    expect(page.get_by_test_id("run-log")).not_to_contain_text("{")
    page.screenshot(path=str(screenshots_dir / "integration-veeam.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshots_dir / "integration-veeam-390.png"), full_page=True)


@pytest.fixture
def keepit_and_veeam(app: Flask, northwind: TenantFixture) -> Iterator[Keepit]:
    """Northwind whose first tool, Veeam, has made the customers; Keepit is not configured yet."""
    for vspc_sim in serve(VspcState.seeded()):
        veeam = add_connection(
            app,
            northwind.id,
            "veeam",
            {"base_url": vspc_sim.url, "username": DEMO_USERNAME, "password": DEMO_PASSWORD, "api_key": ""},
        )
        assert sync(app, veeam).status == "succeeded"
    for sim in serve_keepit(KeepitState.seeded()):
        with vendor_url(app, "keepit", sim.url + "/{region}"):
            yield sim
    with app.app_context(), db.system_session() as s:
        for connection in s.scalars(select(Connection).where(Connection.tenant_id == northwind.id)):
            s.delete(connection)
        for customer in s.scalars(select(Customer).where(Customer.tenant_id == northwind.id)):
            s.delete(customer)


def test_an_admin_connects_keepit_and_links_a_waiting_account(
    app: Flask, page: Page, live_server: int, keepit_and_veeam: Keepit, screenshots_dir: Path
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/admin/integrations/keepit")
    expect(page.get_by_text("https://[region].keepit.com/users/[account-guid]")).to_be_visible()
    page.get_by_label("Username").fill(keepit.DEMO_USERNAME)
    page.get_by_label("Password", exact=True).fill(keepit.DEMO_PASSWORD)
    # The guide's shortcut: paste the Keepit URL; region and GUID are read from it.
    page.get_by_label("Region").fill(f"https://us-dc.keepit.com/users/{keepit.PARENT_GUID}")
    click_test(app, page)
    expect(page.get_by_test_id("test-result")).to_have_text(
        "Connected — 10 customer accounts visible under your parent account"
    )
    page.get_by_label("Enabled: sync on schedule").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Keepit settings saved (enabled).")
    expect(page.get_by_label("Region")).to_have_value("us-dc")
    expect(page.get_by_label("Account GUID")).to_have_value(keepit.PARENT_GUID)

    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-status")).to_contain_text("waiting for a worker to start it")
    with app.app_context():
        SimpleWorker([queue("sync")], connection=redis()).work(burst=True)
    expect(page.locator("#sync-status")).to_contain_text("succeeded", timeout=10_000)
    page.reload()
    expect(page.get_by_test_id("unmatched-accounts")).to_contain_text("Bellweather Dental Group")
    page.screenshot(path=str(screenshots_dir / "integration-keepit.png"), full_page=True)

    page.get_by_role("link", name="Customer matching").first.click()
    waiting = page.get_by_test_id("matching-unlinked")
    expect(waiting.get_by_test_id("account-row")).to_have_count(3)
    page.screenshot(path=str(screenshots_dir / "matching.png"), full_page=True)
    row = waiting.get_by_test_id("account-row").filter(has_text="Bellweather Dental Group")
    row.get_by_label("Customer for Bellweather Dental Group").select_option(label="Greyhaven Architects")
    row.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("Bellweather Dental Group is now linked to Greyhaven Architects.")
    expect(page.get_by_test_id("matching-unlinked").get_by_test_id("account-row")).to_have_count(2)
    page.get_by_role("link", name="Linked").click()
    expect(page.get_by_test_id("matching-linked")).to_contain_text("Bellweather Dental Group")
    page.screenshot(path=str(screenshots_dir / "matching-linked.png"), full_page=True)


def test_every_card_syncs_now_and_shows_it_syncing(
    app: Flask, page: Page, live_server: int, vspc: Vspc, northwind: TenantFixture, screenshots_dir: Path
) -> None:
    """Issue 16: Sync now and a syncing state on every card, not only on the configure page."""
    config = {"base_url": vspc.url, "username": DEMO_USERNAME, "password": DEMO_PASSWORD, "api_key": ""}
    add_connection(app, northwind.id, "veeam", config)
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/admin/integrations/")
    card = page.locator('[data-vendor="veeam"]')
    expect(card).to_contain_text("Never")
    expect(page.locator('[data-vendor="keepit"]').get_by_role("button", name="Sync now")).to_have_count(0)
    card.get_by_role("button", name="Sync now").click()
    expect(card.get_by_test_id("sync-running")).to_contain_text("waiting for a worker to start it")
    expect(card.get_by_test_id("card-state")).to_have_text("Syncing")
    expect(card.get_by_role("button", name="Sync now")).to_have_count(0)
    page.screenshot(path=str(screenshots_dir / "integrations-syncing.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshots_dir / "integrations-syncing-390.png"), full_page=True)
    with app.app_context():
        SimpleWorker([queue("sync")], connection=redis()).work(burst=True)
    expect(card).to_contain_text("· succeeded", timeout=10_000)
    expect(card.get_by_test_id("sync-running")).to_have_count(0)
    expect(card.get_by_test_id("card-state")).to_have_text("Enabled")
    expect(card.get_by_role("button", name="Sync now")).to_be_visible()
    page.set_viewport_size({"width": 1360, "height": 860})
    page.screenshot(path=str(screenshots_dir / "integrations-synced.png"), full_page=True)


def test_the_webhook_block_says_instant_updates_are_on(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,  # noqa: F811
    screenshots_dir: Path,
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/admin/integrations/connectwise")
    block = page.get_by_test_id("webhooks")
    expect(block.get_by_test_id("instant-state")).to_have_text("Off")
    expect(block).to_contain_text("Instant updates off")
    page.screenshot(path=str(screenshots_dir / "integration-instant-off.png"), full_page=True)
    block.get_by_role("button", name="Turn on instant updates").click()
    expect(page.locator("#flash")).to_contain_text("Instant updates are on")
    expect(block.get_by_test_id("instant-state")).to_have_text("On")
    expect(block.get_by_role("heading")).to_have_text("Instant updates on")
    expect(block.get_by_test_id("instant-since")).to_contain_text(
        re.compile(r"Turned on \d{2} \w{3} \d{4}, \d{2}:\d{2} UTC by admin@northwind.test\.")
    )
    expect(block).to_contain_text("To turn them off, delete callback")
    expect(block.get_by_role("button", name="Turn on instant updates")).to_have_count(0)
    assert len(psa_northwind.callbacks) == 1
    page.screenshot(path=str(screenshots_dir / "integration-instant-on.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshots_dir / "integration-instant-on-390.png"), full_page=True)


def test_an_admin_sends_a_test_delivery_and_sees_it_arrive(
    app: Flask, page: Page, live_server: int, northwind: TenantFixture, vspc: Vspc, screenshots_dir: Path
) -> None:
    config = {"base_url": vspc.url, "username": DEMO_USERNAME, "password": DEMO_PASSWORD, "api_key": ""}
    add_connection(app, northwind.id, "veeam", config)
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/admin/integrations/veeam")
    block = page.get_by_test_id("webhooks")
    expect(block.get_by_role("heading", name="Webhook address")).to_be_visible()
    expect(block).to_contain_text(f"http://northwind.localhost:{live_server}/webhooks/con_")
    block.get_by_role("button", name="Send test delivery").click()
    result = page.get_by_test_id("test-delivery-result")
    expect(result).to_contain_text(re.compile(r"Test delivery received in \d+ ms: the webhook address works\."))
    deliveries = page.get_by_test_id("webhooks").get_by_test_id("deliveries")
    expect(deliveries).to_contain_text("test delivery")
    expect(deliveries).to_contain_text("A test: nothing to process.")
    page.screenshot(path=str(screenshots_dir / "integration-webhook-test.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshots_dir / "integration-webhook-test-390.png"), full_page=True)
