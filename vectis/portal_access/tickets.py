"""Tickets as a portal user sees them: the same rows the operators' pages read, filtered to the user's scope, with
public replies only (a note the PSA marks internal never leaves Vectis's operator side)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import abort
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vectis.models import Ticket, TicketNote, TicketStatus
from vectis.platform import db
from vectis.portal_access.scope import Scope

PAGE = 100


@dataclass(frozen=True)
class Row:
    id: int
    number: str
    summary: str
    status: str
    closed: bool
    customer_id: int | None
    opened_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SiteCount:
    customer_id: int
    name: str
    open: int
    closed: int


def listing(session: Session, scope: Scope, *, closed: bool, customer_ids: list[int] | None = None) -> list[Row]:
    """The newest ``PAGE`` open (or closed) tickets of the scope, or of the one site drilled into."""
    ids = customer_ids if customer_ids is not None else scope.customer_ids
    rows = session.execute(
        select(
            Ticket.id,
            Ticket.external_id,
            Ticket.summary,
            Ticket.status_name,
            Ticket.closed,
            Ticket.customer_id,
            Ticket.opened_at,
            Ticket.vendor_updated_at,
        )
        .where(db.among(Ticket.customer_id, ids), Ticket.closed.is_(closed))
        .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
        .limit(PAGE)
    ).all()
    return [Row(*row) for row in rows]


def site_counts(session: Session, scope: Scope) -> list[SiteCount]:
    """Open and closed tickets per place the user sees: the parent's rollup, one line a site."""
    counted = {
        row.customer_id: (row.open, row.closed)
        for row in session.execute(
            select(
                Ticket.customer_id,
                func.count().filter(Ticket.closed.is_(False)).label("open"),
                func.count().filter(Ticket.closed.is_(True)).label("closed"),
            )
            .where(db.among(Ticket.customer_id, scope.customer_ids))
            .group_by(Ticket.customer_id)
        )
    }
    places = [] if scope.limited else [(scope.customer_id, scope.customer_name)]
    places += [(site.id, site.name) for site in scope.sites]
    return [SiteCount(cid, name, *counted.get(cid, (0, 0))) for cid, name in places]


def in_scope(session: Session, scope: Scope, ticket_id: int) -> Ticket:
    """The ticket, if the user may see it; 404 for anything else, another site's or another tenant's alike."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or not scope.allows(ticket.customer_id):
        abort(404)
    return ticket


SIGNED = " (via the customer portal)"


@dataclass(frozen=True)
class Entry:
    """One public reply as the portal shows it: a comment its users wrote shows their name, not the PSA's API
    member that carried it (the portal signs what it sends: ``verbs._signature``)."""

    author: str | None
    body: str
    written_at: datetime
    from_portal: bool


def entry(note: TicketNote) -> Entry:
    body, _, last = note.body.rstrip().rpartition("\n\n")
    if body and last.startswith("— ") and last.endswith(SIGNED):
        who = last.removeprefix("— ").removesuffix(SIGNED)
        name = who.split(" <", 1)[0].split(", ", 1)[0]
        return Entry(name, body, note.written_at, True)
    return Entry(note.author, note.body, note.written_at, False)


def thread(session: Session, ticket: Ticket) -> list[Entry]:
    """The public conversation, oldest first. Internal notes are filtered here, in the query, not in a template."""
    notes = session.scalars(
        select(TicketNote)
        .where(TicketNote.ticket_id == ticket.id, TicketNote.internal.is_(False))
        .order_by(TicketNote.written_at, TicketNote.id)
    )
    return [entry(note) for note in notes]


def resolved_status(session: Session, ticket: Ticket) -> TicketStatus | None:
    """The status "mark resolved" moves a ticket to: its board's closed status named Resolved, else its first
    closed status (ConnectWise boards have both Resolved and Closed; a customer resolves, the MSP closes)."""
    if ticket.board_id is None:
        return None
    return session.scalar(
        select(TicketStatus)
        .where(TicketStatus.board_id == ticket.board_id, TicketStatus.closed.is_(True))
        .order_by(func.lower(TicketStatus.name) != "resolved", TicketStatus.sort_order, TicketStatus.id)
        .limit(1)
    )
