"""The seat changes scheduled for a renewal, made on their day: each is claimed once (``pending`` → ``running`` in one
conditional UPDATE, committed before anything is sent), so two cron ticks, or two workers, never send it twice; then
it goes through ``license.adjust_seats`` like a technician's change (rate limit, audit with the exact request), and the
change keeps what came of it: ``done``, ``failed`` or ``unknown`` with the audit row's id. A change the rate limit
defers is ``queued``, and the queued action's own outcome settles it later (``AdjustSeats.settle``). A worker that
dies between the claim and the answer leaves the change ``running``: nobody can know whether the distributor got it,
so it is not sent again; past :data:`RUN_TIMEOUT` the Licensing tab shows it as stuck, as it shows a failed one.

The day it is sent [vendor assumption, U: Pax8 does not document when a renewal takes a reduction]: the day AFTER
the term's last day (``commitment_ends_on``), the new term's first day. Microsoft's NCE rule takes a reduction in the
first 7 days of a term, so that day is inside the window whichever end date the distributor then shows; on the last
day of the old term a real distributor may still refuse it (422). :func:`send_day` holds the rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vectis.actions import Target, perform
from vectis.actions.base import Outcome
from vectis.audit.actors import Actor
from vectis.licensing.queries import RUN_TIMEOUT
from vectis.models import Role
from vectis.models.licensing import LicenseScheduledChange, LicenseSubscription

__all__ = ["RUN_TIMEOUT", "claim", "due_tenants", "run_due", "send_day", "settle"]

# An outcome's result -> the change's state; anything else (failed, blocked) is "failed".
STATES = {"ok": "done", "dry_run": "done", "queued": "queued", "unknown": "unknown"}
SEND_DAYS_AFTER_END = 1  # see the module's docstring: the new term's first day, inside NCE's 7-day window


def send_day(commitment_ends_on: date) -> date:
    """The day a reduction scheduled for the renewal of a term ending ``commitment_ends_on`` is sent."""
    return commitment_ends_on + timedelta(days=SEND_DAYS_AFTER_END)


def settle(change: LicenseScheduledChange, outcome: Outcome) -> None:
    """The change ends as ``outcome`` says, with its words and audit row (a queued one waits with its words)."""
    change.state = STATES.get(outcome.result, "failed")
    change.result, change.audit_id = outcome.message[:2000], outcome.audit_id
    change.done_at = None if change.state == "queued" else datetime.now(UTC)


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
        .values(state="running", claimed_at=func.now())
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

        def settled(outcome: Outcome, change: LicenseScheduledChange = change) -> None:
            settle(change, outcome)

        outcome = perform(
            "license.adjust_seats",
            Target("license_subscription", str(subscription.id), subscription.product_name),
            {"quantity": change.quantity, "scheduled_change_id": change.id},
            actor=Actor("system", None, f"Scheduled change ({change.requested_by})", Role.ADMIN.value),
            surface="system",
            session=session,
            tenant_id=tenant_id,
            record_outcome=settled,
        )
        if change.state == "running":  # nothing was audited (already so) or it waits for the rate limit: queued
            settle(change, outcome)
            session.commit()
        said.append(f"{subscription.product_name}: {outcome.message}")
    return said
