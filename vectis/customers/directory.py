"""Customers: the list (search, sort, keyset paging, badges, open tickets and alerts), the hub's header and its
Backups tab."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from markupsafe import Markup
from sqlalchemy import Select, exists, func, literal, or_, select, tuple_, union_all
from sqlalchemy.orm import Session, aliased

from vectis.backups import runs
from vectis.backups.state import ATTENTION, LABEL, TONE, BackupHealth, derive, health_of, urgency
from vectis.connectors import registry
from vectis.customers.phones import Phone, phone
from vectis.licensing import queries as licensing
from vectis.m365 import queries as m365
from vectis.models import (
    Alert,
    AlertState,
    BackupConnector,
    BackupConnectorStatus,
    Connection,
    Contact,
    Customer,
    CustomerLink,
    Ticket,
)
from vectis.models.security import Detection
from vectis.platform import db, params
from vectis.platform.dates import when

PAGE_SIZE = 50
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])  # any select: the list and the palette search alike
SORTS = {"name": "Name", "attention": "Needs attention first"}


@dataclass
class Badges:
    """How many of a customer's backup jobs (and its sites') are in each state that needs attention,
    counted from :func:`vectis.backups.state.derive`, as the Backups tab counts them; and how many of its
    tickets are open and of its alerts wait for someone (state open), as its Tickets and Alerts tabs list them."""

    backups: Counter[str] = field(default_factory=Counter)
    open_tickets: int = 0
    open_alerts: int = 0
    critical_alerts: int = 0  # of the open alerts: their count is as loud as the worst of them
    open_detections: int = 0  # endpoint-security detections not resolved, as its Security tab lists them
    severe_detections: int = 0  # of those, the critical and high ones
    licence_changes: int = 0  # scheduled seat changes that failed or stuck, as its Licensing tab flags them
    m365_noncompliant: int = 0  # devices Intune calls not compliant, as its Microsoft 365 tab lists them
    m365_admins_without_mfa: int = 0  # privileged accounts with no MFA method registered

    @property
    def detections_tone(self) -> str:
        return "bad" if self.severe_detections else "warn"

    @property
    def calm(self) -> bool:
        """Nothing on the hub's header to look at: no backup in trouble, no open alert, ticket or detection, no licence
        change or Microsoft 365 finding waiting for someone."""
        return not (
            self.any
            or self.open_alerts
            or self.open_tickets
            or self.open_detections
            or self.licence_changes
            or self.m365_noncompliant
            or self.m365_admins_without_mfa
        )

    @property
    def alerts_tone(self) -> str:
        return "bad" if self.critical_alerts else "warn"

    @property
    def any(self) -> bool:
        return any(self.backups[state] for state in ATTENTION)

    @property
    def attention(self) -> list[tuple[str, int, str]]:
        """(state label, count, tone) of each attention state present, most urgent first."""
        return [
            (LABEL.get(state, state), self.backups[state], TONE[state]) for state in ATTENTION if self.backups[state]
        ]

    @property
    def urgency(self) -> tuple[int, ...]:
        """A sort key, most urgent first: a critical or high detection (an attack under way) or a critical alert,
        then backups by state as the Backups tab orders them, then whatever else is open."""
        loud = (-self.severe_detections, -self.critical_alerts)
        return (*loud, *urgency(self.backups), -self.open_detections, -self.open_alerts, -self.open_tickets)


@dataclass(frozen=True)
class ContactCard:
    """Whom to call: the customer's primary contact as its tools know them."""

    name: str | None
    email: str | None
    phone: Phone | None

    @property
    def any(self) -> bool:
        return bool(self.name or self.email or self.phone)


@dataclass
class CustomerRow:
    customer: Customer
    sites: int
    badges: Badges
    contact: ContactCard
    also_known_as: list[str] = field(default_factory=list)


@dataclass
class CustomerPage:
    rows: list[CustomerRow]
    next_after: str | None  # the keyset cursor of the next page


class JobRow(NamedTuple):
    """A job and its status as plain columns: the Backups tab reads a busy customer's 100+ jobs, and mapped
    entities (two per job, tracked by the session) cost more to build than the statement took."""

    id: int
    connection_id: int
    customer_id: int | None
    external_id: str
    name: str
    kind: str
    protected_object: str | None
    removed_at: datetime | None
    state: str | None  # None: no status yet (never synced a run)
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_duration_seconds: int | None
    message: str | None
    account: str | None  # its customer's account at the vendor, where its console link goes


