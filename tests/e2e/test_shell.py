"""A newcomer opens the demo, signs in and finds their way around the shell."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from tests.conftest import forget_used_codes, totp_code
from vectis.demo.seed import DEMO_PASSWORD


def sign_in(page: Page, app: Flask, port: int, slug: str, email: str) -> None:
    page.goto(f"http://{slug}.localhost:{port}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    forget_used_codes(app)
    page.get_by_label("Authentication code").fill(totp_code(email))
    page.get_by_role("button", name="Sign in").click()


def test_it_signs_in_and_shows_the_shell(app: Flask, page: Page, live_server: int, screenshots_dir: Path) -> None:
    page.goto(f"http://acme.localhost:{live_server}/")
    page.screenshot(path=str(screenshots_dir / "signin.png"))
    sign_in(page, app, live_server, "acme", "admin@acme.test")

    nav = page.get_by_role("navigation", name="Main")
    for label in ("Customers", "Timeline", "Alerts", "Rules", "Admin"):
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    expect(page.locator(".brand")).to_contain_text("Acme IT Services")
    page.screenshot(path=str(screenshots_dir / "customers-empty.png"))

    nav.get_by_role("link", name="Admin").click()
    expect(page.locator("#users-table")).to_contain_text("tech@acme.test")
    expect(page.locator("#users-table")).not_to_contain_text("northwind")
    page.screenshot(path=str(screenshots_dir / "admin-users.png"))

    page.get_by_role("link", name="Taylor Tech").click()
    expect(page.get_by_role("heading", name="Taylor Tech")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()


def test_it_keeps_a_technician_out_of_admin(app: Flask, page: Page, live_server: int) -> None:
    sign_in(page, app, live_server, "acme", "tech@acme.test")
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")).to_have_count(0)
    page.goto(f"http://acme.localhost:{live_server}/admin/users")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_it_shows_an_unknown_workspace_page(page: Page, live_server: int, screenshots_dir: Path) -> None:
    response = page.goto(f"http://nowhere.localhost:{live_server}/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Unknown workspace")).to_be_visible()
    page.screenshot(path=str(screenshots_dir / "unknown-workspace.png"))
