"""Signing in: password, then TOTP (or a recovery code, or enrolment); lockouts; sessions; invites."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select, update

from tests.conftest import HostClient, MadeUser, TenantFixture, client_for, csrf_token, forget_used_codes, login, pid
from vectis import create_app
from vectis.demo.seed import DEMO_PASSWORD, demo_totp_secret
from vectis.identity import mfa
from vectis.identity.auth import SIGN_IN_FAILED
from vectis.models import AuditEntry, Invite, User
from vectis.platform import db
from vectis.platform.config import Settings
from vectis.platform.queues import redis
from vectis.platform.redirects import safe_next


def password(
    client: HostClient, email: str, secret: str = DEMO_PASSWORD, headers: dict[str, str] | None = None
) -> tuple[int, str, str]:
    response = client.post(
        "/signin", data={"email": email, "password": secret, "csrf_token": csrf_token(client)}, headers=headers
    )
    return response.status_code, response.headers.get("Location", ""), response.get_data(as_text=True)


def _message(page: str) -> str:
    found = re.search(r'class="flash[^"]*"[^>]*>([^<]+)<', page)
    return found.group(1).strip() if found else page


def code(client: HostClient, value: str, path: str = "/signin/mfa") -> tuple[int, str, str]:
    response = client.post(path, data={"code": value, "csrf_token": csrf_token(client, path)})
    return response.status_code, response.headers.get("Location", ""), response.get_data(as_text=True)


def audit_actions(app: Flask, tenant: TenantFixture, target_label: str) -> list[tuple[str, str]]:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.result)
            .where(AuditEntry.target_label == target_label)
            .order_by(AuditEntry.seq)
        ).all()
    return [(a, r) for a, r in rows]


def test_it_asks_for_a_code_after_the_password_and_signs_in_with_it(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    user = make_user(acme)
    client = client_for(app, acme)
    assert password(client, user.email)[:2] == (302, "/signin/mfa")
    assert client.get("/customers").status_code == 302  # half-way signed in is not signed in
    assert code(client, pyotp.TOTP(demo_totp_secret(user.email)).now())[:2] == (302, "/")
    assert client.get("/customers").status_code == 200
    assert audit_actions(app, acme, user.email) == [("auth.sign_in", "ok")]


def test_it_accepts_the_previous_and_next_step_and_nothing_older(acme: TenantFixture) -> None:
    secret = pyotp.random_base32()
    totp, now = pyotp.TOTP(secret), time.time()
    step = int(now // 30)
    assert mfa.matching_step(secret, totp.at(now - 30), now=now) == step - 1
    assert mfa.matching_step(secret, totp.at(now + 30), now=now) == step + 1
    assert mfa.matching_step(secret, totp.at(now - 60), now=now) is None
    assert mfa.matching_step(secret, totp.at(now + 60), now=now) is None
    assert mfa.matching_step(secret, totp.at(now), after_step=step, now=now) is None  # spent


def test_it_does_not_accept_the_same_code_twice(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    user = make_user(acme)
    current = pyotp.TOTP(demo_totp_secret(user.email)).now()
    first, second = client_for(app, acme), client_for(app, acme)
    password(first, user.email)
    assert code(first, current)[0] == 302
    password(second, user.email)
    status, _, body = code(second, current)
    assert status == 401 and "That code is not right" in body


def test_it_gives_wrong_password_and_unknown_email_the_same_answer_and_time(app: Flask, acme: TenantFixture) -> None:
    client = client_for(app, acme)
    timings: dict[str, list[float]] = {"wrong password": [], "unknown email": []}
    for _ in range(2):
        for kind, email in (("wrong password", "viewer@acme.test"), ("unknown email", "nobody-at-all@acme.test")):
            started = time.perf_counter()
            status, _, body = password(client, email, "not-the-password")
            timings[kind].append(time.perf_counter() - started)
            assert status == 401 and SIGN_IN_FAILED in body
    ratio = min(timings["wrong password"]) / min(timings["unknown email"])
    assert 0.5 < ratio < 2.0, timings  # both pay for one bcrypt check
    with app.app_context():
        for key in redis().scan_iter("vectis:attempts:signin:*"):
            redis().delete(key)


def test_it_locks_an_account_at_one_address_after_five_failures_and_no_one_else(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    victim, bystander = make_user(acme), make_user(acme)
    client = client_for(app, acme)
    for _ in range(4):
        assert SIGN_IN_FAILED in password(client, victim.email, "wrong")[2]
    status, _, body = password(client, victim.email, "wrong")
    assert status == 401 and re.search(r"Too many attempts\. Try again at \d\d:\d\d UTC\.", body)
    assert "Too many attempts" in password(client, victim.email)[2]  # even the right password waits
    assert password(client_for(app, acme), bystander.email)[:2] == (302, "/signin/mfa")
    actions = audit_actions(app, acme, victim.email)
    assert ("auth.lockout", "blocked") in actions and actions.count(("auth.sign_in", "failed")) == 5
    assert actions[-1] == ("auth.sign_in", "blocked")


def test_five_anonymous_guesses_from_elsewhere_do_not_lock_the_owner_out(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    """Issue 15, finding 7: five requests from anywhere locked any known email for 15 minutes."""
    victim = make_user(acme)
    guesser = client_for(app, acme, address="203.0.113.7")
    for _ in range(5):
        password(guesser, victim.email, "guess")
    assert "Too many attempts" in password(guesser, victim.email, "guess")[2]  # the guesser is stopped
    assert password(client_for(app, acme), victim.email)[:2] == (302, "/signin/mfa")  # the owner is not


def test_it_locks_an_address_that_sprays_many_accounts(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    sprayer, victim = "203.0.113.66", make_user(acme)
    for n in range(30):  # a few per account: never five on one
        password(client_for(app, acme, address=sprayer), f"guess-{n // 3}@acme.test", "Winter2026!")
    status, _, body = password(client_for(app, acme, address=sprayer), victim.email)
    assert status == 401 and re.search(
        r"Too many failed sign-ins from your network\. Try again at \d\d:\d\d UTC\.", body
    )
    assert password(client_for(app, acme), victim.email)[:2] == (302, "/signin/mfa")  # other addresses sign in


def test_it_slows_an_account_guessed_from_many_addresses_but_never_locks_it(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    victim = make_user(acme)
    for n in range(10):  # ten addresses, one guess each: no pair and no address reaches its limit
        assert SIGN_IN_FAILED in password(client_for(app, acme, address=f"198.51.100.{n + 1}"), victim.email, "x")[2]
    status, _, body = password(client_for(app, acme), victim.email)  # the owner, from an eleventh address
    found = re.search(r"This account has had many failed sign-ins\. Wait (\d+) seconds and try again\.", body)
    assert status == 401 and found and 1 <= int(found.group(1)) <= 30
    actions = audit_actions(app, acme, victim.email)
    assert actions[-1] == ("auth.sign_in", "blocked") and ("auth.lockout", "blocked") not in actions
    with app.app_context():  # 30 seconds later (the bucket refilled): the owner is in
        redis().hset(f"vectis:bucket:signin-account:{acme.id}:{victim.email}", "at", time.time() - 31)
    assert password(client_for(app, acme), victim.email)[:2] == (302, "/signin/mfa")


def test_it_trusts_x_forwarded_for_only_behind_as_many_proxies_as_configured(
    app: Flask, settings: Settings, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    victim = make_user(acme)
    direct = client_for(app, acme, address="203.0.113.90")
    for n in range(5):  # a client cannot dodge its limit by claiming other addresses
        password(direct, victim.email, "x", headers={"X-Forwarded-For": f"192.0.2.{n}"})
    assert "Too many attempts" in password(direct, victim.email, "x", headers={"X-Forwarded-For": "192.0.2.99"})[2]

    proxied = create_app(settings=replace(settings, proxy_hops=1))
    try:  # behind one proxy, the address it saw is the client's: another office is not locked out
        proxy = client_for(proxied, acme, address="203.0.113.90")
        assert password(proxy, victim.email, headers={"X-Forwarded-For": "192.0.2.200"})[:2] == (302, "/signin/mfa")
    finally:
        proxied.extensions["vectis.platform.db"].dispose()


def test_it_marks_what_an_anonymous_visitor_typed_as_untrusted_in_the_audit_log(
    app: Flask, acme: TenantFixture
) -> None:
    typed = "admin@acme.test\r\n\u202eALL CLEAR: audit verified " + "x" * 500
    password(client_for(app, acme), typed, "nope")
    with app.app_context(), db.tenant_session(acme.id) as s:
        entry = s.execute(
            select(AuditEntry.actor_type, AuditEntry.actor_label, AuditEntry.target_label, AuditEntry.payload)
            .where(AuditEntry.action == "auth.sign_in")
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).one()
    assert entry.actor_type == "anonymous" and entry.payload["untrusted"] == ["actor_label", "target_label"]
    for label in (entry.actor_label, entry.target_label):
        assert len(label) == 80 and label.endswith("…") and "\r" not in label and "\u202e" not in label
    page = login(app, acme).get("/admin/audit?action=auth.sign_in").get_data(as_text=True)
    assert "unverified</span>" in page


def test_it_locks_only_that_account_after_five_wrong_codes(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    victim, bystander = make_user(acme), make_user(acme)
    client = client_for(app, acme)
    password(client, victim.email)
    for _ in range(4):
        assert "That code is not right" in code(client, "000000")[2]
    status, _, body = code(client, "000000")
    assert status == 401 and "Too many wrong codes. This account is locked until" in body
    assert "locked" in code(client, pyotp.TOTP(demo_totp_secret(victim.email)).now())[2]
    assert "locked" in password(client_for(app, acme), victim.email)[2]  # a new session does not help
    # Issue 15, finding 7: the right and a wrong password get the very same answer while it is locked.
    right, wrong = password(client_for(app, acme), victim.email), password(client_for(app, acme), victim.email, "nope")
    assert right[:2] == wrong[:2] and _message(right[2]) == _message(wrong[2])
    other = client_for(app, acme)
    password(other, bystander.email)
    assert code(other, pyotp.TOTP(demo_totp_secret(bystander.email)).now())[0] == 302
    assert ("auth.lockout", "blocked") in audit_actions(app, acme, victim.email)


def test_it_signs_in_with_a_recovery_code_once(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    user = make_user(acme)
    with app.app_context(), db.tenant_session(acme.id) as s:
        row = s.get(User, user.id)
        assert row is not None
        codes = mfa.replace_recovery_codes(s, row)
    first = client_for(app, acme)
    password(first, user.email)
    assert code(first, codes[3].upper(), "/signin/recovery")[:2] == (302, "/")
    second = client_for(app, acme)
    password(second, user.email)
    status, _, body = code(second, codes[3], "/signin/recovery")
    assert status == 401 and "used before" in body
    assert ("auth.recovery_code_used", "ok") in audit_actions(app, acme, user.email)


def test_it_ends_the_session_on_sign_out_for_every_copy_of_the_cookie(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme, "viewer@acme.test")
    cookie = client.get_cookie("vectis_session", domain="acme.localhost")
    assert cookie is not None
    copy = client_for(app, acme)
    copy.set_cookie("vectis_session", cookie.value, domain="acme.localhost")
    assert copy.get("/customers").status_code == 200
    client.post("/signout", data={"csrf_token": csrf_token(client, "/customers")})
    assert copy.get("/customers").status_code == 302


def test_it_rotates_the_session_id_at_sign_in(app: Flask, acme: TenantFixture) -> None:
    client = client_for(app, acme)
    client.get("/signin")
    before = client.get_cookie("vectis_session", domain="acme.localhost")
    password(client, "viewer@acme.test")
    forget_used_codes(app)
    code(client, pyotp.TOTP(demo_totp_secret("viewer@acme.test")).now())
    after = client.get_cookie("vectis_session", domain="acme.localhost")
    assert before is not None and after is not None and before.value != after.value


def test_it_expires_sessions_after_eight_hours_without_activity(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme, "viewer@acme.test")
    cookie = client.get_cookie("vectis_session", domain="acme.localhost")
    assert cookie is not None and cookie.expires is not None
    assert timedelta(hours=7, minutes=59) < cookie.expires - datetime.now(UTC) <= timedelta(hours=8)
    with app.app_context():
        keys = list(redis().scan_iter("vectis:session:*"))
        assert keys and all(0 < redis().ttl(k) <= 8 * 3600 for k in keys)


def test_an_unchanged_session_slides_its_eight_hours_once_a_minute_not_on_every_request(
    app: Flask, acme: TenantFixture
) -> None:
    """Writing the session back on every request cost a Redis round trip a page (vectis.identity.sessions)."""
    client = login(app, acme, "viewer@acme.test")
    cookie = client.get_cookie("vectis_session", domain="acme.localhost")
    assert cookie is not None
    key = f"vectis:session:{cookie.value}"
    with app.app_context():
        assert client.get("/customers").status_code == 200
        redis().expire(key, 1000)  # as if the session had gone untouched for most of its 8 hours
        assert client.get("/customers").status_code == 200
        assert 0 < redis().ttl(key) <= 1000  # refreshed under a minute ago: not written again

        interface = app.session_interface
        stored = interface.serializer.decode(redis().get(key))  # type: ignore[attr-defined]
        stored["_refreshed"] -= 61  # the last refresh over a minute ago
        redis().set(key, interface.serializer.encode(stored), ex=1000)  # type: ignore[attr-defined]
        assert client.get("/customers").status_code == 200
        assert redis().ttl(key) > 8 * 3600 - 60  # the window slid: 8 hours from now again


def test_it_signs_out_a_deactivated_user_at_once(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    user = make_user(acme)
    client = login(app, acme, user.email)
    assert client.get("/customers").status_code == 200
    with app.app_context(), db.system_session() as s:
        s.execute(update(User).where(User.id == user.id).values(is_active=False))
    assert client.get("/customers").status_code == 302


def test_it_sends_a_tenant_a_session_to_sign_in_on_tenant_b(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    acme_client = login(app, acme)
    cookie = acme_client.get_cookie("vectis_session", domain="acme.localhost")
    assert cookie is not None
    thief = client_for(app, northwind)
    thief.set_cookie("vectis_session", cookie.value, domain="northwind.localhost")
    assert thief.get("/customers").status_code == 302
    assert thief.get("/customers", headers={"HX-Request": "true"}).status_code == 401


def _invite(app: Flask, acme: TenantFixture) -> tuple[str, str]:
    admin = login(app, acme)
    email = f"new-{time.time_ns()}@acme.test"
    response = admin.post(
        "/admin/users",
        data={
            "email": email,
            "name": "New Person",
            "role": "technician",
            "csrf_token": csrf_token(admin, "/admin/users"),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    link = re.search(r'value="(http://acme\.localhost/invite/[^"]+)"', response.get_data(as_text=True))
    assert link, "the admin sees the setup link"
    return email, link.group(1).removeprefix("http://acme.localhost")


def test_it_walks_an_invited_user_through_password_and_enrolment(app: Flask, acme: TenantFixture) -> None:
    _, path = _invite(app, acme)
    client = client_for(app, acme)
    page = client.get(path)
    assert page.status_code == 200 and "Welcome, New Person" in page.get_data(as_text=True)
    short = client.post(
        path, data={"password": "short", "confirm_password": "short", "csrf_token": csrf_token(client, path)}
    )
    assert short.status_code == 422 and "at least 12 characters" in short.get_data(as_text=True)
    done = client.post(
        path,
        data={
            "password": "correct horse battery",
            "confirm_password": "correct horse battery",
            "csrf_token": csrf_token(client, path),
        },
    )
    assert done.headers["Location"] == "/signin/enrol"
    enrol_page = client.get("/signin/enrol").get_data(as_text=True)
    assert "<svg" in enrol_page
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', enrol_page)
    assert secret
    shown = client.post(
        "/signin/enrol",
        data={"code": pyotp.TOTP(secret.group(1)).now(), "csrf_token": csrf_token(client, "/signin/enrol")},
    )
    codes = re.findall(r"<li><code>([a-z2-9]{4}(?:-[a-z2-9]{4}){3})</code></li>", shown.get_data(as_text=True))
    assert len(codes) == 10
    assert client.get("/customers").status_code == 200
    assert client.get(path).status_code == 410  # the link worked once
    assert "already been used" in client.get(path).get_data(as_text=True)


def test_it_says_when_an_invite_link_has_expired(app: Flask, acme: TenantFixture) -> None:
    _, path = _invite(app, acme)
    with app.app_context(), db.system_session() as s:
        s.execute(
            update(Invite).where(Invite.used_at.is_(None)).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    response = client_for(app, acme).get(path)
    body = response.get_data(as_text=True)
    assert response.status_code == 410 and "has expired" in body and "new invite" in body
    assert client_for(app, acme).get("/invite/not-a-real-token").status_code == 404


def test_it_shows_the_current_code_in_demo_mode_only(app: Flask, settings: Settings, acme: TenantFixture) -> None:
    client = client_for(app, acme)
    password(client, "viewer@acme.test")
    assert "demo-code" not in client.get("/signin/mfa").get_data(as_text=True)

    demo = create_app(settings=replace(settings, mode="demo"))
    client = client_for(demo, acme)
    password(client, "viewer@acme.test")
    page = client.get("/signin/mfa").get_data(as_text=True)
    shown = re.search(r'class="demo-code">(\d{6})<', page)
    assert shown and shown.group(1) in {
        pyotp.TOTP(demo_totp_secret("viewer@acme.test")).at(time.time() + d) for d in (-30, 0, 30)
    }
    demo.extensions["vectis.platform.db"].dispose()


def test_a_reactivated_user_must_sign_in_again(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    user = make_user(acme)
    client = login(app, acme, user.email)
    admin = login(app, acme)
    token = csrf_token(admin, f"/admin/users/{pid(app, 'user', user.id)}")
    admin.post(f"/admin/users/{pid(app, 'user', user.id)}/deactivate", data={"csrf_token": token})
    admin.post(f"/admin/users/{pid(app, 'user', user.id)}/reactivate", data={"csrf_token": token})
    assert client.get("/customers").status_code == 302  # the session from before the deactivation stays dead


def test_a_password_change_signs_out_the_other_sessions_only(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    user = make_user(acme)
    here, elsewhere = login(app, acme, user.email), login(app, acme, user.email)
    response = here.post(
        "/account/password",
        data={
            "current_password": DEMO_PASSWORD,
            "new_password": "a fresh long passphrase",
            "confirm_password": "a fresh long passphrase",
            "csrf_token": csrf_token(here, "/account/"),
        },
    )
    assert response.status_code == 302
    assert here.get("/customers").status_code == 200
    assert elsewhere.get("/customers").status_code == 302


def test_new_recovery_codes_sign_out_the_other_sessions_only(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    """New recovery codes replace a way into the account, as a new password does: whoever holds another session
    (perhaps through a leaked code) is out; the person making them carries on."""
    user = make_user(acme)
    here, elsewhere = login(app, acme, user.email), login(app, acme, user.email)
    made = here.post(
        "/account/recovery-codes", data={"current_password": DEMO_PASSWORD, "csrf_token": csrf_token(here, "/account/")}
    )
    assert made.status_code == 200
    assert elsewhere.get("/customers").status_code == 302
    assert here.get("/customers").status_code == 200
    assert "Your other sessions are signed out." in made.get_data(as_text=True)
    with app.app_context(), db.tenant_session(acme.id) as s:
        row = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "account.regenerate_recovery_codes", AuditEntry.actor_id == str(user.id))
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert row is not None and row.result == "ok" and row.payload["response"]["signed_out_elsewhere"] is True


@pytest.mark.parametrize("target", ["/\\evil.example", "//evil.example", "https://evil.example/", "/ok\x00"])
def test_it_never_redirects_off_site_after_sign_in(target: str) -> None:

    assert safe_next(target) is None
    assert safe_next("/admin/users?x=1") == "/admin/users?x=1"


def test_new_recovery_codes_need_the_current_password(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    """Issue 15, finding 7: an open tab alone must not be enough to mint a way into the account."""
    user = make_user(acme)
    client = login(app, acme, user.email)
    token = csrf_token(client, "/account/")
    refused = client.post("/account/recovery-codes", data={"csrf_token": token})
    assert refused.status_code == 302
    assert "Enter your current password" in client.get("/account/").get_data(as_text=True)
    made = client.post("/account/recovery-codes", data={"csrf_token": token, "current_password": DEMO_PASSWORD})
    assert made.status_code == 200 and "recovery" in made.get_data(as_text=True).lower()
