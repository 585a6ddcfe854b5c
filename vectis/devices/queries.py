"""What the device surfaces read: the hub's Devices tab (a customer's devices across every RMM, offline first, with
filters and pages in the URL) and one device's page (its facts, its alerts, the tickets that name it, its timeline)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, case, exists, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from vectis.connectors import registry
from vectis.models import (
    DEVICE_CLASSES,
    Alert,
    AlertState,
    Connection,
    Customer,
    CustomerLink,
    Device,
    Ticket,
    TimelineEvent,
)
from vectis.platform import db, params
from vectis.platform.dates import ago, when_in_full

PAGE_SIZE = 100  # a page of the tab: a 400-device customer is four
CLASS_LABELS = {
    "workstation": "Workstation",
    "server": "Server",
    "laptop": "Laptop",
    "mac": "Mac",
    "linux": "Linux",
    "network": "Network device",
    "virtual": "Virtual machine",
    "other": "Other",
}
STATES = {"online": "Online", "offline": "Offline"}
URGENCY = case({"critical": 0, "warning": 1, "info": 2}, value=Alert.severity, else_=3)
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def class_label(device_class: str) -> str:
    return CLASS_LABELS.get(device_class, device_class.capitalize())


def source_label(vendor: str, name: str) -> str:
    """The RMM as people name it: its connector's label, or the connection's own name for a vendor Vectis has no
    connector for (any longer)."""
    return registry.get(vendor).label if vendor in registry.CONNECTORS else name


def listed(customer_ids: Sequence[int]) -> ColumnElement[bool]:
    """The devices a customer's hub lists: its own and its sites', those the RMM still has."""
    return db.among(Device.customer_id, customer_ids) & Device.removed_at.is_(None)


def has_devices(customer_ids: Sequence[int]) -> ColumnElement[bool]:
    return exists().where(listed(customer_ids))


@dataclass(frozen=True)
class Filters:
    """The tab's filters and page, as its URL carries them (``?class=server&state=offline&page=2``)."""

    device_class: str = ""
    state: str = ""  # online | offline | "" (both)
    page: int = 1

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> Filters:
        device_class, state = args.get("class", ""), args.get("state", "")
        return cls(
            device_class=device_class if device_class in DEVICE_CLASSES else "",
            state=state if state in STATES else "",
            page=params.integer(args.get("page"), low=1, high=100_000) or 1,
        )

    @property
    def active(self) -> bool:
        return bool(self.device_class or self.state)

    def query(self, *, page: int | None = None, without: str | None = None) -> str:
        """``?…`` for this view on another page, or without one filter ("all": none); "" when nothing is left."""
        pairs = [
            (name, value)
            for name, value in (("class", self.device_class), ("state", self.state))
            if value and without not in (name, "all")
        ]
        chosen = self.page if page is None else page
        if chosen > 1:
            pairs.append(("page", str(chosen)))
        return f"?{urlencode(pairs)}" if pairs else ""

    def where(self) -> list[ColumnElement[bool]]:
        found = []
        if self.device_class:
            found.append(Device.device_class == self.device_class)
        if self.state:
            found.append(Device.online.is_(self.state == "online"))
        return found


@dataclass(frozen=True)
class Row:
    id: int
    name: str
    device_class: str
    vendor_class: str | None
    os_name: str | None
    online: bool
    last_contact_at: datetime | None
    site: str | None
    source: str  # the RMM it comes from, as people name it
    open_alerts: int
    worst: str | None  # the severity of its worst open alert

    @property
    def class_label(self) -> str:
        return class_label(self.device_class)

    def contact(self, now: datetime) -> str:
        """``3 min ago``; "never" for a device that never checked in."""
        return ago(self.last_contact_at, now) if self.last_contact_at else "never"

    @property
    def contact_exact(self) -> str:
        return when_in_full(self.last_contact_at) if self.last_contact_at else "No contact on record"


@dataclass(frozen=True)
class Counts:
    total: int  # every listed device of the customer, whatever the filters
    offline: int
    classes: list[tuple[str, str, int]]  # (class, label, how many), in DEVICE_CLASSES' order, those present


@dataclass(frozen=True)
class Rmm:
    """What the empty tab says: whether an RMM is connected at all, and whether this customer is linked to it."""

    names: list[str]  # the RMM connections' names
    linked: bool  # the customer (or a site) is linked to an organisation of one of them


