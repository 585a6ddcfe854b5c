"""One row for one problem, however many tools report it: alerts about the same device collapse, deterministically.

A customer's device watched by an RMM, an endpoint tool and a rule can be reported three times for one full disk.
:func:`same_alert` decides which existing row a new report is, and :func:`raise_alert` is the one way an alert with a
device is raised (``alert.raise``, a rule's "Create an alert", an RMM's alerts), so the decision is made once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, or_, select, text
from sqlalchemy.orm import Session

from vectis.alerts.service import active_mutes, alert_event
from vectis.events.stream import emit
from vectis.models import Alert, AlertState, Device, classify_condition
from vectis.platform import bulk, db

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


@dataclass(slots=True)
class NewAlert:
    """An alert some reports opened, as it is written: a page of an RMM's alerts opens thousands, and as ORM objects
    (made, flushed, read back) they cost a sync more than writing them (bench/ninja_sync.py). ``id`` once stored;
    ``made``: its place among the alerts the same call opened (the oldest first, as their ids will be)."""

    tenant_id: int
    customer_id: int | None
    connection_id: int | None
    device_id: int | None
    source: str
    condition: str
    condition_class: str
    severity: str
    subject_type: str
    subject_id: int
    subject_label: str
    message: str
    first_seen_at: datetime
    last_seen_at: datetime
    announced_at: datetime | None
    state: str
    details: dict[str, Any]
    made: int
    id: int = 0  # until stored


Why = Literal["class", "source", "subject"]
Live = Alert | NewAlert


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
    # Only stored rows are live here: no report of this call has opened one.
    return cast(tuple[Alert, Why] | None, _pick(_Live.of(session, [report]), report))


@dataclass
class _Live:
    """The live alerts some reports may land in, by device and by (subject, condition); new rows join as they are
    made, so reports raised together are told apart exactly as if raised one after another."""

    by_device: dict[int, list[Live]]
    by_subject: dict[tuple[str, int, str], Live]

    @classmethod
    def of(cls, session: Session, reports: Sequence[Report]) -> _Live:
        devices = sorted({r.device_id for r in reports if r.device_id is not None})
        subjects = sorted({r.subject_id for r in reports})
        live = cls({}, {})
        found = session.scalars(
            select(Alert).where(
                Alert.state != AlertState.RESOLVED.value,
                or_(db.among(Alert.device_id, devices), db.among(Alert.subject_id, subjects)),
            )
        )
        for alert in found:
            live.add(alert)
        return live

    def add(self, alert: Live) -> None:
        if alert.device_id is not None:
            self.by_device.setdefault(alert.device_id, []).append(alert)
        self.by_subject[(alert.subject_type, alert.subject_id, alert.condition)] = alert


def _pick(live: _Live, report: Report) -> tuple[Live, Why] | None:
    if report.device_id is not None:
        nearby = [
            a
            for a in live.by_device.get(report.device_id, ())
            if a.customer_id == report.customer_id and _apart(a, report) <= SOURCE_WINDOW
        ]
        kind = report.condition_class
        by_class = [
            a
            for a in nearby
            if _apart(a, report) <= CLASS_WINDOW
            and (a.condition_class == kind if kind != "other" else a.condition == report.condition)
        ]
        if by_class:
            return _nearest(by_class, report), "class"
        by_source = [a for a in nearby if a.source == report.source]
        if by_source:
            return _nearest(by_source, report), "source"
    found = live.by_subject.get((report.subject_type, report.subject_id, report.condition))
    return (found, "subject") if found is not None else None


def _apart(alert: Live, report: Report) -> timedelta:
    return abs(report.at - alert.last_seen_at)


def _nearest(alerts: list[Live], report: Report) -> Live:
    return min(alerts, key=lambda a: (_apart(a, report), *_age(a)))


def _age(alert: Live) -> tuple[int, int]:
    """Oldest first: stored rows by id, then the rows this call opens in the order it opens them."""
    return (0, alert.id) if isinstance(alert, Alert) else (1, alert.made)


@dataclass(frozen=True)
class Raised:
    alert: Live  # a report that opened a row: its NewAlert, stored (raise_alert gives the ORM row)
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
    once cannot both open a row. The alert is the stored row, whichever it is."""
    done = raise_alerts(session, tenant_id, [report])[0]
    if isinstance(done.alert, NewAlert):
        return Raised(session.get_one(Alert, done.alert.id), done.why)  # inserted by this transaction
    return done


