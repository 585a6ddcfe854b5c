"""Two-factor sign-in for portal users (TOTP, the operators' code in vectis/identity/mfa.py): turned on from the
portal's Security page with recovery codes shown once; sign-in then asks for a code, locks after five wrong ones;
a workspace can require it (enrolment right after the password); an operator resets it from Portal users."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select, update

from tests.conftest import HostClient, MadeUser, csrf_token, login, pid
from tests.portal_world import PASSWORD, World, portal_client, portal_login, portal_user, world
from tests.test_portal import audit_rows, text_of
from tests.test_portal_reset import NEW_PASSWORD, ask, choose, reset_link
from vectis.identity import mfa
from vectis.models import PortalRecoveryCode, PortalSettings, PortalUser
from vectis.platform import db


@pytest.fixture(scope="module")
def alpha(app: Flask) -> Iterator[World]:
    yield from world(app)


@pytest.fixture(scope="module")
def strict(app: Flask) -> Iterator[World]:
    """A workspace that will require two-factor sign-in of every portal user."""
    yield from world(app)


def later_code(secret: str, steps: int = 1) -> str:
    """A code of a later time step: the one that enrolled or signed in is spent (a code works once)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def enrolled(app: Flask, where: World, role: str = "member") -> tuple[PortalUser, str]:
    """A portal user with a password and two-factor sign-in on, and their secret."""
    user = portal_user(app, where, role)
    secret = mfa.new_secret()
    with app.app_context(), db.tenant_session(where.tenant.id) as s:
        row = s.get(PortalUser, user.id)
        assert row is not None
        mfa.enrol(row, secret, 0)
        mfa.replace_recovery_codes(s, row)
    return user, secret


def password_step(app: Flask, where: World, email: str, password: str = PASSWORD) -> tuple[HostClient, str]:
    client = portal_client(app, where.portal_host)
    response = client.post(
        "/signin", data={"email": email, "password": password, "csrf_token": csrf_token(client, "/signin")}
    )
    return client, response.headers.get("Location", "") if response.status_code == 302 else response.get_data(
        as_text=True
    )


def send_code(client: HostClient, code: str, path: str = "/signin/code") -> tuple[int, str]:
    response = client.post(path, data={"code": code, "csrf_token": csrf_token(client, path)})
    return response.status_code, response.headers.get("Location", "") or text_of(response.get_data(as_text=True))


def test_a_user_turns_on_two_factor_and_sign_in_then_asks_for_a_code(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha)
    client = portal_login(app, alpha, user)
    security = text_of(client.get("/account/security").get_data(as_text=True))
    assert "Two-factor sign-in" in security and 'data-testid="mfa-off"' in security
    page = client.get("/account/security/two-factor").get_data(as_text=True)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page)
    assert secret is not None and "<svg" in page
    secret_text = secret.group(1)
    status, said = send_code(client, "000000", "/account/security/two-factor")
    assert status == 422 and "That code is not right" in said
    status, said = send_code(client, pyotp.TOTP(secret_text).now(), "/account/security/two-factor")
    assert status == 200 and "Save your recovery codes" in said
    codes = re.findall(r"<code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code>", said)
    assert len(codes) == 10
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        row = s.get(PortalUser, user.id)
        assert row is not None and row.totp_secret is not None and row.mfa_enrolled_at is not None
        assert row.totp_secret.open(alpha.tenant.id) == secret_text
        raw = s.scalar(select(func.encode(PortalUser.totp_secret, "escape")).where(PortalUser.id == user.id))
        hashes = s.scalars(select(PortalRecoveryCode.code_hash).where(PortalRecoveryCode.portal_user_id == user.id))
        assert secret_text not in str(raw) and not set(codes) & set(hashes)  # sealed, and hashes only
    security = client.get("/account/security").get_data(as_text=True)
    assert 'data-testid="mfa-on"' in security and secret_text not in security and codes[0] not in security
    enrolment = audit_rows(app, alpha, "portal.mfa_enrol")[-1]
    assert (enrolment.result, enrolment.surface, enrolment.actor_id) == ("ok", "portal", str(user.id))
    assert secret_text not in str(enrolment.payload) and codes[0] not in str(enrolment.payload)

    fresh, where = password_step(app, alpha, user.email)
    assert where.endswith("/signin/code")
    assert fresh.get("/tickets").status_code == 302  # the password alone signs nobody in
    status, said = send_code(fresh, "123456")
    assert status == 401 and "That code is not right" in said
    status, where = send_code(fresh, later_code(secret_text))
    assert status == 302 and fresh.get("/tickets").status_code == 200
    method = [r.payload.get("method") for r in audit_rows(app, alpha, "portal.sign_in") if r.actor_id == str(user.id)]
    assert method[-1] == "password+totp"

    rescue, _ = password_step(app, alpha, user.email)
    status, where = send_code(rescue, codes[0].upper(), "/signin/recovery")
    assert status == 302 and rescue.get("/tickets").status_code == 200
    again, _ = password_step(app, alpha, user.email)
    status, said = send_code(again, codes[0], "/signin/recovery")
    assert status == 401 and "used before" in said


