"""The Alerts screen in the browser, as a technician triages a morning's alerts: a dense list, evidence on
demand, filters in the URL with chips, bulk acknowledge, resolve, mute and unmute, "Open as ticket" into
ConnectWise, and a customer's tab that keeps its resolved alerts inside the customer. Screenshots at desktop
(1360 × 900) and phone (390 px) width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, ViewportSize, expect
from sqlalchemy import select

from tests.conftest import pid
from tests.e2e.test_rules import settled
from tests.e2e.test_shell import sign_in
from tests.test_alerts import Morning, alert_of, morning
from tests.vendors.support import add_connection, serve_app, sync
from tests.vendors.test_connectwise import config as connectwise_config
from vectis.models import CustomerLink
from vectis.platform import db
from vectis.simulators import connectwise

DESKTOP: ViewportSize = {"width": 1360, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


def open_alerts(page: Page, app: Flask, port: int, m: Morning, path: str = "/alerts") -> str:
    base = f"http://{m.tenant.slug}.localhost:{port}"
    page.set_viewport_size(DESKTOP)
    sign_in(page, app, port, m.tenant.slug, m.tech.email)
    page.goto(f"{base}{path}")
    return base


def both_widths(page: Page, screenshots_dir: Path, name: str) -> None:
    """The screen as it is now, at desktop and at phone width (then back to desktop)."""
    page.screenshot(path=str(screenshots_dir / f"{name}.png"))
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1, f"{name} scrolls sideways"
    page.screenshot(path=str(screenshots_dir / f"{name}-390.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def row_of(page: Page, job: str) -> Any:
    return page.get_by_test_id("alert-row").filter(has_text=job)


def menu_of(page: Page, job: str) -> Any:
    row = row_of(page, job)
    row.get_by_label(re.compile("More actions")).click()
    return row.locator(".menu-panel")


def test_a_technician_sees_a_dozen_alerts_at_once_and_opens_the_evidence_of_one(
    app: Flask, page: Page, live_server: int, make_user: Any, screenshots_dir: Path
) -> None:
    m = morning(app, make_user)
    open_alerts(page, app, live_server, m)
    rows = page.get_by_test_id("alert-row")
    expect(rows).to_have_count(16)
    boxes = [rows.nth(i).bounding_box() for i in range(16)]
    fit = [b for b in boxes if b and b["y"] + b["height"] <= DESKTOP["height"]]
    assert len(fit) >= 12, f"only {len(fit)} alerts fit on a 1360 × 900 screen"
    assert all(b and b["height"] < 48 for b in boxes), "an alert takes more than one line"
    page.screenshot(path=str(screenshots_dir / "alerts-list.png"))

    row = row_of(page, "BBX - SQL servers 04")
    row.get_by_role("link", name=re.compile("BBX - SQL servers 04")).click()
    detail = page.locator(f"#{row.get_attribute('id')}-detail")
    expect(detail).to_be_visible()
    expect(detail).to_contain_text("disk full on repository REPO-02")
    expect(detail).to_contain_text("Last success")
    menu = menu_of(page, "BBX - SQL servers 04")
    expect(menu.get_by_role("button", name=re.compile("^Resolve"))).to_be_visible()
    expect(menu).to_contain_text("The job's next success resolves it anyway. Resolved by hand, it stays resolved")
    page.screenshot(path=str(screenshots_dir / "alerts-evidence-and-menu.png"))
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    both_widths(page, screenshots_dir, "alerts-evidence")


def test_filters_go_in_the_url_as_chips_and_bulk_acknowledge_says_what_it_did(
    app: Flask, page: Page, live_server: int, make_user: Any, screenshots_dir: Path
) -> None:
    m = morning(app, make_user)
    base = open_alerts(page, app, live_server, m)
    page.get_by_label("Severity").select_option(label="Critical")
    settled(page)
    expect(page).to_have_url(f"{base}/alerts?severity=critical")  # empty filters stay out of the URL
    page.get_by_role("combobox", name=re.compile("^Customer")).select_option(label="Eastfield Veterinary Clinic")
    settled(page)
    eastfield = pid(app, "customer", m.customers["Eastfield Veterinary Clinic"])
    expect(page).to_have_url(f"{base}/alerts?customer={eastfield}&severity=critical")
    expect(page.get_by_test_id("alert-row")).to_have_count(3)
    chips = page.get_by_test_id("filter-chips")
    expect(chips).to_contain_text("Customer: Eastfield Veterinary Clinic")
    expect(page.get_by_role("link", name=re.compile("^Open"))).to_contain_text("3")
    both_widths(page, screenshots_dir, "alerts-filtered")

    # A bookmark opens the same list.
    page.goto(f"{base}/alerts?customer={eastfield}&severity=critical")
    expect(page.get_by_test_id("alert-row")).to_have_count(3)

    bulk = page.locator("#alert-bulk")
    expect(bulk.get_by_role("button", name="Acknowledge selected")).to_be_disabled()
    page.get_by_label("Select all on this page").check()
    expect(bulk).to_contain_text("3 selected")
    bulk.get_by_role("button", name="Acknowledge selected").click()
    expect(page.locator("#flash")).to_contain_text("Acknowledged 3 alerts.")
    expect(page).to_have_url(f"{base}/alerts?customer={eastfield}&severity=critical")  # the filters stay
    expect(page.get_by_test_id("alerts-empty")).to_contain_text("No open alerts match these filters")
    expect(page.get_by_role("link", name=re.compile("^Acknowledged"))).to_contain_text("3")
    both_widths(page, screenshots_dir, "alerts-filtered-empty")

    # Removing a chip widens the list again.
    page.get_by_role("link", name="Remove filter: Customer: Eastfield Veterinary Clinic").click()
    settled(page)
    expect(page).to_have_url(f"{base}/alerts?severity=critical")
    expect(page.get_by_test_id("alert-row")).to_have_count(8)
    page.get_by_role("link", name=re.compile("^Acknowledged")).click()
    settled(page)
    expect(page).to_have_url(f"{base}/alerts?state=acknowledged&severity=critical")
    expect(row_of(page, "EV - Clinic server")).to_contain_text("Test Technician")
    both_widths(page, screenshots_dir, "alerts-acknowledged")


def test_resolve_mute_and_unmute_from_the_row(
    app: Flask, page: Page, live_server: int, make_user: Any, screenshots_dir: Path
) -> None:
    m = morning(app, make_user)
    base = open_alerts(page, app, live_server, m)

    menu_of(page, "FL - Document store").get_by_role("button", name=re.compile("^Resolve")).click()
    expect(page.locator("#flash")).to_contain_text(
        "Resolved: FL - Document store. The job's next success resolves it anyway."
    )
    expect(row_of(page, "FL - Document store")).to_have_count(0)

    menu = menu_of(page, "DD - Imaging PACS")
    menu.get_by_label("For").select_option(label="24 hours")
    menu.get_by_label("Reason").fill("PACS server replaced on Saturday")
    menu.get_by_role("button", name="Mute", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("Muted backup failed for Dunmore Dental Practice")

    page.get_by_role("link", name=re.compile("^Muted")).click()
    settled(page)
    expect(page).to_have_url(f"{base}/alerts?state=muted")
    row = row_of(page, "DD - Imaging PACS")
    line = page.get_by_test_id("mute-line")
    expect(line).to_contain_text(re.compile(r"Muted until \d+ \w{3} \d\d:\d\d — 23 h left by Test Technician"))
    expect(line).to_contain_text("“PACS server replaced on Saturday”")
    both_widths(page, screenshots_dir, "alerts-muted")

    row.get_by_role("button", name="Unmute").click()
    expect(page.locator("#flash")).to_contain_text("DD - Imaging PACS is open again")
    expect(page.get_by_test_id("alerts-empty")).to_contain_text("Nothing muted")
    page.get_by_role("link", name=re.compile("^Resolved")).click()
    settled(page)
    expect(row_of(page, "FL - Document store")).to_contain_text("Test Technician")
    both_widths(page, screenshots_dir, "alerts-resolved")


@pytest.fixture
def morning_with_psa(app: Flask, make_user: Any) -> Iterator[tuple[Morning, connectwise.ConnectWiseState]]:
    """The morning's workspace with ConnectWise connected (its simulator), synced and linked by name."""
    m = morning(app, make_user)
    state = connectwise.ConnectWiseState.seeded()
    for url in serve_app(connectwise.create_app(state)):
        config = connectwise_config(url)
        assert sync(app, add_connection(app, m.tenant.id, "connectwise", config)).status == "succeeded"
        with app.app_context(), db.tenant_session(m.tenant.id) as s:
            linked = s.scalar(select(CustomerLink.id).where(CustomerLink.customer_id == m.customers["Bayside Bistro"]))
            assert linked is not None, "Bayside Bistro is one of the simulator's companies"
        yield m, state


