"""Writes a PSA's boards, statuses, priorities, contacts, members and tickets (with their notes and observed
status history), set-based, one page at a time, for any PSA connector."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vectis.connectors.base import (
    ContactRecord,
    PsaMemberRecord,
    TicketBoardRecord,
    TicketPriorityRecord,
    TicketRecord,
)
from vectis.connectors.clean import clean_records
from vectis.connectors.registry import label as registry_label
from vectis.events.stream import emit
from vectis.events.stream import row as event_row
from vectis.models import (
    Connection,
    Contact,
    CustomerLink,
    Linked,
    PsaMember,
    SyncRun,
    Ticket,
    TicketBoard,
    TicketNote,
    TicketPriority,
    TicketStatus,
    TicketStatusChange,
    TimelineEvent,
)
from vectis.platform.bulk import upsert
from vectis.tickets.correlate import attach_to_tickets
from vectis.tickets.events import ticket_data
from vectis.tickets.timeline import ticket_entries


def write_boards(session: Session, connection: Connection, records: list[TicketBoardRecord]) -> None:
    db = session.connection()
    boards = upsert(
        db,
        TicketBoard.__table__,  # type: ignore[arg-type]
        [
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "external_id": r.external_id,
                "name": r.name[:200],
                "inactive": r.inactive,
            }
            for r in records
        ],
        conflict=("tenant_id", "connection_id", "external_id"),
        update=("name", "inactive"),
        returning=("external_id", "id"),
    )
    ids = {row.external_id: row.id for row in boards}
    statuses = [
        {
            "tenant_id": connection.tenant_id,
            "board_id": ids[r.external_id],
            "external_id": st.external_id,
            "name": st.name[:200],
            "closed": st.closed,
            "sort_order": st.sort_order,
        }
        for r in records
        for st in r.statuses
    ]
    upsert(
        db,
        TicketStatus.__table__,  # type: ignore[arg-type]
        statuses,
        conflict=("tenant_id", "board_id", "external_id"),
        update=("name", "closed", "sort_order"),
    )


def write_priorities(session: Session, connection: Connection, records: list[TicketPriorityRecord]) -> None:
    upsert(
        session.connection(),
        TicketPriority.__table__,  # type: ignore[arg-type]
        [
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "external_id": r.external_id,
                "name": r.name[:200],
                "sort_order": r.sort_order,
                "is_default": r.default,
            }
            for r in records
        ],
        conflict=("tenant_id", "connection_id", "external_id"),
        update=("name", "sort_order", "is_default"),
    )


def write_contacts(
    session: Session, connection: Connection, records: list[ContactRecord], account: Callable[[str | None], Linked]
) -> None:
    rows = []
    for r in records:
        linked = account(r.customer_external_id)
        rows.append(
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "customer_id": linked.customer_id,
                "customer_link_id": linked.link_id,
                "external_id": r.external_id,
                "name": r.name[:200],
                "email": (r.email or "")[:320] or None,
                "inactive": r.inactive,
            }
        )
    upsert(
        session.connection(),
        Contact.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "connection_id", "external_id"),
        update=("customer_id", "customer_link_id", "name", "email", "inactive"),
    )


def write_members(session: Session, connection: Connection, records: list[PsaMemberRecord]) -> None:
    """Members as the vendor lists them. Which user is which member is read when it is needed (an admin's
    choice, else the e-mail), so nothing here can override what an admin chose."""
    upsert(
        session.connection(),
        PsaMember.__table__,  # type: ignore[arg-type]
        [
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "external_id": r.external_id,
                "identifier": (r.identifier or "")[:100] or None,
                "name": r.name[:200],
                "email": (r.email or "")[:320] or None,
                "inactive": r.inactive,
            }
            for r in records
        ],
        conflict=("tenant_id", "connection_id", "external_id"),
        update=("identifier", "name", "email", "inactive"),
    )


def retire_members(session: Session, connection: Connection, listed: set[str]) -> None:
    """After a complete pass that listed the members: those the vendor no longer lists (deleted there) become
    inactive, so they are never offered, matched or written as. Kept, since tickets and choices name them."""
    session.execute(
        update(PsaMember)
        .where(
            PsaMember.connection_id == connection.id,
            PsaMember.inactive.is_(False),
            PsaMember.external_id.not_in(listed),
        )
        .values(inactive=True)
    )


def write_tickets(
    session: Session, connection: Connection, records: list[TicketRecord], account: Callable[[str | None], Linked]
) -> list[int]:
    """Upsert the page's tickets (a status that changed is recorded in the history); returns their ids."""
    now = datetime.now(UTC)
    boards: dict[str, int] = {}
    board_names: dict[str, str] = {}
    for external_id, known_id, board_name in session.execute(
        select(TicketBoard.external_id, TicketBoard.id, TicketBoard.name).where(
            TicketBoard.connection_id == connection.id
        )
    ):
        boards[external_id], board_names[external_id] = known_id, board_name
    statuses = {
        (board_id, external_id): status_id
        for board_id, external_id, status_id in session.execute(
            select(TicketStatus.board_id, TicketStatus.external_id, TicketStatus.id).where(
                TicketStatus.board_id.in_(list(boards.values()) or [0])
            )
        )
    }
    before = {
        external_id: status
        for external_id, status in session.execute(
            select(Ticket.external_id, Ticket.status_name).where(
                Ticket.connection_id == connection.id, Ticket.external_id.in_([r.external_id for r in records])
            )
        )
    }
    rows = []
    for r in records:
        board_id = boards.get(r.board_external_id or "")
        linked = account(r.customer_external_id)
        rows.append(
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "customer_id": linked.customer_id,
                "customer_link_id": linked.link_id,
                "external_id": r.external_id,
                "summary": r.summary[:500],
                "board_id": board_id,
                "status_id": statuses.get((board_id or 0, r.status_external_id or "")),
                "status_name": r.status_name[:200],
                "closed": r.closed,
                "priority": (r.priority or "")[:100] or None,
                "contact_name": (r.contact_name or "")[:200] or None,
                "contact_email": (r.contact_email or "")[:320] or None,
                "assignee": (r.assignee or "")[:200] or None,
                "assignee_external_id": (r.assignee_id or "")[:100] or None,
                "priority_external_id": (r.priority_id or "")[:100] or None,
                "opened_at": r.opened_at,
                "closed_at": r.closed_at,
                "sla_name": (r.sla_name or "")[:200] or None,
                "in_sla": r.in_sla,
                "sla_status": (r.sla_status or "")[:100] or None,
                "responded_at": r.responded_at,
                "resolved_at": r.resolved_at,
                "vendor_updated_at": r.updated_at,
                "updated_at": now,
            }
        )
    db = session.connection()
    written = upsert(
        db,
        Ticket.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "connection_id", "external_id"),
        update=tuple(k for k in rows[0] if k not in ("tenant_id", "connection_id", "external_id")) if rows else (),
        returning=("external_id", "id"),
    )
    ids = {row.external_id: row.id for row in written}
    changed = [
        {"tenant_id": connection.tenant_id, "ticket_id": ids[r.external_id], "status_name": r.status_name[:200]}
        for r in records
        if before.get(r.external_id) != r.status_name
    ]
    if changed:
        session.execute(TicketStatusChange.__table__.insert(), changed)  # type: ignore[attr-defined]
    _emit_ticket_events(
        session, connection, records=records, rows=rows, ids=ids, before=before, board_names=board_names, now=now
    )
    notes = [
        {
            "tenant_id": connection.tenant_id,
            "ticket_id": ids[r.external_id],
            "external_id": n.external_id,
            "body": n.body,
            "internal": n.internal,
            "author": (n.author or "")[:200] or None,
            "written_at": n.written_at,
        }
        for r in records
        for n in (r.notes or ())
    ]
    upsert(
        db,
        TicketNote.__table__,  # type: ignore[arg-type]
        notes,
        conflict=("tenant_id", "ticket_id", "external_id"),
        update=("body", "internal", "author"),
    )
    upsert(
        db,
        TimelineEvent.__table__,  # type: ignore[arg-type]
        ticket_entries(records, rows, ids, source=registry_label(connection.vendor)),
        conflict=("tenant_id", "connection_id", "dedup_key"),
        # A ticket renamed, or its account linked to a customer later, carries its entries along.
        update=("title", "detail", "customer_id", "customer_link_id", "ticket_id"),
    )
    return list(ids.values())


