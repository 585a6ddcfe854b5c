"""Deleting what a workspace no longer keeps, in batches that each commit on their own.

Each batch picks at most :data:`BATCH` rows with ``FOR UPDATE SKIP LOCKED`` and deletes them in a short
transaction, so a nightly purge of a month of a big MSP never holds a lock a sync or a page waits on for
long, and a row a worker is busy with is left for the next night. What is still in flight is never
picked: an event not yet evaluated (or with an action pending or being sent), a callback waiting for its
key or not processed yet, a sync run still queued or running. Each connection keeps its newest
:data:`KEEP_RUNS` runs whatever their age, so its page always shows how the last syncs went.

Expired query exports (kept a day: ``vectis.query.exports``) go too, whatever the policy.
The audit log is the record and is never purged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from vectis.models import Connection, OutboxMail, QueuedAction, RetentionPolicy, RuleEvent, SyncRun, WebhookDelivery

BATCH = 5000
KEEP_RUNS = 20
SENT_MAIL = timedelta(days=30)  # a sent mail's body is only needed while someone might ask "did it go?"
DONE_ACTIONS = timedelta(days=90)  # a queued write-back once done; the audit log keeps what it did

_RULE_EVENTS = text(
    """
    DELETE FROM rule_events WHERE id IN (
      SELECT e.id FROM rule_events e
       WHERE e.tenant_id = :tenant_id AND e.occurred_at < :cutoff AND e.evaluated_at IS NOT NULL
         AND NOT EXISTS (
           SELECT 1 FROM rule_fires f JOIN rule_dispatches d ON d.fire_id = f.id
            WHERE f.event_id = e.id AND d.state IN ('pending', 'sending'))
       ORDER BY e.id LIMIT :batch FOR UPDATE OF e SKIP LOCKED)
    """
)  # fires and dispatches go with their event (ON DELETE CASCADE)

_SYNC_RUNS = text(
    """
    DELETE FROM sync_runs WHERE id IN (
      SELECT id FROM sync_runs
       WHERE tenant_id = :tenant_id AND connection_id = :connection_id AND id < :keep_from
         AND status IN ('succeeded', 'failed') AND coalesce(finished_at, created_at) < :cutoff
       ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
    """
)

_WEBHOOKS = text(
    """
    DELETE FROM webhook_deliveries WHERE id IN (
      SELECT id FROM webhook_deliveries
       WHERE tenant_id = :tenant_id AND connection_id = :connection_id AND received_at < :cutoff
         AND verified = :verified AND pending_body IS NULL AND (NOT verified OR processed_at IS NOT NULL)
       ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
    """
)

_SENT_MAIL = text(
    """
    DELETE FROM mail_outbox WHERE id IN (
      SELECT id FROM mail_outbox WHERE tenant_id = :tenant_id AND sent_at IS NOT NULL AND created_at < :cutoff
       ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
    """
)

# Expired query exports, file and all (``vectis.query.exports``): a download is refused from the moment one expires.
_EXPIRED_EXPORTS = text(
    """
    DELETE FROM query_exports WHERE id IN (
      SELECT id FROM query_exports WHERE tenant_id = :tenant_id AND expires_at < :cutoff
       ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
    """
)

_DONE_ACTIONS = text(
    """
    DELETE FROM queued_actions WHERE id IN (
      SELECT id FROM queued_actions WHERE tenant_id = :tenant_id AND done_at IS NOT NULL AND created_at < :cutoff
       ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
    """
)


def policy_for(session: Session, tenant_id: int) -> RetentionPolicy:
    return session.get(RetentionPolicy, tenant_id) or RetentionPolicy.defaults(tenant_id)


def _in_batches(session: Session, statement: Any, params: dict[str, Any], batch: int) -> int:
    deleted = 0
    while True:
        count: int = session.execute(statement, {**params, "batch": batch}).rowcount  # type: ignore[attr-defined]
        session.commit()
        deleted += count
        if count < batch:
            return deleted


@dataclass(frozen=True)
class Purged:
    rule_events: int = 0
    sync_runs: int = 0
    webhook_deliveries: int = 0
    rejected_webhook_deliveries: int = 0
    sent_mail: int = 0
    done_actions: int = 0
    expired_exports: int = 0

    @property
    def total(self) -> int:
        return sum(vars(self).values())


def purge_tenant(session: Session, tenant_id: int, *, now: datetime | None = None, batch: int = BATCH) -> Purged:
    """Delete what ``tenant_id`` keeps no longer; ``session`` is bound to that tenant and is committed per batch."""
    now = now or datetime.now(UTC)
    policy = policy_for(session, tenant_id)

    def before(days: int) -> datetime:
        return now - timedelta(days=days)

    base = {"tenant_id": tenant_id}
    counts = {
        "rule_events": _in_batches(session, _RULE_EVENTS, {**base, "cutoff": before(policy.rule_activity_days)}, batch),
        "sent_mail": _in_batches(session, _SENT_MAIL, {**base, "cutoff": now - SENT_MAIL}, batch),
        "done_actions": _in_batches(session, _DONE_ACTIONS, {**base, "cutoff": now - DONE_ACTIONS}, batch),
        # An export's file is tens of megabytes: a small batch keeps each transaction short.
        "expired_exports": _in_batches(session, _EXPIRED_EXPORTS, {**base, "cutoff": now}, min(batch, 50)),
        "sync_runs": 0,
        "webhook_deliveries": 0,
        "rejected_webhook_deliveries": 0,
    }
    for connection_id in list(session.scalars(select(Connection.id).order_by(Connection.id))):
        on = {**base, "connection_id": connection_id}
        newest = list(
            session.scalars(
                select(SyncRun.id)
                .where(SyncRun.connection_id == connection_id)
                .order_by(SyncRun.id.desc())
                .limit(KEEP_RUNS)
            )
        )
        if len(newest) == KEEP_RUNS:
            params = {**on, "keep_from": newest[-1], "cutoff": before(policy.sync_run_days)}
            counts["sync_runs"] += _in_batches(session, _SYNC_RUNS, params, batch)
        accepted = {**on, "verified": True, "cutoff": before(policy.webhook_days)}
        counts["webhook_deliveries"] += _in_batches(session, _WEBHOOKS, accepted, batch)
        rejected = {**on, "verified": False, "cutoff": before(policy.rejected_webhook_days)}
        counts["rejected_webhook_deliveries"] += _in_batches(session, _WEBHOOKS, rejected, batch)
    return Purged(**counts)


@dataclass(frozen=True)
class Footprint:
    """One kind of data as the admin page shows it: how many rows, since when, kept how long."""

    label: str
    rows: int
    oldest: datetime | None
    field: str | None  # the policy field that sets its retention, None when fixed
    fixed_days: int | None = None


# policy field -> what the admin page calls that data
LABELS = {
    "rule_activity_days": "Rule events, fires and actions",
    "sync_run_days": "Sync runs and their logs",
    "webhook_days": "Vendor callbacks accepted",
    "rejected_webhook_days": "Vendor callbacks refused",
}


def footprint(session: Session) -> list[Footprint]:
    """What the admin page shows: each kind of data, its rows and oldest row, and how long it is kept."""
    kinds: list[tuple[str, str | None, int | None, Any, Any, tuple[Any, ...]]] = [
        (LABELS["rule_activity_days"], "rule_activity_days", None, RuleEvent, RuleEvent.occurred_at, ()),
        (LABELS["sync_run_days"], "sync_run_days", None, SyncRun, SyncRun.created_at, ()),
        (LABELS["webhook_days"], "webhook_days", None, WebhookDelivery, WebhookDelivery.received_at,
         (WebhookDelivery.verified.is_(True),)),
        (LABELS["rejected_webhook_days"], "rejected_webhook_days", None, WebhookDelivery, WebhookDelivery.received_at,
         (WebhookDelivery.verified.is_(False),)),
        ("Sent mail", None, SENT_MAIL.days, OutboxMail, OutboxMail.created_at, (OutboxMail.sent_at.is_not(None),)),
        ("Queued write-backs, done", None, DONE_ACTIONS.days, QueuedAction, QueuedAction.created_at,
         (QueuedAction.done_at.is_not(None),)),
    ]  # fmt: skip
    shown = []
    for label, field, fixed, model, moment, where in kinds:
        rows, oldest = session.execute(select(func.count(), func.min(moment)).select_from(model).where(*where)).one()
        shown.append(Footprint(label, int(rows), oldest, field, fixed))
    return shown
