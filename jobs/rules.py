"""Rules and alerts: after every sync and on every cron tick, per tenant, refresh the backup alerts, run the
time-based scans, then evaluate every pending event. Events live in Postgres, so a lost job loses nothing:
the next tick finds them still unevaluated."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from jobs.context import app_context
from vectis.alerts.service import refresh_backup_alerts
from vectis.models import Tenant
from vectis.platform import db
from vectis.platform import jobs as wire
from vectis.platform.queues import queue, redis
from vectis.rules.engine import evaluate_pending, scan_time_based

QUEUE, TIMEOUT = wire.RULES.queue, wire.RULES.timeout
LOCK_TTL = 600


def refresh(tenant_id: int) -> str:
    """One tenant's alerts, scans and evaluation. One at a time per tenant (the alert refresh compares and
    writes); a duplicate finds the lock taken and leaves the work to the one running."""

    with app_context():
        lock = redis().lock(f"vectis:rules-lock:{tenant_id}", timeout=LOCK_TTL, blocking=False)
        if not lock.acquire():
            return "already running"
        try:
            with db.tenant_session(tenant_id) as s:
                alerts = refresh_backup_alerts(s, tenant_id)
                s.commit()
                found = scan_time_based(s, tenant_id)
                done = evaluate_pending(s, tenant_id)
            return (
                f"alerts +{alerts.opened} -{alerts.resolved}; {found} time-based events; "
                f"{done.events} events, {done.fires} fires, {done.dispatched} dispatched"
            )
        finally:
            lock.release()


def enqueue(tenant_id: int, *, job_id: str | None = None) -> None:
    queue(QUEUE).enqueue(refresh, tenant_id, job_id=job_id, job_timeout=TIMEOUT)


def tick() -> int:
    """Every tenant's refresh, once per minute (the job id is the tenant and the minute)."""

    minute = datetime.now(UTC).strftime("%Y%m%d%H%M")
    with app_context():  # the queue, like the database, comes from the app's settings
        with db.system_session() as s:
            tenants = list(s.scalars(select(Tenant.id)))
        for tenant_id in tenants:
            job_id = f"rules-{tenant_id}-{minute}"
            if queue(QUEUE).fetch_job(job_id) is None:
                enqueue(tenant_id, job_id=job_id)
    return len(tenants)
