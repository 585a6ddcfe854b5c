"""Tickets on the REST API: the list, as the queue orders it (most recently updated at the PSA first), and one
ticket with its thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from sqlalchemy import select, tuple_

from vectis.actions.resources import (
    ActionOut,
    ActionQuery,
    Call,
    KeysetQuery,
    Moment,
    NotFound,
    Page,
    Schema,
    act,
    keyset,
    operation,
    page_of,
)
from vectis.audit.actors import Target
from vectis.models import Customer, Ticket, TicketBoard, TicketNote
from vectis.platform import public_ids


class TicketOut(Schema):
    id: str = Field(description="Public id, tkt_…")
    number: str = Field(description="The PSA's ticket number")
    summary: str
    status: str = Field(description="The board's status, as the PSA names it")
    closed: bool
    priority: str | None
    board: str | None
    customer_id: str | None = Field(description="cus_…; null while its PSA account is linked to no customer")
    customer_name: str | None
    assignee: str | None
    contact_name: str | None
    contact_email: str | None
    opened_at: datetime
    closed_at: datetime | None
    updated_at: datetime = Field(description="When the PSA last changed it: the list's order")
    sla_name: str | None
    in_sla: bool | None = Field(description="The PSA's current word on its SLA; null: no SLA, or not said")


class TicketNoteOut(Schema):
    body: str
    internal: bool = Field(description="An internal note, not a reply the customer sees")
    author: str | None
    written_at: datetime


class TicketDetailOut(TicketOut):
    notes: list[TicketNoteOut] = Field(description="Public replies and internal notes, oldest first, newest last")


def _fields(t: Ticket, customer_name: str | None, board: str | None) -> dict[str, Any]:
    return {
        "id": public_ids.encode("ticket", t.id),
        "number": t.external_id,
        "summary": t.summary,
        "status": t.status_name,
        "closed": t.closed,
        "priority": t.priority,
        "board": board,
        "customer_id": public_ids.encode("customer", t.customer_id) if t.customer_id else None,
        "customer_name": customer_name,
        "assignee": t.assignee,
        "contact_name": t.contact_name,
        "contact_email": t.contact_email,
        "opened_at": t.opened_at,
        "closed_at": t.closed_at,
        "updated_at": t.vendor_updated_at,
        "sla_name": t.sla_name,
        "in_sla": t.in_sla,
    }


def _tickets() -> Any:
    return (
        select(Ticket, Customer.name, TicketBoard.name)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(TicketBoard, TicketBoard.id == Ticket.board_id)
    )


class TicketQuery(KeysetQuery):
    shape = (datetime, "ticket")
    status: str | None = Field(default=None, max_length=200, description="The status's exact name")
    closed: bool | None = Field(default=None, description="Only closed tickets (true) or open ones (false)")
    customer_id: str | None = Field(default=None, description="Only this customer's tickets (cus_…)")
    assignee: str | None = Field(default=None, max_length=200, description="The owner's name, as the PSA gives it")
    updated_since: Moment | None = Field(default=None, description="Changed at the PSA at or after this moment")


@operation(
    "GET", "/tickets", scope="read", summary="List tickets, most recently updated first", tag="Tickets",
    response=TicketOut, query=TicketQuery, paged=True,
)  # fmt: skip
def list_tickets(call: Call) -> Page[TicketOut]:
    query: TicketQuery = call.query
    statement = _tickets().order_by(Ticket.vendor_updated_at.desc(), Ticket.id.desc()).limit(query.limit + 1)
    if query.status:
        statement = statement.where(Ticket.status_name == query.status)
    if query.closed is not None:
        statement = statement.where(Ticket.closed.is_(query.closed))
    if query.customer_id:
        customer = public_ids.decode("customer", query.customer_id)
        if customer is None:
            return Page[TicketOut](data=[], next_cursor=None)  # no such customer here: no tickets of it
        statement = statement.where(Ticket.customer_id == customer)
    if query.assignee:
        statement = statement.where(Ticket.assignee == query.assignee)
    if query.updated_since:
        statement = statement.where(Ticket.vendor_updated_at >= query.updated_since)
    if after := query.after:
        statement = statement.where(tuple_(Ticket.vendor_updated_at, Ticket.id) < tuple_(*after))
    rows = [TicketOut(**_fields(t, name, board)) for t, name, board in call.session.execute(statement)]
    return page_of(rows, query.limit, lambda t: keyset(t.updated_at, t.id))


@operation(
    "GET", "/tickets/{ticket_id}", scope="read", summary="Get a ticket with its notes", tag="Tickets",
    response=TicketDetailOut,
)  # fmt: skip
def get_ticket(call: Call, ticket_id: int) -> TicketDetailOut:
    found = call.session.execute(_tickets().where(Ticket.id == ticket_id)).first()
    if found is None:
        raise NotFound("ticket")
    ticket, name, board = found
    notes = call.session.scalars(
        select(TicketNote).where(TicketNote.ticket_id == ticket.id).order_by(TicketNote.written_at, TicketNote.id)
    )
    return TicketDetailOut(
        **_fields(ticket, name, board),
        notes=[
            TicketNoteOut(body=n.body, internal=n.internal, author=n.author, written_at=n.written_at) for n in notes
        ],
    )


class ReplyIn(Schema):
    text: str = Field(min_length=1, max_length=20_000, description="The reply, or the internal note")
    internal: bool = Field(default=False, description="An internal note, not sent to the contact")


@operation(
    "POST", "/tickets/{ticket_id}/reply", scope="write:tickets", summary="Reply to a ticket, or add an internal note",
    tag="Tickets", response=ActionOut, query=ActionQuery, body=ReplyIn,
)  # fmt: skip
def reply_to_ticket(call: Call, ticket_id: int) -> ActionOut:
    """Written in the ticket's PSA, in your name."""
    ticket = call.get(Ticket, ticket_id, "ticket")
    body: ReplyIn = call.body
    target = Target("ticket", str(ticket.id), f"#{ticket.external_id}")
    return act(call, "ticket.reply", target, {"text": body.text, "internal": body.internal})
