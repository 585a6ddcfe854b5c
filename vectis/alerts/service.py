"""Alerts Vectis fires by itself, from the shared backup-state derivation (``vectis/backup_state.py``), so a
Veeam job and a Keepit connector raise the same alert for the same condition:

- **backup_failed**: the last run failed, or a recovery/connector failure event landed inside the lookback;
- **backup_stale**: no success within the threshold; **backup_silent**: no attempt at all within it;
- **backup_stuck**: running far longer than it usually takes.

One alert stays open per (job, condition) until the job's next success resolves it; only then can the
condition fire again. Someone who resolves it by hand closes it sooner: the condition stays quiet until the job
runs again and still has it, or the threshold (48 h) passes with nothing changed. A muted (customer, condition)
still records its alerts, as muted, and emits nothing.
Every alert opened here is also a rule event (``alert.created``), and each failed run a ``backup.failed``. Rules hear
of an alert once: one that opened under a mute when the mute ends, one they already heard of never again
(:func:`mute_ended`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vectis.backups.events import backup_data
from vectis.backups.state import DEFAULT_THRESHOLD, derive
from vectis.connectors.registry import label as registry_label
from vectis.events.stream import emit, json_safe, row
from vectis.models import (
    Alert,
    AlertMute,
    AlertState,
    BackupAuditEvent,
    BackupConnector,
    BackupConnectorStatus,
    Connection,
)
from vectis.platform.dates import span, when

SEVERITY = {
    "backup_failed": "critical",
    "backup_silent": "critical",
    "backup_stale": "warning",
    "backup_stuck": "warning",
}
LABELS = {
    "backup_stale": "Backup stale",
    "backup_failed": "Backup failed",
    "backup_silent": "Backup silent",
    "backup_stuck": "Backup stuck",
}
FAILURE_LOOKBACK = timedelta(hours=24)
FAILURE_CATEGORIES = ("recovery", "connector")
LIVE = (AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value, AlertState.MUTED.value)
# Who resolved an alert when nobody did: anything else in ``resolved_by`` is a person (or a rule) who chose to.
NEXT_SUCCESS = "Vectis: next success"
REMOVED = "Vectis: removed at the vendor"
RESOLVED_BY_VECTIS = (NEXT_SUCCESS, REMOVED)
# The conditions a backup job's own state resolves, on its next success; what resolving one by hand means.
SELF_RESOLVING = frozenset(SEVERITY)
RESOLVE_BY_HAND = (
    "The job's next success resolves it anyway. Resolved by hand, it stays resolved unless the job runs again "
    f"and still has this problem, or {span(DEFAULT_THRESHOLD)} pass with nothing changed."
)


@dataclass
class Refreshed:
    opened: int = 0
    resolved: int = 0
    failed_runs: int = 0


# Words an RMM puts before its conditions' names that say nothing to a technician: NinjaOne's
# ``CONDITION_AGENT_DISK_FREE_SPACE`` is "Disk free space", its ``AGENT_OFFLINE`` "Offline".
NAMESPACE_WORDS = ("CONDITION", "AGENT")


def label(condition: str) -> str:
    """A condition in words: "Backup stale", an RMM's ``DISK_FREE_SPACE`` "Disk free space", its ``CPU`` "CPU" (a
    short word written in capitals is an abbreviation, and stays one)."""
    if condition in LABELS:
        return LABELS[condition]
    parts = condition.split("_")
    while len(parts) > 1 and parts[0] in NAMESPACE_WORDS:
        parts = parts[1:]
    words = [w if w.isupper() and len(w) <= 3 else w.lower() for w in parts]
    said = " ".join(words)
    return said[:1].upper() + said[1:]


def self_resolving(alert: Alert) -> bool:
    return alert.subject_type == "backup_job" and alert.condition in SELF_RESOLVING


def held_by_tool(alert: Alert) -> bool:
    """Does a tool hold it open (an RMM's alert, ``vectis/alerts/vendor.py``)? Its report says which of the tool's."""
    return bool((alert.details or {}).get("vendor_alert"))


def acknowledging(alert: Alert) -> str:
    """What acknowledging ``alert`` does, in the words its Acknowledge button shows."""
    if held_by_tool(alert):
        return f"{alert.source} has no acknowledge: recorded in Vectis only, {alert.source} still shows it open"
    return "Show the team someone is on it"


def resolving(alert: Alert) -> str:
    """What resolving ``alert`` by hand means, in the words the Resolve button and its answer use."""
    if held_by_tool(alert):
        return f"Resets it in {alert.source} too. If the condition still holds there, it alerts again."
    if self_resolving(alert):
        return RESOLVE_BY_HAND
    if alert.subject_type == "backup_event":
        return "That failure in the vendor's log will not alert again."
    return "If the condition still holds, the next check opens it again."


def active_mutes(session: Session, now: datetime) -> set[tuple[int, str]]:
    return {
        (customer_id, condition)
        for customer_id, condition in session.execute(
            select(AlertMute.customer_id, AlertMute.condition).where(AlertMute.until > now)
        )
    }


def refresh_backup_alerts(session: Session, tenant_id: int, now: datetime | None = None) -> Refreshed:
    """Open, refresh and resolve the backup alerts of one tenant, and emit their rule events."""
    now = now or datetime.now(UTC)
    done = Refreshed()
    vendors = dict(session.execute(select(Connection.id, Connection.vendor)).all())
    jobs = session.execute(
        select(
            BackupConnector.id,
            BackupConnector.name,
            BackupConnector.kind,
            BackupConnector.vendor_type,
            BackupConnector.protected_object,
            BackupConnector.customer_id,
            BackupConnector.connection_id,
            BackupConnector.removed_at,
            BackupConnectorStatus.state,
            BackupConnectorStatus.last_attempt_at,
            BackupConnectorStatus.last_success_at,
            BackupConnectorStatus.last_duration_seconds,
            BackupConnectorStatus.message,
            BackupConnectorStatus.consecutive_failures,
        ).outerjoin(BackupConnectorStatus, BackupConnectorStatus.backup_connector_id == BackupConnector.id)
    ).all()
    live: dict[int, dict[str, Alert]] = {}  # job -> condition -> its live alert
    for a in session.scalars(select(Alert).where(Alert.subject_type == "backup_job", Alert.state.in_(LIVE))):
        live.setdefault(a.subject_id, {})[a.condition] = a
    mutes = active_mutes(session, now)
    by_hand = resolved_by_hand(session, now)
    seen: list[dict[str, Any]] = []
    new: list[Alert] = []
    events: list[dict[str, Any]] = []
    successes: dict[tuple[int | None, int], datetime] = {}  # (customer, connection) -> latest success
    for job in jobs:
        source = registry_label(vendors.get(job.connection_id, ""))
        if job.last_success_at and job.customer_id:
            key = (job.customer_id, job.connection_id)
            successes[key] = max(successes.get(key, job.last_success_at), job.last_success_at)
        health = derive(
            job.state,
            last_attempt_at=job.last_attempt_at,
            last_success_at=job.last_success_at,
            last_duration_seconds=job.last_duration_seconds,
            removed_at=job.removed_at,
            now=now,
            threshold=DEFAULT_THRESHOLD,
            message=job.message,
        )
        # One alert for the one state the Backups tab shows; a failed job's second line goes with it.
        reason = f"{health.reason} · {health.detail}" if health.detail else health.reason
        active = {f"backup_{health.state}": reason} if health.needs_attention else {}
        data = backup_data(
            source=source,
            name=job.name,
            kind=job.kind,
            vendor_type=job.vendor_type,
            protected_object=job.protected_object,
            state=job.state,
            consecutive_failures=job.consecutive_failures or 0,
            last_success_at=job.last_success_at,
            last_attempt_at=job.last_attempt_at,
            message=job.message,
            now=now,
        )
        if job.state == "failed" and job.removed_at is None and job.last_attempt_at is not None:
            done.failed_runs += 1
            events.append(
                row(
                    tenant_id,
                    "backup.failed",
                    customer_id=job.customer_id,
                    connection_id=job.connection_id,
                    subject=("backup_job", job.id),
                    title=f"{job.name}: backup failed",
                    data=data,
                    dedup_key=f"backup.failed:{job.id}:{job.last_attempt_at.isoformat()}",
                    occurred_at=job.last_attempt_at,
                )
            )
        open_here = live.get(job.id, {})
        for condition, reason in active.items():
            alert = open_here.pop(condition, None)
            if alert is not None:
                seen.append({"id": alert.id, "last_seen_at": now, "message": reason})
                continue
            closed_at = by_hand.get((job.id, condition))
            if closed_at is not None and (job.last_attempt_at is None or job.last_attempt_at <= closed_at):
                continue  # resolved by hand since its last run: only a new run (or the hold running out) says more
            muted = job.customer_id is not None and (job.customer_id, condition) in mutes
            new.append(
                Alert(
                    tenant_id=tenant_id,
                    customer_id=job.customer_id,
                    connection_id=job.connection_id,
                    source=source,
                    condition=condition,
                    severity=SEVERITY[condition],
                    subject_type="backup_job",
                    subject_id=job.id,
                    subject_label=job.name[:300],
                    message=reason,
                    state=AlertState.MUTED.value if muted else AlertState.OPEN.value,
                    first_seen_at=now,
                    last_seen_at=now,
                    announced_at=None if muted else now,
                    details={"job": json_safe(data) | {"id": job.id}},
                )
            )
        # What is left open for this job no longer holds: its next success resolves it.
        for alert in open_here.values():
            if job.removed_at is not None or (job.last_success_at and job.last_success_at > alert.first_seen_at):
                alert.state, alert.resolved_at = AlertState.RESOLVED.value, now
                alert.resolved_by = REMOVED if job.removed_at else NEXT_SUCCESS
                done.resolved += 1
    if seen:
        session.execute(update(Alert), seen)
    done.resolved += _failure_events(
        session, tenant_id, now=now, vendors=vendors, successes=successes, mutes=mutes, new=new
    )
    session.add_all(new)
    session.flush()
    for alert in new:
        if alert.state == AlertState.OPEN.value:
            done.opened += 1
            events.append(alert_event(alert))
    unmuted = _unmute_expired(session, mutes, now)
    done.opened += len(unmuted)
    events += unmuted
    emit(session, events)
    return done


def resolved_by_hand(session: Session, now: datetime) -> dict[tuple[int, str], datetime]:
    """(job, condition) -> when someone last resolved its alert, for those resolved within the threshold.

    The backup's state would resolve such an alert on the next success anyway; closing it sooner says "I have
    seen this, don't tell me again about the same run". The next run that still has the problem (a newer
    attempt) opens a new alert, and so does the condition still holding once the threshold has passed."""
    return {
        (job, condition): at
        for job, condition, at in session.execute(
            select(Alert.subject_id, Alert.condition, func.max(Alert.resolved_at))
            .where(
                Alert.subject_type == "backup_job",
                Alert.state == AlertState.RESOLVED.value,
                Alert.resolved_at > now - DEFAULT_THRESHOLD,
                Alert.resolved_by.not_in(RESOLVED_BY_VECTIS),
            )
            .group_by(Alert.subject_id, Alert.condition)
        )
        if at is not None
    }


def _unmute_expired(session: Session, mutes: set[tuple[int, str]], now: datetime) -> list[dict[str, Any]]:
    """A mute that ran out gives its alerts back (:func:`mute_ended`)."""
    ended = [
        alert
        for alert in session.scalars(select(Alert).where(Alert.state == AlertState.MUTED.value))
        if alert.customer_id is None or (alert.customer_id, alert.condition) not in mutes
    ]
    return mute_ended(ended, now)


def mute_ended(alerts: Iterable[Alert], now: datetime) -> list[dict[str, Any]]:
    """Gives back the alerts a mute kept quiet, as they were before it (acknowledged ones still by the same person,
    since the same moment), and returns the events to emit: an ``alert.created`` only for an alert rules never
    heard of, one that opened under the mute. One they heard of before it is not new: told again, a rule that
    opens a ticket or pages someone would do it twice for the same alert."""
    events = []
    for alert in alerts:
        alert.state = AlertState.ACKNOWLEDGED.value if alert.acknowledged_at else AlertState.OPEN.value
        if alert.announced_at is None:
            alert.announced_at = now
            events.append(alert_event(alert))
    return events


def _failure_events(
    session: Session,
    tenant_id: int,
    *,
    now: datetime,
    vendors: dict[int, str],
    successes: dict[tuple[int | None, int], datetime],
    mutes: set[tuple[int, str]],
    new: list[Alert],
) -> int:
    """A recovery or connector failure in a backup vendor's audit log, inside the lookback: a backup_failed
    alert on that record, resolved by the customer's next success at that vendor. Returns how many resolved."""
    resolved = 0
    for alert in session.scalars(
        select(Alert).where(Alert.subject_type == "backup_event", Alert.state.in_(LIVE), Alert.customer_id.is_not(None))
    ):
        success = successes.get((alert.customer_id, alert.connection_id or 0))
        happened = alert.details.get("occurred_at")
        if success and success > (datetime.fromisoformat(happened) if happened else alert.first_seen_at):
            alert.state, alert.resolved_at, alert.resolved_by = AlertState.RESOLVED.value, now, NEXT_SUCCESS
            resolved += 1
    alerted = select(Alert.subject_id).where(Alert.subject_type == "backup_event")
    for event in session.scalars(
        select(BackupAuditEvent).where(
            BackupAuditEvent.occurred_at >= now - FAILURE_LOOKBACK,
            BackupAuditEvent.severity == "error",
            BackupAuditEvent.category.in_(FAILURE_CATEGORIES),
            BackupAuditEvent.id.not_in(alerted),
        )
    ):
        success = successes.get((event.customer_id, event.connection_id))
        if success and success > event.occurred_at:
            continue  # already followed by a success
        muted = event.customer_id is not None and (event.customer_id, "backup_failed") in mutes
        new.append(
            Alert(
                tenant_id=tenant_id,
                customer_id=event.customer_id,
                connection_id=event.connection_id,
                source=registry_label(vendors.get(event.connection_id, "")),
                condition="backup_failed",
                severity="critical",
                subject_type="backup_event",
                subject_id=event.id,
                subject_label=event.title[:300],
                message=f"{event.category} failure at {when(event.occurred_at)}: {event.title}"[:1000],
                state=AlertState.MUTED.value if muted else AlertState.OPEN.value,
                first_seen_at=now,
                last_seen_at=now,
                announced_at=None if muted else now,
                details={"occurred_at": event.occurred_at.isoformat(), "category": event.category},
            )
        )
    return resolved


