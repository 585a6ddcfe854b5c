"""Admin → Sent mail: each message as it went out, the HTML served on its own route under a Content-Security-Policy
that runs nothing (and shown in a sandboxed frame), the text part beside it; one-time links hidden outside the demo."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import HostClient, MadeUser, csrf_token, login, pid
from tests.portal_world import World, portal_client, portal_user, world
from tests.test_portal import delivered, mails_to, part
from tests.test_portal_reset import ask
from vectis.models import OutboxMail, PortalBranding
from vectis.platform import db
from vectis.platform.mail import hide_personal_links
from vectis.platform.mailsink import Sink
from vectis.platform.mailsink import start as start_sink


@pytest.fixture(scope="module")
def where(app: Flask) -> Iterator[World]:
    for made in world(app):
        with app.app_context(), db.tenant_session(made.tenant.id) as s:
            s.add(PortalBranding(tenant_id=made.tenant.id, company_name="Harbour IT", accent="#0f766e"))
        yield made


@pytest.fixture(scope="module")
def mailsink() -> Iterator[tuple[Sink, int]]:
    sink, port, server = start_sink()
    yield sink, port
    server.shutdown()


@contextmanager
def demo(app: Flask, on: bool) -> Iterator[None]:
    before = app.config["VECTIS_DEMO"]
    app.config["VECTIS_DEMO"] = on
    try:
        yield
    finally:
        app.config["VECTIS_DEMO"] = before


def announce(admin: HostClient, subject: str, body: str) -> None:
    response = admin.post(
        "/admin/portal/announce",
        data={"subject": subject, "body": body, "csrf_token": csrf_token(admin, "/admin/portal")},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def test_the_preview_is_the_mail_as_sent_served_alone_under_a_policy_that_runs_nothing(
    app: Flask, where: World, make_user: Callable[..., MadeUser], mailsink: tuple[Sink, int]
) -> None:
    sink, port = mailsink
    person = portal_user(app, where, "viewer")
    admin = login(app, where.tenant, make_user(where.tenant, "admin").email)
    announce(admin, "Maintenance on Saturday", "Email is down 10:00–11:00.\n\n<script>alert(1)</script> stays text.")
    ((mail_id, _, _),) = mails_to(app, where, person.email)
    received = delivered(app, where, mail_id, sink, port).message
    with app.app_context(), db.tenant_session(where.tenant.id) as s:  # the brand changes after the mail went out
        branding = s.scalar(select(PortalBranding))
        assert branding is not None
        branding.company_name = "Renamed Since"

    listing = admin.get("/admin/mail").get_data(as_text=True)
    page_path = f"/admin/mail/{pid(app, 'mail', mail_id)}"
    assert f'href="{page_path}"' in listing
    page = admin.get(page_path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(rf'<iframe sandbox src="{re.escape(page_path)}/html"[^>]*title="[^"]+"', html), html
    assert "Email is down 10:00–11:00." in html and "&lt;script&gt;" in html  # the text part, escaped
    assert "<script>alert(1)" not in html

    served = admin.get(f"{page_path}/html")
    assert served.status_code == 200 and served.mimetype == "text/html"
    policy = served.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d for d in (p.strip() for p in policy.split(";")) if d}
    assert directives["default-src"] == "default-src 'none'" and directives["sandbox"] == "sandbox"
    assert "script-src" not in directives and directives["frame-ancestors"] == "frame-ancestors 'self'"
    assert served.headers["X-Frame-Options"] == "SAMEORIGIN" and served.headers["Cache-Control"] == "no-store"
    body = served.get_data(as_text=True)
    as_sent = hide_personal_links(part(received, "html"))  # its unsubscribe link is the recipient's alone
    assert body.replace("\r\n", "\n").strip() == as_sent.replace("\r\n", "\n").strip()
    assert "Harbour IT" in body and "Renamed Since" not in body  # as the recipient saw it
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body

    tech = login(app, where.tenant, make_user(where.tenant, "technician").email)
    assert tech.get(page_path).status_code == 403 and tech.get(f"{page_path}/html").status_code == 403


def test_one_time_links_are_hidden_outside_the_demo(
    app: Flask, where: World, make_user: Callable[..., MadeUser], mailsink: tuple[Sink, int]
) -> None:
    sink, port = mailsink
    person = portal_user(app, where)
    ask(portal_client(app, where.portal_host), person.email)
    ((mail_id, _, _),) = mails_to(app, where, person.email)
    delivered(app, where, mail_id, sink, port)
    with app.app_context(), db.tenant_session(where.tenant.id) as s:
        mail = s.get(OutboxMail, mail_id)
        assert mail is not None and mail.link is not None
        token = str(mail.link.open(where.tenant.id)).rsplit("/", 1)[1]
    admin = login(app, where.tenant, make_user(where.tenant, "admin").email)
    page_path = f"/admin/mail/{pid(app, 'mail', mail_id)}"
    with demo(app, False):
        page, framed = (
            admin.get(page_path).get_data(as_text=True),
            admin.get(f"{page_path}/html").get_data(as_text=True),
        )
        listing = admin.get("/admin/mail").get_data(as_text=True)
    assert token not in page and token not in framed and token not in listing
    assert "/reset/[hidden]" in page and "/reset/[hidden]" in framed
    assert "one-time links are hidden" in page
    with demo(app, True):  # the demo's mail goes to a local sink: its links are there to be followed
        assert token in admin.get(f"{page_path}/html").get_data(as_text=True)


def test_a_mail_not_sent_yet_previews_as_it_will_go_out(
    app: Flask, where: World, make_user: Callable[..., MadeUser]
) -> None:
    person = portal_user(app, where)
    admin = login(app, where.tenant, make_user(where.tenant, "admin").email)
    announce(admin, "Office move", "We move on Friday.")
    ((mail_id, _, _),) = mails_to(app, where, person.email)
    page_path = f"/admin/mail/{pid(app, 'mail', mail_id)}"
    page = admin.get(page_path).get_data(as_text=True)
    assert "Not sent yet" in page and "We move on Friday." in page
    framed = admin.get(f"{page_path}/html")
    assert framed.status_code == 200 and "We move on Friday." in framed.get_data(as_text=True)
    assert "sandbox" in framed.headers["Content-Security-Policy"]
