"""Which customer each vendor account is.

Linking order, for every vendor: an existing link by the vendor's stable id (a rename only updates the
link's ``external_name``); else a customer with the same normalised name that no account of this
connection is linked to yet; else, for the first tool connected, a new customer; else the account waits
as *unlinked* in Admin -> Customer matching, and its data shows on no customer until an admin links it.
Once an admin has decided about an account (linked, created, kept separate, unlinked), syncs leave it be.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rapidfuzz import fuzz, process
from sqlalchemy import Table, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from vectis.devices.writer import follow_links
from vectis.models import (
    BackupAuditEvent,
    BackupConnector,
    Connection,
    Contact,
    Customer,
    CustomerLink,
    Device,
    Linked,
    LinkStatus,
    Ticket,
    TimelineEvent,
)
from vectis.platform.bulk import fill_empty, upsert

_SUFFIXES = re.compile(r"\b(inc|llc|ltd|limited|gmbh|ag|co|corp|corporation|company|plc|bv|srl|sa|the)\b")
# Every table whose rows belong to a vendor account: linking the account points them at its customer.
LINKED_TABLES: tuple[Table, ...] = (
    BackupConnector.__table__,
    Contact.__table__,
    BackupAuditEvent.__table__,
    TimelineEvent.__table__,
    Ticket.__table__,
    Device.__table__,
)  # type: ignore[assignment]
SUGGESTION_CUTOFF = 60


def normalize_name(name: str) -> str:
    """``"Aldridge & Co., Ltd."`` and ``"aldridge and co"`` meet at ``"aldridge"``."""
    text = unicodedata.normalize("NFKC", name).casefold().replace("&", " and ")
    text = re.sub(r"[^\w ]+|_", " ", text)
    text = _SUFFIXES.sub(" ", text).replace(" and ", " ")
    return " ".join(text.split())


@dataclass(frozen=True)
class Account:
    """A vendor account as a connector reads it."""

    external_id: str
    name: str
    details: dict[str, str] = field(default_factory=dict)  # contact_name, contact_email, contact_phone, location


def link_accounts(session: Session, connection: Connection, accounts: Iterable[Account]) -> dict[str, Linked]:
    """Link one page of a connection's accounts, set-based: a few statements whatever the page size."""
    by_id = {a.external_id: a for a in accounts}
    if not by_id:
        return {}
    now = datetime.now(UTC)
    if connection.creates_customers is None:
        connection.creates_customers = not _other_connections_link(session, connection)
    current = {
        row.external_id: row
        for row in session.execute(
            select(CustomerLink.external_id, CustomerLink.customer_id, CustomerLink.status, CustomerLink.decided_at)
            .where(CustomerLink.connection_id == connection.id, CustomerLink.external_id.in_(list(by_id)))
            .with_for_update()
        )
    }
    # Accounts a sync may (re)match: new ones, and those still waiting that no admin has decided about.
    open_ids = [
        eid
        for eid in by_id
        if eid not in current or (current[eid].status == LinkStatus.UNLINKED and current[eid].decided_at is None)
    ]
    chosen = _match_by_name(session, connection, {eid: by_id[eid].name for eid in open_ids})
    if connection.creates_customers:
        fresh = [eid for eid in open_ids if eid not in chosen and eid not in current]
        chosen.update(_create_customers(session, connection, [by_id[eid] for eid in fresh]))
    rows = []
    for eid, account in by_id.items():
        was = current.get(eid)
        customer_id = chosen.get(eid, was.customer_id if was else None)
        status = was.status if was else LinkStatus.UNLINKED.value
        if eid in chosen:
            status = LinkStatus.LINKED.value
        rows.append(
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "external_id": eid,
                "external_name": account.name[:300],
                "customer_id": customer_id,
                "status": status,
                "updated_at": now,
            }
        )
    # An admin's decision made while this page was read wins over what the sync worked out.
    undecided = "t.decided_at IS NULL"
    result = upsert(
        session.connection(),
        CustomerLink.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "connection_id", "external_id"),
        update=("external_name", "updated_at"),
        merge={
            "customer_id": f"CASE WHEN {undecided} THEN excluded.customer_id ELSE t.customer_id END",
            "status": f"CASE WHEN {undecided} THEN excluded.status ELSE t.status END",
        },
        returning=("external_id", "id", "customer_id"),
    )
    linked = {row.external_id: Linked(row.id, row.customer_id) for row in result}
    rematched = [row.id for row in result if row.external_id in chosen and row.external_id in current]
    if rematched:
        repoint(session, rematched)
    _fill_details(
        session,
        {linked[eid].customer_id: a.details for eid, a in by_id.items() if a.details and linked[eid].customer_id},
    )
    return linked


DETAILS = ("contact_name", "contact_email", "contact_phone", "location")


def _fill_details(session: Session, details: Mapping[int | None, dict[str, str]]) -> None:
    """Contact and location from a vendor fill a customer's empty fields; what is there stays."""
    rows = [{"id": cid, **{k: (d.get(k) or None) for k in DETAILS}} for cid, d in details.items() if cid]
    fill_empty(session.connection(), Customer.__table__, rows)  # type: ignore[arg-type]


