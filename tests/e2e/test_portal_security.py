"""Portal sign-in security in the browser: a forgotten password reset from the mailed link, two-factor sign-in turned
on from Account → Security and then asked for, Admin → Sent mail's sandboxed preview (a stored <script> runs
nowhere), and the Portal users tab's invite form, aligned."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select

from jobs.mail import deliver
from tests.conftest import MadeUser, pid
from tests.e2e.test_shell import sign_in
from tests.portal_world import PASSWORD, World, branded_world, portal_user
from tests.test_portal_reset import answer_requests
from vectis.identity import mfa
from vectis.models import OutboxMail, PortalUser
from vectis.platform import db
from vectis.platform.crypto import Sealed

NEW_PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="module")
def branded(app: Flask) -> Iterator[World]:
    yield from branded_world(app, postal_address="1 Harbour Road, Bristol BS1 4AA, UK")  # a mail's footer shows it


def shot(page: Page, screenshots_dir: Path, name: str) -> None:
    page.screenshot(path=str(screenshots_dir / f"portal2-{name}.png"), full_page=True)


def newest_mail(app: Flask, where: World, email: str) -> OutboxMail:
    with app.app_context(), db.tenant_session(where.tenant.id) as s:
        mail = s.scalar(
            select(OutboxMail).where(OutboxMail.to_address == email).order_by(OutboxMail.id.desc()).limit(1)
        )
        assert mail is not None
        s.expunge(mail)
        return mail


def portal_sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_portal_user_resets_a_forgotten_password_from_the_mailed_link(
    app: Flask, page: Page, live_server: int, branded: World, screenshots_dir: Path
) -> None:
    user = portal_user(app, branded, "member")
    base = f"http://{branded.portal_host}:{live_server}"
    page.goto(f"{base}/signin")
    expect(page.get_by_text("Northstar IT")).to_be_visible()
    shot(page, screenshots_dir, "signin")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Email").fill(user.email)
    shot(page, screenshots_dir, "forgot")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_test_id("reset-sent")).to_contain_text("If that address has a portal account")
    shot(page, screenshots_dir, "forgot-sent")

    answer_requests(app)  # the mail worker makes the link
    mail = newest_mail(app, branded, user.email)  # as the mail worker reads it: the link is sealed in the row
    assert mail.link is not None
    with app.app_context():
        link = str(mail.link.open(branded.tenant.id))
    assert link.startswith(f"{base}/reset/")
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Repeat it").fill(NEW_PASSWORD)
    shot(page, screenshots_dir, "reset")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_test_id("portal-chrome")).to_contain_text(user.name)
    expect(page.locator(".flash-ok")).to_contain_text("Your new password is set")

    page.get_by_role("button", name="Sign out").click()
    page.goto(link)  # the link worked once
    expect(page.get_by_role("heading", name="Reset link not usable")).to_be_visible()
    shot(page, screenshots_dir, "reset-used")
    portal_sign_in(page, base, user.email, NEW_PASSWORD)
    expect(page.get_by_test_id("portal-chrome")).to_contain_text(user.name)


def test_a_portal_user_turns_on_two_factor_sign_in_and_is_asked_for_the_code(
    app: Flask, page: Page, live_server: int, branded: World, screenshots_dir: Path
) -> None:
    user = portal_user(app, branded, "admin")
    base = f"http://{branded.portal_host}:{live_server}"
    portal_sign_in(page, base, user.email)
    chrome = page.get_by_test_id("portal-chrome")
    chrome.get_by_role("link", name=user.name).click()
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Security").click()
    expect(page.get_by_test_id("mfa-off")).to_be_visible()
    shot(page, screenshots_dir, "security-off")

    page.get_by_test_id("turn-on-two-factor").click()
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    shot(page, screenshots_dir, "enrol")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_test_id("confirm-two-factor").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    shot(page, screenshots_dir, "recovery-codes")
    page.get_by_test_id("codes-saved").click()
    expect(page.get_by_test_id("mfa-on")).to_be_visible()
    shot(page, screenshots_dir, "security-on")

    page.get_by_role("button", name="Sign out").click()
    portal_sign_in(page, base, user.email)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Authentication code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    shot(page, screenshots_dir, "code")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(time.time() + 30))  # enrolment spent now's
    page.get_by_role("button", name="Sign in").click()
    expect(chrome).to_contain_text(user.name)


def labelled(form: Locator, name: str) -> tuple[Locator, Locator]:
    label = form.locator("label").filter(has_text=name).first
    return label, label.locator("input, select")


def test_the_portal_users_tab_lines_up_and_offers_reset_and_two_factor_actions(
    app: Flask,
    page: Page,
    live_server: int,
    branded: World,
    make_user: Callable[..., MadeUser],
    screenshots_dir: Path,
) -> None:
    person = portal_user(app, branded, "member")
    with app.app_context(), db.tenant_session(branded.tenant.id) as s:
        row = s.get(PortalUser, person.id)
        assert row is not None
        mfa.enrol(row, mfa.new_secret(), 0)
        row.last_signed_in_at = datetime.now(UTC)
    admin = make_user(branded.tenant, "admin")
    sign_in(page, app, live_server, branded.tenant.slug, admin.email)
    page.goto(f"http://{branded.tenant.host}:{live_server}/customers/{pid(app, 'customer', branded.parent)}/portal")
    form = page.get_by_test_id("portal-invite").locator("form")
    expect(form).to_be_visible()
    boxes = {name: [part.bounding_box() for part in labelled(form, name)] for name in ("Name", "Email", "Role")}
    tops = {name: round(label["y"]) for name, (label, _) in boxes.items() if label}
    controls = {name: (round(c["y"]), round(c["height"])) for name, (_, c) in boxes.items() if c}
    assert len(set(tops.values())) == 1, f"the labels do not line up: {tops}"
    assert len(set(controls.values())) == 1, f"the controls do not line up: {controls}"

    people = page.get_by_test_id("portal-users")
    mine = people.locator("tr").filter(has_text=person.email)
    expect(mine.get_by_test_id("mfa-badge")).to_have_text("On")
    expect(mine.get_by_role("button", name="Send password reset")).to_be_visible()
    expect(mine.get_by_role("button", name="Reset two-factor")).to_be_visible()
    shot(page, screenshots_dir, "hub-portal-users")
    mine.get_by_role("button", name="Send password reset").click()
    expect(page.locator(".flash-ok")).to_contain_text(f"A password reset link went to {person.email}")
    page.get_by_test_id("portal-users").locator("tr").filter(has_text=person.email).get_by_role(
        "button", name="Reset two-factor"
    ).click()
    expect(page.locator(".flash-ok")).to_contain_text(f"Two-factor sign-in is off for {person.email}")
    shot(page, screenshots_dir, "hub-portal-users-after")

    page.goto(f"http://{branded.tenant.host}:{live_server}/admin/portal")
    sign_in_card = page.get_by_test_id("portal-sign-in")
    expect(sign_in_card.get_by_label("Require two-factor sign-in for portal users")).not_to_be_checked()
    shot(page, screenshots_dir, "admin-portal")


HOSTILE = """<!doctype html><html><body style="font-family:sans-serif">
<p id="words">Quarterly maintenance: Saturday 10:00.</p>
<script>document.getElementById('words').textContent = 'PWNED';
parent.document.body.setAttribute('data-pwned', 'script');</script>
<img src="data:," alt="" onerror="document.getElementById('words').textContent = 'PWNED'">
<a href="javascript:parent.document.body.setAttribute('data-pwned','link')" id="bait">Open</a>
</body></html>"""


def test_sent_mail_shows_each_message_as_sent_in_a_sandbox_where_a_stored_script_does_not_run(
    app: Flask,
    browser: Browser,
    live_server: int,
    branded: World,
    make_user: Callable[..., MadeUser],
    screenshots_dir: Path,
) -> None:
    person = portal_user(app, branded, "viewer")
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    # Its own tab, not the ``page`` fixture's: here the policy refusing the stored mail's javascript: link is the
    # point, so each refusal is counted and must come from the preview's own route, never from a page of the app.
    refused: list[str] = []
    page.on(
        "console",
        lambda message: refused.append(message.location["url"]) if "Content Security Policy" in message.text else None,
    )
    base = f"http://{branded.portal_host}:{live_server}"
    page.goto(f"{base}/forgot")
    page.get_by_label("Email").fill(person.email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_test_id("reset-sent")).to_be_visible()
    answer_requests(app)
    sent = newest_mail(app, branded, person.email)
    with app.app_context():
        assert deliver(branded.tenant.id, sent.id) == "sent"  # the demo's way: no SMTP_URL, printed, kept as sent
    with app.app_context(), db.tenant_session(branded.tenant.id) as s:
        hostile = OutboxMail(
            tenant_id=branded.tenant.id, to_address=f"x-{uuid.uuid4().hex[:6]}@customer.test",
            subject="A stored mail with a script in it", body=Sealed.seal(branded.tenant.id, "Quarterly maintenance."),
            sent_at=datetime.now(UTC),
            sent_as=Sealed.seal(branded.tenant.id, {"text": "Quarterly maintenance.", "html": HOSTILE}),
        )  # fmt: skip
        hostile.shell = {"action_url": None, "action_label": None, "logo_url": None}
        s.add(hostile)
        s.flush()
        hostile_id = hostile.id

    admin = make_user(branded.tenant, "admin")
    sign_in(page, app, live_server, branded.tenant.slug, admin.email)
    operator = f"http://{branded.tenant.host}:{live_server}"
    page.goto(f"{operator}/admin/mail")
    page.get_by_test_id("sent-mail").get_by_role("link", name=sent.subject).first.click()
    frame = page.frame_locator("[data-testid=mail-frame]")
    expect(frame.get_by_role("link", name="Choose a new password")).to_be_visible()
    expect(page.get_by_test_id("mail-text")).to_contain_text("Choose a new password: ")
    shot(page, screenshots_dir, "sent-mail-preview")
    assert refused == []

    preview = f"{operator}/admin/mail/{pid(app, 'mail', hostile_id)}"
    page.goto(preview)
    page.wait_for_load_state("load")
    framed = frame.locator("#words")
    expect(framed).to_have_text("Quarterly maintenance: Saturday 10:00.")  # neither the script nor onerror ran
    frame.locator("#bait").click()
    page.wait_for_timeout(300)  # time enough for anything that could run to have run
    expect(framed).to_have_text("Quarterly maintenance: Saturday 10:00.")
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None
    assert page.locator("iframe[data-testid=mail-frame]").get_attribute("sandbox") == ""
    assert refused and set(refused) == {f"{preview}/html"}, refused  # the javascript: link, refused in the frame
    shot(page, screenshots_dir, "sent-mail-hostile")
    context.close()