def _synced_before(session: Session, connection: Connection) -> bool:
    """Whether a sync of this connection ever finished: until one has, every ticket read is history."""
    key = f"vectis.synced_before:{connection.id}"
    if key not in session.info:
        session.info[key] = bool(
            session.scalar(
                select(SyncRun.id).where(SyncRun.connection_id == connection.id, SyncRun.status == "succeeded").limit(1)
            )
        )
    return bool(session.info[key])


def _emit_ticket_events(
    session: Session,
    connection: Connection,
    *,
    records: list[TicketRecord],
    rows: list[dict[str, Any]],
    ids: dict[str, int],
    before: dict[str, str],
    board_names: dict[str, str],
    now: datetime,
) -> None:
    """Ticket opened / status changed, for the rules. A connection's first sync reads years of history:
    none of it is news, so it emits nothing."""
    if not _synced_before(session, connection):
        return

    source = registry_label(connection.vendor)
    events = []
    for r, row in zip(records, rows, strict=True):
        previous = before.get(r.external_id)
        if previous == r.status_name:
            continue
        trigger = "ticket.opened" if r.external_id not in before else "ticket.status_changed"
        data = ticket_data(
            source=source,
            number=r.external_id,
            summary=r.summary,
            status=r.status_name,
            previous_status=previous,
            board=board_names.get(r.board_external_id or ""),
            priority=r.priority,
            assignee=r.assignee,
            contact=r.contact_name,
            closed=r.closed,
            opened_at=r.opened_at,
            updated_at=r.updated_at,
            now=now,
        )
        events.append(
            event_row(
                connection.tenant_id,
                trigger,
                customer_id=row["customer_id"],
                connection_id=connection.id,
                subject=("ticket", ids[r.external_id]),
                title=f"#{r.external_id} {r.summary}",
                data=data,
                dedup_key=f"{trigger}:{connection.id}:{r.external_id}:{r.status_name}:{r.updated_at.isoformat()}",
                occurred_at=r.updated_at,
            )
        )
    emit(session, events)


