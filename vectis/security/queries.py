"""What the Security pages show: detection cards (the hub's Security tab for one customer and its sites, the global
Security page across customers), newest first, open ones by default, each with the response actions its tool can
take and, for the rest, the reason it cannot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, exists, func, select, true
from sqlalchemy.orm import Session

from vectis.connectors import registry
from vectis.connectors.capabilities import ENDPOINT_ACTIONS, RespondsOnEndpoints, supports
from vectis.models import Connection, Customer
from vectis.models.security import SEVERITIES, Detection
from vectis.platform import db, params

PAGE = 25
STATUSES = {"open": "Open", "resolved": "Resolved", "all": "Open and resolved"}
SEVERITY_LABELS = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}
# A remediation's status at the tool (Huntress's words) -> (in words, tone).
REMEDIATION_STATES = {
    "unapproved": ("awaiting your approval", "warn"),
    "approved": ("approved, running", "info"),
    "completed": ("done", "ok"),
    "failed": ("failed", "bad"),
    "rejected": ("rejected", "muted"),
}
ISOLATION_LABELS = {
    "isolated": "Isolated",
    "isolating": "Isolation pending",
    "releasing": "Release pending",
    "connected": "Connected",
}


@dataclass(frozen=True)
class Filters:
    status: str = "open"
    severity: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        status = args.get("status", "open")
        severity = args.get("severity", "")
        page = args.get("page", "1")
        return cls(
            status if status in STATUSES else "open",
            severity if severity in SEVERITIES else "",
            params.integer(page, low=1, high=9_999) or 1,
        )

    @property
    def active(self) -> bool:
        return self.status != "open" or bool(self.severity)

    def query(self, **changed: Any) -> str:
        values = {"status": self.status, "severity": self.severity, "page": self.page, **changed}
        kept = {k: v for k, v in values.items() if v and not (k == "status" and v == "open") and v != 1}
        return f"?{urlencode(kept)}" if kept else ""

    def where(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.status == "open":
            found.append(Detection.status != "resolved")
        elif self.status == "resolved":
            found.append(Detection.status == "resolved")
        if self.severity:
            found.append(Detection.severity == self.severity)
        return found


@dataclass(frozen=True)
class Card:
    """One detection as its card shows it, with each action's reason when it is not offered (None: offered)."""

    id: int
    title: str
    severity: str
    vendor_severity: str
    status: str
    vendor_status: str
    verdict: str | None
    isolation: str | None
    classification: str | None
    file_path: str | None
    file_hash: str | None
    detected_at: datetime
    device_name: str | None
    device_id: int | None
    customer_id: int | None
    customer_name: str | None
    source: str
    resolved_by: str | None
    refusals: Mapping[str, str | None] = field(default_factory=dict)
    # What the tool's analysts propose doing on the endpoint (Huntress's remediations): each {action, type, status}.
    remediations: Sequence[Mapping[str, Any]] = ()
    isolation_modes: Mapping[str, str] = field(default_factory=dict)  # the tool's ways to isolate, when it has a choice

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS.get(self.severity, self.severity.title())

    @property
    def isolation_label(self) -> str | None:
        return ISOLATION_LABELS.get(self.isolation or "")

    @property
    def pending(self) -> bool:
        return self.isolation in ("isolating", "releasing")

    @property
    def status_label(self) -> str:
        if self.verdict == "false_positive":
            return "False positive"
        return {"open": "Open", "in_progress": "In progress", "resolved": "Resolved"}.get(self.status, self.status)

    def offered(self, action: str) -> bool:
        return self.refusals.get(action) is None

    @property
    def remediation_lines(self) -> list[tuple[str, str, str]]:
        """Each proposed remediation as (what, its state in words, tone): unapproved ones first."""
        lines = [
            (remediation_label(r), *REMEDIATION_STATES.get(
                str(r.get("status") or ""), (str(r.get("status") or "unknown").replace("_", " "), "muted")
            ))
            for r in self.remediations
        ]  # fmt: skip
        return sorted(lines, key=lambda line: line[2] != "warn")


