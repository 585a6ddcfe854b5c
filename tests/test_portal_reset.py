"""Portal password reset: "Forgot your password?" mails a one-time link (only its hash is kept, it works for an hour,
once, in its own workspace only), answers the same whether or not the address has an account, is throttled per
address typed and per network, and ends the person's other sessions. Operators send one from the Portal users tab."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import Engine, event, select, update

from tests.conftest import HostClient, MadeUser, client_for, csrf_token, login, pid
from tests.portal_world import PASSWORD, World, portal_client, portal_login, portal_user, world
from tests.test_portal import audit_rows, mails_to, text_of
from vectis.models import OutboxMail, PortalUser
from vectis.platform import db, jobs
from vectis.platform.queues import queue, redis
from vectis.portal_access.hosts import request_origin

NEW_PASSWORD = "a-brand-new-password-42"
SAID = "If that address has a portal account, we sent it a link to choose a new password."


@pytest.fixture(scope="module")
def alpha(app: Flask) -> Iterator[World]:
    yield from world(app)


@pytest.fixture(scope="module")
def beta(app: Flask) -> Iterator[World]:
    yield from world(app)


def ask(client: HostClient, email: str) -> tuple[int, str]:
    """Ask on the "Forgot your password?" page, then let the mail worker answer it."""
    response = client.post("/forgot", data={"email": email, "csrf_token": csrf_token(client, "/forgot")})
    answer_requests(client.application)
    return response.status_code, text_of(response.get_data(as_text=True))


def answer_requests(app: Flask) -> None:
    """What the mail worker does with the reset requests waiting on its queue: the jobs, run by a real worker from
    Redis. The mails they queue stay queued, as other tests deliver those themselves."""
    with app.app_context():
        mail = queue("mail")
        worker = SimpleWorker([mail], connection=redis())
        for job in mail.get_jobs():
            if job.func_name == jobs.RESET_LINK.path:
                mail.remove(job)
                worker.execute_job(job, mail)
                assert job.get_status(refresh=True) == "finished", job.latest_result()


def reset_link(app: Flask, where: World, email: str) -> str:
    """The path of the newest reset link mailed to ``email``, read from the outbox as the mail worker reads it."""
    with app.app_context(), db.tenant_session(where.tenant.id) as s:
        mail = s.scalar(
            select(OutboxMail).where(OutboxMail.to_address == email).order_by(OutboxMail.id.desc()).limit(1)
        )
        assert mail is not None and mail.link is not None and mail.shell is not None
        link = str(mail.link.open(where.tenant.id))
    assert link.startswith(f"http://{where.portal_host}/reset/"), link
    return link.split(where.portal_host, 1)[1]


def choose(client: HostClient, path: str, password: str, confirm: str | None = None) -> tuple[int, str]:
    response = client.post(
        path,
        data={"password": password, "confirm": password if confirm is None else confirm,
              "csrf_token": csrf_token(client, "/forgot")},  # the session's token: a dead link's page has no form
    )  # fmt: skip
    return response.status_code, response.headers.get("Location", "") or response.get_data(as_text=True)


def signs_in(app: Flask, where: World, email: str, password: str) -> bool:
    client = portal_client(app, where.portal_host)
    response = client.post(
        "/signin", data={"email": email, "password": password, "csrf_token": csrf_token(client, "/signin")}
    )
    return response.status_code == 302


def test_it_mails_a_one_time_link_that_sets_a_new_password_and_ends_other_sessions(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha)
    elsewhere = portal_login(app, alpha, user)
    assert elsewhere.get("/tickets").status_code == 200
    person = portal_client(app, alpha.portal_host)
    assert 'href="/forgot"' in person.get("/signin").get_data(as_text=True)

    status, page = ask(person, user.email.upper())  # as typed: the address is matched whatever its case
    assert status == 200 and SAID in page
    ((mail_id, category, subject),) = mails_to(app, alpha, user.email)
    assert category == "transactional" and "password" in subject.lower()
    path = reset_link(app, alpha, user.email)
    token = path.rsplit("/", 1)[1]
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        mail = s.get(OutboxMail, mail_id)
        stored = s.get(PortalUser, user.id)
        assert mail is not None and mail.shell is not None and stored is not None
        # Only the token's hash is kept; the link itself is sealed, never in the shell's clear JSON.
        assert stored.reset_token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str(mail.shell) and mail.shell.get("one_time") is True
        assert stored.reset_expires_at is not None
        assert timedelta(minutes=55) < stored.reset_expires_at - datetime.now(UTC) <= timedelta(hours=1)

    form = person.get(path)
    assert form.status_code == 200 and "Choose a new password" in form.get_data(as_text=True)
    status, said = choose(person, path, "short")
    assert status == 422 and "Use at least 12 characters." in said
    status, said = choose(person, path, NEW_PASSWORD, "not the same at all")
    assert status == 422 and "The two passwords do not match." in said
    status, location = choose(person, path, NEW_PASSWORD)
    assert status == 302 and location.endswith("/"), location
    assert person.get("/tickets").status_code == 200  # signed in with the new password
    assert elsewhere.get("/tickets").status_code == 302  # every other session ended

    assert not signs_in(app, alpha, user.email, PASSWORD) and signs_in(app, alpha, user.email, NEW_PASSWORD)
    again = portal_client(app, alpha.portal_host).get(path)  # a link works once
    assert again.status_code == 404 and "not valid" in again.get_data(as_text=True)
    asked = [r for r in audit_rows(app, alpha, "portal.password_reset_request") if r.target_id == str(user.id)]
    done = [r for r in audit_rows(app, alpha, "portal.password_reset") if r.target_id == str(user.id)]
    assert [r.result for r in asked] == ["ok"] and [(r.result, r.surface) for r in done] == [("ok", "portal")]
    assert token not in str([r.payload for r in asked + done])


def test_a_reset_link_stops_working_after_an_hour(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha)
    person = portal_client(app, alpha.portal_host)
    ask(person, user.email)
    path = reset_link(app, alpha, user.email)
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        s.execute(
            update(PortalUser)
            .where(PortalUser.id == user.id)
            .values(reset_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = person.get(path)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    status, _ = choose(person, path, NEW_PASSWORD)
    assert status == 410 and signs_in(app, alpha, user.email, PASSWORD)


def test_a_newer_link_replaces_the_older_one(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha)
    person = portal_client(app, alpha.portal_host)
    ask(person, user.email)
    first = reset_link(app, alpha, user.email)
    ask(person, user.email)
    second = reset_link(app, alpha, user.email)
    assert first != second
    assert person.get(first).status_code == 404 and person.get(second).status_code == 200


def test_an_unknown_or_deactivated_address_gets_the_same_answer_and_no_mail(app: Flask, alpha: World) -> None:
    known = portal_user(app, alpha)
    gone = portal_user(app, alpha)
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        s.execute(update(PortalUser).where(PortalUser.id == gone.id).values(is_active=False))
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@customer.test"

    def answer(email: str) -> tuple[int, str]:
        status, page = ask(portal_client(app, alpha.portal_host), email)
        return status, re.sub(r'name="csrf_token" value="[^"]+"', "", page).replace(email, "EMAIL")

    assert answer(nobody) == answer(known.email) == answer(gone.email)
    assert mails_to(app, alpha, nobody) == [] and mails_to(app, alpha, gone.email) == []
    assert len(mails_to(app, alpha, known.email)) == 1
    unknown = [r for r in audit_rows(app, alpha, "portal.password_reset_request") if nobody in r.target_label]
    assert [(r.result, r.actor_type) for r in unknown] == [("failed", "anonymous")]


def test_the_request_does_the_same_work_whether_or_not_the_address_has_an_account(app: Flask, alpha: World) -> None:
    """No timing oracle: the request runs the same SQL for any address typed (a real account's link and mail are made
    by the mail worker, after the answer went back), so how long the answer takes tells nothing either."""
    known = portal_user(app, alpha)
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@customer.test"

    def statements(email: str) -> list[str]:
        client = portal_client(app, alpha.portal_host)
        token = csrf_token(client, "/forgot")  # the page first, as a browser does (and the workspace is looked up)
        seen: list[str] = []

        def note(conn: object, cursor: object, statement: str, *rest: object) -> None:
            seen.append(statement)

        event.listen(Engine, "before_cursor_execute", note)
        try:
            response = client.post("/forgot", data={"email": email, "csrf_token": token})
        finally:
            event.remove(Engine, "before_cursor_execute", note)
        assert response.status_code == 200 and SAID in text_of(response.get_data(as_text=True))
        return seen

    assert statements(nobody) == statements(known.email)
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        stored = s.get(PortalUser, known.id)
        assert stored is not None and stored.reset_token_hash is None  # nothing made yet
    assert mails_to(app, alpha, known.email) == []
    assert [r for r in audit_rows(app, alpha, "portal.password_reset_request") if known.email in r.target_label] == []

    answer_requests(app)  # the worker does it, the same job for both
    assert len(mails_to(app, alpha, known.email)) == 1 and mails_to(app, alpha, nobody) == []
    asked = {r.target_label: r.result for r in audit_rows(app, alpha, "portal.password_reset_request")}
    assert asked[known.email] == "ok" and asked[nobody] == "failed"


def test_a_link_from_one_workspace_is_not_found_at_another(app: Flask, alpha: World, beta: World) -> None:
    user = portal_user(app, alpha)
    ask(portal_client(app, alpha.portal_host), user.email)
    path = reset_link(app, alpha, user.email)
    other = portal_client(app, beta.portal_host)
    assert other.get(path).status_code == 404
    status, _ = choose(other, path, NEW_PASSWORD)
    assert status == 404
    assert portal_client(app, alpha.portal_host).get(path).status_code == 200  # still good where it was made


def test_requests_are_throttled_per_address_typed_and_per_network(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha)
    for n in range(3):  # from three networks: only the address's own limit counts here
        assert ask(portal_client(app, alpha.portal_host), user.email)[0] == 200, n
    status, page = ask(portal_client(app, alpha.portal_host), user.email)
    assert status == 429 and "Several links were asked for that address in the last hour" in page
    assert len(mails_to(app, alpha, user.email)) == 3
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@customer.test"  # counted the same: the limit tells nothing
    for _ in range(3):
        ask(portal_client(app, alpha.portal_host), unknown)
    assert ask(portal_client(app, alpha.portal_host), unknown)[0] == 429

    network = f"192.0.2.{uuid.uuid4().int % 200 + 1}"
    for n in range(10):
        client = client_for(app, alpha.portal_host, address=network)
        assert ask(client, f"spray-{n}-{uuid.uuid4().hex[:6]}@customer.test")[0] == 200, n
    late = portal_user(app, alpha)
    status, page = ask(client_for(app, alpha.portal_host, address=network), late.email)
    assert status == 429 and "Too many reset requests from your network" in page
    assert mails_to(app, alpha, late.email) == []
    assert "blocked" in {r.result for r in audit_rows(app, alpha, "portal.password_reset_request")}


def test_an_operator_sends_a_password_reset_from_the_portal_users_tab(
    app: Flask, alpha: World, make_user: Callable[..., MadeUser]
) -> None:
    user = portal_user(app, alpha)
    tech = login(app, alpha.tenant, make_user(alpha.tenant, "technician").email)
    tab = f"/customers/{pid(app, 'customer', alpha.parent)}/portal"
    html = tech.get(tab).get_data(as_text=True)
    action = f"/portal-users/{pid(app, 'portal_user', user.id)}/reset-password"
    assert action in html and "Send password reset" in html
    response = tech.post(tab.removesuffix("/portal") + action, data={"csrf_token": csrf_token(tech, tab)})
    assert response.status_code == 302
    page = tech.get(tab).get_data(as_text=True)
    assert f"A password reset link went to {user.email}" in text_of(page)
    assert "/reset/" not in page  # the link goes to the person only
    path = reset_link(app, alpha, user.email)
    row = audit_rows(app, alpha, "portal_user.send_reset")[-1]
    assert (row.result, row.surface, row.target_id) == ("ok", "ui", str(user.id))
    person = portal_client(app, alpha.portal_host)
    assert choose(person, path, NEW_PASSWORD)[0] == 302 and person.get("/tickets").status_code == 200


def test_a_signed_in_user_changes_their_password_and_their_other_sessions_end(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha)
    elsewhere, here = portal_login(app, alpha, user), portal_login(app, alpha, user)
    token = csrf_token(here, "/account/security")
    form = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD, "csrf_token": token}
    wrong = here.post("/account/security/password", data={**form, "current_password": "not-it-at-all"})
    assert wrong.status_code == 422 and "Your current password is not right." in wrong.get_data(as_text=True)
    done = here.post("/account/security/password", data={**form, "current_password": PASSWORD})
    assert done.status_code == 302
    assert here.get("/account/security").status_code == 200  # this session carries on
    assert elsewhere.get("/tickets").status_code == 302  # every other one ended
    assert signs_in(app, alpha, user.email, NEW_PASSWORD) and not signs_in(app, alpha, user.email, PASSWORD)
    row = audit_rows(app, alpha, "portal.change_password")[-1]
    assert row.result == "ok" and NEW_PASSWORD not in str(row.payload) and PASSWORD not in str(row.payload)


def test_the_worker_is_told_the_port_a_request_came_in_on_even_its_schemes_own(app: Flask) -> None:
    """A request on the scheme's own port named none, and the worker, outside any request, then put the settings'
    public port into the reset link and the mail's logo."""
    with app.test_request_context("/forgot", base_url="https://portal.acme.localhost"):
        assert request_origin() == ("https", 443)
    with app.test_request_context("/forgot", base_url="http://portal.acme.localhost:5123"):
        assert request_origin() == ("http", 5123)
