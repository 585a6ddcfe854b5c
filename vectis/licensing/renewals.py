"""The seat changes scheduled for a renewal, made on their day: each is claimed once (``pending`` → ``running`` in one
conditional UPDATE, committed before anything is sent), so two cron ticks, or two workers, never send it twice; then
it goes through ``license.adjust_seats`` like a technician's change (rate limit, audit with the exact request), and the
change keeps what came of it. A worker that dies between the claim and the answer leaves the change ``running``:
nobody can know whether the distributor got it, so it is not sent again; the Licensing tab shows it as it is."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vectis.actions import Target, perform
from vectis.actions.base import Outcome
from vectis.audit.actors import Actor
from vectis.models import Role
from vectis.models.licensing import LicenseScheduledChange, LicenseSubscription

DONE = {"ok": "done", "queued": "done", "dry_run": "done"}


def due_tenants(session: Session, today: date) -> list[int]:
    """The workspaces with a change due (a system session: the scheduler looks across workspaces)."""
    return list(
        session.scalars(
            select(LicenseScheduledChange.tenant_id)
            .where(LicenseScheduledChange.state == "pending", LicenseScheduledChange.due_on <= today)
            .distinct()
        )
    )


def claim(session: Session, change_id: int) -> bool:
    """Take the change for this run, or learn that another run already has: one conditional UPDATE, committed."""
    taken = session.execute(
        update(LicenseScheduledChange)
        .where(LicenseScheduledChange.id == change_id, LicenseScheduledChange.state == "pending")
        .values(state="running")
        .returning(LicenseScheduledChange.id)
    ).scalar()
    session.commit()
    return taken is not None


def run_due(session: Session, tenant_id: int, *, today: date | None = None) -> list[str]:
    """Every pending change of this workspace due by ``today``, each made once; what came of each, in words."""
    today = today or datetime.now(UTC).date()
    due = list(
        session.scalars(
            select(LicenseScheduledChange.id)
            .where(LicenseScheduledChange.state == "pending", LicenseScheduledChange.due_on <= today)
            .order_by(LicenseScheduledChange.due_on, LicenseScheduledChange.id)
        )
    )
    said = []
    for change_id in due:
        if not claim(session, change_id):
            continue
        change = session.get(LicenseScheduledChange, change_id)
        subscription = session.get(LicenseSubscription, change.subscription_id) if change else None
        if change is None or subscription is None:
            continue

        def settle(outcome: Outcome, change: LicenseScheduledChange = change) -> None:
            change.state = DONE.get(outcome.result, "failed")
            change.result, change.audit_id = outcome.message[:2000], outcome.audit_id
            change.done_at = datetime.now(UTC)

        outcome = perform(
            "license.adjust_seats",
            Target("license_subscription", str(subscription.id), subscription.product_name),
            {"quantity": change.quantity, "scheduled_change_id": change.id},
            actor=Actor("system", None, f"Scheduled change ({change.requested_by})", Role.ADMIN.value),
            surface="system",
            session=session,
            tenant_id=tenant_id,
            record_outcome=settle,
        )
        if change.state == "running":  # nothing was audited (already so) or it waits for the rate limit
            settle(outcome)
            session.commit()
        said.append(f"{subscription.product_name}: {outcome.message}")
    return said
