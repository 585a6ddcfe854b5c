"""Admin -> Integrations in the browser: Configure -> Test -> Save -> Sync now -> the rows are there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from rq import SimpleWorker
from sqlalchemy import select

from tests.conftest import TenantFixture
from tests.e2e.test_shell import sign_in
from tests.vendors.test_veeam import Vspc, serve
from vectis import db
from vectis.models import Connection
from vectis.queues import queue, redis
from vectis.simulators.vspc import DEMO_PASSWORD, DEMO_USERNAME, VspcState


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
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("401 Unauthorized — Username / password pair is wrong.")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_test_id("test-result")).to_have_text(
        f"Connected to Veeam VSPC {vspc.state.faults.server_version} — 12 companies visible"
    )
    page.get_by_label("Enabled: sync on schedule").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Veeam settings saved (enabled).")
    expect(page.get_by_label("Password", exact=True)).to_have_value("••••••••")  # stored, never shown

    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-status")).to_contain_text("Syncing…")
    with app.app_context():  # the real worker code runs the queued job
        SimpleWorker([queue("sync")], connection=redis()).work(burst=True)
    expect(page.locator("#sync-status")).to_contain_text("succeeded", timeout=10_000)
    expect(page.locator("#sync-status")).to_contain_text("12 companies")
    page.screenshot(path=str(screenshots_dir / "integration-veeam.png"), full_page=True)