log = logging.getLogger(__name__)

# Who hears of a ticket update (a write-back read back, a vendor's callback, a sync page that changed a ticket someone
# watches): called with the session, the stored ticket, its public notes that are new, and its status before (None:
# the ticket is new). The portal's mail registers here (vectis/portal_access/notify.py).
TicketListener = Callable[[Session, Ticket, list[TicketNote], str | None], None]
TICKET_UPDATES: list[TicketListener] = []
# Which of these customers' tickets a listener cares about (the portal: customers with portal readers, and their
# sites). A sync page reads the before-state of those tickets only: its thousands of other rows cost nothing.
TicketWatch = Callable[[Session, set[int]], set[int]]
TICKET_WATCHES: list[TicketWatch] = []


@dataclass(frozen=True)
class Seen:
    """A ticket as it was before a page or a read-back wrote it again: its status and the notes Vectis had."""

    ticket_id: int
    status: str | None
    notes: frozenset[str]


def seen_before(session: Session, connection: Connection, records: list[TicketRecord]) -> dict[int, Seen]:
    """The page's tickets someone watches (:data:`TICKET_WATCHES`), as they were: read before the page is written.
    A ticket first seen in this page is no update: nobody is told of history a first sync imports."""
    if not TICKET_UPDATES or not TICKET_WATCHES or not records:
        return {}
    rows = session.execute(
        select(Ticket.id, Ticket.status_name, Ticket.customer_id).where(
            Ticket.connection_id == connection.id,
            Ticket.external_id.in_([r.external_id for r in records]),
            Ticket.customer_id.is_not(None),
        )
    ).all()
    customers = {int(r.customer_id) for r in rows}
    watched: set[int] = set()
    for watch in TICKET_WATCHES:
        watched |= watch(session, customers)
    rows = [r for r in rows if r.customer_id in watched]
    if not rows:
        return {}
    notes: dict[int, set[str]] = {r.id: set() for r in rows}
    for ticket_id, external_id in session.execute(
        select(TicketNote.ticket_id, TicketNote.external_id).where(TicketNote.ticket_id.in_(list(notes)))
    ):
        notes[ticket_id].add(external_id)
    return {r.id: Seen(r.id, r.status_name, frozenset(notes[r.id])) for r in rows}