@dataclass(frozen=True, slots=True)
class BackupRow:
    """One row of the Backups tab, its values as the row shows them: the tab's loop only places them."""

    name: str
    kind: str
    vendor: str
    health: BackupHealth
    site: str | None  # the site's name when the job belongs to one of the customer's sites
    runs: Markup  # the run strip (runs.Strip.html)
    console: str | None  # the job in the vendor's own console
    protects: str  # what the job protects, or a dash
    last_success: str  # when, or a dash
    last_attempt: str


def _like(text: str) -> str:
    return db.containing(text)


def _search(query: _Query, q: str) -> _Query:
    """Name, a site's name, or what any vendor calls the customer."""
    pattern = _like(q.strip())
    site = aliased(Customer)
    return query.where(
        or_(
            Customer.name.ilike(pattern),
            exists().where(CustomerLink.customer_id == Customer.id, CustomerLink.external_name.ilike(pattern)),
            exists().where(site.parent_id == Customer.id, site.name.ilike(pattern)),
        )
    )


def list_customers(session: Session, *, q: str = "", sort: str = "name", after: str | None = None) -> CustomerPage:
    """Top-level customers (sites show under their parent), ``PAGE_SIZE`` at a time, by name. "Needs
    attention first" orders the page's customers by their badges; paging stays by name."""
    query = select(Customer).where(Customer.parent_id.is_(None))
    if q.strip():
        query = _search(query, q)
    name, _, last_id = (after or "").rpartition("\x1f")
    if (resume := params.integer(last_id, low=1)) is not None:  # a garbage cursor starts from the top
        query = query.where(tuple_(Customer.name, Customer.id) > tuple_(name, resume))
    customers = list(session.scalars(query.order_by(Customer.name, Customer.id).limit(PAGE_SIZE + 1)))
    more = len(customers) > PAGE_SIZE
    customers = customers[:PAGE_SIZE]
    ids = [c.id for c in customers]
    site = aliased(Customer)
    counted = select(site.parent_id, func.count()).where(db.among(site.parent_id, ids)).group_by(site.parent_id)
    sites = {parent_id: n for parent_id, n in session.execute(counted)} if ids else {}
    badges = badges_for(session, ids)
    names = _vendor_names(session, customers)
    cards = contacts(session, customers)
    rows = [
        CustomerRow(c, int(sites.get(c.id, 0)), badges.get(c.id, Badges()), cards[c.id], names.get(c.id, []))
        for c in customers
    ]
    if sort == "attention":
        rows.sort(key=lambda r: (r.badges.urgency, r.customer.name))
    last = customers[-1] if customers and more else None
    return CustomerPage(rows, f"{last.name}\x1f{last.id}" if last else None)


def _vendor_names(session: Session, customers: list[Customer]) -> dict[int, list[str]]:
    """What vendors call a customer when it differs from our name: search finds it by those too."""
    found: dict[int, list[str]] = {}
    if not customers:
        return found
    own = {c.id: c.name.casefold() for c in customers}
    rows = session.execute(
        select(CustomerLink.customer_id, CustomerLink.external_name)
        .where(db.among(CustomerLink.customer_id, own))
        .distinct()
    )
    for customer_id, name in rows:
        if customer_id is not None and name.casefold() != own[customer_id]:
            found.setdefault(customer_id, []).append(name)
    return found


def contacts(session: Session, customers: list[Customer]) -> dict[int, ContactCard]:
    """Each customer's primary contact: the name and e-mail its tools gave it, the e-mail from the PSA's contact
    of that name where no tool gave one (ConnectWise names a company's default contact, not their address),
    and its phone number formatted for its country."""
    wanted = {c.id: c.contact_name.casefold() for c in customers if c.contact_name and not c.contact_email}
    found: dict[int, str] = {}
    if wanted:
        rows = session.execute(
            select(Contact.customer_id, Contact.name, Contact.email)
            .where(db.among(Contact.customer_id, wanted), Contact.email.is_not(None), Contact.inactive.is_(False))
            .order_by(Contact.id)
        )
        for customer_id, name, email in rows:
            if customer_id is not None and email and name.casefold() == wanted[customer_id]:
                found.setdefault(customer_id, email)
    return {
        c.id: ContactCard(c.contact_name, c.contact_email or found.get(c.id), phone(c.contact_phone, c.location))
        for c in customers
    }


