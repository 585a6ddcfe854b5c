"""The ticket surfaces' queries: the queue (``/tickets``, filters in the URL), a customer's tickets (open,
and closed in the last 30 days), one ticket's thread, status history and related records, and what the
New ticket form offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import and_, or_, select, text, tuple_
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from vectis.models import (
    Alert,
    Contact,
    Customer,
    Ticket,
    TicketBoard,
    TicketNote,
    TicketPriority,
    TicketRelated,
    TicketStatus,
    TicketStatusChange,
    TimelineEvent,
)
from vectis.platform import params, public_ids
from vectis.tickets.boards import default_board

PAGE_SIZE = 50
RECENTLY_CLOSED = timedelta(days=30)
STATES = {"open": "Open", "closed": "Closed", "all": "All"}


@dataclass(frozen=True)
class Filters:
    state: str = "open"
    status: str = ""
    customer: int | None = None
    assignee: str = ""
    board: int | None = None
    older_than_days: int | None = None

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> Filters:
        def number(name: str) -> int | None:
            value = args.get(name, "")
            return params.integer(value, high=36500)

        state = args.get("state", "open")
        return cls(
            state=state if state in STATES else "open",
            status=args.get("status", "").strip(),
            customer=public_ids.decode("customer", args.get("customer")),
            assignee=args.get("assignee", "").strip(),
            board=public_ids.decode("board", args.get("board")),
            older_than_days=number("age"),
        )

    def params(self) -> list[tuple[str, str]]:
        values = [("state", self.state)] if self.state != "open" else []
        values += [
            (k, str(v))
            for k, v in (
                ("status", self.status),
                ("customer", public_ids.encode("customer", self.customer)),
                ("assignee", self.assignee),
                ("board", public_ids.encode("board", self.board)),
                ("age", self.older_than_days),
            )
            if v
        ]
        return values

    @property
    def query_string(self) -> str:
        return urlencode(self.params())


@dataclass
class Queue:
    tickets: Sequence[tuple[Ticket, str | None, str | None]]  # ticket, customer name, board name
    next_after: str | None


def queue(session: Session, filters: Filters, *, after: str | None = None) -> Queue:
    query = (
        select(Ticket, Customer.name, TicketBoard.name)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(TicketBoard, TicketBoard.id == Ticket.board_id)
    )
    if filters.state != "all":
        query = query.where(Ticket.closed.is_(filters.state == "closed"))
    if filters.status:
        query = query.where(Ticket.status_name == filters.status)
    if filters.customer:
        query = query.where(Ticket.customer_id == filters.customer)
    if filters.assignee:
        query = query.where(Ticket.assignee == filters.assignee)
    if filters.board:
        query = query.where(Ticket.board_id == filters.board)
    if filters.older_than_days:
        query = query.where(Ticket.opened_at < datetime.now(UTC) - timedelta(days=filters.older_than_days))
    if (resume := params.cursor(after)) is not None:
        query = query.where(tuple_(Ticket.vendor_updated_at, Ticket.id) < tuple_(*resume))
    rows = list(
        session.execute(query.order_by(Ticket.vendor_updated_at.desc(), Ticket.id.desc()).limit(PAGE_SIZE + 1)).all()
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    last = rows[-1][0] if rows and more else None
    return Queue(rows, f"{last.vendor_updated_at.isoformat()}_{last.id}" if last else None)


def choices(session: Session) -> dict[str, list[tuple[str, str]]]:
    """What the queue's filters offer, read from the small tables (a scan of every ticket for its distinct
    values would cost more than the page itself): the boards' statuses, the boards, the customers, and the
    assignees by a skip scan of their index."""
    assignees = session.execute(
        text(
            """
            WITH RECURSIVE names(assignee) AS (
                (SELECT assignee FROM tickets WHERE assignee IS NOT NULL ORDER BY assignee LIMIT 1)
                UNION ALL
                SELECT (SELECT t.assignee FROM tickets t WHERE t.assignee > names.assignee ORDER BY t.assignee LIMIT 1)
                FROM names WHERE names.assignee IS NOT NULL
            )
            SELECT assignee FROM names WHERE assignee IS NOT NULL
            """
        )
    ).scalars()
    return {
        "statuses": [(n, n) for n in session.scalars(select(TicketStatus.name).distinct().order_by(TicketStatus.name))],
        "boards": [
            (public_ids.encode("board", i), n)
            for i, n in session.execute(select(TicketBoard.id, TicketBoard.name).order_by(TicketBoard.name))
        ],
        "assignees": [(a, a) for a in assignees],
        "customers": [
            (public_ids.encode("customer", i), n)
            for i, n in session.execute(
                select(Customer.id, Customer.name).where(Customer.parent_id.is_(None)).order_by(Customer.name)
            )
        ],
    }


def for_customer(session: Session, customer_ids: list[int]) -> list[Ticket]:
    recent = datetime.now(UTC) - RECENTLY_CLOSED
    return list(
        session.scalars(
            select(Ticket)
            .where(
                Ticket.customer_id.in_(customer_ids),
                or_(Ticket.closed.is_(False), Ticket.closed_at >= recent, Ticket.vendor_updated_at >= recent),
            )
            .order_by(Ticket.closed, Ticket.vendor_updated_at.desc())
        )
    )


@dataclass
class Detail:
    ticket: Ticket
    notes: list[TicketNote]
    history: list[TicketStatusChange]
    statuses: list[TicketStatus]  # the ticket's board's real statuses
    related: list[TimelineEvent]
    alerts: list[Alert]  # the alerts this ticket was opened for


def detail(session: Session, ticket: Ticket) -> Detail:
    notes = list(
        session.scalars(
            select(TicketNote).where(TicketNote.ticket_id == ticket.id).order_by(TicketNote.written_at, TicketNote.id)
        )
    )
    history = list(
        session.scalars(
            select(TicketStatusChange)
            .where(TicketStatusChange.ticket_id == ticket.id)
            .order_by(TicketStatusChange.observed_at)
        )
    )
    statuses = (
        list(
            session.scalars(
                select(TicketStatus)
                .where(TicketStatus.board_id == ticket.board_id)
                .order_by(TicketStatus.sort_order, TicketStatus.name)
            )
        )
        if ticket.board_id
        else []
    )
    related = list(
        session.scalars(
            select(TimelineEvent)
            .join(
                TicketRelated, and_(TicketRelated.kind == "timeline_event", TicketRelated.record_id == TimelineEvent.id)
            )
            .where(TicketRelated.ticket_id == ticket.id)
            .order_by(TimelineEvent.occurred_at.desc())
        )
    )
    alerts = list(session.scalars(select(Alert).where(Alert.ticket_id == ticket.id).order_by(Alert.first_seen_at)))
    return Detail(ticket, notes, history, statuses, related, alerts)


@dataclass
class NewTicketForm:
    """The choices of the hub's New ticket form, each with the one a technician most likely wants first."""

    boards: list[TicketBoard]
    priorities: list[TicketPriority]
    contacts: list[Contact]
    board_id: int | None
    priority_id: int | None
    contact_id: int | None


def new_ticket_form(session: Session, customer: Customer, customer_ids: list[int]) -> NewTicketForm:
    boards = list(
        session.scalars(select(TicketBoard).where(TicketBoard.inactive.is_(False)).order_by(TicketBoard.name))
    )
    # The board this customer's tickets usually go on, else the busiest one (not the first alphabetically,
    # which tends to be "Alerts"): the same default a rule's "create a ticket" uses.

    usual = default_board(session, customer.id)
    board_id = usual if usual in {b.id for b in boards} else (boards[0].id if boards else None)
    priorities = list(session.scalars(select(TicketPriority).order_by(TicketPriority.sort_order, TicketPriority.name)))
    contacts = list(
        session.scalars(
            select(Contact)
            .where(Contact.customer_id.in_(customer_ids), Contact.inactive.is_(False))
            .order_by(Contact.name)
        )
    )
    main = next((c for c in contacts if customer.contact_name and c.name == customer.contact_name), None)
    return NewTicketForm(
        boards=boards,
        priorities=priorities,
        contacts=contacts,
        board_id=board_id,
        priority_id=next((p.id for p in priorities if p.is_default), None),
        contact_id=main.id if main else None,
    )
