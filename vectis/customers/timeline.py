"""The merged timeline: every connected tool's events and Vectis's own notes, newest first.

Filters live in the URL (``day``, ``week``, ``from``/``to``, ``source`` repeated, ``notes``, ``hide`` repeated
for the kinds of entry to leave out, ``customer`` on the global timeline) and come back as removable chips.
Pages are keyset on ``(occurred_at, id)``, so "load older" neither skips nor repeats an entry when new events
arrive while someone reads; hiding a kind only filters that walk. Sync-gap markers say where a source was not
syncing, so an empty stretch is not read as a quiet day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from sqlalchemy import and_, func, select, text, tuple_
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from vectis.connectors.registry import label as registry_label
from vectis.models import Connection, Customer, CustomerLink, CustomerNote, SyncRun, TimelineEvent, User
from vectis.platform import params, public_ids

PAGE_SIZE = 50
NOTE_SOURCE = "Note"
NOTE_KIND = "note"
MAX_HIDDEN = 40  # kinds a URL may hide: far more than exist, few enough to keep the query plain
# What a technician calls each kind of entry; a kind not named here reads from its own key.
KIND_LABELS = {
    "backup.sign-in": "Sign-ins",
    "backup.security": "Security (failed sign-ins, tokens, MFA)",
    "backup.user": "Users",
    "backup.account": "Accounts",
    "backup.connector": "Backup connectors",
    "backup.connection": "Connections",
    "backup.recovery": "Restores",
    "backup.reporting": "Reports",
    "backup.compliance": "Compliance",
    "backup.other": "Other vendor activity",
    "backup.BackupServerJob": "Backup job alarms",
    "backup.BackupAgentJob": "Agent job alarms",
    "backup.BackupAgent": "Backup agent alarms",
    "ticket.opened": "Tickets opened",
    "ticket.reply_received": "Replies received",
    "ticket.reply_sent": "Replies sent",
    "ticket.internal_note": "Internal notes on tickets",
    "ticket.closed": "Tickets closed",
    "security.detection": "Endpoint detections",
    "m365.compliance": "Intune compliance",
    "m365.conditional_access": "Conditional Access",
    "m365.secure_score": "Secure Score",
    "licensing.subscription": "Licence subscriptions",
}


def kind_label(kind: str) -> str:
    """``backup.CloudConnectRepository`` -> "Cloud connect repository alarms": VSPC names alarms by their object."""
    if kind in KIND_LABELS:
        return KIND_LABELS[kind]
    head, _, rest = kind.partition(".")
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", rest or head).replace("_", " ").replace("-", " ").strip()
    alarm = " alarms" if head == "backup" and rest[:1].isupper() else ""
    return (words[:1].upper() + words[1:].lower() + alarm) or kind


@dataclass(frozen=True)
class Filters:
    day: date | None = None
    week: date | None = None  # the Monday of the week
    start: date | None = None
    end: date | None = None
    sources: tuple[str, ...] = ()
    notes_only: bool = False
    hidden: tuple[str, ...] = ()  # kinds of entry left out
    customer: int | None = None  # the global timeline's one customer (and its sites)
    customer_name: str | None = None  # for its chip, once the customer is found

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> Filters:
        def day_of(name: str) -> date | None:
            return params.day(args.get(name))

        week = day_of("week")
        return cls(
            day=day_of("day"),
            week=week - timedelta(days=week.weekday()) if week else None,
            start=day_of("from"),
            end=day_of("to"),
            sources=tuple(sorted({s for s in args.getlist("source") if s})),
            notes_only=args.get("notes") in ("1", "on", "true"),
            hidden=tuple(sorted({k[:60] for k in args.getlist("hide") if k and k != NOTE_KIND}))[:MAX_HIDDEN],
            customer=public_ids.decode("customer", args.get("customer")) if args.get("customer") else None,
        )

    def shows(self, *, source: str, kind: str, moment: datetime) -> bool:
        """Whether an entry like this one passes the filters (a note just added may not)."""
        low, high = self.window()
        if (low and moment < low) or (high and moment >= high) or kind in self.hidden:
            return False
        if self.notes_only:
            return kind == NOTE_KIND
        return not self.sources or source in self.sources

    def window(self) -> tuple[datetime | None, datetime | None]:
        """[low, high) in UTC."""
        if self.day:
            day = datetime.combine(self.day, time(), UTC)
            return day, day + timedelta(days=1)
        if self.week:
            monday = datetime.combine(self.week, time(), UTC)
            return monday, monday + timedelta(days=7)
        low = datetime.combine(self.start, time(), UTC) if self.start else None
        high = datetime.combine(self.end, time(), UTC) + timedelta(days=1) if self.end else None
        return low, high

    def params(self, without: tuple[str, str] | None = None) -> list[tuple[str, str]]:
        """The filters as query pairs, optionally ``without`` one of them (what a chip links to)."""
        dates = (("day", self.day), ("week", self.week), ("from", self.start), ("to", self.end))
        pairs = [(key, value.isoformat()) for key, value in dates if value]
        pairs += [("source", s) for s in self.sources]
        pairs += [("notes", "1")] if self.notes_only else []
        pairs += [("hide", k) for k in self.hidden]
        if self.customer is not None:
            pairs.append(("customer", public_ids.encode("customer", self.customer)))
        return [pair for pair in pairs if pair != without]

    def chips(self) -> list[tuple[str, str]]:
        """(label, query string without that filter)."""
        labels = {
            "day": "Day: {:%d %b %Y}",
            "week": "Week of {:%d %b %Y}",
            "from": "From {:%d %b %Y}",
            "to": "To {:%d %b %Y}",
        }
        chips = []
        for key, value in self.params():
            if key in labels:
                label = labels[key].format(date.fromisoformat(value))
            elif key == "source":
                label = f"Source: {value}"
            elif key == "hide":
                label = f"Hiding: {kind_label(value)}"
            elif key == "customer":
                label = f"Customer: {self.customer_name or 'unknown'}"
            else:
                label = "Notes only"
            chips.append((label, urlencode(self.params(without=(key, value)))))
        return chips

    @property
    def query_string(self) -> str:
        return urlencode(self.params())

    @property
    def active(self) -> bool:
        return bool(self.chips())


@dataclass(frozen=True)
class Entry:
    event: TimelineEvent
    note: CustomerNote | None = None
    author: str | None = None


@dataclass(frozen=True)
class Gap:
    source: str
    start: datetime
    end: datetime | None  # None: still not syncing

    @property
    def occurred_at(self) -> datetime:
        return self.end or datetime.now(UTC)


@dataclass
class TimelinePage:
    items: list[Entry | Gap]
    next_before: str | None
    sources: list[str] = field(default_factory=list)
    kinds: list[tuple[str, str]] = field(default_factory=list)  # (kind, label) a person may hide, by label


def _cursor(value: str | None) -> tuple[datetime, int] | None:
    return params.cursor(value)


def page(
    session: Session, filters: Filters, *, customer_ids: list[int] | None = None, before: str | None = None
) -> TimelinePage:
    query = (
        select(TimelineEvent, CustomerNote, User.name)
        .outerjoin(CustomerNote, CustomerNote.id == TimelineEvent.note_id)
        .outerjoin(User, User.id == CustomerNote.author_id)
    )
    if customer_ids is not None:
        query = query.where(TimelineEvent.customer_id.in_(customer_ids))
    low, high = filters.window()
    if low:
        query = query.where(TimelineEvent.occurred_at >= low)
    if high:
        query = query.where(TimelineEvent.occurred_at < high)
    if filters.notes_only:
        query = query.where(TimelineEvent.note_id.is_not(None))
    elif filters.sources:
        query = query.where(TimelineEvent.source.in_(filters.sources))
    if filters.hidden:
        query = query.where(TimelineEvent.kind.not_in(filters.hidden))
    cursor = _cursor(before)
    if cursor:
        moment, ident = cursor
        # A row comparison, not an OR: PostgreSQL walks the (occurred_at, id) index straight to it.
        query = query.where(tuple_(TimelineEvent.occurred_at, TimelineEvent.id) < tuple_(moment, ident))
    rows = session.execute(
        query.order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc()).limit(PAGE_SIZE + 1)
    ).all()
    more = len(rows) > PAGE_SIZE
    entries = [Entry(event, note, author) for event, note, author in rows[:PAGE_SIZE]]
    last = entries[-1].event if entries and more else None
    items: list[Entry | Gap] = list(entries)
    if not filters.notes_only:
        newest: datetime = cursor[0] if cursor else (high or datetime.now(UTC) + timedelta(days=1))
        oldest: datetime = last.occurred_at if last else (low or datetime.min.replace(tzinfo=UTC))
        gaps = [g for g in sync_gaps(session, customer_ids) if oldest <= g.occurred_at < newest]
        if filters.sources:
            gaps = [g for g in gaps if g.source in filters.sources]
        items += gaps
        items.sort(key=lambda i: i.occurred_at if isinstance(i, Gap) else i.event.occurred_at, reverse=True)
    shown = set(kinds(session)) | set(filters.hidden)  # a kind hidden in the URL stays visible, to unhide
    return TimelinePage(
        items,
        f"{last.occurred_at.isoformat()}_{last.id}" if last else None,
        sorted(set(sources(session, customer_ids)) | set(filters.sources)),  # a filter in the URL stays visible
        sorted(((k, kind_label(k)) for k in shown if k != NOTE_KIND), key=lambda pair: pair[1].casefold()),
    )


def kinds(session: Session) -> list[str]:
    """The kinds of entry this workspace's timeline holds: one index probe per kind (a loose index scan over
    ``(tenant_id, kind)``), not a pass over millions of rows."""
    return list(
        session.scalars(
            text(
                """
                WITH RECURSIVE k(kind) AS (
                    (SELECT kind FROM timeline_events
                     WHERE tenant_id = current_setting('vectis.tenant_id')::bigint ORDER BY kind LIMIT 1)
                    UNION ALL
                    SELECT (SELECT e.kind FROM timeline_events e
                            WHERE e.tenant_id = current_setting('vectis.tenant_id')::bigint AND e.kind > k.kind
                            ORDER BY e.kind LIMIT 1)
                    FROM k WHERE k.kind IS NOT NULL
                )
                SELECT kind FROM k WHERE kind IS NOT NULL
                """
            )
        )
    )


def with_customer(session: Session, filters: Filters) -> tuple[Filters, list[int] | None]:
    """The filters with their customer's name, and the ids to show (the customer and its sites); a customer
    that does not exist here (another workspace's, deleted) drops out of the filters."""
    if filters.customer is None:
        return filters, None
    customer = session.get(Customer, filters.customer)
    if customer is None:
        return replace(filters, customer=None), None
    sites = session.scalars(select(Customer.id).where(Customer.parent_id == customer.id))
    return replace(filters, customer_name=customer.name), [customer.id, *sites]


def customer_choices(session: Session) -> list[tuple[int, str]]:
    """Top-level customers by name, for the global timeline's customer filter (a customer brings its sites)."""
    return [
        (cid, name)
        for cid, name in session.execute(
            select(Customer.id, Customer.name).where(Customer.parent_id.is_(None)).order_by(Customer.name, Customer.id)
        )
    ]


def sources(session: Session, customer_ids: list[int] | None) -> list[str]:
    """The tools that can have entries here: the connected ones (for a customer, those that know it).
    Read from the connections, not from millions of events."""
    query = select(Connection.vendor)
    if customer_ids is not None:
        query = query.where(
            Connection.id.in_(select(CustomerLink.connection_id).where(CustomerLink.customer_id.in_(customer_ids)))
        )
    return sorted({registry_label(vendor) for vendor in session.scalars(query)} | {NOTE_SOURCE})


def sync_gaps(session: Session, customer_ids: list[int] | None = None, *, days: int = 90) -> list[Gap]:
    """Stretches longer than twice a connection's interval with no successful sync (and the one running
    now, if its last success is that old). For a customer: only the connections that know it."""
    connections = select(Connection.id)
    if customer_ids is not None:
        connections = connections.where(
            Connection.id.in_(select(CustomerLink.connection_id).where(CustomerLink.customer_id.in_(customer_ids)))
        )
    wanted = [i for (i,) in session.execute(connections)]
    if not wanted:
        return []
    rows = session.execute(
        text(
            """
            SELECT c.name, r.prev, r.finished_at, c.sync_interval_minutes
            FROM (
                SELECT connection_id, finished_at,
                       lag(finished_at) OVER (PARTITION BY connection_id ORDER BY finished_at) AS prev
                FROM sync_runs
                WHERE status = 'succeeded' AND finished_at > now() - make_interval(days => :days)
                  AND connection_id = ANY(:ids)
            ) r JOIN connections c ON c.id = r.connection_id
            WHERE r.prev IS NOT NULL AND r.finished_at - r.prev > make_interval(mins => 2 * c.sync_interval_minutes)
            """
        ),
        {"days": days, "ids": wanted},
    ).all()
    gaps = [Gap(name, prev, finished) for name, prev, finished, _ in rows]
    now = datetime.now(UTC)
    latest = session.execute(
        select(Connection.name, Connection.sync_interval_minutes, func.max(SyncRun.finished_at))
        .join(SyncRun, and_(SyncRun.connection_id == Connection.id, SyncRun.status == "succeeded"))
        .where(Connection.id.in_(wanted), Connection.enabled)
        .group_by(Connection.id)
    ).all()
    for name, interval, finished in latest:
        if finished and now - finished > timedelta(minutes=2 * interval):
            gaps.append(Gap(name, finished, None))
    return gaps


def customer_names(session: Session, page: TimelinePage) -> dict[int, str]:
    ids = {i.event.customer_id for i in page.items if isinstance(i, Entry) and i.event.customer_id}
    if not ids:
        return {}
    return {cid: name for cid, name in session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids)))}
