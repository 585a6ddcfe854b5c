"""What the hub's Microsoft 365 tab and the API read: per customer tenant linked to the customer (or one of its sites),
its four panels with their status (known, partial, unknown with the reason), the time each was read, and what each
shows. Coverage is tri-state everywhere: covered, not covered, or unknown with a reason; never "not covered" for what
Vectis could not read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import ColumnElement, exists, func, select, tuple_
from sqlalchemy.orm import Session

from vectis.m365.sparkline import sparkline
from vectis.models import Connection, CustomerLink
from vectis.models.m365 import M365CaPolicy, M365ManagedDevice, M365Panel, M365PrivilegedUser, M365SecureScore
from vectis.platform import db
from vectis.platform.dates import calendar_day

SPARK_DAYS = 30
REPORT_ONLY = "enabledForReportingButNotEnforced"
COMPLIANCE_ORDER = ("noncompliant", "inGracePeriod", "conflict", "error", "unknown", "configManager", "compliant")
COMPLIANCE_WORDS = {
    "compliant": "Compliant", "noncompliant": "Not compliant", "inGracePeriod": "In grace period",
    "conflict": "Conflict", "error": "Error", "unknown": "Unknown", "configManager": "Managed by ConfigMgr",
}  # fmt: skip
POLICY_WORDS = {"enabled": "Enforcing", REPORT_ONLY: "Report-only (would enforce)", "disabled": "Off"}


@dataclass(frozen=True)
class Status:
    """A panel's status: ``state`` known | partial | unknown | never (not read yet); ``as_of``: when what it shows
    was read; ``tried_at``: the last attempt (later than ``as_of`` when the last attempt failed)."""

    state: str
    reason: str | None
    as_of: datetime | None
    tried_at: datetime | None

    @property
    def has_data(self) -> bool:
        return self.as_of is not None

    @property
    def stale(self) -> bool:
        """Shown from an earlier read: the latest one could not be made."""
        return self.state == "unknown" and self.as_of is not None


NEVER = Status("never", "not read yet: it appears after the next sync", None, None)


@dataclass(frozen=True)
class Coverage:
    """One thing a tenant should have, tri-state: ``covered`` | ``not_covered`` | ``unknown`` (``reason``)."""

    label: str
    state: str
    detail: str


@dataclass
class IntunePanel:
    status: Status
    counts: list[tuple[str, str, int]] = field(default_factory=list)  # (state, words, how many), worst first
    total: int = 0
    noncompliant: list[M365ManagedDevice] = field(default_factory=list)


@dataclass
class ScorePanel:
    status: Status
    current: float | None = None
    maximum: float | None = None
    on: date | None = None
    change: float | None = None  # since the first day of the sparkline with a score
    chart: Markup | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    days: dict[date, M365SecureScore] = field(default_factory=dict)  # the stored scores within the sparkline

    @property
    def percent(self) -> int | None:
        if self.current is None or not self.maximum:
            return None
        return round(100 * self.current / self.maximum)


@dataclass
class AccessPanel:
    status: Status
    by_state: list[tuple[str, str, list[M365CaPolicy]]] = field(default_factory=list)  # (state, words, policies)
    enforcing: int = 0
    coverage: list[Coverage] = field(default_factory=list)


@dataclass
class MfaPanel:
    status: Status
    admins: list[M365PrivilegedUser] = field(default_factory=list)  # not registered first
    registered: int = 0
    not_registered: int = 0
    not_listed: int = 0


@dataclass
class TenantPosture:
    connection_id: int
    tenant: str  # the Entra tenant's id as the connection lists it
    name: str | None  # the customer link's name (the organisation's display name)
    intune: IntunePanel
    score: ScorePanel
    access: AccessPanel
    mfa: MfaPanel


def has_posture(customer_ids: Sequence[int]) -> ColumnElement[bool]:
    """Whether any tenant linked to these customers has a panel row (read at least once)."""
    return exists().where(
        M365Panel.connection_id == CustomerLink.connection_id,
        M365Panel.tenant_external_id == CustomerLink.external_id,
        db.among(CustomerLink.customer_id, customer_ids),
    )


@dataclass(frozen=True)
class Attention:
    """What a customer's tenants show that a person must act on: the hub header's badges, counted as the Microsoft
    365 tab lists them (a device Intune calls not compliant; a privileged account with no MFA method registered)."""

    noncompliant: int = 0
    admins_without_mfa: int = 0


def needing_attention(session: Session, customer_ids: Sequence[int]) -> dict[int, Attention]:
    """Each customer's :class:`Attention`, over every Microsoft 365 tenant linked to it; customers with nothing to
    act on are left out. Two grouped statements whatever the number of customers."""
    found: dict[int, dict[str, int]] = {}
    for model, wrong, key in (
        (M365ManagedDevice, M365ManagedDevice.compliance_state == "noncompliant", "noncompliant"),
        (M365PrivilegedUser, M365PrivilegedUser.mfa_registered.is_(False), "admins_without_mfa"),
    ):
        rows = session.execute(
            select(CustomerLink.customer_id, func.count())
            .join(
                model,
                (model.connection_id == CustomerLink.connection_id)
                & (model.tenant_external_id == CustomerLink.external_id),
            )
            .where(db.among(CustomerLink.customer_id, customer_ids), wrong)
            .group_by(CustomerLink.customer_id)
        )
        for customer_id, n in rows:
            if customer_id is not None:  # among() matched it: never None, but the column may be
                found.setdefault(customer_id, {})[key] = n
    return {customer_id: Attention(**counts) for customer_id, counts in found.items()}


def _tenants(session: Session, customer_ids: Sequence[int]) -> list[tuple[int, str, str | None]]:
    rows = session.execute(
        select(CustomerLink.connection_id, CustomerLink.external_id, CustomerLink.external_name)
        .join(Connection, Connection.id == CustomerLink.connection_id)
        .where(Connection.vendor == "m365", db.among(CustomerLink.customer_id, customer_ids))
        .order_by(CustomerLink.external_name, CustomerLink.external_id)
    )
    return [(r[0], r[1], r[2]) for r in rows]


def _where(model: Any, keys: list[tuple[int, str]]) -> ColumnElement[bool]:
    """Rows of these (connection, tenant) pairs: the key's two leading columns after the tenant's."""
    return tuple_(model.connection_id, model.tenant_external_id).in_(keys)


def tab(session: Session, customer_ids: Sequence[int], today: date) -> list[TenantPosture]:
    """Every tenant linked to these customers with its four panels: a few statements whatever the number of tenants."""
    tenants = _tenants(session, customer_ids)
    if not tenants:
        return []
    keys = [(c, t) for c, t, _ in tenants]
    statuses: dict[tuple[int, str, str], M365Panel] = {
        (p.connection_id, p.tenant_external_id, p.panel): p
        for p in session.scalars(select(M365Panel).where(_where(M365Panel, keys)))
    }
    first_day = today - timedelta(days=SPARK_DAYS - 1)
    scores: dict[tuple[int, str], dict[date, M365SecureScore]] = {}
    for s in session.scalars(
        select(M365SecureScore).where(_where(M365SecureScore, keys), M365SecureScore.day >= first_day)
    ):
        scores.setdefault((s.connection_id, s.tenant_external_id), {})[s.day] = s
    devices = _grouped(session, M365ManagedDevice, keys, M365ManagedDevice.name)
    policies = _grouped(session, M365CaPolicy, keys, M365CaPolicy.name)
    admins = _grouped(session, M365PrivilegedUser, keys, M365PrivilegedUser.name)
    out = []
    for connection_id, tenant, name in tenants:
        key = (connection_id, tenant)

        def status(panel: str, key: tuple[int, str] = key) -> tuple[Status, dict[str, Any]]:
            row = statuses.get((*key, panel))
            if row is None:
                return NEVER, {}
            return Status(row.state, row.reason, row.refreshed_at, row.observed_at), row.summary or {}

        out.append(
            TenantPosture(
                connection_id,
                tenant,
                name,
                intune=intune_panel(status("intune")[0], devices.get(key, [])),
                score=score_panel(*status("secure_score"), scores.get(key, {}), today),
                access=access_panel(status("conditional_access")[0], policies.get(key, [])),
                mfa=mfa_panel(status("admin_mfa")[0], admins.get(key, [])),
            )
        )
    return out


def _grouped(session: Session, model: Any, keys: list[tuple[int, str]], order: Any) -> dict[tuple[int, str], list[Any]]:
    grouped: dict[tuple[int, str], list[Any]] = {}
    for row in session.scalars(select(model).where(_where(model, keys)).order_by(order)):
        grouped.setdefault((row.connection_id, row.tenant_external_id), []).append(row)
    return grouped


def intune_panel(status: Status, devices: list[M365ManagedDevice]) -> IntunePanel:
    panel = IntunePanel(status, total=len(devices))
    counts: dict[str, int] = {}
    for d in devices:
        counts[d.compliance_state] = counts.get(d.compliance_state, 0) + 1
    order = {s: n for n, s in enumerate(COMPLIANCE_ORDER)}
    panel.counts = [
        (s, COMPLIANCE_WORDS.get(s, s), n) for s, n in sorted(counts.items(), key=lambda i: order.get(i[0], 99))
    ]
    panel.noncompliant = [d for d in devices if d.compliance_state == "noncompliant"]
    return panel


def spark_days(today: date) -> list[date]:
    """The sparkline's days, oldest first, ending today."""
    return [today - timedelta(days=SPARK_DAYS - 1 - n) for n in range(SPARK_DAYS)]


