"""Writing to a ticket from its page and the New ticket forms, as a technician signed in to a workspace of its own
whose ConnectWise is the simulator over real HTTP: what the page says and keeps for each outcome."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select, update

from tests.conftest import HostClient, MadeUser, TenantFixture, csrf_token, login, pid
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync
from tests.vendors.test_connectwise import a_failed_backup_alert, config
from vectis.models import (
    AuditEntry,
    Connection,
    Customer,
    PsaMember,
    QueuedAction,
    Tenant,
    Ticket,
    TicketPriority,
    TicketStatus,
)
from vectis.platform import db
from vectis.platform.queues import redis
from vectis.platform.ratelimit import TokenBucket
from vectis.simulators.connectwise import ConnectWiseState, create_app
from vectis.tickets import queries as tickets


@dataclass
class Desk:
    tenant: TenantFixture
    setup: Setup
    state: ConnectWiseState
    tech: HostClient


@pytest.fixture
def desk(app: Flask, make_user: Callable[..., MadeUser]) -> Iterator[Desk]:
    """A workspace of its own (so its rate-limit bucket and rows are its own), synced from ConnectWise."""
    state = ConnectWiseState.seeded()
    for url in serve_app(create_app(state)):
        tenant_id = new_tenant(app)
        with app.app_context(), db.system_session() as s:
            slug = s.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
        tenant = TenantFixture(tenant_id, str(slug), f"{slug}.localhost", "", {})
        setup = add_connection(app, tenant_id, "connectwise", config(url))
        assert sync(app, setup).status == "succeeded"
        tech = make_user(tenant, "technician")
        yield Desk(tenant, setup, state, login(app, tenant, tech.email))


def an_open_ticket(app: Flask, desk: Desk, *, owned: bool = False) -> Ticket:
    """An open ticket on a board and, with ``owned``, one someone is assigned to."""
    owner = Ticket.assignee_external_id.is_not(None) if owned else Ticket.customer_id.is_not(None)
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        ticket = s.scalar(
            select(Ticket).where(Ticket.closed.is_(False), Ticket.board_id.is_not(None), owner).order_by(Ticket.id)
        )
        assert ticket is not None
        s.expunge(ticket)
        return ticket


def busy(app: Flask, desk: Desk) -> None:
    """ConnectWise's requests for the next while are spent (a sync just used them): a write has to wait."""
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        s.execute(
            update(Connection).where(Connection.id == desk.setup.connection_id).values(rate_limit_per_second=0.01)
        )
    with app.app_context():
        bucket = TokenBucket(redis(), f"connection:{desk.tenant.id}:{desk.setup.connection_id}", 0.01, 1)
        while bucket.try_take() == 0:
            pass


def queued(app: Flask, desk: Desk, verb: str) -> int:
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        return len(s.scalars(select(QueuedAction.id).where(QueuedAction.verb == verb)).all())


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", html)


QUEUED = "Queued — ConnectWise is busy; Vectis will send it shortly."


