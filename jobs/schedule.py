"""The cron schedule, loaded by the single ``rq cron jobs.schedule`` process.

For now one heartbeat a minute; the connector issue adds the tick that enqueues due syncs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rq import cron, get_current_job

HEARTBEAT_KEY = "vectis:cron:last_tick"


def heartbeat() -> str:
    """Record that cron and a worker are alive (shown by /healthz callers and the admin page later)."""
    now = datetime.now(UTC).isoformat()
    job = get_current_job()
    if job is not None:
        job.connection.set(HEARTBEAT_KEY, now)
    return now


cron.register(heartbeat, queue_name="sync", interval=60, job_timeout=30, name="heartbeat")
