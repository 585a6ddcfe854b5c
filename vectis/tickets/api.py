"""Tickets on the REST API: the list, as the queue orders it (most recently updated at the PSA first), one ticket
with its thread, and the writes its page offers (reply, status, owner, priority) and New ticket's, each through the
verb the page uses with the payload the page sends.

The page's controls post row keys; a client names a status, a member, a priority, a board or a contact as people do
(its name) or by the id the choices operations list, and the handler turns that into the row key the verb takes. So
an API write and the same write from the page leave the same audit row, but for its surface."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, TypeVar

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
    Problem,
    Schema,
    Text,
    act,
    acted,
    id_shape,
    keyset,
    operation,
    page_of,
)
from vectis.audit.actors import Target
from vectis.models import Customer, Ticket, TicketBoard, TicketNote
from vectis.platform import public_ids
from vectis.tickets import queries
from vectis.tickets.verbs import UNASSIGNED

C = TypeVar("C")


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
    return act(call, "ticket.reply", _target(ticket), {"text": body.text, "internal": body.internal})


def _target(ticket: Ticket) -> Target:
    """A ticket as its page's writes name it in the audit log."""
    return Target("ticket", str(ticket.id), f"#{ticket.external_id}")


# --- what a ticket can be set to, and setting it ------------------------------------------------------------


class ChoiceOut(Schema):
    id: str = Field(description="The PSA's own id for it")
    name: str


class StatusChoiceOut(ChoiceOut):
    closed: bool = Field(description="Moving the ticket here closes it")


class MemberChoiceOut(ChoiceOut):
    identifier: str | None = Field(description="The member's sign-in name at the PSA")


class TicketChoicesOut(Schema):
    statuses: list[StatusChoiceOut] = Field(description="The ticket's board's statuses, in the board's order")
    members: list[MemberChoiceOut] = Field(description="Whom it can be assigned to: the PSA's active members")
    priorities: list[ChoiceOut] = Field(description="The PSA's priorities, in its order")


@operation(
    "GET", "/tickets/{ticket_id}/choices", scope="read", tag="Tickets", response=TicketChoicesOut,
    summary="What a ticket's status, owner and priority can be set to, as its page offers them",
)  # fmt: skip
def get_ticket_choices(call: Call, ticket_id: int) -> TicketChoicesOut:
    offered = queries.controls(call.session, call.get(Ticket, ticket_id, "ticket"))
    return TicketChoicesOut(
        statuses=[StatusChoiceOut(id=st.external_id, name=st.name, closed=st.closed) for st in offered.statuses],
        members=[MemberChoiceOut(id=m.external_id, name=m.name, identifier=m.identifier) for m in offered.members],
        priorities=[ChoiceOut(id=p.external_id, name=p.name) for p in offered.priorities],
    )


def _chosen(
    options: Sequence[C],
    wanted: str,
    *,
    id_of: Callable[[C], str],
    names_of: Callable[[C], Iterable[str | None]],
    kind: str,
    missing: str,
    listed: str,
) -> C:
    """The option ``wanted`` names: the one whose id it is, else the only one it is the name of (or a member's
    identifier, a contact's e-mail). Anything else is a 422 saying what there is to choose from: a client that
    guessed learns the choices from the answer."""
    by_id = [o for o in options if id_of(o) == wanted]
    if by_id:  # ids are unique where they are offered (the unique indexes)
        return by_id[0]
    named = [o for o in options if wanted in names_of(o)]
    if len(named) == 1:
        return named[0]
    if named:
        raise Problem(422, f"{len(named)} {kind} are called “{wanted}”: send the id of the one you mean ({listed}).")
    names = list(dict.fromkeys(str(next(iter(names_of(o)))) for o in options))
    if not names:
        raise Problem(
            422, f"“{wanted}” is not {missing}: Vectis knows of no {kind} there (a sync of the PSA brings them)."
        )
    shown = ", ".join(names[:25]) + (", …" if len(names) > 25 else "")
    raise Problem(422, f"“{wanted}” is not {missing}. Choose one of: {shown} (or its id: {listed}).")


class StatusIn(Schema):
    status: Text = Field(
        min_length=1,
        max_length=200,
        description="The status's exact name on the ticket's board, or its id (GET /tickets/{ticket_id}/choices)",
    )


CHOICES = "GET /tickets/{ticket_id}/choices"