def test_a_reply_queued_for_the_rate_limit_is_accepted_and_its_draft_cleared(app: Flask, desk: Desk) -> None:
    ticket = an_open_ticket(app, desk)
    page = f"/tickets/{pid(app, 'ticket', ticket.id)}"
    busy(app, desk)
    notes = sum(len(n) for n in desk.state.notes.values())
    response = desk.tech.post(
        f"{page}/reply",
        data={"text": "Swapping the fuser this afternoon.", "csrf_token": csrf_token(desk.tech, page)},
        headers={"HX-Request": "true"},
    )
    html = text_of(response.get_data(as_text=True))
    assert response.status_code == 200, html
    assert f'<div class="flash flash-info" role="status">{QUEUED}</div>' in html
    assert "flash-error" not in html and "Swapping the fuser" not in html  # the draft went with it
    assert queued(app, desk, "ticket.reply") == 1
    assert sum(len(n) for n in desk.state.notes.values()) == notes  # the worker sends it, not the request

    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        other = s.scalar(
            select(TicketStatus.id).where(TicketStatus.board_id == ticket.board_id, TicketStatus.id != ticket.status_id)
        )
    response = desk.tech.post(
        f"{page}/status",
        data={"status_id": str(other), "csrf_token": csrf_token(desk.tech, page)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and QUEUED in response.get_data(as_text=True)
    assert queued(app, desk, "ticket.update_status") == 1


def test_a_new_ticket_queued_for_the_rate_limit_is_accepted_from_the_hub_and_from_tickets(
    app: Flask, desk: Desk
) -> None:
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        customer = s.scalar(select(Customer).join(Ticket, Ticket.customer_id == Customer.id).limit(1))
        assert customer is not None
        board_id = tickets.new_ticket_for(s, customer).board_id
        customer_id = customer.id
    hub = f"/customers/{pid(app, 'customer', customer_id)}/tickets"
    before = len(desk.state.tickets)
    busy(app, desk)
    form = {
        "summary": "Laptop for the new starter",
        "board_id": str(board_id),
        "csrf_token": csrf_token(desk.tech, hub),
    }
    response = desk.tech.post(hub, data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith(hub), response.get_data(as_text=True)
    shown = text_of(desk.tech.get(hub).get_data(as_text=True))
    assert f'<div class="flash flash-info" role="status">{QUEUED}</div>' in shown

    form = {**form, "customer": pid(app, "customer", customer_id), "csrf_token": csrf_token(desk.tech, "/tickets/new")}
    response = desk.tech.post("/tickets/new", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/tickets")
    assert QUEUED in desk.tech.get("/tickets").get_data(as_text=True)
    assert queued(app, desk, "ticket.create") == 2 and len(desk.state.tickets) == before


def assigned_ticket(app: Flask, desk: Desk) -> tuple[Ticket, str]:
    """An open ticket someone owns, and its page."""
    ticket = an_open_ticket(app, desk, owned=True)
    return ticket, f"/tickets/{pid(app, 'ticket', ticket.id)}"


def test_assign_unassigns_only_when_told_unassigned_and_a_missing_choice_is_an_error(app: Flask, desk: Desk) -> None:
    ticket, page = assigned_ticket(app, desk)
    owner = desk.state.tickets[int(ticket.external_id)].owner_id
    assert owner is not None
    html = desk.tech.get(page).get_data(as_text=True)
    assert '<option value="none">Unassigned</option>' in html

    # A select whose chosen option is disabled sends nothing: that is no answer, never "nobody".
    for sent in ({}, {"member_id": ""}, {"member_id": "somebody"}):
        response = desk.tech.post(
            f"{page}/assign", data={**sent, "csrf_token": csrf_token(desk.tech, page)}, headers={"HX-Request": "true"}
        )
        assert response.status_code == 422, sent
        assert "flash-error" in response.get_data(as_text=True)
        assert desk.state.tickets[int(ticket.external_id)].owner_id == owner
    assert "Choose whom to assign the ticket to, or Unassigned." in desk.tech.post(
        f"{page}/assign", data={"csrf_token": csrf_token(desk.tech, page)}, headers={"HX-Request": "true"}
    ).get_data(as_text=True)

    response = desk.tech.post(
        f"{page}/assign",
        data={"member_id": "none", "csrf_token": csrf_token(desk.tech, page)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert f"Ticket #{ticket.external_id} is no longer assigned to anyone." in response.get_data(as_text=True)
    assert desk.state.tickets[int(ticket.external_id)].owner_id is None
    assert '<option value="none" selected>Unassigned</option>' in desk.tech.get(page).get_data(as_text=True)


def test_asking_for_what_a_ticket_already_is_sends_nothing_and_audits_nothing(app: Flask, desk: Desk) -> None:
    ticket, page = assigned_ticket(app, desk)
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        owner = s.scalar(select(PsaMember).where(PsaMember.external_id == ticket.assignee_external_id))
        priority = s.scalar(select(TicketPriority).where(TicketPriority.external_id == ticket.priority_external_id))
        status = s.get(TicketStatus, ticket.status_id)
        assert owner is not None and priority is not None and status is not None
        asked = {
            "assign": ("member_id", owner.id, f"Already assigned to {owner.name}"),
            "priority": ("priority_id", priority.id, f"Already {priority.name}"),
            "status": ("status_id", status.id, f"Already {status.name}"),
        }

    def audited() -> int:
        with app.app_context(), db.tenant_session(desk.tenant.id) as s:
            return len(s.scalars(select(AuditEntry.id).where(AuditEntry.target_id == str(ticket.id))).all())

    before, sent = audited(), desk.state.stats()["total"]
    for control, (field, value, words) in asked.items():
        response = desk.tech.post(
            f"{page}/{control}",
            data={field: str(value), "csrf_token": csrf_token(desk.tech, page)},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 200, control
        assert f"{words}: nothing was sent to ConnectWise." in response.get_data(as_text=True), control
    assert desk.state.stats()["total"] == sent and audited() == before

    unassigned = desk.tech.post(f"{page}/assign", data={"member_id": "none", "csrf_token": csrf_token(desk.tech, page)})
    assert unassigned.status_code == 302 and audited() == before + 1  # a change: sent and audited
    again = desk.tech.post(
        f"{page}/assign",
        data={"member_id": "none", "csrf_token": csrf_token(desk.tech, page)},
        headers={"HX-Request": "true"},
    )
    assert "Already unassigned: nothing was sent to ConnectWise." in again.get_data(as_text=True)
    assert audited() == before + 1


def a_customer_with_tickets(app: Flask, desk: Desk) -> tuple[int, str]:
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        customer = s.scalar(select(Customer).join(Ticket, Ticket.customer_id == Customer.id).limit(1))
        assert customer is not None
        return customer.id, customer.name


def test_choosing_the_customer_of_a_new_ticket_never_puts_what_was_typed_in_a_url(app: Flask, desk: Desk) -> None:
    """A GET's query string lands in access logs and browser history; a ticket's text must not."""
    customer_id, _ = a_customer_with_tickets(app, desk)
    page = desk.tech.get("/tickets/new").get_data(as_text=True)
    start = page.index('id="new-ticket-card"')
    card = page[start : page.index("</section>", start)]
    assert "hx-get" not in card and 'hx-post="/tickets/new/customer"' in card

    typed = {"summary": "Payroll PC will not boot", "description": "BitLocker recovery key asked for"}
    chosen = desk.tech.post(
        "/tickets/new/customer",
        data={
            "customer": pid(app, "customer", customer_id),
            **typed,
            "csrf_token": csrf_token(desk.tech, "/tickets/new"),
        },
        headers={"HX-Request": "true"},
    )
    html = chosen.get_data(as_text=True)
    assert chosen.status_code == 200 and html.lstrip().startswith('<section class="card card-narrow new-ticket"')
    assert 'value="Payroll PC will not boot"' in html and ">BitLocker recovery key asked for</textarea>" in html
    assert 'name="board_id"' in html

    # The page by its URL (no script: the Choose button) takes the customer only, never text.
    url = f"/tickets/new?customer={pid(app, 'customer', customer_id)}&summary=Payroll+PC&description=BitLocker"
    html = desk.tech.get(url).get_data(as_text=True)
    assert 'name="board_id"' in html and "Payroll PC" not in html and "BitLocker" not in html


def test_an_alert_opened_as_a_ticket_while_connectwise_is_busy_is_told_queued_not_failed(
    app: Flask, desk: Desk
) -> None:
    alert_id, _, _ = a_failed_backup_alert(app, desk.setup)
    alerts = "/alerts"
    busy(app, desk)
    before = len(desk.state.tickets)
    response = desk.tech.post(
        f"/alerts/{pid(app, 'alert', alert_id)}/ticket",
        data={"csrf_token": csrf_token(desk.tech, alerts), "next": alerts},
        follow_redirects=True,
    )
    html = text_of(response.get_data(as_text=True))
    assert response.status_code == 200, html
    assert f'<div class="flash flash-info" role="status">{QUEUED}</div>' in html and "flash-error" not in html
    assert queued(app, desk, "alert.open_ticket") == 1
    assert len(desk.state.tickets) == before  # the worker opens it, not the request