def _other_connections_link(session: Session, connection: Connection) -> bool:
    return bool(
        session.scalar(
            select(exists().where(CustomerLink.connection_id != connection.id, CustomerLink.customer_id.is_not(None)))
        )
    )


def _match_by_name(session: Session, connection: Connection, names: Mapping[str, str]) -> dict[str, int]:
    """Exact normalised-name matches to customers no account of this connection is linked to, each
    customer taken at most once."""
    if not names:
        return {}
    normalized = {eid: normalize_name(name) for eid, name in names.items()}
    wanted = {n for n in normalized.values() if len(n) >= 2}  # "The Company" normalises to nothing: no match
    if not wanted:
        return {}
    # Two single-table reads instead of one anti join: right after a bulk load the planner's statistics say
    # these tables are empty, and it then chose a nested-loop anti join that rescanned customer_links once per
    # customer (17M buffer hits, 6 s for 5,000 accounts). A single-table read has no join order to get wrong.
    named = session.execute(
        select(Customer.normalized_name, Customer.id).where(Customer.normalized_name.in_(wanted)).order_by(Customer.id)
    ).all()
    taken = set(
        session.scalars(
            select(CustomerLink.customer_id).where(
                CustomerLink.connection_id == connection.id, CustomerLink.customer_id.in_([cid for _, cid in named])
            )
        )
    )
    candidates: dict[str, list[int]] = {}
    for name, customer_id in named:
        if customer_id not in taken:
            candidates.setdefault(name, []).append(customer_id)
    chosen = {}
    for eid, name in normalized.items():
        if candidates.get(name):
            chosen[eid] = candidates[name].pop(0)
    return chosen


def _create_customers(session: Session, connection: Connection, accounts: list[Account]) -> dict[str, int]:
    if not accounts:
        return {}
    table = Customer.__table__
    created = session.connection().execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),  # type: ignore[arg-type]
        [
            {"tenant_id": connection.tenant_id, "name": a.name[:300], "normalized_name": normalize_name(a.name)[:300]}
            for a in accounts
        ],
    )
    return {a.external_id: customer_id for a, (customer_id,) in zip(accounts, created, strict=True)}


def repoint(session: Session, link_ids: list[int]) -> None:
    """Point every row of these vendor accounts at the account's customer now (or at none)."""
    for table in LINKED_TABLES:
        session.execute(
            update(table)
            .where(table.c.customer_link_id.in_(link_ids))
            .values(
                customer_id=select(CustomerLink.customer_id)
                .where(CustomerLink.id == table.c.customer_link_id)
                .scalar_subquery()
            )
        )
    follow_links(session, link_ids)


def suggestions(customers: Mapping[int, str], name: str, limit: int = 3) -> list[tuple[int, str, int]]:
    """The customers whose names look most like ``name``: ``(id, name, score 0-100)``, best first."""
    choices = {cid: normalize_name(n) for cid, n in customers.items()}
    found = process.extract(
        normalize_name(name), choices, scorer=fuzz.token_sort_ratio, limit=limit, score_cutoff=SUGGESTION_CUTOFF
    )
    return [(cid, customers[cid], round(score)) for _, score, cid in found]


@dataclass(frozen=True)
class QueueRow:
    link: CustomerLink
    connection: Connection
    customer: Customer | None
    suggested: list[tuple[int, str, int]]


QUEUE_LIMIT = 200


def matching_queue(session: Session, status: LinkStatus) -> tuple[list[QueueRow], dict[str, int]]:
    """The vendor accounts in one state, oldest connection first, with suggested customers for those
    still waiting; and how many accounts each state holds."""
    counts = {s.value: 0 for s in LinkStatus}
    counts.update(
        {
            name: n
            for name, n in session.execute(select(CustomerLink.status, func.count()).group_by(CustomerLink.status))
        }
    )
    found = session.execute(
        select(CustomerLink, Connection, Customer)
        .join(Connection, Connection.id == CustomerLink.connection_id)
        .outerjoin(Customer, Customer.id == CustomerLink.customer_id)
        .where(CustomerLink.status == status.value)
        .order_by(Connection.id, CustomerLink.external_name, CustomerLink.id)
        .limit(QUEUE_LIMIT)
    ).all()
    everyone: dict[int, str] = {}
    if status != LinkStatus.LINKED and found:
        everyone = {cid: name for cid, name in session.execute(select(Customer.id, Customer.name))}
    rows = [
        QueueRow(link, connection, customer, suggestions(everyone, link.external_name) if everyone else [])
        for link, connection, customer in found
    ]
    return rows, counts


def all_customers(session: Session) -> list[tuple[int, str]]:
    return [
        (cid, name)
        for cid, name in session.execute(select(Customer.id, Customer.name).order_by(Customer.name, Customer.id))
    ]
