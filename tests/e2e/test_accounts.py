"""Accounts in the browser: first sign-in with MFA enrolment, recovery codes, invites, the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pyotp
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import update

from tests.conftest import MadeUser, TenantFixture, pid
from tests.e2e.test_shell import sign_in
from vectis.demo.seed import DEMO_PASSWORD
from vectis.models import User
from vectis.platform import db


def password_step(page: Page, port: int, email: str) -> None:
    page.goto(f"http://acme.localhost:{port}/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Continue").click()


def test_it_enrols_mfa_at_first_sign_in_and_accepts_a_recovery_code_once(
    page: Page, live_server: int, acme: TenantFixture, make_user: Callable[..., MadeUser], screenshots_dir: Path
) -> None:
    user = make_user(acme, "technician", enrolled=False)
    password_step(page, live_server, user.email)

    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    page.screenshot(path=str(screenshots_dir / "mfa-enrol.png"))
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and continue").click()

    codes = page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    page.screenshot(path=str(screenshots_dir / "mfa-recovery-codes.png"))
    page.get_by_role("link", name="I've saved them, continue").click()
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    # The second sign-in asks for a code; a recovery code works instead, once.
    password_step(page, live_server, user.email)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.screenshot(path=str(screenshots_dir / "mfa-code.png"))
    page.get_by_role("link", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    password_step(page, live_server, user.email)
    page.get_by_role("link", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("used before")


def test_an_admin_invites_a_user_and_reads_it_in_the_audit_log(
    app: Flask, page: Page, live_server: int, screenshots_dir: Path
) -> None:
    sign_in(page, app, live_server, "acme", "admin@acme.test")
    page.goto(f"http://acme.localhost:{live_server}/admin/users")
    page.get_by_label("Name").fill("Morgan Field")
    page.get_by_label("Email").fill("morgan.field@acme.test")
    page.get_by_label("Role").select_option("technician")
    page.get_by_role("button", name="Send invite").click()
    expect(page.get_by_test_id("invite-link").locator("input")).to_have_value(
        re.compile(r"^http://acme\.localhost:\d+/invite/")
    )
    expect(page.locator("#users-table")).to_contain_text("morgan.field@acme.test")
    page.screenshot(path=str(screenshots_dir / "admin-users-invited.png"), full_page=True)

    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("#audit-results")).to_contain_text("user.invite")
    page.wait_for_load_state("load")  # htmx is deferred: a change before it loads would go unheard
    page.get_by_label("Action").select_option("user.invite")
    expect(page).to_have_url(re.compile(r"action=user\.invite"))
    rows = page.locator("tr.audit-row")
    expect(rows.first).to_contain_text("morgan.field@acme.test")
    rows.first.get_by_role("button", name="Details").click()
    expect(page.locator("tr.audit-detail").first.locator("pre.json")).to_contain_text('"role": "technician"')
    page.screenshot(path=str(screenshots_dir / "admin-audit.png"), full_page=True)
    page.reload()  # the filter survives a reload: it lives in the URL
    expect(page.get_by_label("Action")).to_have_value("user.invite")


def test_the_account_page_changes_the_password_with_clear_errors(
    app: Flask,
    page: Page,
    live_server: int,
    acme: TenantFixture,
    make_user: Callable[..., MadeUser],
    screenshots_dir: Path,
) -> None:
    user = make_user(acme, "read_only")
    sign_in(page, app, live_server, "acme", user.email)
    page.get_by_role("link", name="Your account").click()
    page.get_by_label("Current password").fill("wrong one")
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("Repeat new password").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#flash .flash-error")).to_have_text("Your current password is not right.")
    page.screenshot(path=str(screenshots_dir / "account.png"), full_page=True)


def test_an_admin_changes_a_role_and_deactivates_a_user(
    app: Flask,
    page: Page,
    live_server: int,
    acme: TenantFixture,
    make_user: Callable[..., MadeUser],
    screenshots_dir: Path,
) -> None:
    user = make_user(acme, "technician")
    with app.app_context(), db.system_session() as s:  # a name that would break naive JavaScript quoting
        s.execute(update(User).where(User.id == user.id).values(name="Pat O'Neil"))
    sign_in(page, app, live_server, "acme", "admin@acme.test")
    page.goto(f"http://acme.localhost:{live_server}/admin/users/{pid(app, 'user', user.id)}")
    page.get_by_label("Role").select_option("read_only")
    page.get_by_role("button", name="Change role").click()
    expect(page.locator("#flash")).to_contain_text("Pat O'Neil is now Read-only.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator("#flash")).to_contain_text("Pat O'Neil is deactivated")
    expect(page.get_by_role("button", name="Reactivate")).to_be_visible()
    page.screenshot(path=str(screenshots_dir / "admin-user.png"), full_page=True)


def test_an_admin_changes_data_retention_with_a_clear_error_out_of_range(
    app: Flask, page: Page, live_server: int, screenshots_dir: Path
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/admin/users")
    page.get_by_role("link", name="Data retention").click()
    expect(page.get_by_role("heading", name="Data retention")).to_be_visible()
    field = page.get_by_label("Vendor callbacks refused: days to keep")
    expect(field).to_have_value("7")
    field.evaluate("input => input.removeAttribute('max')")  # what a hand-made request could send
    field.fill("400")
    page.get_by_role("button", name="Save retention").click()
    expect(page.get_by_role("alert")).to_contain_text("Vendor callbacks refused: keep them between 1 and 90 days.")
    page.get_by_label("Vendor callbacks refused: days to keep").fill("14")
    page.get_by_role("button", name="Save retention").click()
    expect(page.get_by_text("Retention saved.")).to_be_visible()
    expect(page.get_by_label("Vendor callbacks refused: days to keep")).to_have_value("14")
    page.screenshot(path=str(screenshots_dir / "admin-retention.png"), full_page=True)


def test_regenerating_recovery_codes_shows_the_new_codes_and_says_the_other_sessions_are_signed_out(
    app: Flask,
    page: Page,
    live_server: int,
    acme: TenantFixture,
    make_user: Callable[..., MadeUser],
    screenshots_dir: Path,
) -> None:
    user = make_user(acme, "technician")
    sign_in(page, app, live_server, acme.slug, user.email)
    page.goto(f"http://acme.localhost:{live_server}/account")
    page.get_by_label("Your password, to confirm it is you").fill(DEMO_PASSWORD)
    page.get_by_role("button", name=re.compile("recovery codes$")).click()  # "Make …" for a user who has none yet
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    expect(page.get_by_text("Your other sessions are signed out.")).to_be_visible()
    assert page.get_by_test_id("recovery-codes").locator("code").count() == 10
    page.screenshot(path=str(screenshots_dir / "account-new-recovery-codes.png"), full_page=True)