@operation(
    "POST", "/tickets/{ticket_id}/status", scope="write:tickets", summary="Change a ticket's status", tag="Tickets",
    response=ActionOut, query=ActionQuery, body=StatusIn,
)  # fmt: skip
def set_ticket_status(call: Call, ticket_id: int) -> ActionOut:
    ticket = call.get(Ticket, ticket_id, "ticket")
    body: StatusIn = call.body
    board = call.session.get(TicketBoard, ticket.board_id) if ticket.board_id else None
    status = _chosen(
        queries.controls(call.session, ticket).statuses, body.status, id_of=lambda st: st.external_id,
        names_of=lambda st: [st.name], kind="statuses", missing=f"a status of this ticket's board ({board.name if board else 'none'})",
        listed=CHOICES,
    )  # fmt: skip
    return act(call, "ticket.update_status", _target(ticket), {"status_id": str(status.id)})


class AssigneeIn(Schema):
    member: Text | None = Field(
        max_length=200,
        description="The PSA member's identifier, name or id (GET /tickets/{ticket_id}/choices); null: unassign it",
    )


@operation(
    "POST", "/tickets/{ticket_id}/assignee", scope="write:tickets", summary="Assign a ticket, or unassign it",
    tag="Tickets", response=ActionOut, query=ActionQuery, body=AssigneeIn,
)  # fmt: skip
def assign_ticket(call: Call, ticket_id: int) -> ActionOut:
    ticket = call.get(Ticket, ticket_id, "ticket")
    body: AssigneeIn = call.body
    chosen = UNASSIGNED  # said outright (null), as the page's "Unassigned": a missing member is a 422, never nobody
    if body.member is not None:
        member = _chosen(
            queries.controls(call.session, ticket).members, body.member, id_of=lambda m: m.external_id,
            names_of=lambda m: [m.name, m.identifier], kind="members", missing="one of the PSA's active members", listed=CHOICES,
        )  # fmt: skip
        chosen = str(member.id)
    return act(call, "ticket.assign", _target(ticket), {"member_id": chosen})


class PriorityIn(Schema):
    priority: Text = Field(
        min_length=1, max_length=200, description="The priority's name or id (GET /tickets/{ticket_id}/choices)"
    )


@operation(
    "POST", "/tickets/{ticket_id}/priority", scope="write:tickets", summary="Change a ticket's priority",
    tag="Tickets", response=ActionOut, query=ActionQuery, body=PriorityIn,
)  # fmt: skip
def set_ticket_priority(call: Call, ticket_id: int) -> ActionOut:
    ticket = call.get(Ticket, ticket_id, "ticket")
    body: PriorityIn = call.body
    priority = _chosen(
        queries.controls(call.session, ticket).priorities, body.priority, id_of=lambda p: p.external_id,
        names_of=lambda p: [p.name], kind="priorities", missing="one of the PSA's priorities", listed=CHOICES,
    )  # fmt: skip
    return act(call, "ticket.set_priority", _target(ticket), {"priority_id": str(priority.id)})


# --- a new ticket ---------------------------------------------------------------------------------------------


class BoardChoiceOut(Schema):
    id: str = Field(description="Public id, brd_…")
    name: str
    psa: str = Field(description="The PSA it is on (“ConnectWise”)")
    default: bool = Field(description="The customer's usual board: the one a new ticket goes on unless told")


class PriorityChoiceOut(ChoiceOut):
    psa: str
    default: bool = Field(description="The PSA's default priority: a new ticket's unless told")


class ContactChoiceOut(ChoiceOut):
    email: str | None
    psa: str
    default: bool = Field(description="The customer's main contact: a new ticket's unless told")


class NewTicketChoicesOut(Schema):
    boards: list[BoardChoiceOut]
    priorities: list[PriorityChoiceOut]
    contacts: list[ContactChoiceOut] = Field(description="The customer's own contacts")


def _new_ticket_form(call: Call, customer_id: int) -> tuple[Customer, queries.NewTicketForm]:
    """The New ticket form's choices for the customer, but a site's contacts: the PSA takes only the company's own
    on its ticket (``ticket.create`` refuses the others), so a client is never offered one that cannot be sent."""
    customer = call.get(Customer, customer_id, "customer")
    form = queries.new_ticket_for(call.session, customer)
    return customer, replace(form, contacts=[c for c in form.contacts if c.customer_id == customer.id])


@operation(
    "GET", "/customers/{customer_id}/ticket-choices", scope="read", tag="Tickets", response=NewTicketChoicesOut,
    summary="What a new ticket for a customer can be: boards, priorities, contacts, as the New ticket form offers them",
)  # fmt: skip
def get_new_ticket_choices(call: Call, customer_id: int) -> NewTicketChoicesOut:
    _, form = _new_ticket_form(call, customer_id)
    psa = queries.nouns(call.session)
    return NewTicketChoicesOut(
        boards=[
            BoardChoiceOut(
                id=public_ids.encode("board", b.id),
                name=b.name,
                psa=psa[b.connection_id],
                default=b.id == form.board_id,
            )
            for b in form.boards
        ],
        priorities=[
            PriorityChoiceOut(id=p.external_id, name=p.name, psa=psa[p.connection_id], default=p.id == form.priority_id)
            for p in form.priorities
        ],
        contacts=[
            ContactChoiceOut(
                id=c.external_id, name=c.name, email=c.email, psa=psa[c.connection_id], default=c.id == form.contact_id
            )
            for c in form.contacts
        ],
    )


