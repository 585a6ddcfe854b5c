"""The customer portal: its own host, session and sign-in; what a portal user sees (their customer, their sites)
and does (comment, resolve, open tickets: written to the ConnectWise simulator over real HTTP and audited with
surface portal); branding checks. Two workspaces, each synced from its own simulator."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from jobs.mail import deliver
from tests.conftest import HostClient, MadeUser, TenantFixture, client_for, csrf_token, login, pid
from tests.portal_world import PASSWORD, World, portal_client, portal_login, portal_user, world
from tests.test_api import make_token
from tests.vendors.support import sync
from vectis.actions import Outcome, Target, perform
from vectis.demo.portal import DEMO_PORTAL_USERS, seed_portal
from vectis.demo.seed import DEMO_PASSWORD
from vectis.models import (
    AuditEntry,
    BackupConnector,
    BackupConnectorStatus,
    Device,
    OutboxMail,
    PortalBranding,
    PortalUser,
    Ticket,
    TicketBoard,
    TicketNote,
)
from vectis.platform import db
from vectis.platform.mailsink import Received, Sink
from vectis.platform.mailsink import start as start_sink
from vectis.portal_access.digest import queue_digests
from vectis.portal_access.scope import portal_actor
from vectis.portal_access.verbs import NEW_CONTACT


@pytest.fixture(scope="module")
def alpha(app: Flask) -> Iterator[World]:
    yield from world(app)


@pytest.fixture(scope="module")
def beta(app: Flask) -> Iterator[World]:
    yield from world(app)


def a_ticket(app: Flask, where: World, customer: int, *, closed: bool = False) -> Ticket:
    with app.app_context(), db.tenant_session(where.tenant.id) as s:
        ticket = s.scalar(
            select(Ticket)
            .where(Ticket.customer_id == customer, Ticket.closed.is_(closed), Ticket.board_id.is_not(None))
            .order_by(Ticket.id)
            .limit(1)
        )
        assert ticket is not None
        s.expunge(ticket)
        return ticket


def audit_rows(app: Flask, where: World, action: str) -> list[AuditEntry]:
    with app.app_context(), db.tenant_session(where.tenant.id) as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))
        for row in rows:
            s.expunge(row)
        return rows


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", html)


# --- host, session, sign-in -------------------------------------------------------------------------------------


def test_it_signs_a_portal_user_in_on_the_portal_host_with_its_own_strict_cookie(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha)
    client = portal_client(app, alpha.portal_host)
    assert client.get("/tickets").status_code == 302  # login always required
    response = client.post(
        "/signin", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client, "/signin")}
    )
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("vectis_portal="))
    assert "SameSite=Strict" in cookie and "HttpOnly" in cookie and "Domain" not in cookie
    assert client.get("/tickets").status_code == 200
    assert [r.result for r in audit_rows(app, alpha, "portal.sign_in") if r.actor_id == str(user.id)] == ["ok"]


def test_it_refuses_a_wrong_password_in_words(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha)
    client = portal_client(app, alpha.portal_host)
    response = client.post(
        "/signin", data={"email": user.email, "password": "nope-nope-nope", "csrf_token": csrf_token(client, "/signin")}
    )
    assert response.status_code == 401
    assert "That email and password do not match a portal account here." in response.get_data(as_text=True)


def test_a_portal_session_from_one_workspace_is_refused_at_another(app: Flask, alpha: World, beta: World) -> None:
    client = portal_login(app, alpha, portal_user(app, alpha))
    session_id = client.get_cookie("vectis_portal", domain=alpha.portal_host)
    assert session_id is not None
    elsewhere = portal_client(app, beta.portal_host)
    elsewhere.set_cookie("vectis_portal", session_id.value, domain=beta.portal_host)
    response = elsewhere.get("/tickets")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]


def test_an_operator_session_means_nothing_on_the_portal_and_the_reverse(
    app: Flask, acme: TenantFixture, alpha: World
) -> None:
    operator = login(app, acme)
    operator_cookie = operator.get_cookie("vectis_session", domain=acme.host)
    assert operator_cookie is not None
    portal = portal_client(app, "portal.acme.localhost")
    portal.set_cookie("vectis_session", operator_cookie.value, domain="portal.acme.localhost")
    portal.set_cookie("vectis_portal", operator_cookie.value, domain="portal.acme.localhost")
    assert portal.get("/tickets").status_code == 302

    portal_session = portal_login(app, alpha, portal_user(app, alpha)).get_cookie(
        "vectis_portal", domain=alpha.portal_host
    )
    assert portal_session is not None
    stranger = client_for(app, alpha.tenant.host)
    stranger.set_cookie("vectis_session", portal_session.value, domain=alpha.tenant.host)
    assert stranger.get("/customers").status_code == 302  # to the operators' sign-in


def test_an_unknown_portal_host_is_a_404_in_words(app: Flask) -> None:
    response = portal_client(app, "portal.nosuchmsp.localhost").get("/signin")
    assert response.status_code == 404
    assert "There is no support portal at this address" in response.get_data(as_text=True)


# --- what a portal user sees -------------------------------------------------------------------------------------


def test_a_parent_customer_user_sees_a_rollup_with_per_site_counts_and_drills_into_a_site(
    app: Flask, alpha: World
) -> None:
    client = portal_login(app, alpha, portal_user(app, alpha, "viewer"))
    html = text_of(client.get("/tickets").get_data(as_text=True))
    assert 'data-testid="rollup"' in html
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        site = alpha.sites[0]
        open_here = len(s.scalars(select(Ticket.id).where(Ticket.customer_id == site, Ticket.closed.is_(False))).all())
    site_pid = pid(app, "customer", site)
    assert f"site={site_pid}" in html and f"<b>{open_here}</b> open" in html
    drilled = text_of(client.get(f"/tickets?site={site_pid}").get_data(as_text=True))
    other = a_ticket(app, alpha, alpha.sites[1])
    assert f"#{other.external_id}<" not in drilled
    assert client.get(f"/tickets?site={pid(app, 'customer', 999_999_999)}").status_code == 404


def test_a_site_limited_viewer_gets_404_on_another_sites_ticket(app: Flask, alpha: World) -> None:
    here, there = alpha.sites
    client = portal_login(app, alpha, portal_user(app, alpha, "viewer", sites=[here]))
    mine, theirs = a_ticket(app, alpha, here), a_ticket(app, alpha, there)
    assert client.get(f"/tickets/{pid(app, 'ticket', mine.id)}").status_code == 200
    assert client.get(f"/tickets/{pid(app, 'ticket', theirs.id)}").status_code == 404
    parents = a_ticket(app, alpha, alpha.parent)
    assert client.get(f"/tickets/{pid(app, 'ticket', parents.id)}").status_code == 404
    listing = client.get("/tickets").get_data(as_text=True)
    assert f"#{theirs.external_id}<" not in listing
    response = client.post(
        f"/tickets/{pid(app, 'ticket', theirs.id)}/comment",
        data={"text": "hello", "csrf_token": csrf_token(client, "/tickets")},
    )
    assert response.status_code == 404


def test_another_workspaces_ticket_is_a_404(app: Flask, alpha: World, beta: World) -> None:
    client = portal_login(app, alpha, portal_user(app, alpha))
    elsewhere = a_ticket(app, beta, beta.parent)
    assert client.get(f"/tickets/{pid(app, 'ticket', elsewhere.id)}").status_code == 404


def test_internal_notes_never_appear_on_the_portal(app: Flask, alpha: World) -> None:
    ticket = a_ticket(app, alpha, alpha.parent)
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        s.add(
            TicketNote(
                tenant_id=alpha.tenant.id, ticket_id=ticket.id, external_id="internal-only-1",
                body="INTERNAL: customer is on the naughty list", internal=True, written_at=ticket.opened_at,
            )
        )  # fmt: skip
    client = portal_login(app, alpha, portal_user(app, alpha))
    html = client.get(f"/tickets/{pid(app, 'ticket', ticket.id)}").get_data(as_text=True)
    assert "naughty list" not in html


# --- what a portal user does -------------------------------------------------------------------------------------


def test_a_viewer_cannot_comment_no_button_and_the_post_is_refused(app: Flask, alpha: World) -> None:
    client = portal_login(app, alpha, portal_user(app, alpha, "viewer"))
    ticket = a_ticket(app, alpha, alpha.parent)
    page = f"/tickets/{pid(app, 'ticket', ticket.id)}"
    html = client.get(page).get_data(as_text=True)
    assert 'data-testid="send-comment"' not in html and 'data-testid="resolve"' not in html
    notes = len(alpha.state.notes.get(int(ticket.external_id), []))
    response = client.post(f"{page}/comment", data={"text": "let me in", "csrf_token": csrf_token(client, page)})
    assert response.status_code == 403
    assert "can read tickets but not comment" in response.get_data(as_text=True)
    assert len(alpha.state.notes.get(int(ticket.external_id), [])) == notes
    assert client.get("/tickets/new").status_code == 403


def test_a_portal_comment_reaches_the_psa_and_the_audit_log_with_surface_portal(app: Flask, alpha: World) -> None:
    user = portal_user(app, alpha, "member")
    client = portal_login(app, alpha, user)
    ticket = a_ticket(app, alpha, alpha.sites[0])
    page = f"/tickets/{pid(app, 'ticket', ticket.id)}"
    response = client.post(
        f"{page}/comment", data={"text": "The printer works again, thanks!", "csrf_token": csrf_token(client, page)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    notes = alpha.state.notes[int(ticket.external_id)]
    sent = notes[-1]
    assert sent["text"].startswith("The printer works again, thanks!\n\n— Pat Member")
    assert sent["detailDescriptionFlag"] is True and sent["internalAnalysisFlag"] is False
    row = audit_rows(app, alpha, "portal.ticket_comment")[-1]
    assert (row.surface, row.result, row.actor_type, row.actor_id) == ("portal", "ok", "portal_user", str(user.id))
    assert "The printer works again" in text_of(client.get(page).get_data(as_text=True))


def test_a_member_marks_a_ticket_resolved_at_the_psa(app: Flask, alpha: World) -> None:
    client = portal_login(app, alpha, portal_user(app, alpha, "member"))
    ticket = a_ticket(app, alpha, alpha.parent)
    page = f"/tickets/{pid(app, 'ticket', ticket.id)}"
    response = client.post(f"{page}/resolve", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302
    sent = alpha.state.tickets[int(ticket.external_id)]
    assert alpha.state.statuses[sent.status_id]["name"] == "Resolved" and sent.closed
    html = text_of(client.get(page).get_data(as_text=True))
    assert 'data-testid="ticket-status">Resolved<' in html
    assert audit_rows(app, alpha, "portal.ticket_resolve")[-1].surface == "portal"


def test_a_new_portal_ticket_lands_on_the_customers_board_at_the_psa_and_in_the_audit_log(
    app: Flask, alpha: World
) -> None:
    user = portal_user(app, alpha, "admin")
    client = portal_login(app, alpha, user)
    before = set(alpha.state.tickets)
    response = client.post(
        "/tickets/new",
        data={
            "summary": "Scanner on floor 2 is jammed",
            "description": "Paper stuck since this morning.",
            "site": str(alpha.sites[1]),
            "csrf_token": csrf_token(client, "/tickets/new"),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    (created,) = set(alpha.state.tickets) - before
    ticket = alpha.state.tickets[created]
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        board = s.get(TicketBoard, alpha.board)
        stored = s.scalar(select(Ticket).where(Ticket.external_id == str(created)))
        assert board is not None and stored is not None
        assert stored.customer_id == alpha.sites[1]
        board_external, stored_id = board.external_id, stored.id
    assert str(ticket.board_id) == board_external
    assert ticket.summary == "Scanner on floor 2 is jammed"
    row = audit_rows(app, alpha, "portal.ticket_create")[-1]
    assert (row.surface, row.result, row.actor_id) == ("portal", "ok", str(user.id))
    assert response.headers["Location"].endswith(f"/tickets/{pid(app, 'ticket', stored_id)}")
    # ConnectWise had no contact with the person's e-mail: one was made, and the ticket is theirs.
    assert ticket.contact_id is not None and alpha.state.contacts[ticket.contact_id]["email"] == user.email
    contacts = len(alpha.state.contacts)
    client.post(
        "/tickets/new",
        data={
            "summary": "And the stapler",
            "site": str(alpha.sites[1]),
            "csrf_token": csrf_token(client, "/tickets/new"),
        },
    )
    (again,) = set(alpha.state.tickets) - before - {created}
    assert alpha.state.tickets[again].contact_id == ticket.contact_id and len(alpha.state.contacts) == contacts


# --- portal users: invited from the hub, set up once ----------------------------------------------------------------

SVG_WITH_SCRIPT = b"""<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 40 10"
  onload="alert(1)"><script>alert(document.cookie)</script><foreignObject><p xmlns="http://www.w3.org/1999/xhtml">x</p>
  </foreignObject><a href="javascript:alert(1)"><rect width="4" height="4"/></a><image xlink:href="https://evil.test/x.png"/>
  <rect width="40" height="10" fill="#0b5fff"/><circle cx="5" cy="5" r="3" fill="url(#g)"/></svg>"""


def operator_on(app: Flask, where: World, make_user: Callable[..., MadeUser], role: str = "admin") -> HostClient:
    return login(app, where.tenant, make_user(where.tenant, role).email)


def test_an_operator_invites_from_the_hub_and_the_setup_link_signs_the_person_in_once(
    app: Flask, alpha: World, make_user: Callable[..., MadeUser]
) -> None:
    tech = operator_on(app, alpha, make_user, "technician")
    hub = f"/customers/{pid(app, 'customer', alpha.parent)}"
    email = f"new-{uuid.uuid4().hex[:8]}@customer.test"
    response = tech.post(
        f"{hub}/portal-users",
        data={
            "name": "Robin Site",
            "email": email,
            "role": "member",
            "site_ids": [str(alpha.sites[0])],
            "csrf_token": csrf_token(tech, f"{hub}/portal"),
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    link = re.search(r'value="(http://portal\.[^"]+/setup/[^"]+)"', html)
    assert link is not None and "Robin Site" in html
    assert audit_rows(app, alpha, "portal_user.invite")[-1].result == "ok"
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        mail = s.scalar(select(OutboxMail).where(OutboxMail.to_address == email))
        assert mail is not None and mail.shell is not None and mail.link is not None
        # The one-time link is sealed with the body; the shell's clear JSON only says there is one.
        assert mail.link.open(alpha.tenant.id) == link.group(1) and mail.shell["action_url"] is None

    path = link.group(1).split(alpha.portal_host, 1)[1]
    person = portal_client(app, alpha.portal_host)
    assert "Welcome, Robin Site" in person.get(path).get_data(as_text=True)
    short = person.post(path, data={"password": "short", "confirm": "short", "csrf_token": csrf_token(person, path)})
    assert short.status_code == 422 and "Use at least 12 characters." in short.get_data(as_text=True)
    done = person.post(path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_token(person, path)})
    assert done.status_code == 302
    mine, theirs = a_ticket(app, alpha, alpha.sites[0]), a_ticket(app, alpha, alpha.sites[1])
    listing = person.get("/tickets").get_data(as_text=True)
    assert f"#{mine.external_id}<" in listing and f"#{theirs.external_id}<" not in listing
    assert portal_client(app, alpha.portal_host).get(path).status_code == 404  # the link worked once


def test_an_invite_with_a_bad_role_loses_nothing_typed(
    app: Flask, alpha: World, make_user: Callable[..., MadeUser]
) -> None:
    tech = operator_on(app, alpha, make_user, "technician")
    hub = f"/customers/{pid(app, 'customer', alpha.parent)}"
    response = tech.post(
        f"{hub}/portal-users",
        data={"name": "Sam", "email": "sam@customer.test", "role": "owner", "csrf_token": csrf_token(tech, hub)},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose a role: Admin, Member or Viewer." in html and 'value="sam@customer.test"' in html


def test_an_operator_of_another_workspace_gets_404_inviting_here(
    app: Flask, alpha: World, beta: World, make_user: Callable[..., MadeUser]
) -> None:
    outsider = operator_on(app, beta, make_user, "admin")
    hub = f"/customers/{pid(app, 'customer', beta.parent)}"
    response = outsider.post(
        f"/customers/{pid(app, 'customer', alpha.parent)}/portal-users",
        data={"name": "X", "email": "x@customer.test", "role": "member", "csrf_token": csrf_token(outsider, hub)},
    )
    assert response.status_code == 404


def test_a_portal_admin_invites_a_colleague_of_their_own_customer(app: Flask, alpha: World) -> None:
    admin = portal_login(app, alpha, portal_user(app, alpha, "admin"))
    email = f"colleague-{uuid.uuid4().hex[:8]}@customer.test"
    response = admin.post(
        "/people",
        data={"name": "Col League", "email": email, "role": "viewer", "csrf_token": csrf_token(admin, "/people")},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and f"{alpha.portal_host}/setup/" in html
    row = audit_rows(app, alpha, "portal_user.invite")[-1]
    assert (row.surface, row.actor_type, row.result) == ("portal", "portal_user", "ok")
    member = portal_login(app, alpha, portal_user(app, alpha, "member"))
    assert member.get("/people").status_code == 404


def test_a_deactivated_portal_user_is_signed_out_at_once(
    app: Flask, alpha: World, make_user: Callable[..., MadeUser]
) -> None:
    user = portal_user(app, alpha)
    person = portal_login(app, alpha, user)
    tech = operator_on(app, alpha, make_user, "technician")
    hub = f"/customers/{pid(app, 'customer', alpha.parent)}"
    response = tech.post(
        f"{hub}/portal-users/{pid(app, 'portal_user', user.id)}/deactivate",
        data={"csrf_token": csrf_token(tech, f"{hub}/portal")},
    )
    assert response.status_code == 302
    assert person.get("/tickets").status_code == 302


# --- branding and portal settings ------------------------------------------------------------------------------------


def test_an_svg_logo_with_a_script_is_sanitised_and_the_branding_reaches_the_portal_chrome(
    app: Flask, alpha: World, make_user: Callable[..., MadeUser]
) -> None:
    admin = operator_on(app, alpha, make_user)
    response = admin.post(
        "/admin/branding",
        data={
            "company_name": "Northstar IT",
            "accent": "#0B5FFF",
            "logo": (io.BytesIO(SVG_WITH_SCRIPT), "logo.svg"),
            "csrf_token": csrf_token(admin, "/admin/branding"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        stored = s.scalar(select(PortalBranding))
        assert stored is not None and stored.logo is not None
        logo = stored.logo.decode()
    for dangerous in ("script", "onload", "foreignObject", "javascript:", "evil.test", "<a ", "<image"):
        assert dangerous not in logo
    assert 'fill="#0b5fff"' in logo and 'fill="url(#g)"' in logo

    page = portal_client(app, alpha.portal_host).get("/signin")
    html = page.get_data(as_text=True)
    assert "Northstar IT" in html and "--brand: #0b5fff; --brand-ink: #ffffff" in html
    served = portal_client(app, alpha.portal_host).get("/branding/logo")
    assert served.mimetype == "image/svg+xml" and "sandbox" in served.headers["Content-Security-Policy"]


def test_a_low_contrast_accent_is_refused_with_its_ratio(
    app: Flask, alpha: World, make_user: Callable[..., MadeUser]
) -> None:
    admin = operator_on(app, alpha, make_user)
    response = admin.post(
        "/admin/branding",
        data={"company_name": "Greyish IT", "accent": "#777777", "csrf_token": csrf_token(admin, "/admin/branding")},
    )
    html = text_of(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Text on #777777 has a contrast ratio of 4.4:1; WCAG AA needs at least 4.5:1." in html
    assert 'value="Greyish IT"' in html  # what was typed stays
    assert audit_rows(app, alpha, "portal.branding")[-1].result == "failed"


def test_a_png_logo_is_kept_and_a_fake_one_refused(
    app: Flask, alpha: World, make_user: Callable[..., MadeUser]
) -> None:
    admin = operator_on(app, alpha, make_user)
    fake = admin.post(
        "/admin/branding",
        data={
            "company_name": "Northstar IT",
            "accent": "#0b5fff",
            "logo": (io.BytesIO(b"GIF89a not a png"), "logo.png"),
            "csrf_token": csrf_token(admin, "/admin/branding"),
        },
        content_type="multipart/form-data",
    )
    assert fake.status_code == 422 and "named .png but is not a PNG" in fake.get_data(as_text=True)


def test_switching_tickets_off_for_a_customer_takes_the_surface_away(
    app: Flask, beta: World, make_user: Callable[..., MadeUser]
) -> None:
    person = portal_login(app, beta, portal_user(app, beta))
    assert person.get("/tickets").status_code == 200
    admin = operator_on(app, beta, make_user)
    response = admin.post(
        "/admin/portal",
        data={"customer_id": str(beta.parent), "board_id": str(beta.board), "assets": "1",
              "csrf_token": csrf_token(admin, "/admin/portal")},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    assert person.get("/tickets").status_code == 404
    assert ">Tickets</a>" not in person.get("/account").get_data(as_text=True)
    admin.post(
        "/admin/portal",
        data={"customer_id": str(beta.parent), "board_id": str(beta.board), "tickets": "1",
              "csrf_token": csrf_token(admin, "/admin/portal")},
    )  # fmt: skip
    assert person.get("/tickets").status_code == 200


def test_the_demo_seeds_two_portal_users_on_a_multi_site_customer_once(app: Flask, beta: World) -> None:
    with app.app_context():
        assert seed_portal(beta.tenant.id) and seed_portal(beta.tenant.id)
    dana, sam = (portal_client(app, beta.portal_host) for _ in range(2))
    for client, who in ((dana, DEMO_PORTAL_USERS[0]), (sam, DEMO_PORTAL_USERS[1])):
        response = client.post(
            "/signin",
            data={"email": who.email, "password": DEMO_PASSWORD, "csrf_token": csrf_token(client, "/signin")},
        )
        assert response.status_code == 302, who.email
    assert 'data-testid="rollup"' in dana.get("/tickets").get_data(as_text=True)
    other_site = a_ticket(app, beta, beta.sites[1])
    assert sam.get(f"/tickets/{pid(app, 'ticket', other_site.id)}").status_code == 404
    with app.app_context(), db.tenant_session(beta.tenant.id) as s:
        assert len(s.scalars(select(PortalUser.id)).all()) >= 2
        assert s.scalar(select(PortalBranding.company_name)) == "Acme IT Services"


# --- the REST API (admin scope) ----------------------------------------------------------------------------------


def test_portal_users_branding_and_settings_are_on_the_api_for_the_admin_scope(
    app: Flask, alpha: World, make_user: Callable[..., MadeUser]
) -> None:
    admin = make_user(alpha.tenant, "admin")
    bearer = {"Authorization": f"Bearer {make_token(app, alpha.tenant, scopes=('admin',), user_id=admin.id)}"}
    api = client_for(app, alpha.tenant.host)
    customer = pid(app, "customer", alpha.parent)
    email = f"api-{uuid.uuid4().hex[:8]}@customer.test"
    body = {"name": "Api Person", "email": email, "role": "viewer", "site_ids": [pid(app, "customer", alpha.sites[1])]}
    made = api.post(f"/api/v1/customers/{customer}/portal-users", json=body, headers=bearer)
    assert made.status_code == 200, made.get_json()
    answer = made.get_json()
    assert answer["result"] == "ok" and f"http://{alpha.portal_host}/setup/" in answer["setup_link"]
    found = api.get(f"/api/v1/portal/users/{answer['portal_user_id']}", headers=bearer).get_json()
    assert (found["email"], found["role"], found["state"], found["two_factor"]) == (email, "viewer", "invited", False)
    assert found["site_ids"] == [pid(app, "customer", alpha.sites[1])]
    listed = api.get(f"/api/v1/portal/users?customer_id={customer}", headers=bearer).get_json()
    assert email in {u["email"] for u in listed["data"]}
    assert "setup_link" not in str(api.get("/api/v1/portal/users", headers=bearer).get_json())

    refused = api.post("/api/v1/portal/branding", json={"company_name": "X", "accent": "#777777"}, headers=bearer)
    assert refused.status_code == 422 and "4.4:1" in refused.get_json()["detail"]
    settings = api.post(
        "/api/v1/portal/settings",
        json={"customer_id": customer, "tickets": True, "assets": False, "backups": True,
              "board_id": pid(app, "board", alpha.board)},
        headers=bearer,
    )  # fmt: skip
    assert settings.status_code == 200, settings.get_json()
    shown = api.get("/api/v1/portal/settings", headers=bearer).get_json()
    mine = next(c for c in shown["customers"] if c["customer_id"] == customer)
    assert (mine["tickets"], mine["assets"], mine["board_id"]) == (True, False, pid(app, "board", alpha.board))
    reader = make_token(app, alpha.tenant, scopes=("read",), user_id=admin.id)
    assert api.get("/api/v1/portal/users", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    # Two-factor sign-in for every portal user: the same verb as Admin → Portal → Sign-in.
    assert shown["require_two_factor"] is False
    for wanted in (True, False):
        policy = api.post("/api/v1/portal/settings/sign-in", json={"require_two_factor": wanted}, headers=bearer)
        assert policy.status_code == 200 and policy.get_json()["result"] == "ok", policy.get_json()
        assert api.get("/api/v1/portal/settings", headers=bearer).get_json()["require_two_factor"] is wanted
    api.post(
        "/api/v1/portal/settings",
        json={"customer_id": customer, "board_id": pid(app, "board", alpha.board)},  # every surface on again
        headers=bearer,
    )


# --- Assets and Backups --------------------------------------------------------------------------------------------


def test_assets_and_backups_show_a_site_limited_user_their_sites_records_only(app: Flask, alpha: World) -> None:
    here, there = alpha.sites
    now = datetime.now(UTC)
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        for customer, name in ((here, "HERE-PC01"), (there, "THERE-PC01")):
            s.add(
                Device(
                    tenant_id=alpha.tenant.id, connection_id=alpha.setup.connection_id, customer_id=customer,
                    external_id=f"dev-{name}", name=name, os_name="Windows 11 Pro", last_contact_at=now,
                )
            )  # fmt: skip
            job = BackupConnector(
                tenant_id=alpha.tenant.id, connection_id=alpha.setup.connection_id, customer_id=customer,
                external_id=f"job-{name}", name=f"{name} nightly", kind="Backup", vendor_type="BackupVm",
            )  # fmt: skip
            s.add(job)
            s.flush()
            s.add(
                BackupConnectorStatus(
                    tenant_id=alpha.tenant.id, backup_connector_id=job.id, state="success", vendor_status="Success",
                    last_attempt_at=now, last_success_at=now,
                )
            )  # fmt: skip
    limited = portal_login(app, alpha, portal_user(app, alpha, "viewer", sites=[here]))
    assets = limited.get("/assets").get_data(as_text=True)
    assert "HERE-PC01" in assets and "Windows 11 Pro" in assets and "THERE-PC01" not in assets
    backups = limited.get("/backups").get_data(as_text=True)
    assert "HERE-PC01 nightly" in backups and "THERE-PC01 nightly" not in backups
    assert limited.get(f"/assets?site={pid(app, 'customer', there)}").status_code == 404
    whole = portal_login(app, alpha, portal_user(app, alpha, "viewer"))
    assert "THERE-PC01" in whole.get("/assets").get_data(as_text=True)


# --- mail: the branded shell, ticket updates, digests and unsubscribing -------------------------------------------


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None, f"no {kind} part"
    return str(body.get_content())


def mails_to(app: Flask, where: World, email: str) -> list[tuple[int, str, str]]:
    with app.app_context(), db.tenant_session(where.tenant.id) as s:
        rows = s.execute(
            select(OutboxMail.id, OutboxMail.category, OutboxMail.subject)
            .where(OutboxMail.to_address == email)
            .order_by(OutboxMail.id)
        ).all()
        return [(r.id, r.category, r.subject) for r in rows]


def delivered(app: Flask, where: World, mail_id: int, sink: Sink, port: int) -> Received:
    before = sink.count
    settings = app.config["VECTIS_SETTINGS"]
    app.config["VECTIS_SETTINGS"] = replace(settings, smtp_url=f"smtp://127.0.0.1:{port}")
    try:
        with app.app_context():
            assert deliver(where.tenant.id, mail_id) == "sent"
    finally:
        app.config["VECTIS_SETTINGS"] = settings
    assert sink.count == before + 1
    return sink.messages[-1]


@pytest.fixture(scope="module")
def mailsink() -> Iterator[tuple[Sink, int]]:
    sink, port, server = start_sink()
    yield sink, port
    server.shutdown()


def test_unsubscribing_from_digests_still_delivers_ticket_mail_in_the_branded_shell(
    app: Flask, alpha: World, mailsink: tuple[Sink, int]
) -> None:
    sink, port = mailsink
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        branding = s.scalar(select(PortalBranding))
        if branding is None:
            branding = PortalBranding(tenant_id=alpha.tenant.id, company_name="Northstar IT", accent="#0b5fff")
            s.add(branding)
        branding.postal_address = "1 Harbour Road, Bristol BS1 4AA, UK"
    writer, reader = portal_user(app, alpha, "member"), portal_user(app, alpha, "viewer")
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        queue_digests(s, alpha.tenant.id, alpha.tenant.slug)
    ((digest_id, category, _),) = mails_to(app, alpha, reader.email)
    digest = delivered(app, alpha, digest_id, sink, port).message
    assert category == "digest" and digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = digest["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(f"http://{alpha.portal_host}/unsubscribe/")
    html = part(digest, "html")
    assert "Northstar IT" in html and "1 Harbour Road, Bristol BS1 4AA, UK" in html and "#0b5fff" in html

    one_click = portal_client(app, alpha.portal_host).post(  # RFC 8058: no session, no CSRF token
        unsubscribe.split(alpha.portal_host, 1)[1], data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 200 and "no more digests" in one_click.get_data(as_text=True)
    assert audit_rows(app, alpha, "portal.unsubscribe")[-1].surface == "portal"
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        queue_digests(s, alpha.tenant.id, alpha.tenant.slug)
    assert [c for _, c, _ in mails_to(app, alpha, reader.email)] == ["digest"]  # no second digest
    assert [c for _, c, _ in mails_to(app, alpha, writer.email)] == ["digest", "digest"]

    client = portal_login(app, alpha, writer)
    ticket = a_ticket(app, alpha, alpha.parent)
    page = f"/tickets/{pid(app, 'ticket', ticket.id)}"
    client.post(f"{page}/comment", data={"text": "Any news on this?", "csrf_token": csrf_token(client, page)})
    (update_id, category, subject) = mails_to(app, alpha, reader.email)[-1]
    assert category == "transactional" and subject == f"[#{ticket.external_id}] {ticket.summary}"
    assert [c for _, c, _ in mails_to(app, alpha, writer.email)] == ["digest", "digest"]  # not told of their own
    update = delivered(app, alpha, update_id, sink, port).message
    assert update["List-Unsubscribe"] is None and "Northstar" in update["From"]
    assert "Pat Member wrote:" in part(update, "plain")
    assert "Any news on this?" in part(update, "html")


def test_an_invitation_goes_out_in_the_branded_shell_with_its_setup_link(
    app: Flask, beta: World, make_user: Callable[..., MadeUser], mailsink: tuple[Sink, int]
) -> None:
    sink, port = mailsink
    tech = operator_on(app, beta, make_user, "technician")
    hub = f"/customers/{pid(app, 'customer', beta.parent)}"
    email = f"invited-{uuid.uuid4().hex[:8]}@customer.test"
    tech.post(
        f"{hub}/portal-users",
        data={"name": "In Vited", "email": email, "role": "member", "csrf_token": csrf_token(tech, f"{hub}/portal")},
    )
    ((mail_id, category, _),) = mails_to(app, beta, email)
    message = delivered(app, beta, mail_id, sink, port).message
    html = part(message, "html")
    assert category == "transactional" and "Choose your password" in html
    assert re.search(rf'href="http://{re.escape(beta.portal_host)}/setup/[^"]+"', html)
    assert message["List-Unsubscribe"] is None


def test_an_announcement_can_be_unsubscribed_from_and_says_so_in_its_headers(
    app: Flask, beta: World, make_user: Callable[..., MadeUser], mailsink: tuple[Sink, int]
) -> None:
    sink, port = mailsink
    person = portal_user(app, beta, "viewer")
    admin = operator_on(app, beta, make_user)
    data = {"subject": "Maintenance on Saturday", "body": "Email is down 10:00–11:00."}
    response = admin.post("/admin/portal/announce", data={**data, "csrf_token": csrf_token(admin, "/admin/portal")})
    assert response.status_code == 302, response.get_data(as_text=True)
    ((mail_id, category, subject),) = mails_to(app, beta, person.email)
    assert (category, subject) == ("announcement", "Maintenance on Saturday")
    message = delivered(app, beta, mail_id, sink, port).message
    link = message["List-Unsubscribe"].strip("<>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Unsubscribe from announcements" in part(message, "html")
    assert portal_client(app, beta.portal_host).post(link.split(beta.portal_host, 1)[1]).status_code == 200
    admin.post("/admin/portal/announce", data={**data, "csrf_token": csrf_token(admin, "/admin/portal")})
    assert len(mails_to(app, beta, person.email)) == 1  # not again


def test_a_new_setup_link_replaces_the_old_one(app: Flask, alpha: World, make_user: Callable[..., MadeUser]) -> None:
    tech = operator_on(app, alpha, make_user, "technician")
    hub = f"/customers/{pid(app, 'customer', alpha.parent)}"
    email = f"late-{uuid.uuid4().hex[:8]}@customer.test"
    first = tech.post(
        f"{hub}/portal-users",
        data={"name": "Late Comer", "email": email, "role": "member", "csrf_token": csrf_token(tech, f"{hub}/portal")},
    ).get_data(as_text=True)
    old = re.search(r'value="(http://portal\.[^"]+/setup/[^"]+)"', first)
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        person = s.scalar(select(PortalUser.id).where(PortalUser.email == email))
    second = tech.post(
        f"{hub}/portal-users/{pid(app, 'portal_user', int(person or 0))}/resend",
        data={"csrf_token": csrf_token(tech, f"{hub}/portal")},
    ).get_data(as_text=True)
    new = re.search(r'value="(http://portal\.[^"]+/setup/[^"]+)"', second)
    assert old and new and old.group(1) != new.group(1)
    client = portal_client(app, alpha.portal_host)
    assert client.get(old.group(1).split(alpha.portal_host, 1)[1]).status_code == 404
    assert client.get(new.group(1).split(alpha.portal_host, 1)[1]).status_code == 200
    assert [c for _, c, _ in mails_to(app, alpha, email)] == ["transactional", "transactional"]


def test_each_portal_write_previews_exactly_the_requests_it_sends(app: Flask, alpha: World) -> None:
    """A dry run of a portal verb shows what goes to the PSA, built by the same code that sends it (as every operator
    write's is, ``tests/test_dry_run_requests.py``)."""
    user = portal_user(app, alpha, "admin")
    ticket = a_ticket(app, alpha, alpha.sites[0])
    on_ticket = Target("ticket", str(ticket.id), f"#{ticket.external_id}")
    cases = {
        "portal.ticket_comment": (on_ticket, {"text": "Still broken after the restart."}),
        "portal.ticket_resolve": (on_ticket, {}),
        "portal.ticket_create": (Target("customer", str(alpha.sites[1]), "site"), {"summary": "Door badge reader",
                                                                                    "description": "It beeps red."}),
    }  # fmt: skip
    for verb, (target, payload) in cases.items():
        before = len(alpha.state.received())

        def act(dry: bool, verb: str = verb, target: Target = target, payload: dict[str, Any] = payload) -> Outcome:
            with app.test_request_context(), db.tenant_session(alpha.tenant.id) as s:
                return perform(verb, target, payload, actor=portal_actor(user), surface="portal", dry_run=dry,
                               session=s, tenant_id=alpha.tenant.id)  # fmt: skip

        preview = act(True)
        assert preview.result == "dry_run" and preview.preview is not None, (verb, preview.message)
        assert [r for r in alpha.state.received()[before:] if r["method"] != "GET"] == [], f"{verb}: sent"
        shown = [(r["method"], r["path"], r["body"]) for r in preview.preview.requests or []]
        done = act(False)
        assert done.ok, (verb, done.message)
        sent = [(r["method"], r["path"], r["body"]) for r in alpha.state.received()[before:] if r["method"] != "GET"]
        if verb == "portal.ticket_create":
            # The contact is found or made first: only ConnectWise's answer tells its id, a placeholder before.
            (_, _, ticket_body) = shown[-1]
            assert ticket_body["contact"] == {"id": NEW_CONTACT}
            shown[-1] = (*shown[-1][:2], {**ticket_body, "contact": {"id": int(done.response["contact"])}})
            if len(sent) == len(shown) - 1:  # ConnectWise had the contact already: nothing was made
                shown = shown[1:]
        assert shown == sent, verb


def test_a_reply_written_in_the_psa_reaches_portal_readers_by_mail_with_the_next_sync(app: Flask, alpha: World) -> None:
    """Without ConnectWise's callbacks a reply written in the PSA arrives with a sync page: its portal readers are
    told as a callback would tell them, once, and never of an internal note."""
    reader = portal_user(app, alpha, "viewer")
    ticket = a_ticket(app, alpha, alpha.parent)
    assert sync(app, alpha.setup).status == "succeeded"  # whatever earlier tests changed at the PSA arrives first
    before = len(mails_to(app, alpha, reader.email))
    number = int(ticket.external_id)
    alpha.state.add_note(number, {"text": "We replaced the toner cartridge.", "detailDescriptionFlag": True}, "tech")
    alpha.state.add_note(number, {"text": "Customer was rude on the phone.", "internalAnalysisFlag": True}, "tech")
    assert sync(app, alpha.setup).status == "succeeded"
    new = mails_to(app, alpha, reader.email)[before:]
    assert [(c, s) for _, c, s in new] == [("transactional", f"[#{ticket.external_id}] {ticket.summary}")]
    with app.app_context(), db.tenant_session(alpha.tenant.id) as s:
        mail = s.get(OutboxMail, new[0][0])
        assert mail is not None
        body = mail.body.open(alpha.tenant.id)
    assert "We replaced the toner cartridge." in body and "rude" not in body
    assert sync(app, alpha.setup).status == "succeeded"  # nothing new at the PSA: nobody is told again
    assert len(mails_to(app, alpha, reader.email)) == before + 1