def _family(session: Session, ids: Iterable[int]) -> dict[int, int]:
    """customer or site id -> the top-level customer it rolls up to."""
    ids = list(ids)
    family = {i: i for i in ids}
    if ids:
        for site_id, parent_id in session.execute(
            select(Customer.id, Customer.parent_id).where(db.among(Customer.parent_id, ids))
        ):
            family[site_id] = int(parent_id or site_id)
    return family


def job_rows(session: Session, customer_ids: list[int]) -> list[JobRow]:
    """Each job of these customers with its status and its customer's account at the vendor (where its
    console link goes). The hub reads them once for its header's badges and its Backups tab."""
    if not customer_ids:
        return []
    job, status = BackupConnector, BackupConnectorStatus
    rows = session.execute(
        select(
            job.id,
            job.connection_id,
            job.customer_id,
            job.external_id,
            job.name,
            job.kind,
            job.protected_object,
            job.removed_at,
            status.state,
            status.last_attempt_at,
            status.last_success_at,
            status.last_duration_seconds,
            status.message,
            CustomerLink.external_id,
        )
        .outerjoin(status, status.backup_connector_id == job.id)
        .outerjoin(CustomerLink, CustomerLink.id == job.customer_link_id)
        .where(db.among(job.customer_id, customer_ids))
    ).all()
    return [JobRow._make(row) for row in rows]


def badges_for(
    session: Session,
    customer_ids: list[int],
    *,
    sites: Iterable[Customer] | None = None,
    jobs: Iterable[tuple[JobRow, BackupHealth]] | None = None,
) -> dict[int, Badges]:
    """Each customer's badges, its sites' counted in. ``sites``: when the caller has read them already (the hub);
    ``jobs``: likewise, every job of the family with its health (the hub's :func:`derived_jobs`)."""
    if sites is not None:
        family = {i: i for i in customer_ids} | {s.id: int(s.parent_id or s.id) for s in sites}
    else:
        family = _family(session, customer_ids)
    badges: dict[int, Badges] = {}
    if not family:
        return badges
    if jobs is not None:
        for job, health in jobs:
            _of(badges, family[job.customer_id or 0]).backups[health.state] += 1
    else:
        _count_backups(session, family, badges)
    _count_tickets_and_alerts(session, family, badges)
    for customer_id, n in licensing.needing_attention(session, family).items():
        _of(badges, family[customer_id]).licence_changes += n
    for customer_id, found in m365.needing_attention(session, list(family)).items():
        counted = _of(badges, family[customer_id])
        counted.m365_noncompliant += found.noncompliant
        counted.m365_admins_without_mfa += found.admins_without_mfa
    return badges


def _of(badges: dict[int, Badges], customer_id: int) -> Badges:
    """The customer's badges, made on first use (``setdefault`` would make a throwaway one for every job)."""
    found = badges.get(customer_id)
    if found is None:
        found = badges[customer_id] = Badges()
    return found


def _count_backups(session: Session, family: dict[int, int], badges: dict[int, Badges]) -> None:
    now = datetime.now(UTC)
    # Only the columns the derivation reads: the list counts these for every job of 50 customers.
    rows = session.execute(
        select(
            BackupConnector.customer_id,
            BackupConnector.removed_at,
            BackupConnectorStatus.state,
            BackupConnectorStatus.last_attempt_at,
            BackupConnectorStatus.last_success_at,
            BackupConnectorStatus.last_duration_seconds,
        )
        .outerjoin(BackupConnectorStatus, BackupConnectorStatus.backup_connector_id == BackupConnector.id)
        .where(db.among(BackupConnector.customer_id, family))
    ).all()
    for customer_id, removed_at, state, attempt, success, duration in rows:
        health = derive(
            state,
            last_attempt_at=attempt,
            last_success_at=success,
            last_duration_seconds=duration,
            removed_at=removed_at,
            now=now,
        )
        _of(badges, family[customer_id or 0]).backups[health.state] += 1