class AlertFacts(Protocol):
    """What an alert's events say of it: a stored ``Alert``, or one a page of reports has just opened
    (``vectis.alerts.dedupe.NewAlert``)."""

    @property
    def id(self) -> int: ...
    @property
    def tenant_id(self) -> int: ...
    @property
    def customer_id(self) -> int | None: ...
    @property
    def connection_id(self) -> int | None: ...
    @property
    def device_id(self) -> int | None: ...
    @property
    def source(self) -> str: ...
    @property
    def condition(self) -> str: ...
    @property
    def condition_class(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def subject_label(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def first_seen_at(self) -> datetime: ...
    @property
    def announced_at(self) -> datetime | None: ...


def alert_event(
    alert: AlertFacts, trigger: str = "alert.created", more: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The one ``trigger`` event of ``alert`` (``alert.created``, or an RMM's ``rmm.alert_created`` with ``more`` of
    its fields), when it is announced (``announced_at``: when it opened, or when the mute it opened under ended). Its
    key is the alert's, so rules are never told of an alert twice."""
    data = {
        "alert.condition": alert.condition,
        "alert.severity": alert.severity,
        "alert.subject": alert.subject_label,
        "alert.message": alert.message,
        "source": alert.source,
        **(more or {}),
    }
    return row(
        alert.tenant_id,
        trigger,
        customer_id=alert.customer_id,
        connection_id=alert.connection_id,
        subject=("alert", alert.id),
        title=f"{label(alert.condition)}: {alert.subject_label}",
        data=data,
        dedup_key=f"{trigger}:{alert.id}",
        occurred_at=alert.announced_at or alert.first_seen_at,
    )