def score_panel(status: Status, summary: dict[str, Any], days: dict[date, M365SecureScore], today: date) -> ScorePanel:
    panel = ScorePanel(status, actions=list(summary.get("actions") or []), days=days)
    if not days:
        return panel
    newest = days[max(days)]
    panel.current, panel.maximum, panel.on = newest.current_score, newest.max_score, newest.day
    series = [(day, days[day].current_score if day in days else None) for day in spark_days(today)]
    oldest = days[min(days)]
    panel.change = round(newest.current_score - oldest.current_score, 1)
    missing = sum(1 for _, v in series if v is None)
    gaps = f"; {missing} day{'s' if missing != 1 else ''} without a score" if missing else ""
    label = (
        f"Secure Score over {SPARK_DAYS} days: {oldest.current_score:.0f} on {calendar_day(oldest.day)} to "
        f"{newest.current_score:.0f} on {calendar_day(newest.day)}{gaps}"
    )
    panel.chart = sparkline(series, label=label)
    return panel


# What Conditional Access should cover, by the grant control that covers it and whom it must reach.
WANTED = (
    ("MFA for administrators", "mfa", "admins"),
    ("MFA for all users", "mfa", "users"),
    ("Compliant device required", "compliantDevice", "users"),
)


def coverage(status: Status, policies: list[M365CaPolicy]) -> list[Coverage]:
    """Each wanted protection, tri-state. Only ``enabled`` policies count; a report-only one that would cover it is
    named ("would enforce"), never counted. Unknown when the policies could not be read (with the reason)."""
    if not status.has_data:
        return [Coverage(label, "unknown", status.reason or "not read yet") for label, _, _ in WANTED]
    out = []
    for label, control, whom in WANTED:
        fits = [p for p in policies if control in (p.controls or []) and (whom == "admins" or not p.for_admins)]
        enforcing = [p for p in fits if p.state == "enabled"]
        report_only = [p for p in fits if p.state == REPORT_ONLY]
        if enforcing:
            out.append(Coverage(label, "covered", f"by “{enforcing[0].name}”"))
        elif report_only:
            out.append(Coverage(label, "not_covered", f"“{report_only[0].name}” would enforce it but is report-only"))
        else:
            out.append(Coverage(label, "not_covered", "no enabled policy requires it"))
    return out


def access_panel(status: Status, policies: list[M365CaPolicy]) -> AccessPanel:
    panel = AccessPanel(status)
    for state in ("enabled", REPORT_ONLY, "disabled"):
        chosen = [p for p in policies if p.state == state]
        if chosen:
            panel.by_state.append((state, POLICY_WORDS[state], chosen))
    others = [p for p in policies if p.state not in POLICY_WORDS]
    if others:
        panel.by_state.append(("other", "Other", others))
    panel.enforcing = sum(1 for p in policies if p.state == "enabled")
    panel.coverage = coverage(status, policies)
    return panel


def mfa_panel(status: Status, admins: list[M365PrivilegedUser]) -> MfaPanel:
    panel = MfaPanel(status)
    panel.admins = sorted(admins, key=lambda a: ({False: 0, None: 1, True: 2}[a.mfa_registered], a.name.lower()))
    panel.registered = sum(1 for a in admins if a.mfa_registered is True)
    panel.not_registered = sum(1 for a in admins if a.mfa_registered is False)
    panel.not_listed = sum(1 for a in admins if a.mfa_registered is None)
    return panel
