"""One row for one problem, however many tools report it: alerts about the same device collapse, deterministically.

A customer's device watched by an RMM, an endpoint tool and a rule can be reported three times for one full disk.
:func:`same_alert` decides which existing row a new report is, and :func:`raise_alert` is the one way an alert with a
device is raised (``alert.raise``, a rule's "Create an alert", an RMM's alerts), so the decision is made once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vectis.alerts.service import alert_event
from vectis.events.stream import emit
from vectis.models import Alert, AlertState, Device, classify_condition

CLASS_WINDOW = timedelta(minutes=30)
SOURCE_WINDOW = timedelta(hours=1)
URGENCY = {"critical": 0, "warning": 1, "info": 2}
CLASS_WORDS = {"av": "antivirus", "cpu": "CPU", "patch": "patching"}  # a class in a sentence, where its name is short
MERGED_KEPT = 20  # the reports a row lists in ``details.merged``: the first ones; later ones only move last_seen_at


@dataclass(frozen=True)
class Report:
    """An alert someone (a tool, a rule, a person) raises, before it is known whether it is new."""

    source: str  # the tool or rule reporting it: NinjaOne, a rule's name, Vectis
    condition: str  # the reporter's own name for it: DISK_FREE_SPACE, disk.critical, rule:12
    severity: str  # critical | warning | info
    subject_type: str
    subject_id: int
    subject_label: str
    message: str
    at: datetime  # when it was reported (a vendor's own time where it gives one)
    customer_id: int | None = None
    device_id: int | None = None
    connection_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def condition_class(self) -> str:
        return classify_condition(self.condition)


Why = Literal["class", "source", "subject"]


def same_alert(session: Session, report: Report) -> tuple[Alert, Why] | None:
    """The live alert (not resolved) that ``report`` is, if any, and why:

    1. **class**: same customer, same device, same condition class (disk, cpu, memory, av, patch, offline, backup,
       network, service; ``classify_condition``), last seen within **30 minutes** of the report, either side. Two
       tools' disk alerts on one server become one row. A condition of no known class ("other") matches only the
       same condition, since two unknown conditions are not known to be one problem.
    2. **source**: same customer, same device, same source, last seen within **1 hour**: one tool's burst about one
       device (disk, then CPU, then memory as it struggles) is one row to look at.
    3. **subject**: the same subject and condition still live, however long ago (one alert per subject and
       condition until it resolves: what Vectis has always done, and what the table's unique index holds).

    Without a device only 3 applies: an alert on no device is deduplicated as it always was. The windows are
    inclusive (exactly 30 minutes is within) and measured from the row's ``last_seen_at``, which every report it
    absorbs moves on, so a problem reported every 20 minutes stays one row. Among several rows that qualify the
    rule takes the one seen nearest the report, then the oldest row: the same reports give the same rows."""
    if report.device_id is not None:
        nearby = session.scalars(
            select(Alert).where(
                Alert.device_id == report.device_id,
                Alert.customer_id.is_not_distinct_from(report.customer_id),
                Alert.state != AlertState.RESOLVED.value,
                Alert.last_seen_at.between(report.at - SOURCE_WINDOW, report.at + SOURCE_WINDOW),
            )
        ).all()
        kind = report.condition_class
        by_class = [
            a
            for a in nearby
            if _apart(a, report) <= CLASS_WINDOW
            and (a.condition_class == kind if kind != "other" else a.condition == report.condition)
        ]
        if by_class:
            return _nearest(by_class, report), "class"
        by_source = [a for a in nearby if a.source == report.source and _apart(a, report) <= SOURCE_WINDOW]
        if by_source:
            return _nearest(by_source, report), "source"
    found = session.scalar(
        select(Alert).where(
            Alert.subject_type == report.subject_type,
            Alert.subject_id == report.subject_id,
            Alert.condition == report.condition,
            Alert.state != AlertState.RESOLVED.value,
        )
    )
    return (found, "subject") if found is not None else None


def _apart(alert: Alert, report: Report) -> timedelta:
    return abs(report.at - alert.last_seen_at)


def _nearest(alerts: list[Alert], report: Report) -> Alert:
    return min(alerts, key=lambda a: (_apart(a, report), a.id))


@dataclass(frozen=True)
class Raised:
    alert: Alert
    why: Why | None  # None: a new row

    @property
    def new(self) -> bool:
        return self.why is None

    @property
    def message(self) -> str:
        """What raising it did, in words."""
        a = self.alert
        if self.why is None:
            return f"Alert #{a.id} opened: {a.message}"
        if self.why == "subject":
            return f"Alert #{a.id} was already open; marked as seen again."
        sources = " and ".join(a.details.get("sources") or [a.source])
        what = f"{CLASS_WORDS.get(a.condition_class, a.condition_class)} trouble" if self.why == "class" else "trouble"
        return f"Alert #{a.id} already covers {what} on {a.subject_label} (from {sources}): marked as seen again."


def raise_alert(session: Session, tenant_id: int, report: Report) -> Raised:
    """Raise ``report``: into the row :func:`same_alert` finds (its last_seen_at moves to the report's time if later;
    on a device also its severity to the worse of the two, and a report from another tool or of another condition is
    noted in its details: ``sources`` lists every tool that reported it, ``merged`` what each said), or as a new open
    alert that rules hear of (``alert.created``). Reports about one device are taken one at a time, so two tools reporting at
    once cannot both open a row."""
    if report.device_id is not None:
        # Held to the end of the transaction: the next report about this device waits, then sees this one's row.
        session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(f"alert-device:{report.device_id}", 0)))
        )
        if report.customer_id is None:
            device = session.get(Device, report.device_id)
            report = replace(report, customer_id=device.customer_id if device else None)
    found = same_alert(session, report)
    if found is not None:
        alert, why = found
        _absorb(alert, report)
        return Raised(alert, why)
    alert = Alert(
        tenant_id=tenant_id,
        customer_id=report.customer_id,
        connection_id=report.connection_id,
        device_id=report.device_id,
        source=report.source[:40],
        condition=report.condition[:60],
        severity=report.severity,
        subject_type=report.subject_type,
        subject_id=report.subject_id,
        subject_label=report.subject_label[:300],
        message=report.message[:2000],
        first_seen_at=report.at,
        last_seen_at=report.at,
        announced_at=report.at,
        details={**report.details, "sources": [report.source[:40]]} if report.device_id else dict(report.details),
    )
    session.add(alert)
    session.flush()
    emit(session, [alert_event(alert)])
    return Raised(alert, None)


def _absorb(alert: Alert, report: Report) -> None:
    alert.last_seen_at = max(alert.last_seen_at, report.at)
    if alert.device_id is None:
        return  # an alert on no device is only seen again, as it always was
    if URGENCY.get(report.severity, 3) < URGENCY.get(alert.severity, 3):
        alert.severity = report.severity
    details = dict(alert.details or {})
    sources = list(details.get("sources") or [alert.source])
    if report.source not in sources:
        sources.append(report.source[:40])
    merged = list(details.get("merged") or [])
    said = {(m.get("source"), m.get("condition")) for m in merged} | {(alert.source, alert.condition)}
    if (report.source, report.condition) not in said and len(merged) < MERGED_KEPT:
        merged.append(
            {
                "source": report.source[:40],
                "condition": report.condition[:60],
                "severity": report.severity,
                "message": report.message[:500],
                "subject": [report.subject_type, report.subject_id],
                "at": report.at.isoformat(),
            }
        )
    alert.details = {**details, "sources": sources, "merged": merged} if merged else {**details, "sources": sources}