def raise_alerts(session: Session, tenant_id: int, reports: Sequence[Report]) -> list[Raised]:
    """:func:`raise_alert` for many reports at once (an RMM's page of alerts), in their order, in a few statements:
    one lock per device, one read of the live alerts, one insert of the new ones."""
    devices = sorted({r.device_id for r in reports if r.device_id is not None})
    if devices:
        # Held to the end of the transaction: the next report about these devices waits, then sees these rows. Taken
        # in id order, so two writers locking overlapping devices cannot deadlock.
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended('alert-device:' || d, 0)) FROM unnest(:ids) AS d"),
            {"ids": devices},
        )
        unplaced = [r.device_id for r in reports if r.device_id is not None and r.customer_id is None]
        owners = (
            dict(session.execute(select(Device.id, Device.customer_id).where(db.among(Device.id, unplaced))).all())
            if unplaced
            else {}
        )
        reports = [
            replace(r, customer_id=owners.get(r.device_id)) if r.device_id in owners and r.customer_id is None else r
            for r in reports
        ]
    live = _Live.of(session, reports)
    raised: list[Raised] = []
    made: list[NewAlert] = []
    for report in reports:
        found = _pick(live, report)
        if found is not None:
            _absorb(found[0], report)
            raised.append(Raised(found[0], found[1]))
            continue
        alert = _new(tenant_id, report, len(made))
        live.add(alert)
        made.append(alert)
        raised.append(Raised(alert, None))
    if made:
        # A condition muted for the customer opens quiet, as a backup alert does: rules hear of it when the mute ends.
        muted = active_mutes(session, datetime.now(UTC))
        for alert in made:
            if (alert.customer_id, alert.condition) in muted:
                alert.state, alert.announced_at = AlertState.MUTED.value, None
        _insert(session, made)
        emit(session, [alert_event(a) for a in made if a.announced_at is not None])
    return raised


# What a new alert says of itself; the rest of its row (who acknowledged or resolved it, its ticket) is empty.
_INSERTED = tuple(f.name for f in fields(NewAlert) if f.name not in ("id", "made"))
_KEY = ("subject_type", "subject_id", "condition")  # one live alert each (the table's unique index)


def _insert(session: Session, made: list[NewAlert]) -> None:
    """The new alerts in one statement, as a sync page's rows are written (``vectis/platform/bulk.py``); each made
    alert gets its id."""
    session.flush()  # what the caller changed before (rows the reports were absorbed into), in its order
    table: Table = Alert.__table__  # type: ignore[assignment]
    values = [{key: getattr(alert, key) for key in _INSERTED} for alert in made]
    written = {
        (r.subject_type, r.subject_id, r.condition): r.id
        for r in bulk.insert(session.connection(), table, values, returning=("id", *_KEY))
    }
    for alert in made:
        alert.id = written[(alert.subject_type, alert.subject_id, alert.condition)]


def _new(tenant_id: int, report: Report, made: int) -> NewAlert:
    return NewAlert(
        tenant_id=tenant_id,
        customer_id=report.customer_id,
        connection_id=report.connection_id,
        device_id=report.device_id,
        source=report.source[:40],
        condition=report.condition[:60],
        condition_class=report.condition_class,
        severity=report.severity,
        subject_type=report.subject_type,
        subject_id=report.subject_id,
        subject_label=report.subject_label[:300],
        message=report.message[:2000],
        first_seen_at=report.at,
        last_seen_at=report.at,
        announced_at=report.at,
        state=AlertState.OPEN.value,
        details={**report.details, "sources": [report.source[:40]]} if report.device_id else dict(report.details),
        made=made,
    )


def _absorb(alert: Live, report: Report) -> None:
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
