"""Tickets in the browser: reply from the hub with a status change, then find it in /tickets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import TenantFixture, pid
from tests.e2e.test_shell import sign_in
from tests.vendors.support import add_connection, serve_app, sync
from vectis.models import Connection, Contact, Customer, Ticket
from vectis.platform import db
from vectis.simulators import connectwise


@pytest.fixture
def psa_northwind(app: Flask, northwind: TenantFixture) -> Iterator[connectwise.ConnectWiseState]:
    state = connectwise.ConnectWiseState.seeded()
    for url in serve_app(connectwise.create_app(state)):
        config = {
            "site_url": url,
            "company_id": connectwise.DEMO_COMPANY_ID,
            "public_key": connectwise.DEMO_PUBLIC_KEY,
            "private_key": connectwise.DEMO_PRIVATE_KEY,
            "client_id": "",
        }
        assert sync(app, add_connection(app, northwind.id, "connectwise", config)).status == "succeeded"
        yield state
    with app.app_context(), db.system_session() as s:
        for model in (Connection, Customer):
            for row in s.scalars(select(model).where(model.tenant_id == northwind.id)):
                s.delete(row)


def test_a_technician_replies_from_the_hub_and_sees_it_in_the_queue(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        ticket = s.scalar(
            select(Ticket).where(Ticket.closed.is_(False), Ticket.customer_id.is_not(None)).order_by(Ticket.id)
        )
        assert ticket is not None
        customer_id, number, summary, ticket_id = ticket.customer_id, ticket.external_id, ticket.summary, ticket.id
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/customers/{pid(app, 'customer', customer_id)}/tickets")
    row = page.get_by_test_id("hub-ticket").filter(has_text=f"#{number}")
    row.locator("summary").click()
    detail = row.get_by_test_id("ticket-detail")
    expect(detail).to_be_visible()
    detail.get_by_label("Reply").fill("We replaced the toner; please try printing again.")
    status = detail.get_by_label("Status after sending")
    chosen = status.locator("option").nth(1).inner_text()
    status.select_option(label=chosen)
    page.screenshot(path=str(screenshots_dir / "hub-tickets.png"), full_page=True)
    detail.get_by_role("button", name="Send").click()
    updated = page.get_by_test_id("hub-ticket").filter(has_text=f"#{number}").get_by_test_id("ticket-detail")
    expect(updated).to_contain_text("sent to ConnectWise")
    expect(updated.get_by_test_id("ticket-status")).to_have_text(chosen)
    expect(updated).to_contain_text("We replaced the toner")
    expect(page.locator(f"#ticket-{ticket_id}-status")).to_have_text(chosen)  # the row's header follows
    page.screenshot(path=str(screenshots_dir / "hub-ticket-replied.png"), full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tickets").click()
    expect(page.get_by_role("heading", name="Tickets", exact=True)).to_be_visible()
    page.wait_for_load_state("load")  # htmx is deferred: a change before it loads would go unheard
    page.get_by_label("Status").select_option(label=chosen)
    expect(page).to_have_url(re.compile(r"status="))
    expect(page.get_by_test_id("ticket-queue")).to_contain_text(summary)
    page.screenshot(path=str(screenshots_dir / "tickets.png"), full_page=True)


def test_a_technician_creates_a_ticket_with_priority_and_contact(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        contact = s.scalars(select(Contact).where(Contact.customer_id.is_not(None)).order_by(Contact.id)).first()
        assert contact is not None
        customer_id, person = contact.customer_id, contact.name
    before = len(psa_northwind.tickets)
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/customers/{pid(app, 'customer', customer_id)}/tickets")
    form = page.get_by_test_id("new-ticket")
    expect(form.get_by_label("Priority")).to_have_value(re.compile(r"\d+"))  # ConnectWise's default is chosen
    form.get_by_label("Summary").fill("Scanner drops off the network")
    form.get_by_label("Priority").select_option(label="Priority 2 - High")
    choice = form.get_by_label("Contact").locator("option", has_text=person).first
    form.get_by_label("Contact").select_option(value=choice.get_attribute("value"))
    page.screenshot(path=str(screenshots_dir / "hub-new-ticket.png"), full_page=True)
    form.get_by_role("button", name="Create in ConnectWise").click()
    expect(page.get_by_role("heading", name=re.compile("Scanner drops off the network"))).to_be_visible()
    expect(page.locator("main")).to_contain_text("Priority 2 - High")
    expect(page.locator("main")).to_contain_text(person)
    assert len(psa_northwind.tickets) == before + 1