def test_open_as_ticket_on_a_critical_alert_writes_the_evidence_at_a_matching_priority(
    app: Flask,
    page: Page,
    live_server: int,
    morning_with_psa: tuple[Morning, connectwise.ConnectWiseState],
    screenshots_dir: Path,
) -> None:
    m, cw = morning_with_psa
    base = open_alerts(page, app, live_server, m)
    menu = menu_of(page, "BBX - SQL servers 04")
    expect(menu).to_contain_text("at a priority that matches its severity")
    menu.get_by_role("button", name=re.compile("^Open as ticket")).click()
    expect(page.locator("#flash")).to_contain_text("(Priority 2 - High, matching a critical alert)")
    created = max(cw.tickets.values(), key=lambda t: t.id)
    assert created.priority_id == 2 and created.summary == "Backup failed: BBX - SQL servers 04"
    body = cw.notes[created.id][0]["text"]
    alert = pid(app, "alert", alert_of(app, m.tenant.id, m.jobs["BBX - SQL servers 04"]))
    assert "Customer: Bayside Bistro" in body and "disk full on repository REPO-02" in body
    assert f"Opened from Vectis alert {base}/alerts/{alert}" in body
    page.screenshot(path=str(screenshots_dir / "alerts-ticket-opened.png"))

    # The link in the ticket opens the alert, its evidence showing, with the ticket beside its title.
    page.goto(f"{base}/alerts/{alert}")
    row = row_of(page, "BBX - SQL servers 04")
    expect(row.get_by_role("link", name=f"#{created.id}")).to_be_visible()
    expect(page.get_by_test_id("alert-detail")).to_be_visible()
    both_widths(page, screenshots_dir, "alerts-one")


