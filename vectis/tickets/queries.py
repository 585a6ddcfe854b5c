"""The ticket surfaces' queries: the queue (``/tickets``, filters and search in the URL), a customer's tickets
(open, and closed in the last 30 days), one ticket's thread, status history, related records and the choices
its controls offer, and what the New ticket form offers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import (
    ARRAY,
    CompoundSelect,
    Select,
    Subquery,
    Text,
    and_,
    bindparam,
    column,
    false,
    func,
    or_,
    select,
    text,
    tuple_,
    union,
)
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from vectis.connectors import registry
from vectis.connectors.capabilities import WritesTickets, supports
from vectis.models import (
    Alert,
    Connection,
    Contact,
    Customer,
    CustomerLink,
    PsaMember,
    Ticket,
    TicketBoard,
    TicketNote,
    TicketPriority,
    TicketRelated,
    TicketStatus,
    TicketStatusChange,
    TimelineEvent,
    User,
)
from vectis.platform import params, public_ids
from vectis.tickets import members as members_service
from vectis.tickets.boards import default_board

PAGE_SIZE = 50
RECENTLY_CLOSED = timedelta(days=30)
STATES = {"open": "Open", "closed": "Closed", "all": "All"}
SEARCH_LENGTH = 200
SEARCH_WORDS = 8
_NUMBER = re.compile(r"#?\s*([0-9]{1,19})")


@dataclass(frozen=True)
class Filters:
    state: str = "open"
    status: str = ""
    customer: int | None = None
    assignee: str = ""
    board: int | None = None
    older_than_days: int | None = None
    q: str = ""  # a ticket number (with or without #) or words of its summary or notes
    mine: bool = False  # tickets whose owner is the signed-in user's PSA member

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
            q=" ".join(args.get("q", "").split())[:SEARCH_LENGTH],
            mine=args.get("mine") == "1",
        )

    def params(self) -> list[tuple[str, str]]:
        values = [("state", self.state)] if self.state != "open" else []
        values += [("q", self.q)] if self.q else []
        values += [("mine", "1")] if self.mine else []
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
    # ticket, customer name, board name, and the PSA's name for the account of a ticket on no customer
    tickets: Sequence[tuple[Ticket, str | None, str | None, str | None]]
    next_after: str | None
    nouns: dict[int, str]  # connection -> how people name its vendor ("ConnectWise")


# What ticket_search() returns of each ticket it finds (migration 0023): what the queue filters and orders on.
SEARCHED = (
    "id", "connection_id", "customer_id", "board_id", "status_name", "closed", "assignee", "assignee_external_id",
    "opened_at", "vendor_updated_at",
)  # fmt: skip
# The words of a search as PostgreSQL's 'simple' parser splits text: letters and digits ("_" separates words there).
_WORD = re.compile(r"[^\W_]+")


def search(q: str) -> Subquery | None:
    """Tickets whose number is ``q`` (``#48283`` or ``48283``), or whose summary or a note has every word of
    ``q`` (each as a prefix: "print" finds "printer"), with the columns of ``SEARCHED``. The words are matched by
    ``ticket_search()`` (migration 0023: under row-level security PostgreSQL would not use the word indexes),
    which returns the bound tenant's tickets only."""
    words = _WORD.findall(q.lower())[:SEARCH_WORDS]
    if not words:
        return None
    table = Ticket.__table__.c
    found = func.ticket_search(bindparam("words", words, type_=ARRAY(Text))).table_valued(
        *(column(name, table[name].type) for name in SEARCHED)
    )
    matched: Select[Any] | CompoundSelect[Any] = select(*(found.c[name] for name in SEARCHED))
    if number := _NUMBER.fullmatch(q.strip()):
        by_number = select(*(table[name] for name in SEARCHED)).where(table.external_id == number.group(1))
        matched = union(by_number, matched)
    return matched.subquery("matched")


def queue(
    session: Session, filters: Filters, *, after: str | None = None, mine: Sequence[tuple[int, str]] = ()
) -> Queue:
    """A page of the queue; ``mine`` is the signed-in user's (connection, member id) pairs for "My tickets".

    The page's tickets are chosen and ordered first, from the tickets alone (or, searching, from what the search
    returned of them, without reading them again); only those are joined to their customer, board and account:
    a search or a filter matching thousands of tickets joins 51."""
    found = search(filters.q) if filters.q else None
    t = found.c if found is not None else Ticket.__table__.c
    query = select(t.id)
    if filters.mine:
        query = query.where(tuple_(t.connection_id, t.assignee_external_id).in_(list(mine)) if mine else false())
    if filters.state != "all":
        query = query.where(t.closed.is_(filters.state == "closed"))
    if filters.status:
        query = query.where(t.status_name == filters.status)
    if filters.customer:
        query = query.where(t.customer_id == filters.customer)
    if filters.assignee:
        query = query.where(t.assignee == filters.assignee)
    if filters.board:
        query = query.where(t.board_id == filters.board)
    if filters.older_than_days:
        query = query.where(t.opened_at < datetime.now(UTC) - timedelta(days=filters.older_than_days))
    if (resume := params.cursor(after)) is not None:
        query = query.where(tuple_(t.vendor_updated_at, t.id) < tuple_(*resume))
    page = query.order_by(t.vendor_updated_at.desc(), t.id.desc()).limit(PAGE_SIZE + 1).subquery()
    rows = list(
        session.execute(
            select(Ticket, Customer.name, TicketBoard.name, CustomerLink.external_name)
            .join(page, page.c.id == Ticket.id)
            .outerjoin(Customer, Customer.id == Ticket.customer_id)
            .outerjoin(TicketBoard, TicketBoard.id == Ticket.board_id)
            .outerjoin(CustomerLink, and_(CustomerLink.id == Ticket.customer_link_id, Ticket.customer_id.is_(None)))
            .order_by(Ticket.vendor_updated_at.desc(), Ticket.id.desc())
        ).all()
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    last = rows[-1][0] if rows and more else None
    return Queue(rows, f"{last.vendor_updated_at.isoformat()}_{last.id}" if last else None, nouns(session))


def nouns(session: Session) -> dict[int, str]:
    return {
        connection_id: str(getattr(_vendor(vendor), "noun", None) or registry.label(vendor))
        for connection_id, vendor in session.execute(select(Connection.id, Connection.vendor))
    }


def _vendor(key: str) -> object:
    try:
        return registry.get(key)
    except LookupError:
        return None


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
    members: list[PsaMember]  # whom it can be assigned to: the PSA's active members
    priorities: list[TicketPriority]
    noun: str  # the PSA, as people name it
    company: str | None  # the PSA's account, for a ticket on no customer
    author: members_service.Authorship | None  # how the signed-in user's reply would be authored
    me: PsaMember | None  # the signed-in user's member at this PSA ("Assign to me")


SEVERITY = {  # a related record's severity, in words and the badge that colours it
    "critical": ("Critical", "badge-bad"),
    "error": ("Failed", "badge-bad"),
    "warning": ("Warning", "badge-warn"),
    "info": ("Info", "badge-muted"),
    "resolved": ("Resolved", "badge-ok"),
}


@dataclass(frozen=True)
class Controls:
    """What a ticket's status, owner and priority can be set to: its page's controls offer these, and the API lists
    them."""

    statuses: list[TicketStatus]  # its board's real statuses, in the board's order
    members: list[PsaMember]  # the PSA's active members
    priorities: list[TicketPriority]


def controls(session: Session, ticket: Ticket) -> Controls:
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
    priorities = list(
        session.scalars(
            select(TicketPriority)
            .where(TicketPriority.connection_id == ticket.connection_id)
            .order_by(TicketPriority.sort_order, TicketPriority.name)
        )
    )
    people = [m for m in members_service.members(session, ticket.connection_id) if not m.inactive]
    return Controls(statuses, people, priorities)


def detail(session: Session, ticket: Ticket, user: User | None = None) -> Detail:
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
    offered = controls(session, ticket)
    noun = nouns(session).get(ticket.connection_id, "the PSA")
    company = (
        session.scalar(select(CustomerLink.external_name).where(CustomerLink.id == ticket.customer_link_id))
        if ticket.customer_id is None and ticket.customer_link_id is not None
        else None
    )
    connection = session.get(Connection, ticket.connection_id)
    author = members_service.authorship(session, user, connection, noun) if user and connection else None
    me = members_service.mapping(session, user, connection).member if user and connection else None
    return Detail(
        ticket, notes, history, offered.statuses, related, alerts, offered.members, offered.priorities, noun, company,
        author, me if me is not None and not me.inactive else None,
    )  # fmt: skip


@dataclass
class NewTicketForm:
    """The choices of the hub's New ticket form, each with the one a technician most likely wants first."""

    boards: list[TicketBoard]
    priorities: list[TicketPriority]
    contacts: list[Contact]
    board_id: int | None
    priority_id: int | None
    contact_id: int | None
    noun: str  # the PSA it is created in, as people name it ("ConnectWise"); "your PSA" when boards span two


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
    named = nouns(session)
    psas = {named.get(b.connection_id, "your PSA") for b in boards}
    return NewTicketForm(
        boards=boards,
        priorities=priorities,
        contacts=contacts,
        board_id=board_id,
        priority_id=next((p.id for p in priorities if p.is_default), None),
        contact_id=main.id if main else None,
        noun=psas.pop() if len(psas) == 1 else "your PSA",
    )


def _writing_vendors() -> list[str]:
    return [key for key, cls in registry.CONNECTORS.items() if supports(cls, WritesTickets)]


def writing_psas(session: Session) -> list[str]:
    """How people name each connected PSA Vectis writes tickets to ("ConnectWise"), for the words of a form."""
    connected = session.scalars(
        select(Connection.id).where(Connection.vendor.in_(_writing_vendors())).order_by(Connection.name)
    )
    names = nouns(session)
    return list(dict.fromkeys(names[c] for c in connected))


def ticket_customers(session: Session) -> list[tuple[int, str]]:
    """The customers a ticket can be opened for: linked to an account at a PSA Vectis writes tickets to."""
    vendors = _writing_vendors()
    return [
        (customer_id, name)
        for customer_id, name in session.execute(
            select(Customer.id, Customer.name)
            .join(CustomerLink, CustomerLink.customer_id == Customer.id)
            .join(Connection, Connection.id == CustomerLink.connection_id)
            .where(Connection.vendor.in_(vendors))
            .distinct()
            .order_by(Customer.name, Customer.id)
        )
    ]


def new_ticket_for(session: Session, customer: Customer) -> NewTicketForm:
    """The New ticket form's choices for ``customer`` and its sites, as the hub's form offers them."""
    sites = session.scalars(select(Customer.id).where(Customer.parent_id == customer.id)).all()
    return new_ticket_form(session, customer, [customer.id, *sites])