@dataclass(frozen=True)
class DevicesTab:
    filters: Filters
    rows: list[Row]
    matching: int  # devices under the filters, on every page
    counts: Counts
    now: datetime
    rmm: Rmm | None  # read only when there is no device to show
    page_size: ClassVar[int] = PAGE_SIZE
    class_labels: ClassVar[dict[str, str]] = CLASS_LABELS
    states: ClassVar[dict[str, str]] = STATES

    @property
    def pages(self) -> int:
        return max(1, -(-self.matching // PAGE_SIZE))

    @property
    def first(self) -> int:
        return (self.filters.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def tab(session: Session, customer_ids: Sequence[int], filters: Filters) -> DevicesTab:
    """One page of a customer's devices (with its sites'), offline first, then by name."""
    now = datetime.now(UTC)
    counts = _counts(session, customer_ids)
    matching = sum(
        n
        for (device_class, online), n in counts.items()
        if (not filters.device_class or device_class == filters.device_class)
        and (not filters.state or online == (filters.state == "online"))
    )
    pages = max(1, -(-matching // PAGE_SIZE))
    if filters.page > pages:
        filters = replace(filters, page=pages)  # past the end (devices went): the last page, not an empty one
    shown = (
        Device.id, Device.name, Device.device_class, Device.vendor_class, Device.os_name, Device.online,
        Device.last_contact_at, Device.site, Connection.vendor, Connection.name.label("connection_name"),
    )  # fmt: skip
    found = session.execute(
        select(*shown)
        .join(Connection, Connection.id == Device.connection_id)
        .where(listed(customer_ids), *filters.where())
        .order_by(Device.online, Device.name, Device.id)
        .limit(PAGE_SIZE)
        .offset((filters.page - 1) * PAGE_SIZE)
    ).all()
    alerts = open_alerts(session, [d.id for d in found])
    rows = [Row(*d[:8], source_label(d.vendor, d.connection_name), *alerts.get(d.id, (0, None))) for d in found]
    by_class: dict[str, int] = {}
    for (device_class, _), n in counts.items():
        by_class[device_class] = by_class.get(device_class, 0) + n
    summary = Counts(
        total=sum(counts.values()),
        offline=sum(n for (_, online), n in counts.items() if not online),
        classes=[(c, class_label(c), by_class[c]) for c in DEVICE_CLASSES if c in by_class],
    )
    return DevicesTab(filters, rows, matching, summary, now, None if rows else rmm_state(session, customer_ids))


def _counts(session: Session, customer_ids: Sequence[int]) -> dict[tuple[str, bool], int]:
    """(class, online) -> how many: the tab's head, its filters' choices and its page count, in one statement."""
    return {
        (device_class, online): n
        for device_class, online, n in session.execute(
            select(Device.device_class, Device.online, func.count())
            .where(listed(customer_ids))
            .group_by(Device.device_class, Device.online)
        )
    }


def open_alerts(session: Session, device_ids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
    """device -> (its open alerts, the worst one's severity)."""
    if not device_ids:
        return {}
    found = session.execute(
        select(Alert.device_id, func.count(), func.min(URGENCY))
        .where(db.among(Alert.device_id, device_ids), Alert.state == AlertState.OPEN.value)
        .group_by(Alert.device_id)
    )
    severities = {rank: name for name, rank in SEVERITY_RANK.items()}
    return {device_id: (n, severities.get(worst)) for device_id, n, worst in found}


def rmm_state(session: Session, customer_ids: Sequence[int]) -> Rmm:
    """A connection is an RMM when its connector says so, or when it has listed devices (a vendor Vectis no longer
    has a connector for keeps its devices)."""
    connections = session.execute(
        select(
            Connection.id,
            Connection.vendor,
            Connection.name,
            exists().where(Device.connection_id == Connection.id).label("has_devices"),
        )
    ).all()
    rmms = {
        c.id: c.name
        for c in connections
        if c.has_devices or (c.vendor in registry.CONNECTORS and registry.get(c.vendor).category == "rmm")
    }
    linked = bool(rmms) and bool(
        session.scalar(
            select(
                exists().where(
                    db.among(CustomerLink.customer_id, customer_ids), db.among(CustomerLink.connection_id, list(rmms))
                )
            )
        )
    )
    return Rmm(sorted(rmms.values()), linked)


# --- one device ----------------------------------------------------------------------------------------------

ALERTS_SHOWN = 50
TICKETS_SHOWN = 20
EVENTS_SHOWN = 50
STATE_ORDER = case(
    {AlertState.OPEN.value: 0, AlertState.ACKNOWLEDGED.value: 1, AlertState.MUTED.value: 2}, value=Alert.state, else_=3
)


@dataclass(frozen=True)
class DevicePage:
    device: Device
    customer: Customer | None
    source: str
    alerts: list[Alert]  # open first, then acknowledged, muted, resolved; newest first within each
    tickets: list[Ticket]  # its customer's tickets whose summary names it
    events: list[TimelineEvent]  # newest first
    now: datetime

    @property
    def class_label(self) -> str:
        return class_label(self.device.device_class)

    @property
    def contact(self) -> str:
        moment = self.device.last_contact_at
        return f"{ago(moment, self.now)} ({when_in_full(moment)})" if moment else "No contact on record"


def device_page(session: Session, device: Device) -> DevicePage:
    connection = session.get(Connection, device.connection_id)
    alerts = session.scalars(
        select(Alert)
        .where(Alert.device_id == device.id)
        .order_by(STATE_ORDER, URGENCY, Alert.last_seen_at.desc(), Alert.id.desc())
        .limit(ALERTS_SHOWN)
    ).all()
    events = session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.device_id == device.id)
        .order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc())
        .limit(EVENTS_SHOWN)
    ).all()
    customer = session.get(Customer, device.customer_id) if device.customer_id else None
    return DevicePage(
        device,
        customer,
        source_label(connection.vendor, connection.name) if connection else "its RMM",
        list(alerts),
        tickets_naming(session, device),
        list(events),
        datetime.now(UTC),
    )


def name_pattern(name: str) -> str:
    """A PostgreSQL regular expression that finds ``name`` as a whole word, in any case: "FS01" in "Disk full on
    fs01." but not in "FS010". Every character of the name is taken literally."""
    literal = re.sub(r"([^A-Za-z0-9 ])", r"\\\1", name)
    return f"(^|[^[:alnum:]_]){literal}($|[^[:alnum:]_])"


MIN_NAME = 3  # a shorter name ("PC") is in too many summaries to mean this device


def tickets_naming(session: Session, device: Device) -> list[Ticket]:
    """The tickets of the device's customer whose summary names the device: a heuristic (a PSA does not say which
    device a ticket is about), by its name as a whole word in any case; open ones first, then the newest."""
    name = device.name.strip()
    if device.customer_id is None or len(name) < MIN_NAME:
        return []
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.customer_id == device.customer_id, Ticket.summary.op("~*")(name_pattern(name)))
            .order_by(Ticket.closed, Ticket.opened_at.desc(), Ticket.id.desc())
            .limit(TICKETS_SHOWN)
        )
    )