def tell(session: Session, ticket: Ticket, seen: Seen | None) -> None:
    """Tell :data:`TICKET_UPDATES` what is new on ``ticket`` since ``seen`` (None: the ticket is new): its public
    notes Vectis did not have, and its status when it moved."""
    if not TICKET_UPDATES:
        return
    known = seen.notes if seen is not None else frozenset()
    new = [
        note
        for note in session.scalars(
            select(TicketNote)
            .where(TicketNote.ticket_id == ticket.id, TicketNote.internal.is_(False))
            .order_by(TicketNote.written_at, TicketNote.id)
        )
        if note.external_id not in known
    ]
    status_before = seen.status if seen is not None else None
    if not new and status_before == ticket.status_name:
        return
    for listener in TICKET_UPDATES:
        try:
            with session.begin_nested():
                listener(session, ticket, new, status_before)
        except Exception:  # telling someone must never undo the ticket the vendor has now
            log.exception("a ticket-update listener failed for ticket %s", ticket.id)


def tell_page(session: Session, seen: dict[int, Seen]) -> None:
    """After a sync page: each watched ticket it changed, told as a callback's would be."""
    for ticket_id, before in seen.items():
        ticket = session.get(Ticket, ticket_id)
        if ticket is not None:
            session.refresh(ticket)
            tell(session, ticket, before)


def store_ticket(session: Session, connection: Connection, record: TicketRecord) -> Ticket:
    """One ticket just read again from the vendor (after a write-back or a callback): stored, linked to
    its customer, with failing backup events in its window attached, as a sync page would; then told to
    :data:`TICKET_UPDATES` (its new public notes, its status before)."""

    def account(external_id: str | None) -> Linked:
        row = session.execute(
            select(CustomerLink.id, CustomerLink.customer_id).where(
                CustomerLink.connection_id == connection.id, CustomerLink.external_id == (external_id or "")
            )
        ).first()
        return Linked(row[0], row[1]) if row else Linked(None, None)

    before = session.execute(
        select(Ticket.id, Ticket.status_name).where(
            Ticket.connection_id == connection.id, Ticket.external_id == record.external_id
        )
    ).first()
    seen = (
        Seen(
            before.id,
            before.status_name,
            frozenset(session.scalars(select(TicketNote.external_id).where(TicketNote.ticket_id == before.id))),
        )
        if before is not None
        else None
    )
    # A ticket read back after a write or a callback is cleaned as a sync page is (NUL bytes, huge text).
    cleaned, _ = clean_records([record])
    if not cleaned:
        raise LookupError(f"ticket {record.external_id} carries a date outside what Vectis stores")
    attach_to_tickets(session, write_tickets(session, connection, cleaned, account))
    ticket = session.scalar(
        select(Ticket).where(Ticket.connection_id == connection.id, Ticket.external_id == record.external_id)
    )
    if ticket is None:
        raise LookupError(f"ticket {record.external_id} was written but cannot be read back")
    session.refresh(ticket)
    tell(session, ticket, seen)
    return ticket