NEW_CHOICES = "GET /customers/{customer_id}/ticket-choices"


class NewTicketIn(Schema):
    customer_id: Annotated[str, id_shape("customer")] = Field(description="The customer it is for (cus_…)")
    summary: Text = Field(min_length=1, max_length=100)
    description: Text | None = Field(default=None, max_length=20_000, description="What the customer needs")
    board: Text | None = Field(
        default=None,
        max_length=200,
        description=f"The board's name, or its id ({NEW_CHOICES}); left out or null: the customer's usual board",
    )
    priority: Text | None = Field(
        default=None,
        max_length=200,
        description="The priority's name or id; left out: the PSA's default priority, as the New ticket form "
        "preselects it; null: none (the PSA decides)",
    )
    contact: Text | None = Field(
        default=None,
        max_length=320,
        description="The contact's name, e-mail or id; left out: the customer's main contact, as the New ticket "
        "form preselects it; null: no contact",
    )


class CreatedTicketOut(ActionOut):
    ticket_id: str | None = Field(
        default=None,
        description="The new ticket, tkt_…; null on a dry run, while it waits for the PSA's rate limit, "
        "or if Vectis could not read it back yet (the message says so)",
    )
    number: str | None = Field(default=None, description="Its number at the PSA, once created")


def _preselected(body: NewTicketIn, field: str, preselected: C | None, choose: Callable[[str], C]) -> C | None:
    """A choice of New ticket's that a client may leave out: then the one the form preselects; null: none."""
    if field not in body.model_fields_set:
        return preselected
    wanted = getattr(body, field)
    return None if wanted is None else choose(wanted)


@operation(
    "POST", "/tickets", scope="write:tickets", summary="Create a ticket for a customer", tag="Tickets",
    response=CreatedTicketOut, query=ActionQuery, body=NewTicketIn,
)  # fmt: skip
def create_ticket(call: Call) -> CreatedTicketOut:
    body: NewTicketIn = call.body
    key = public_ids.decode("customer", body.customer_id)
    if key is None:
        raise NotFound("customer")
    customer, form = _new_ticket_form(call, key)
    if body.board is not None:
        board = _chosen(
            form.boards, body.board, id_of=lambda b: public_ids.encode("board", b.id), names_of=lambda b: [b.name],
            kind="boards", missing="an active board", listed=NEW_CHOICES,
        )  # fmt: skip
    else:
        usual = next((b for b in form.boards if b.id == form.board_id), None)
        if usual is None:
            raise Problem(422, "There is no board to put the ticket on: connect a PSA (Admin → Integrations).")
        board = usual
    # Priorities and contacts are the board's PSA's: another PSA's would not mean anything there.
    priorities = [p for p in form.priorities if p.connection_id == board.connection_id]
    contacts = [c for c in form.contacts if c.connection_id == board.connection_id]
    psa = queries.nouns(call.session).get(board.connection_id, "the PSA")
    priority = _preselected(
        body, "priority", next((p for p in priorities if p.id == form.priority_id), None),
        lambda wanted: _chosen(
            priorities, wanted, id_of=lambda p: p.external_id, names_of=lambda p: [p.name], kind="priorities",
            missing=f"one of {psa}'s priorities", listed=NEW_CHOICES,
        ),
    )  # fmt: skip
    contact = _preselected(
        body, "contact", next((c for c in contacts if c.id == form.contact_id), None),
        lambda wanted: _chosen(
            contacts, wanted, id_of=lambda c: c.external_id, names_of=lambda c: [c.name, c.email], kind="contacts",
            missing=f"one of {customer.name}'s contacts at {psa}", listed=NEW_CHOICES,
        ),
    )  # fmt: skip
    payload = {  # as the New ticket form posts it (vectis/views/tickets.py, NEW_TICKET_FIELDS)
        "summary": body.summary,
        "board_id": str(board.id),
        "priority_id": str(priority.id) if priority else "",
        "contact_id": str(contact.id) if contact else "",
        "description": body.description or "",
    }
    answer, outcome = acted(call, "ticket.create", Target("customer", str(customer.id), customer.name), payload)
    created = outcome.response.get("ticket_id") if outcome.ok else None
    number = (outcome.response.get("vendor") or {}).get("id") if outcome.ok else None
    return CreatedTicketOut(
        **answer.model_dump(),
        ticket_id=public_ids.encode("ticket", created) if created else None,
        number=str(number) if number else None,
    )
