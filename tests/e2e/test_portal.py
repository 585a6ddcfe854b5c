"""The customer portal in the browser, on its own host: a portal user of a parent customer signs in to the branded
portal, drills into a site, submits a ticket (it lands at the ConnectWise simulator) and comments on it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.conftest import MadeUser, pid
from tests.e2e.test_shell import sign_in
from tests.portal_world import PASSWORD, World, branded_world, portal_user
from vectis.branding import mail as shell
from vectis.models import Device
from vectis.platform import db


@pytest.fixture(scope="module")
def branded(app: Flask) -> Iterator[World]:
    yield from branded_world(app)


def shot(page: Page, screenshots_dir: Path, name: str) -> None:
    page.screenshot(path=str(screenshots_dir / f"portal-{name}.png"), full_page=True)


def test_a_portal_user_submits_a_ticket_and_comments_in_the_branded_portal(
    app: Flask, page: Page, live_server: int, branded: World, screenshots_dir: Path
) -> None:
    user = portal_user(app, branded, "member")
    base = f"http://{branded.portal_host}:{live_server}"
    page.goto(f"{base}/tickets")
    expect(page).to_have_url(f"{base}/signin?next=%2Ftickets")
    expect(page.get_by_text("Northstar IT")).to_be_visible()
    shot(page, screenshots_dir, "signin")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    chrome = page.get_by_test_id("portal-chrome")
    expect(chrome).to_have_css("background-color", "rgb(15, 118, 110)")  # the MSP's accent, not Vectis's blue
    expect(chrome.get_by_role("link", name="Tickets")).to_be_visible()
    rollup = page.get_by_test_id("rollup")
    expect(rollup.locator("a")).to_have_count(3)  # the parent and its two sites
    shot(page, screenshots_dir, "tickets")

    page.get_by_test_id("new-ticket").click()
    page.get_by_label("Site").select_option(str(branded.sites[0]))
    page.get_by_label("Summary").fill("Label printer prints blank pages")
    page.get_by_label("Description").fill("Since the update this morning, every label comes out blank.")
    shot(page, screenshots_dir, "new-ticket")
    before = set(branded.state.tickets)
    page.get_by_test_id("submit-ticket").click()
    expect(page.get_by_role("heading", name="Label printer prints blank pages")).to_be_visible()
    expect(page.locator(".flash-ok")).to_contain_text("is open: Label printer prints blank pages")
    (created,) = set(branded.state.tickets) - before
    assert branded.state.tickets[created].summary == "Label printer prints blank pages"

    page.get_by_label("Comment").fill("It also happens on the second printer.")
    page.get_by_test_id("send-comment").click()
    expect(page.locator(".flash-ok")).to_contain_text(f"Your comment was added to ticket #{created}")
    expect(page.get_by_test_id("thread")).to_contain_text("It also happens on the second printer.")
    assert branded.state.notes[created][-1]["text"].startswith("It also happens on the second printer.")
    shot(page, screenshots_dir, "ticket")


def test_an_operator_invites_a_portal_user_from_the_hub_and_sees_the_branding_page(
    app: Flask,
    page: Page,
    live_server: int,
    branded: World,
    make_user: Callable[..., MadeUser],
    screenshots_dir: Path,
) -> None:
    admin = make_user(branded.tenant, "admin")
    sign_in(page, app, live_server, branded.tenant.slug, admin.email)
    page.goto(f"http://{branded.tenant.host}:{live_server}/customers/{pid(app, 'customer', branded.parent)}")
    page.get_by_role("link", name="Portal users").click()
    form = page.get_by_test_id("portal-invite")
    form.get_by_label("Name").fill("Jamie Front")
    form.get_by_label("Email").fill("jamie@customer.test")
    form.get_by_label("Role").select_option("viewer")
    form.locator("input[name=site_ids]").first.check()
    form.get_by_role("button", name="Send invitation").click()
    link = page.get_by_test_id("portal-invite-link").locator("input")
    expect(link).to_have_value(re.compile(rf"^http://{re.escape(branded.portal_host)}:{live_server}/setup/"))
    expect(page.get_by_test_id("portal-users")).to_contain_text("jamie@customer.test")
    shot(page, screenshots_dir, "hub-portal-users")

    setup = link.input_value()
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Branding").click()
    expect(page.get_by_test_id("contrast")).to_contain_text("meets WCAG AA")
    shot(page, screenshots_dir, "admin-branding")
    page.get_by_role("link", name="Portal", exact=True).click()
    expect(page.get_by_test_id("portal-customers")).to_be_visible()
    shot(page, screenshots_dir, "admin-portal")

    page.goto(setup)
    expect(page.get_by_role("heading", name="Welcome, Jamie Front")).to_be_visible()
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat it").fill(PASSWORD)
    page.get_by_role("button", name="Save and sign in").click()
    expect(page.get_by_test_id("portal-chrome")).to_contain_text("Jamie Front")
    expect(page.get_by_test_id("new-ticket")).to_have_count(0)  # a Viewer reads only
    shot(page, screenshots_dir, "viewer-tickets")


def test_the_branded_mail_shell_and_the_read_only_surfaces_look_right(
    app: Flask, page: Page, live_server: int, branded: World, screenshots_dir: Path
) -> None:
    with app.app_context(), db.tenant_session(branded.tenant.id) as s:
        brand = shell.brand_of(s, branded.tenant.id)
        now = datetime.now(UTC)
        for n, customer in enumerate([branded.parent, *branded.sites]):
            s.add(
                Device(
                    tenant_id=branded.tenant.id, connection_id=branded.setup.connection_id, customer_id=customer,
                    external_id=f"e2e-dev-{n}", name=f"FRONT-PC0{n}", os_name="Windows 11 Pro",
                    last_contact_at=now - timedelta(hours=n * 5), online=n == 0,
                )
            )  # fmt: skip
    with app.test_request_context():
        rendered = shell.render(
            brand, subject="[#48524] Label printer prints blank pages", category="digest",
            body="Hello Pat,\n\nDana at Northstar IT wrote:\n\nThe new driver is installed; try a test label.",
            links={"action_url": "http://portal.example/tickets/x", "action_label": "View the ticket",
                   "unsubscribe_url": "http://portal.example/unsubscribe/x"},
        )  # fmt: skip
    page.set_content(rendered.html)
    expect(page.get_by_role("link", name="View the ticket")).to_be_visible()
    shot(page, screenshots_dir, "mail-shell")

    user = portal_user(app, branded, "viewer")
    base = f"http://{branded.portal_host}:{live_server}"
    page.goto(f"{base}/signin")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("portal-chrome").get_by_role("link", name="Assets").click()
    expect(page.get_by_test_id("portal-assets")).to_contain_text("FRONT-PC00")
    shot(page, screenshots_dir, "assets")
