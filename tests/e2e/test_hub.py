"""The customer hub in the browser: Ctrl+K to a customer, switch tabs, filter the timeline, add a note; the list's
and the header's open tickets and alerts, the contact's e-mail and phone, each job's run history and its console."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.test_shell import sign_in

PHONE = 390  # px: the narrowest screen a technician uses


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
    page.get_by_role("navigation", name=page.get_by_role("heading", level=1).inner_text()).get_by_role(
        "link", name="Backups"
    ).click()
    backups = page.get_by_test_id("backups")
    expect(backups).to_contain_text("Veeam")
    expect(backups).to_contain_text("Keepit")  # Keepit's "Aldridge and Co" linked to it by name
    page.screenshot(path=str(screenshots_dir / "hub-backups.png"), full_page=True)

    page.get_by_role("navigation", name=page.get_by_role("heading", level=1).inner_text()).get_by_role(
        "link", name="Timeline"
    ).click()
    expect(page).to_have_url(re.compile(r"/customers/cus_[0-9a-z]{13}/timeline$"))
    expect(page.get_by_test_id("timeline")).to_be_visible()
    page.get_by_role("checkbox", name="Notes only").check()  # not the chip it adds
    expect(page.get_by_test_id("filter-chips")).to_contain_text("Notes only")
    page.get_by_label("Note", exact=True).fill(
        "Spoke to their office manager: the NAS moves to the new rack on Friday."
    )
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#flash")).to_contain_text("Note added to")
    expect(page.get_by_test_id("filter-chips")).to_contain_text("Notes only")  # the filter is still on
    expect(page.get_by_test_id("note").first).to_contain_text("the NAS moves to the new rack on Friday")
    page.screenshot(path=str(screenshots_dir / "hub-timeline.png"), full_page=True)

    page.reload()  # every state is a URL
    expect(page.get_by_test_id("note").first).to_be_visible()
    page.goto(f"http://northwind.localhost:{live_server}/timeline")
    expect(page.get_by_test_id("timeline")).to_contain_text("Spoke to their office manager")
    page.screenshot(path=str(screenshots_dir / "timeline.png"), full_page=True)


def test_the_list_counts_open_tickets_and_alerts_and_calls_or_mails_the_contact(
    app: Flask, page: Page, live_server: int, synced_northwind: None, screenshots_dir: Path
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    rows = page.get_by_test_id("customer-row")
    expect(rows).to_have_count(12)
    counted = rows.filter(has=page.get_by_role("link", name=re.compile(r"^\d+ tickets?$")))
    expect(counted.first).to_be_visible()
    expect(rows.filter(has=page.get_by_role("link", name=re.compile(r"^\d+ alerts?$"))).first).to_be_visible()
    dial = page.locator("a[href^='tel:+']").first
    expect(dial).to_have_text(re.compile(r"^\+\d[\d -]+$"))  # one international form, whatever the vendor wrote
    expect(page.locator("a[href^='mailto:']").first).to_be_visible()
    page.screenshot(path=str(screenshots_dir / "customers-counts.png"), full_page=True)
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.screenshot(path=str(screenshots_dir / "customers-counts-390.png"), full_page=True)
    page.set_viewport_size({"width": 1360, "height": 860})

    # A count opens its tab inside the customer.
    first = counted.first
    name = first.get_by_role("link").first.inner_text()
    first.get_by_role("link", name=re.compile(r"^\d+ tickets?$")).click()
    expect(page).to_have_url(re.compile(r"/customers/cus_[0-9a-z]{13}/tickets$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    header = page.get_by_test_id("hub-badges")
    expect(header.get_by_role("link", name=re.compile(r"^\d+ open tickets?$"))).to_be_visible()
    expect(page.get_by_test_id("hub-contact").get_by_role("link")).to_have_attribute(
        "href", re.compile(r"^mailto:.+@.+")
    )  # the PSA contact's address, though ConnectWise names only the company's default contact
    expect(page.get_by_test_id("hub-phone").get_by_role("link")).to_have_attribute("href", re.compile(r"^tel:\+\d+$"))
    alerts = header.get_by_role("link", name=re.compile(r"^\d+ open alerts?$"))
    if alerts.count():
        alerts.click()
        expect(page).to_have_url(re.compile(r"/alerts$"))
    page.screenshot(path=str(screenshots_dir / "hub-header.png"))
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.screenshot(path=str(screenshots_dir / "hub-header-390.png"), full_page=True)


def test_each_job_shows_its_last_runs_and_opens_in_the_vendors_console(
    app: Flask, page: Page, live_server: int, synced_northwind: None, screenshots_dir: Path
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.get_by_role("link", name=re.compile("^Aldridge")).first.click()
    page.get_by_role("navigation", name=page.get_by_role("heading", level=1).inner_text()).get_by_role(
        "link", name="Backups"
    ).click()
    rows = page.get_by_test_id("backup-row")
    keepit = rows.filter(has_text="Keepit").first
    strip = keepit.get_by_test_id("run-strip")
    expect(strip.locator("li[data-state]").first).to_be_visible()
    assert strip.locator("li[data-state]").count() > 1  # Keepit lists its recent runs: history from day one
    assert strip.locator("li").count() == 14  # every strip is 14 cells long
    title = strip.locator("li[data-state]").last.get_attribute("title") or ""
    assert re.match(r"^\d{1,2} [A-Z][a-z]{2} \d\d:\d\d · (Success|Warning|Failed|Running)", title), title
    link = keepit.get_by_test_id("console-link")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(link).to_have_attribute("href", re.compile(r"/users/[0-9a-z]+-[0-9a-z]+-[0-9a-z]+$"))
    veeam = rows.filter(has_text="Veeam").first
    expect(veeam.get_by_test_id("console-link")).to_have_attribute("href", re.compile(r"^http://127\.0\.0\.1:\d+$"))
    expect(veeam.get_by_test_id("run-strip").locator("li[data-state]")).to_have_count(1)  # seen once so far
    strip.locator("li[data-state]").last.hover()
    page.screenshot(path=str(screenshots_dir / "hub-run-history.png"), full_page=True)
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.screenshot(path=str(screenshots_dir / "hub-run-history-390.png"), full_page=True)