@dataclass(frozen=True)
class Listing:
    cards: list[Card]
    filters: Filters
    matching: int
    open_by_severity: dict[str, int]  # every open detection in scope, whatever the filters
    connected: list[str]  # the endpoint-security tools connected, by name

    @property
    def open_total(self) -> int:
        return sum(self.open_by_severity.values())

    @property
    def pages(self) -> int:
        return max(1, -(-self.matching // PAGE))

    @property
    def first(self) -> int:
        return (self.filters.page - 1) * PAGE + 1

    @property
    def last(self) -> int:
        return min(self.matching, self.filters.page * PAGE)


def matrix(vendor: str) -> Mapping[str, str | None]:
    """What the vendor's API can do, action by action: None, or the reason it cannot."""
    try:
        cls = registry.get(vendor)
    except LookupError:
        return dict.fromkeys(ENDPOINT_ACTIONS, "This integration has been removed.")
    # A tool whose API acts on nothing (Huntress: its SOC remediates) may still say why, action by action.
    responses: Mapping[str, str | None] = getattr(cls, "responses", {})
    if not supports(cls, RespondsOnEndpoints):
        generic = f"{cls.label}'s API takes no response actions."
        return {a: responses.get(a) or generic for a in ENDPOINT_ACTIONS}
    return {a: responses.get(a, f"{cls.label}'s API cannot do this.") for a in ENDPOINT_ACTIONS}


def refusals(row: Any, vendor: str) -> dict[str, str | None]:
    """Each action's reason not to be offered on this detection now, or None."""
    can = matrix(vendor)
    name = row.device_name or "this endpoint"
    no_device = None if row.device_external_id else "The tool did not say which endpoint this is on."
    # While the tool has not confirmed a change, neither button goes the other way: Release is offered once the
    # isolation is confirmed, Isolate once the release is.
    isolate = can["isolate"] or no_device
    if isolate is None and row.isolation in ("isolated", "isolating", "releasing"):
        isolate = {
            "isolated": f"{name} is already isolated.",
            "isolating": f"{name} is already being isolated.",
            "releasing": f"{name} is being released: Isolate is offered again once the tool confirms it.",
        }[row.isolation]
    release = can["release"] or no_device
    if release is None and row.isolation != "isolated":
        release = {
            "isolating": f"{name} is still being isolated: Release is offered once the tool confirms it.",
            "releasing": f"{name} is already being released.",
        }.get(row.isolation, f"{name} is not isolated.")
    resolve = can["resolve"] or ("Already resolved." if row.status == "resolved" else None)
    waiting = [r for r in remediations_of(row) if r.get("status") == "unapproved"]
    if resolve is None and waiting:
        # The tool refuses it anyway (Huntress: 409): said before a click, with what to do.
        tool = registry.label(vendor)
        one = len(waiting) == 1
        resolve = (
            f"{len(waiting)} remediation{'' if one else 's'} still await{'s' if one else ''} approval in {tool}: "
            f"approve or reject {'it' if one else 'them'} in the {tool} portal, then resolve."
        )
    false_positive = can["false_positive"] or (
        "Already marked a false positive." if row.verdict == "false_positive" else None
    )
    return {"isolate": isolate, "release": release, "resolve": resolve, "false_positive": false_positive}


def _modes(vendor: str) -> Mapping[str, str]:
    try:
        cls = registry.get(vendor)
    except LookupError:
        return {}
    return getattr(cls, "isolation_modes", {}) if supports(cls, RespondsOnEndpoints) else {}


def remediation_label(remediation: Mapping[str, Any]) -> str:
    """What a remediation does, in the tool's words."""
    return str(remediation.get("action") or remediation.get("type") or "Remediation")


def remediations_of(row: Any) -> list[Mapping[str, Any]]:
    """A detection's proposed remediations, from a listing's row (its ``remediations`` column) or a stored
    detection."""
    found = getattr(row, "remediations", None)
    if found is None:
        found = (getattr(row, "details", None) or {}).get("remediations")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _cards(session: Session, statement: Select[Any]) -> list[Card]:
    cards = []
    for row in session.execute(statement):
        cards.append(
            Card(
                id=row.id,
                title=row.title,
                severity=row.severity,
                vendor_severity=row.vendor_severity,
                status=row.status,
                vendor_status=row.vendor_status,
                verdict=row.verdict,
                isolation=row.isolation,
                classification=row.classification,
                file_path=row.file_path,
                file_hash=row.file_hash,
                detected_at=row.detected_at,
                device_name=row.device_name,
                device_id=row.device_id,
                customer_id=row.customer_id,
                customer_name=row.customer_name,
                source=registry.label(row.vendor),
                resolved_by=row.resolved_by,
                refusals=refusals(row, row.vendor),
                remediations=remediations_of(row),
                isolation_modes=_modes(row.vendor),
            )
        )
    return cards


def _columns() -> Select[Any]:
    columns = (
        select(
            Detection.id,
            Detection.title,
            Detection.severity,
            Detection.vendor_severity,
            Detection.status,
            Detection.vendor_status,
            Detection.verdict,
            Detection.isolation,
            Detection.classification,
            Detection.file_path,
            Detection.file_hash,
            Detection.detected_at,
            Detection.device_name,
            Detection.device_external_id,
            Detection.device_id,
            Detection.customer_id,
            Detection.resolved_by,
            Customer.name.label("customer_name"),
            Connection.vendor,
            Detection.details["remediations"].label("remediations"),
        )
        .join(Connection, Connection.id == Detection.connection_id)
        .outerjoin(Customer, Customer.id == Detection.customer_id)
    )
    return cast("Select[Any]", columns)


def listing(session: Session, filters: Filters, customer_ids: Sequence[int] | None = None) -> Listing:
    """Detections of ``customer_ids`` (a customer and its sites), or of every customer when None."""
    scope: ColumnElement[bool] = db.among(Detection.customer_id, list(customer_ids)) if customer_ids else true()
    if customer_ids is not None and not customer_ids:
        scope = Detection.id.is_(None)
    wanted = [scope, *filters.where()]
    matching = session.scalar(select(func.count()).select_from(Detection).where(*wanted)) or 0
    statement = (
        _columns()
        .where(*wanted)
        .order_by(Detection.detected_at.desc(), Detection.id.desc())
        .limit(PAGE)
        .offset((filters.page - 1) * PAGE)
    )
    counts = dict(
        session.execute(
            select(Detection.severity, func.count())
            .where(scope, Detection.status != "resolved")
            .group_by(Detection.severity)
        ).all()
    )
    connected = [
        registry.label(vendor)
        for vendor in session.scalars(select(Connection.vendor).distinct().order_by(Connection.vendor))
        if _category(vendor) == "security"
    ]
    return Listing(
        _cards(session, statement),
        filters,
        matching,
        {s: counts.get(s, 0) for s in SEVERITIES},
        connected,
    )


def card(session: Session, detection_id: int) -> Card | None:
    found = _cards(session, _columns().where(Detection.id == detection_id))
    return found[0] if found else None


def has_detections(customer_ids: Sequence[int]) -> ColumnElement[bool]:
    return exists().where(db.among(Detection.customer_id, list(customer_ids)))


def _category(vendor: str) -> str | None:
    try:
        return registry.get(vendor).category
    except LookupError:
        return None
