"""Daily metrics and SLA snapshots (``vectis.metrics``): once a day, per tenant, yesterday and today.

Yesterday is computed again because the syncs kept adding to it after the last run (a ticket closed at 23:58 UTC
is read a few minutes later): the run after midnight UTC is the one that completes it. Today is computed too, so a
trend question asked during the day has a row for it. Both are upserts: a second run, a retried job or a second
cron by mistake rewrites the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from jobs.context import app_context
from vectis.metrics.daily import DAY, compute_days, today
from vectis.models import Tenant
from vectis.platform import db
from vectis.platform.queues import queue

QUEUE, TIMEOUT = "sync", 900


def compute(tenant_id: int) -> str:
    """One tenant's yesterday and today."""
    with app_context(), db.tenant_session(tenant_id) as s:
        last = today()
        done = compute_days(s, last - DAY, last)
    return f"{done.rows} customer-days from {done.first} to {done.last}"


def tick() -> int:
    """Every tenant's :func:`compute`, once a day (the job id is the tenant and the day, so a second tick that day
    enqueues nothing while the first job is kept)."""
    day = datetime.now(UTC).strftime("%Y%m%d")
    with app_context():
        with db.system_session() as s:
            tenants = list(s.scalars(select(Tenant.id).order_by(Tenant.id)))
        for tenant_id in tenants:
            job_id = f"metrics-{tenant_id}-{day}"
            if queue(QUEUE).fetch_job(job_id) is None:
                queue(QUEUE).enqueue(compute, tenant_id, job_id=job_id, job_timeout=TIMEOUT)
    return len(tenants)
