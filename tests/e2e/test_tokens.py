"""Account → Tokens in the browser: make a token, copy it from the one page that shows it, see it listed by its start,
revoke it."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from tests.conftest import TenantFixture
from tests.e2e.test_shell import sign_in


def test_a_technician_makes_copies_and_revokes_a_token(
    app: Flask, page: Page, live_server: int, acme: TenantFixture, screenshots_dir: Path
) -> None:
    sign_in(page, app, live_server, acme.slug, "tech@acme.test")
    page.goto(f"http://{acme.host}:{live_server}/account")
    page.get_by_role("link", name="Personal access tokens").click()
    expect(page.get_by_role("heading", name="Personal access tokens")).to_be_visible()
    expect(page.get_by_label("admin")).to_be_disabled()  # wider than a technician's role
    page.screenshot(path=str(screenshots_dir / "tokens.png"), full_page=True)

    page.get_by_label("Name").fill("Claude Desktop")
    page.get_by_label("write:tickets").check()
    page.get_by_role("button", name="Make token").click()
    token = page.get_by_test_id("new-token").inner_text()
    assert re.fullmatch(r"vct_pat_[0-9A-Za-z]{49}", token)
    page.screenshot(path=str(screenshots_dir / "token-made.png"))

    page.get_by_role("link", name="I have copied it").click()
    row = page.get_by_test_id("token-list").locator("tr", has_text="Claude Desktop")
    expect(row).to_contain_text(token[:16] + "…")
    expect(page.locator("body")).not_to_contain_text(token)
    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_test_id("token-list").locator("tr", has_text="Claude Desktop")).to_contain_text("Revoked")
    page.screenshot(path=str(screenshots_dir / "tokens-revoked.png"), full_page=True)

    page.goto(f"http://{acme.host}:{live_server}/api/v1/docs")
    expect(page.get_by_role("heading", name="Vectis API")).to_be_visible()
    expect(page.locator("#list_alerts")).to_contain_text("/api/v1/alerts")
    expect(page.locator("#list_alerts")).to_contain_text("one of critical, warning, info")
    expect(page.get_by_role("row", name="write:alerts Acknowledge and resolve alerts")).to_be_visible()
    page.screenshot(path=str(screenshots_dir / "api-docs.png"), full_page=True)
