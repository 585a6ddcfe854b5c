"""Customers on the REST API: the list (with a name search), one customer, its accounts at its tools, and its timeline
and internal notes (the customer's and its sites', as its hub shows them)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy import select, tuple_

from vectis.actions.resources import (
    ActionOut,
    ActionQuery,
    Call,
    KeysetQuery,
    Moment,
    Page,
    Schema,
    Text,
    act,
    keyset,
    operation,
    page_of,
)
from vectis.audit.actors import Target
from vectis.customers.timeline import kind_label
from vectis.models import Connection, Customer, CustomerLink, CustomerNote, LinkStatus, TimelineEvent, User
from vectis.platform import db, public_ids


class CustomerOut(Schema):
    id: str = Field(description="Public id, cus_…")
    name: str
    parent_id: str | None = Field(description="The customer this one is a site of")
    location: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    tags: list[str]
    created_at: datetime

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(
            id=public_ids.encode("customer", c.id),
            name=c.name,
            parent_id=public_ids.encode("customer", c.parent_id) if c.parent_id else None,
            location=c.location,
            contact_name=c.contact_name,
            contact_email=c.contact_email,
            contact_phone=c.contact_phone,
            tags=list(c.tags or []),
            created_at=c.created_at,
        )


class CustomerQuery(KeysetQuery):
    shape = ("customer",)

    q: Text | None = Field(default=None, max_length=100, description="Words of the name, matched anywhere")


@operation(
    "GET", "/customers", scope="read", summary="List customers", tag="Customers", response=CustomerOut,
    query=CustomerQuery, paged=True,
)  # fmt: skip
def list_customers(call: Call) -> Page[CustomerOut]:
    """Name, sites, contact and tags; q finds them by name words."""
    query: CustomerQuery = call.query
    statement = select(Customer).order_by(Customer.id).limit(query.limit + 1)
    if after := query.after:
        statement = statement.where(Customer.id > after[0])
    for word in (query.q or "").split()[:5]:
        statement = statement.where(Customer.name.ilike(db.containing(word), escape=db.LIKE_ESCAPE))
    rows = [CustomerOut.of(c) for c in call.session.scalars(statement)]
    return page_of(rows, query.limit, lambda c: keyset(c.id))


@operation(
    "GET", "/customers/{customer_id}", scope="read", summary="Get a customer", tag="Customers", response=CustomerOut
)
def get_customer(call: Call, customer_id: int) -> CustomerOut:
    customer = call.get(Customer, customer_id, "customer")
    return CustomerOut.of(customer)


def _family(call: Call, customer_id: int) -> list[int]:
    """The customer and its sites, as its hub shows them; NotFound for one not in this workspace."""
    customer = call.get(Customer, customer_id, "customer")
    return [customer.id, *call.session.scalars(select(Customer.id).where(Customer.parent_id == customer.id))]


def _customer(key: int | None) -> str | None:
    return public_ids.encode("customer", key) if key else None


class EventOut(Schema):
    id: str = Field(description="Public id, evt_…")
    customer_id: str | None = Field(description="The customer or the site it happened at (cus_…)")
    occurred_at: datetime
    source: str = Field(description="The tool it came from, as people name it (“Note” for an internal note)")
    kind: str = Field(description="backup.security, ticket.opened, note, …")
    kind_label: str = Field(description="The kind in words")
    title: str
    detail: str | None
    severity: str | None
    ticket_id: str | None = Field(description="The ticket a ticket entry is about (tkt_…)")
    note_id: str | None = Field(description="The internal note this entry is (not_…)")


class TimelineQuery(KeysetQuery):
    shape = (datetime, "timeline_event")
    since: Moment | None = Field(default=None, description="At or after this moment")
    until: Moment | None = Field(default=None, description="Before this moment")
    source: str | None = Field(default=None, max_length=40, description="Only this tool's events (“Note”: notes)")


@operation(
    "GET", "/customers/{customer_id}/timeline", scope="read", summary="A customer's timeline, newest first",
    tag="Customers", response=EventOut, query=TimelineQuery, paged=True, tool="get_timeline",
)  # fmt: skip
def customer_timeline(call: Call, customer_id: int) -> Page[EventOut]:
    """Every tool's events and the team's notes, merged."""
    query: TimelineQuery = call.query
    event = TimelineEvent
    statement = (
        select(event)
        .where(event.customer_id.in_(_family(call, customer_id)))
        .order_by(event.occurred_at.desc(), event.id.desc())
        .limit(query.limit + 1)
    )
    if query.since:
        statement = statement.where(event.occurred_at >= query.since)
    if query.until:
        statement = statement.where(event.occurred_at < query.until)
    if query.source:
        statement = statement.where(event.source == query.source)
    if after := query.after:
        statement = statement.where(tuple_(event.occurred_at, event.id) < tuple_(*after))
    rows = [
        EventOut(
            id=public_ids.encode("timeline_event", e.id),
            customer_id=_customer(e.customer_id),
            occurred_at=e.occurred_at,
            source=e.source,
            kind=e.kind,
            kind_label=kind_label(e.kind),
            title=e.title,
            detail=e.detail,
            severity=e.severity,
            ticket_id=public_ids.encode("ticket", e.ticket_id) if e.ticket_id else None,
            note_id=public_ids.encode("note", e.note_id) if e.note_id else None,
        )
        for e in call.session.scalars(statement)
    ]
    return page_of(rows, query.limit, lambda e: keyset(e.occurred_at, e.id))


class NoteOut(Schema):
    id: str = Field(description="Public id, not_…")
    customer_id: str | None = Field(description="The customer or the site it is about (cus_…)")
    body: str
    author: str | None = Field(description="Who wrote it; null once their account is gone")
    occurred_at: datetime = Field(description="When what it tells happened (when it was written, unless pinned)")
    created_at: datetime
    updated_at: datetime


class NoteQuery(KeysetQuery):
    shape = (datetime, "note")


@operation(
    "GET", "/customers/{customer_id}/notes", scope="read", summary="A customer's internal notes, newest first",
    tag="Customers", response=NoteOut, query=NoteQuery, paged=True, tool="list_notes",
)  # fmt: skip
def customer_notes(call: Call, customer_id: int) -> Page[NoteOut]:
    query: NoteQuery = call.query
    note = CustomerNote
    statement = (
        select(note, User.name)
        .outerjoin(User, User.id == note.author_id)
        .where(note.customer_id.in_(_family(call, customer_id)))
        .order_by(note.occurred_at.desc(), note.id.desc())
        .limit(query.limit + 1)
    )
    if after := query.after:
        statement = statement.where(tuple_(note.occurred_at, note.id) < tuple_(*after))
    rows = [
        NoteOut(
            id=public_ids.encode("note", n.id),
            customer_id=_customer(n.customer_id),
            body=n.body,
            author=author,
            occurred_at=n.occurred_at,
            created_at=n.created_at,
            updated_at=n.updated_at,
        )
        for n, author in call.session.execute(statement)
    ]
    return page_of(rows, query.limit, lambda n: keyset(n.occurred_at, n.id))


class LinkOut(Schema):
    id: str = Field(description="Public id, lnk_…")
    customer_id: str = Field(description="The customer or the site the account is (cus_…)")
    connection_id: str = Field(description="The integration it comes from (con_…)")
    vendor: str = Field(description="The tool: veeam, ninjaone, sentinelone, …")
    tool: str = Field(description="The integration's name, as the Integrations page shows it")
    external_id: str = Field(description="The account's id at the tool")
    external_name: str = Field(description="The account's name at the tool, as it last said")
    decided: bool = Field(description="An admin linked it by hand: syncs leave it as it is")


class LinkQuery(KeysetQuery):
    shape = ("link",)


@operation(
    "GET", "/customers/{customer_id}/links", scope="read", summary="A customer's accounts at its tools",
    tag="Customers", response=LinkOut, query=LinkQuery, paged=True, tool="list_customer_links",
)  # fmt: skip
def customer_links(call: Call, customer_id: int) -> Page[LinkOut]:
    """The vendor accounts linked to the customer and its sites: which tools know it, by which id and name (what
    Admin → Customer matching decided or a sync matched)."""
    query: LinkQuery = call.query
    statement = (
        select(CustomerLink, Connection.vendor, Connection.name)
        .join(Connection, Connection.id == CustomerLink.connection_id)
        .where(
            CustomerLink.customer_id.in_(_family(call, customer_id)),
            CustomerLink.status == LinkStatus.LINKED.value,
        )
        .order_by(CustomerLink.id)
        .limit(query.limit + 1)
    )
    if after := query.after:
        statement = statement.where(CustomerLink.id > after[0])
    rows = [
        LinkOut(
            id=public_ids.encode("link", link.id),
            customer_id=public_ids.encode("customer", link.customer_id or customer_id),
            connection_id=public_ids.encode("connection", link.connection_id),
            vendor=vendor,
            tool=name,
            external_id=link.external_id,
            external_name=link.external_name,
            decided=link.decided_at is not None,
        )
        for link, vendor, name in call.session.execute(statement)
    ]
    return page_of(rows, query.limit, lambda link: keyset(link.id))


class NoteIn(Schema):
    body: str = Field(min_length=1, max_length=20_000, description="The note, in your words")
    occurred_at: Moment | None = Field(default=None, description="When it happened, if not now (UTC)")


@operation(
    "POST", "/customers/{customer_id}/notes", scope="write:tickets", summary="Add an internal note to a customer",
    tag="Customers", response=ActionOut, query=ActionQuery, body=NoteIn,
)  # fmt: skip
def add_note(call: Call, customer_id: int) -> ActionOut:
    """On the customer's timeline, in your name; never shown to the customer."""
    customer = call.get(Customer, customer_id, "customer")
    body: NoteIn = call.body
    payload = {"body": body.body, "occurred_at": body.occurred_at.isoformat() if body.occurred_at else ""}
    return act(call, "note.create", Target("customer", str(customer.id), customer.name), payload)