def _count_tickets_and_alerts(session: Session, family: dict[int, int], badges: dict[int, Badges]) -> None:
    """Open tickets, alerts waiting for someone and detections not resolved, in one statement (each on its customer
    index)."""
    tickets = (
        select(Ticket.customer_id, literal("tickets").label("what"), func.count().label("n"), literal(0))
        .where(db.among(Ticket.customer_id, family), Ticket.closed.is_(False))
        .group_by(Ticket.customer_id)
    )
    alerts = (
        select(
            Alert.customer_id,
            literal("alerts").label("what"),
            func.count().label("n"),
            func.count().filter(Alert.severity == "critical"),
        )
        .where(db.among(Alert.customer_id, family), Alert.state == AlertState.OPEN.value)
        .group_by(Alert.customer_id)
    )
    detections = (
        select(
            Detection.customer_id,
            literal("detections").label("what"),
            func.count().label("n"),
            func.count().filter(Detection.severity.in_(("critical", "high"))),
        )
        .where(db.among(Detection.customer_id, family), Detection.status != "resolved")
        .group_by(Detection.customer_id)
    )
    for customer_id, what, n, severe in session.execute(union_all(tickets, alerts, detections)):
        counted = _of(badges, family[customer_id or 0])
        if what == "tickets":
            counted.open_tickets += n
        elif what == "alerts":
            counted.open_alerts += n
            counted.critical_alerts += severe
        else:
            counted.open_detections += n
            counted.severe_detections += severe


def sites_of(session: Session, customer: Customer) -> list[Customer]:
    return list(session.scalars(select(Customer).where(Customer.parent_id == customer.id).order_by(Customer.name)))


_ORDER = {state: n for n, state in enumerate((*ATTENTION, "warning", "running", "never"))}


def derived_jobs(session: Session, customer_ids: list[int]) -> list[tuple[JobRow, BackupHealth]]:
    """Each job of these customers with its health as :func:`derive` says it now."""
    now = datetime.now(UTC)
    return [(job, health_of(job, now)) for job in job_rows(session, customer_ids)]


def backups(
    session: Session, customer: Customer, sites: list[Customer], jobs: list[tuple[JobRow, BackupHealth]] | None = None
) -> list[BackupRow]:
    """Every backup job and connector of the customer and its sites, Veeam and Keepit side by side, the
    ones that need attention first. ``jobs``: the family's :func:`derived_jobs`, when the caller has them."""
    names = {s.id: s.name for s in sites}
    vendors = {i: registry.label(vendor) for i, vendor in session.execute(select(Connection.id, Connection.vendor))}
    if jobs is None:
        jobs = derived_jobs(session, [customer.id, *names])
    strips = runs.strips(session, [job.id for job, _ in jobs])
    consoles = runs.console_links(
        session, [(job.id, job.connection_id, job.external_id, job.account) for job, _ in jobs]
    )
    found = [(job, health, vendors.get(job.connection_id, "?")) for job, health in jobs]
    found.sort(key=lambda f: (f[1].state == "removed", _ORDER.get(f[1].state, 9), f[2], f[0].name))
    return [
        BackupRow(
            job.name,
            job.kind,
            vendor,
            health,
            names.get(job.customer_id or 0),
            strips[job.id].html(),
            consoles[job.id][1] if job.id in consoles else None,
            job.protected_object or "—",
            when(job.last_success_at) if job.last_success_at else "—",
            when(job.last_attempt_at) if job.last_attempt_at else "—",
        )
        for job, health, vendor in found
    ]


def summary(rows: Iterable[BackupRow]) -> list[tuple[str, int]]:
    """(state label, count) over the rows, in the Backups tab's order: what needs attention first."""
    counts = Counter(r.health.state for r in rows)
    ordered = sorted(counts, key=lambda state: (_ORDER.get(state, 9), state))
    return [(LABEL.get(state, state), counts[state]) for state in ordered]


class Match(NamedTuple):
    """A customer as the palette lists it."""

    id: int
    name: str
    location: str | None


def palette(session: Session, q: str, limit: int = 8) -> list[Match]:
    """Best first: names that start with the text, then names that contain it, then other matches. Only the
    columns it shows: the palette answers as a person types, and is the smallest page there is."""
    shown = select(Customer.id, Customer.name, Customer.location)
    if not q.strip():
        query = shown.where(Customer.parent_id.is_(None)).order_by(Customer.name).limit(limit)
    else:
        text = q.strip()
        starts = Customer.name.ilike(_like(text)[1:])
        query = _search(shown, text).order_by(starts.desc(), Customer.name).limit(limit)
    return [Match._make(row) for row in session.execute(query)]
