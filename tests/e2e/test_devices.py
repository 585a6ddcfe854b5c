"""The hub's Devices tab and a device's page in the browser: a customer's devices from the RMM, offline first, filtered
by class in the URL, then one server with its alerts (two tools' disk alerts as one), the tickets that name it and its
timeline; at desktop width and at a phone's 390 px without sideways scroll."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, ViewportSize, expect

from tests.conftest import TenantFixture
from tests.device_world import aldridge_devices
from tests.e2e.test_mobile import overflow
from tests.e2e.test_shell import sign_in

DESKTOP: ViewportSize = {"width": 1360, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
SHOTS = Path("/tmp/shots")  # noqa: S108 - kept outside the repository, where a reviewer opens them


def test_a_technician_reads_a_customers_devices_and_opens_a_server(
    app: Flask, page: Page, live_server: int, northwind: TenantFixture, synced_northwind: None, screenshots_dir: Path
) -> None:
    aldridge_devices(app, northwind.id)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    sign_in(page, app, live_server, northwind.slug, northwind.admin)
    page.get_by_test_id("customer-row").filter(has_text="Aldridge").get_by_role("link").first.click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Aldridge")
    page.get_by_role("navigation", name=heading.inner_text()).get_by_role("link", name="Devices").click()
    expect(page).to_have_url(re.compile(r"/customers/cus_[0-9a-z]{13}/devices$"))
    rows = page.get_by_test_id("device-row")
    expect(rows).to_have_count(23)
    expect(page.get_by_test_id("device-summary")).to_have_text("23 devices · 5 offline")
    states = rows.get_by_test_id("device-state")
    expect(states.nth(4)).to_have_text("Offline")  # offline first, then by name
    expect(states.nth(5)).to_have_text("Online")
    expect(rows.first).to_contain_text("ALD-LT03")
    expect(rows.nth(5)).to_contain_text("ALD-LT01")
    fs01 = rows.filter(has=page.get_by_role("link", name="FS01", exact=True))
    expect(fs01.get_by_test_id("device-state")).to_have_text("Online")
    expect(fs01.get_by_role("link", name="2")).to_be_visible()  # its open alerts: disk (two tools) and CPU
    expect(fs01.locator("time")).to_have_attribute("title", re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d UTC$"))
    page.screenshot(path=str(SHOTS / "devices-tab.png"), full_page=True)
    page.screenshot(path=str(screenshots_dir / "hub-devices.png"), full_page=True)

    page.get_by_label("Class").select_option("server")
    expect(page).to_have_url(re.compile(r"/devices\?class=server$"))
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("APP02")
    page.reload()  # the filter is in the URL
    expect(rows).to_have_count(5)
    page.screenshot(path=str(SHOTS / "devices-tab-servers.png"), full_page=True)

    page.get_by_role("link", name="FS01", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("FS01")
    expect(page).to_have_url(re.compile(r"/devices/dev_[0-9a-z]{13}$"))
    facts = page.get_by_test_id("device-facts")
    for fact in ("Windows Server 2022 Standard", "Dell Inc. PowerEdge R650", "Head office", "WINDOWS_SERVER"):
        expect(facts).to_contain_text(fact)
    alerts = page.get_by_test_id("device-alert")
    expect(alerts).to_have_count(3)  # disk (NinjaOne and the rule as one), CPU, and the resolved patch alert
    expect(alerts.first).to_contain_text("NinjaOne, Disk watch")
    expect(alerts.first).to_contain_text("Critical")
    expect(alerts.last).to_contain_text("Resolved")
    expect(page.get_by_test_id("device-event")).to_have_count(3)
    expect(page.get_by_test_id("device-event").first).to_contain_text("Disk free space below 10 %")
    tickets = page.get_by_test_id("device-tickets")
    expect(tickets).to_contain_text("whose summary names FS01")
    expect(tickets.get_by_test_id("device-ticket")).to_have_count(1)
    expect(tickets.get_by_test_id("device-ticket")).to_contain_text("FS01: D: drive almost full")
    page.screenshot(path=str(SHOTS / "device-page.png"), full_page=True)
    page.screenshot(path=str(screenshots_dir / "device-page.png"), full_page=True)

    page.set_viewport_size(PHONE)
    assert overflow(page) == []
    page.screenshot(path=str(SHOTS / "device-page-390.png"), full_page=True)
    page.get_by_role("link", name="Devices", exact=True).click()  # the crumb back to the tab
    expect(rows.first).to_contain_text("ALD-LT03")
    assert overflow(page) == []
    page.screenshot(path=str(SHOTS / "devices-tab-390.png"), full_page=True)
    page.get_by_test_id("devices").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "devices-tab-390-screen.png"))  # one screenful, as a phone shows it