def test_five_wrong_codes_lock_the_account_as_an_operators_would(app: Flask, alpha: World) -> None:
    user, secret = enrolled(app, alpha)
    client, _ = password_step(app, alpha, user.email)
    for _ in range(4):
        assert send_code(client, "000000")[0] == 401
    status, said = send_code(client, "000000")
    assert status == 401 and "Too many wrong codes" in said
    status, said = send_code(client, later_code(secret))
    assert status == 401 and "locked" in said  # even the right code, until the lock ends
    assert client.get("/tickets").status_code == 302
    # A new sign-in is refused before its password is judged: the same words whatever was typed.
    _, right = password_step(app, alpha, user.email)
    _, wrong = password_step(app, alpha, user.email, "not-the-password-at-all")
    assert "locked after too many wrong codes" in right and "locked after too many wrong codes" in wrong
    lock = audit_rows(app, alpha, "portal.lockout")[-1]
    assert (lock.result, lock.target_id, lock.payload.get("kind")) == ("blocked", str(user.id), "mfa")


def test_a_reset_password_still_asks_for_the_code(app: Flask, alpha: World) -> None:
    user, secret = enrolled(app, alpha)
    person = portal_client(app, alpha.portal_host)
    ask(person, user.email)
    status, where = choose(person, reset_link(app, alpha, user.email), NEW_PASSWORD)
    assert status == 302 and where.endswith("/signin/code")
    assert person.get("/tickets").status_code == 302
    assert send_code(person, later_code(secret))[0] == 302 and person.get("/tickets").status_code == 200


def test_new_recovery_codes_and_turning_it_off_need_the_password(app: Flask, alpha: World) -> None:
    user, secret = enrolled(app, alpha)
    client, _ = password_step(app, alpha, user.email)
    send_code(client, later_code(secret))
    token = csrf_token(client, "/account/security")
    refused = client.post("/account/security/recovery-codes", data={"password": "nope", "csrf_token": token})
    assert refused.status_code == 422 and "Enter your password" in refused.get_data(as_text=True)
    made = client.post("/account/security/recovery-codes", data={"password": PASSWORD, "csrf_token": token})
    codes = re.findall(r"<code>([a-z0-9-]{19})</code>", made.get_data(as_text=True))
    assert made.status_code == 200 and len(codes) == 10
    off = client.post("/account/security/two-factor/off", data={"password": PASSWORD, "csrf_token": token})
    assert off.status_code == 302
    assert 'data-testid="mfa-off"' in client.get("/account/security").get_data(as_text=True)
    _, where = password_step(app, alpha, user.email)
    assert not where.endswith("/signin/code")
    assert audit_rows(app, alpha, "portal.mfa_disable")[-1].result == "ok"


def test_a_workspace_that_requires_two_factor_sends_a_user_without_it_to_enrolment(
    app: Flask, alpha: World, strict: World, make_user: Callable[..., MadeUser]
) -> None:
    user = portal_user(app, strict)
    already = portal_login(app, strict, user)
    admin = login(app, strict.tenant, make_user(strict.tenant, "admin").email)
    page = admin.get("/admin/portal").get_data(as_text=True)
    assert "Require two-factor sign-in for portal users" in page
    response = admin.post(
        "/admin/portal/sign-in", data={"require_mfa": "1", "csrf_token": csrf_token(admin, "/admin/portal")}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert audit_rows(app, strict, "portal.sign_in_policy")[-1].result == "ok"
    assert already.get("/tickets").status_code == 302  # a session without a second factor ends

    client, where = password_step(app, strict, user.email)
    assert where.endswith("/signin/enrol")
    assert client.get("/tickets").status_code == 302
    page = client.get("/signin/enrol").get_data(as_text=True)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page)
    assert secret is not None
    status, said = send_code(client, pyotp.TOTP(secret.group(1)).now(), "/signin/enrol")
    assert status == 200 and "Save your recovery codes" in said
    assert client.get("/tickets").status_code == 200
    assert already.get("/tickets").status_code == 302  # enrolling does not bring back a session that never had it
    security = client.get("/account/security").get_data(as_text=True)
    assert "requires two-factor sign-in" in security and "/account/security/two-factor/off" not in security
    token = csrf_token(client, "/account/security")
    off = client.post("/account/security/two-factor/off", data={"password": PASSWORD, "csrf_token": token})
    assert off.status_code == 422 and "requires two-factor sign-in" in off.get_data(as_text=True)

    elsewhere = portal_user(app, alpha)  # another workspace's portal is not affected
    _, where = password_step(app, alpha, elsewhere.email)
    assert not where.endswith(("/signin/enrol", "/signin/code"))
    with app.app_context(), db.tenant_session(strict.tenant.id) as s:
        s.execute(update(PortalSettings).where(PortalSettings.customer_id.is_(None)).values(require_mfa=False))


