"""The cron schedule, loaded by the single ``rq cron jobs.schedule`` process.

Every minute: a heartbeat, the tick that enqueues the connections whose sync is due, and the one that
enqueues each tenant's alerts refresh, time-based rule scans and rule evaluation. Every five minutes:
the audit chain's newest links are anchored outside the database. Nightly at 00:20 UTC (the day just ended, with
the syncs of its last minutes in): each workspace's daily metrics and SLA snapshots. At 03:15 UTC: each
workspace's retention policy is applied. Hourly at :05: the seat changes scheduled for a renewal that day.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rq import cron, get_current_job

from jobs import audit, licensing, metrics, portal_mail, retention, rules
from jobs.sync import tick

HEARTBEAT_KEY = "vectis:cron:last_tick"


def heartbeat() -> str:
    """Record that cron and a worker are alive (shown by /healthz callers and the admin page later)."""
    now = datetime.now(UTC).isoformat()
    job = get_current_job()
    if job is not None:
        job.connection.set(HEARTBEAT_KEY, now)
    return now


cron.register(heartbeat, queue_name="sync", interval=60, job_timeout=30, name="heartbeat")
cron.register(tick, queue_name="sync", interval=60, job_timeout=60, name="sync-tick")
cron.register(rules.tick, queue_name="rules", interval=60, job_timeout=60, name="rules-tick")
cron.register(audit.anchor, queue_name="sync", interval=300, job_timeout=60, name="audit-anchor")
cron.register(retention.purge, queue_name="sync", cron="15 3 * * *", job_timeout=3600, name="retention-purge")
cron.register(metrics.tick, queue_name="sync", cron="20 0 * * *", job_timeout=60, name="metrics-tick")
cron.register(
    licensing.run_scheduled,
    queue_name="actions",
    cron="5 * * * *",
    job_timeout=licensing.TIMEOUT,
    name="licensing-renewals",
)
cron.register(portal_mail.send_digests, queue_name="mail", cron="0 7 * * 1", job_timeout=600, name="portal-digest")
