"""What the alert surfaces show: the list (``/alerts`` and each customer's Alerts tab, one partial), its state
tabs and filters in the URL, the counts under those filters, and the evidence behind one alert, which the
list's detail row and the ticket "Open as ticket" writes both read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, case, exists, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from vectis.alerts.service import acknowledging, held_by_tool, label, resolving, self_resolving
from vectis.alerts.triggers import SEVERITIES
from vectis.models import (
    Alert,
    AlertMute,
    AlertState,
    BackupAuditEvent,
    BackupConnector,
    BackupConnectorStatus,
    Customer,
    Ticket,
    TicketBoard,
    User,
)
from vectis.platform import dates, public_ids
from vectis.platform.dates import span, when

TABS = {
    "open": "Open",
    "acknowledged": "Acknowledged",
    "muted": "Muted",
    "resolved": "Resolved",
}
SEVERITY_LABELS = dict(SEVERITIES)
PAGE_SIZE = 200
_URGENCY = case({"critical": 0, "warning": 1, "info": 2}, value=Alert.severity, else_=3)


@dataclass(frozen=True)
class Filters:
    """The list's state tab and filters, as the URL carries them (``?state=muted&severity=critical``)."""

    state: str = "open"
    customer: int | None = None
    severity: str = ""
    source: str = ""

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> Filters:
        # ``tab`` is what the list's URL said before filters came; old bookmarks and links still open their tab.
        state = args.get("state") or args.get("tab") or "open"
        severity = args.get("severity", "")
        return cls(
            state=state if state in TABS else "open",
            customer=public_ids.decode("customer", args.get("customer")),
            severity=severity if severity in SEVERITY_LABELS else "",
            source=args.get("source", "").strip()[:40],
        )

    def params(self, *, state: str | None = None, without: str | None = None) -> list[tuple[str, str]]:
        """The query string's pairs: this state (or ``state``), and every filter but ``without`` ("all": none)."""
        chosen = self.state if state is None else state
        values = [("state", chosen)] if chosen != "open" else []
        values += [
            (name, value)
            for name, value in (
                ("customer", public_ids.encode("customer", self.customer) if self.customer else ""),
                ("severity", self.severity),
                ("source", self.source),
            )
            if value and without not in (name, "all")
        ]
        return values

    def query(self, *, state: str | None = None, without: str | None = None) -> str:
        """``?…`` for a link to this list with ``state`` or ``without`` a filter, or "" when nothing is left."""
        found = urlencode(self.params(state=state, without=without))
        return f"?{found}" if found else ""

    @property
    def filtered(self) -> bool:
        return bool(self.customer or self.severity or self.source)

    def where(self, *, customer_ids: Sequence[int] | None) -> list[ColumnElement[bool]]:
        """The filters as SQL, all but the state (the tabs count each state under the same filters)."""
        found: list[ColumnElement[bool]] = []
        if customer_ids is not None:
            found.append(Alert.customer_id.in_(customer_ids))
        if self.customer:
            # A customer's sites are the customer too, as on its hub.
            sites = select(Customer.id).where(or_(Customer.id == self.customer, Customer.parent_id == self.customer))
            found.append(Alert.customer_id.in_(sites))
        if self.severity:
            found.append(Alert.severity == self.severity)
        if self.source:
            found.append(Alert.source == self.source)
        return found


@dataclass(frozen=True)
class Mute:
    """The mute that keeps an alert quiet: why, until when, and who asked."""

    reason: str
    until: datetime
    by: str

    def until_text(self, now: datetime) -> str:
        """``until 6 Dec 18:00 — 3 h left``"""
        return f"until {when(self.until)} — {span(self.until - now)} left"