def test_an_operator_resets_a_portal_users_two_factor_and_it_is_audited(
    app: Flask, alpha: World, make_user: Callable[..., MadeUser]
) -> None:
    user, secret = enrolled(app, alpha)
    client, _ = password_step(app, alpha, user.email)
    send_code(client, later_code(secret))
    tech = login(app, alpha.tenant, make_user(alpha.tenant, "technician").email)
    tab = f"/customers/{pid(app, 'customer', alpha.parent)}/portal"
    html = tech.get(tab).get_data(as_text=True)
    action = f"/portal-users/{pid(app, 'portal_user', user.id)}/reset-two-factor"
    assert action in html and 'data-testid="mfa-badge"' in html
    response = tech.post(tab.removesuffix("/portal") + action, data={"csrf_token": csrf_token(tech, tab)})
    assert response.status_code == 302
    assert f"Two-factor sign-in is off for {user.email}" in text_of(tech.get(tab).get_data(as_text=True))
    row = audit_rows(app, alpha, "portal_user.reset_mfa")[-1]
    assert (row.result, row.surface, row.target_id) == ("ok", "ui", str(user.id))
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        stored = s.get(PortalUser, user.id)
        left = s.scalar(select(func.count()).where(PortalRecoveryCode.portal_user_id == user.id))
        assert stored is not None and stored.totp_secret is None and left == 0
    assert client.get("/tickets").status_code == 302  # whoever had the lost phone's session is out
    _, where = password_step(app, alpha, user.email)
    assert not where.endswith("/signin/code")


def signed_in_twice(app: Flask, where: World, user: PortalUser, secret: str) -> tuple[HostClient, HostClient]:
    """Two sessions of an enrolled user (two browsers), each through its own code."""
    clients = []
    for steps in (0, 1):  # each code works once: the second session takes the next step's
        client, _ = password_step(app, where, user.email)
        assert send_code(client, later_code(secret, steps))[0] == 302
        clients.append(client)
    return clients[0], clients[1]


def ended_elsewhere(app: Flask, where: World, action: str, user: PortalUser) -> bool:
    row = audit_rows(app, where, action)[-1]
    assert (row.result, row.actor_id) == ("ok", str(user.id))
    return bool(row.payload["response"].get("signed_out_elsewhere"))


def test_turning_two_factor_off_signs_the_user_out_everywhere_else(app: Flask, alpha: World) -> None:
    user, secret = enrolled(app, alpha)
    here, elsewhere = signed_in_twice(app, alpha, user, secret)
    assert elsewhere.get("/tickets").status_code == 200
    token = csrf_token(here, "/account/security")
    off = here.post("/account/security/two-factor/off", data={"password": PASSWORD, "csrf_token": token})
    assert off.status_code == 302
    assert elsewhere.get("/tickets").status_code == 302  # the other one ended
    assert "You are signed out everywhere else." in text_of(here.get("/account/security").get_data(as_text=True))
    assert here.get("/tickets").status_code == 200  # this session carries on
    assert ended_elsewhere(app, alpha, "portal.mfa_disable", user)


def test_new_recovery_codes_sign_the_user_out_everywhere_else(app: Flask, alpha: World) -> None:
    user, secret = enrolled(app, alpha)
    here, elsewhere = signed_in_twice(app, alpha, user, secret)
    token = csrf_token(here, "/account/security")
    made = here.post("/account/security/recovery-codes", data={"password": PASSWORD, "csrf_token": token})
    assert made.status_code == 200
    assert elsewhere.get("/tickets").status_code == 302
    assert here.get("/tickets").status_code == 200
    assert "You are signed out everywhere else." in text_of(made.get_data(as_text=True))
    assert ended_elsewhere(app, alpha, "portal.recovery_codes", user)


def test_turning_two_factor_on_signs_the_user_out_everywhere_else(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha)
    here, elsewhere = portal_login(app, alpha, user), portal_login(app, alpha, user)
    page = here.get("/account/security/two-factor").get_data(as_text=True)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page)
    assert secret is not None
    status, said = send_code(here, pyotp.TOTP(secret.group(1)).now(), "/account/security/two-factor")
    assert status == 200 and "Save your recovery codes" in said
    # The other session signed in with the password alone: it must not outlast the switch to two factors.
    assert elsewhere.get("/tickets").status_code == 302
    assert here.get("/tickets").status_code == 200 and "You are signed out everywhere else." in said
    assert ended_elsewhere(app, alpha, "portal.mfa_enrol", user)
