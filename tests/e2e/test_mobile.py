"""On a phone (390 px wide): the navigation folds away behind a Menu button and every main screen reflows,
so nothing scrolls sideways and nothing is cut off."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, ViewportSize, expect
from sqlalchemy import delete, select

from tests.conftest import TenantFixture, a_rule, pid
from tests.device_world import aldridge_devices
from tests.e2e.test_shell import sign_in
from vectis.models import Rule, Ticket
from vectis.platform import db
from vectis.query import examples, form

PHONE: ViewportSize = {"width": 390, "height": 844}


def overflow(page: Page) -> list[str]:
    """What on the page is wider than the phone (so the page would scroll sideways): empty when it fits."""
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && e.getClientRects().length)
             .filter(e => !e.closest('pre, [hidden], thead, .sr-only'))
             .slice(0, 3).map(e => e.tagName.toLowerCase() + '.' + e.className + ': ' + (e.textContent || '').trim().slice(0, 40))"""
    )
    return [] if width <= PHONE["width"] and not wide else [f"{page.url}: {width} px wide; {wide}"]


def test_the_navigation_folds_behind_a_menu_button(
    app: Flask, page: Page, live_server: int, northwind: TenantFixture, screenshots_dir: Path
) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name="Menu")
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    expect(nav).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    assert overflow(page) == []
    page.screenshot(path=str(screenshots_dir / "mobile-shell.png"))

    menu.click()
    expect(nav).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.screenshot(path=str(screenshots_dir / "mobile-menu-open.png"))
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()

    menu.click()
    nav.get_by_role("link", name="Timeline").click()
    expect(page.get_by_role("heading", name="Timeline", exact=True)).to_be_visible()
    expect(nav).to_be_hidden()  # a new page starts with the menu folded

    page.set_viewport_size({"width": 1360, "height": 860})  # on a desktop the sidebar is always there
    expect(nav).to_be_visible()
    expect(menu).to_be_hidden()


def test_every_main_screen_reflows_at_390_px(
    app: Flask, page: Page, live_server: int, northwind: TenantFixture, synced_northwind: None, screenshots_dir: Path
) -> None:
    rule_id = a_rule(app, northwind.id)  # the rule list and a rule's page have something to lay out
    _, devices = aldridge_devices(app, northwind.id)  # the Devices tab and a device's page too
    page.set_viewport_size(PHONE)
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    base = f"http://northwind.localhost:{live_server}"
    expect(page.get_by_test_id("customer-row").first).to_be_visible()
    problems = overflow(page)
    page.screenshot(path=str(screenshots_dir / "mobile-customers.png"), full_page=True)

    page.get_by_test_id("customer-row").filter(has_text="Aldridge").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Aldridge")
    hub = re.sub(r"(/customers/cus_[0-9a-z]{13}).*$", r"\1", page.url)
    for tab in ("backups", "tickets", "timeline", "alerts", "devices", "portal"):
        page.goto(f"{hub}/{tab}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Aldridge")
        problems += overflow(page)
        page.screenshot(path=str(screenshots_dir / f"mobile-hub-{tab}.png"), full_page=True)

    with app.app_context(), db.tenant_session(northwind.id) as s:
        ticket_id = s.scalars(select(Ticket.id).limit(1)).one()
    ticket_path = f"/tickets/{pid(app, 'ticket', ticket_id)}"
    screens = {
        "tickets": "/tickets",
        "ticket": ticket_path,
        "device": f"/devices/{pid(app, 'device', devices['FS01'])}",
        "timeline": "/timeline",
        "alerts": "/alerts",
        "rules": "/rules",
        "rule-new": "/rules/new",
        "queries": "/queries",
        "query": f"/queries/new?q={form.encode(examples.RENEWALS_WITH_FAILING_BACKUPS)}",
        "integrations": "/admin/integrations",
        "users": "/admin/users",
        "matching": "/admin/matching",
        "retention": "/admin/retention",
        "audit": "/admin/audit",
        "portal-settings": "/admin/portal",
        "sent-mail": "/admin/mail",
        "account": "/account",
        "tokens": "/account/tokens",
    }
    for name, path in screens.items():
        response = page.goto(base + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        expect(page.locator("main h1").first).to_be_visible()
        problems += overflow(page)
        page.screenshot(path=str(screenshots_dir / f"mobile-{name}.png"), full_page=True)
    page.goto(base + "/rules")
    page.get_by_test_id("rule-list").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/rules/rul_"))
    problems += overflow(page)
    page.screenshot(path=str(screenshots_dir / "mobile-rule.png"), full_page=True)
    with app.app_context(), db.system_session() as s:
        s.execute(delete(Rule).where(Rule.id == rule_id))
    assert problems == []