def test_a_customers_alerts_tab_keeps_resolved_alerts_inside_the_customer(
    app: Flask, page: Page, live_server: int, make_user: Any, screenshots_dir: Path
) -> None:
    m = morning(app, make_user)
    bayside = pid(app, "customer", m.customers["Bayside Bistro"])
    base = open_alerts(page, app, live_server, m, f"/customers/{bayside}/alerts")
    hub = page.get_by_test_id("hub-alerts")
    expect(hub.get_by_test_id("alert-row")).to_have_count(3)
    menu_of(page, "BBX - File server").get_by_role("button", name=re.compile("^Resolve")).click()
    expect(page.locator("#flash")).to_contain_text("Resolved: BBX - File server.")
    expect(page).to_have_url(f"{base}/customers/{bayside}/alerts")
    both_widths(page, screenshots_dir, "hub-alerts-open")

    hub.get_by_role("link", name=re.compile("^Resolved")).click()
    settled(page)
    expect(page).to_have_url(f"{base}/customers/{bayside}/alerts?state=resolved")
    expect(page.get_by_role("heading", name="Bayside Bistro")).to_be_visible()
    expect(hub.get_by_test_id("alert-row")).to_have_count(1)
    expect(row_of(page, "BBX - File server")).to_contain_text("Test Technician")
    both_widths(page, screenshots_dir, "hub-alerts-resolved")