@dataclass(frozen=True)
class Row:
    alert: Alert
    customer: str | None
    ticket_number: str | None = None
    mute: Mute | None = None
    evidence: list[tuple[str, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return label(self.alert.condition)

    @property
    def label_in_sentence(self) -> str:
        """The label inside a sentence: "Mute backup stale for …", but "Mute CPU for …" (an abbreviation stays)."""
        said = self.label
        first = said.split(" ", 1)[0]
        return said if first.isupper() and len(first) > 1 else said[:1].lower() + said[1:]

    @property
    def severity(self) -> str:
        return SEVERITY_LABELS.get(self.alert.severity, self.alert.severity.capitalize())

    @property
    def self_resolving(self) -> bool:
        """A backup job's alert: the job's next success resolves it without anyone."""
        return self_resolving(self.alert)

    @property
    def resolving(self) -> str:
        return resolving(self.alert)

    @property
    def acknowledging(self) -> str:
        return acknowledging(self.alert)

    @property
    def held(self) -> bool:
        """A tool holds it open (an RMM's): resolving resets it there, acknowledging is Vectis's own."""
        return held_by_tool(self.alert)

    def age(self, now: datetime) -> str:
        return span(now - self.alert.first_seen_at)

    def ago(self, moment: datetime | None, now: datetime) -> str:
        return dates.ago(moment, now)


@dataclass(frozen=True)
class Choices:
    customers: list[tuple[str, str]]  # (public id, name) of the customers that have alerts
    sources: list[str]


@dataclass(frozen=True)
class Page:
    filters: Filters
    rows: list[Row]
    counts: dict[str, int]
    choices: Choices
    customer_name: str | None  # the customer filter's, for its chip
    now: datetime
    psa: bool  # a PSA has boards to open a ticket on
    people: dict[str, str]  # a user's email (what actions record) -> their name
    only: bool = False  # one alert, opened by its own link
    more: bool = False  # the tab holds more than the page shows
    tabs: ClassVar[dict[str, str]] = TABS
    severities: ClassVar[tuple[tuple[str, str], ...]] = SEVERITIES
    page_size: ClassVar[int] = PAGE_SIZE

    def who(self, label: str | None) -> str:
        """Who acknowledged, muted or resolved: a person's name for a user of this workspace, else as recorded
        ("Vectis: next success", a rule's name)."""
        return self.people.get(label or "", label or "someone")

    def elsewhere(self) -> list[tuple[str, str, int]]:
        """(state, tab, count) of the other tabs where these filters find alerts, for an empty tab to point at."""
        return [(k, label, self.counts[k]) for k, label in TABS.items() if k != self.filters.state and self.counts[k]]

    def chips(self) -> list[tuple[str, str]]:
        """(label, the filter's name) for each filter set, so the template can link to the list without it."""
        found = []
        if self.filters.customer:
            found.append((f"Customer: {self.customer_name}", "customer"))
        if self.filters.severity:
            found.append((f"Severity: {SEVERITY_LABELS[self.filters.severity]}", "severity"))
        if self.filters.source:
            found.append((f"Source: {self.filters.source}", "source"))
        return found


def page(
    session: Session,
    filters: Filters,
    *,
    customer_ids: Sequence[int] | None = None,
    only: Alert | None = None,
) -> Page:
    """One tab of the list under ``filters`` (within ``customer_ids`` on a hub), or just ``only``."""
    now = datetime.now(UTC)
    customer_name = (
        session.scalar(select(Customer.name).where(Customer.id == filters.customer)) if filters.customer else None
    )
    if filters.customer and customer_name is None:
        filters = replace(filters, customer=None)  # gone, or not this workspace's: show the list unfiltered
    where = filters.where(customer_ids=customer_ids)
    query = (
        select(Alert, Customer.name, Ticket.external_id)
        .outerjoin(Customer, Customer.id == Alert.customer_id)
        .outerjoin(Ticket, Ticket.id == Alert.ticket_id)
    )
    if only is not None:
        query = query.where(Alert.id == only.id)
    else:
        # One more than a page: whether there is more is known only by finding it.
        query = query.where(Alert.state == filters.state, *where).limit(PAGE_SIZE + 1)
    if filters.state == AlertState.RESOLVED.value:
        query = query.order_by(Alert.resolved_at.desc().nulls_last(), Alert.id.desc())
    else:
        query = query.order_by(_URGENCY, Alert.first_seen_at.desc(), Alert.id.desc())
    found = session.execute(query).all()
    more, found = len(found) > PAGE_SIZE, found[:PAGE_SIZE]
    alerts = [a for a, _, _ in found]
    mutes = _mutes(session, [a for a in alerts if a.state == AlertState.MUTED.value], now)
    labels = {a.acknowledged_by for a in alerts} | {a.resolved_by for a in alerts} | {m.by for m in mutes.values()}
    people = dict(session.execute(select(User.email, User.name).where(User.email.in_(labels - {None}))).all())
    facts = evidence(session, alerts, now=now)
    rows = [
        Row(a, name, number, mutes.get((a.customer_id, a.condition)), facts.get(a.id, [])) for a, name, number in found
    ]
    return Page(
        filters,
        rows,
        counts(session, customer_ids=customer_ids, filters=filters),
        _choices(session, customer_ids),
        customer_name,
        now,
        psa=bool(session.scalar(select(exists().where(TicketBoard.inactive.is_(False))))),
        people=people,
        only=only is not None,
        more=more,
    )


def counts(
    session: Session, *, customer_ids: Sequence[int] | None = None, filters: Filters | None = None
) -> dict[str, int]:
    """How many alerts each state tab holds, under the same filters as the list."""
    where = (filters or Filters()).where(customer_ids=customer_ids)
    found = dict(session.execute(select(Alert.state, func.count()).where(*where).group_by(Alert.state)).all())
    return {state: found.get(state, 0) for state in TABS}


def _choices(session: Session, customer_ids: Sequence[int] | None) -> Choices:
    scope = [Alert.customer_id.in_(customer_ids)] if customer_ids is not None else []
    customers = session.execute(
        select(Customer.id, Customer.name)
        .where(Customer.id.in_(select(Alert.customer_id).where(*scope).distinct()))
        .order_by(Customer.name)
    ).all()
    sources = session.scalars(select(Alert.source).where(*scope).distinct().order_by(Alert.source))
    return Choices([(public_ids.encode("customer", i), n) for i, n in customers], list(sources))


def _mutes(session: Session, muted: list[Alert], now: datetime) -> dict[tuple[int | None, str], Mute]:
    """(customer, condition) -> the mute in force with the latest end; a mute that ran out has no row here
    (its alerts come back, open or acknowledged, at the next check)."""
    customers = {a.customer_id for a in muted if a.customer_id is not None}
    if not customers:
        return {}
    found: dict[tuple[int | None, str], Mute] = {}
    for mute in session.scalars(
        select(AlertMute).where(AlertMute.customer_id.in_(customers), AlertMute.until > now).order_by(AlertMute.until)
    ):
        found[(mute.customer_id, mute.condition)] = Mute(mute.reason, mute.until, mute.created_by)
    return found


def evidence(
    session: Session, alerts: Sequence[Alert], *, now: datetime, in_ticket: bool = False
) -> dict[int, list[tuple[str, str]]]:
    """alert id -> what it rests on, as (label, words) lines: the job or record, its last attempt and success
    as the vendor reports them now, the vendor's message, and when Vectis first saw it. ``in_ticket``: for text
    that leaves Vectis and is read later, so times say their zone and not how long ago they were."""

    def at(moment: datetime | None, missing: str = "none on record") -> str:
        if moment is None:
            return missing
        return f"{when(moment)} UTC" if in_ticket else f"{when(moment)} ({dates.ago(moment, now)})"

    jobs = {
        job.id: (job, status)
        for job, status in session.execute(
            select(BackupConnector, BackupConnectorStatus)
            .outerjoin(BackupConnectorStatus, BackupConnectorStatus.backup_connector_id == BackupConnector.id)
            .where(BackupConnector.id.in_([a.subject_id for a in alerts if a.subject_type == "backup_job"]))
        )
    }
    events = {
        e.id: e
        for e in session.scalars(
            select(BackupAuditEvent).where(
                BackupAuditEvent.id.in_([a.subject_id for a in alerts if a.subject_type == "backup_event"])
            )
        )
    }
    found: dict[int, list[tuple[str, str]]] = {}
    for alert in alerts:
        lines = [("What Vectis sees", alert.message)]
        if alert.subject_type == "backup_job" and alert.subject_id in jobs:
            job, status = jobs[alert.subject_id]
            protects = f", protects {job.protected_object}" if job.protected_object else ""
            lines.insert(0, ("Job", f"{job.name} ({alert.source} {job.kind.lower()}{protects})"))
            lines += [
                ("Last attempt", at(status.last_attempt_at if status else None)),
                ("Last success", at(status.last_success_at if status else None)),
            ]
            if status and status.consecutive_failures:
                lines.append(("Failed runs in a row", str(status.consecutive_failures)))
            if status and status.message:
                lines.append((f"{alert.source}'s message", status.message))
        elif alert.subject_type == "backup_event" and alert.subject_id in events:
            event = events[alert.subject_id]
            lines.insert(0, ("Event", f"{event.title} ({alert.source} {event.category} event)"))
            lines.append(("Happened", at(event.occurred_at)))
            if event.detail:
                lines.append((f"{alert.source}'s message", event.detail))
        else:
            lines.insert(0, ("Subject", f"{alert.subject_label} (raised by {alert.source})"))
        lines.append(("First seen", at(alert.first_seen_at)))
        if alert.last_seen_at > alert.first_seen_at:
            lines.append(("Last seen", at(alert.last_seen_at)))
        found[alert.id] = lines
    return found
