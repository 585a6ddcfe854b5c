"""Syncs: one job per connection run, and the cron tick that enqueues the due ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from rq.job import JobStatus
from sqlalchemy import select, update

from jobs import rules
from jobs.context import app_context
from vectis.connectors import registry
from vectis.connectors.factory import VendorRetired, build_connector, vendor_address
from vectis.ingest.integrations import run_test
from vectis.ingest.sync import fail_run
from vectis.ingest.sync import run_sync as sync_connection
from vectis.models import Connection, SyncRun
from vectis.platform import db
from vectis.platform import jobs as wire
from vectis.platform.locks import HeldLock, LockLost
from vectis.platform.queues import queue, redis

QUEUE, TIMEOUT = wire.SYNC.queue, wire.SYNC.timeout
# Short and renewed while the worker lives (vectis.platform.locks): a worker that dies mid-sync frees its
# connection within minutes, not after the job's whole timeout, and a slow page cannot let a second one in.
LOCK_TTL = 300
INTERRUPTED = "Interrupted: the worker running this sync stopped before it finished. The next sync resumes it."


def run_sync(tenant_id: int, connection_id: int, sync_run_id: int | None = None) -> str:
    """Run one sync of a connection. One at a time per connection (a Redis lock): a duplicate enqueue
    finds the lock taken and returns; syncs are idempotent, so a retried job is harmless too."""

    with app_context():
        lock = HeldLock(redis(), f"vectis:sync-lock:{connection_id}", LOCK_TTL)
        if not lock.acquire():
            return "already running"
        try:
            with db.tenant_session(tenant_id) as s:
                connection = s.get(Connection, connection_id)
                if connection is None:
                    return "connection removed"
                # Holding the lock, no other run of this connection can be alive: any left "running" died.
                s.execute(
                    update(SyncRun)
                    .where(
                        SyncRun.connection_id == connection_id,
                        SyncRun.status.in_(("queued", "running")),
                        SyncRun.id != (sync_run_id or 0),
                    )
                    .values(status="failed", error=INTERRUPTED, finished_at=datetime.now(UTC))
                )
                run = s.get(SyncRun, sync_run_id) if sync_run_id else None
                if run is None:
                    run = SyncRun(tenant_id=tenant_id, connection_id=connection_id, trigger="schedule", status="queued")
                    s.add(run)
                    s.flush()
                settings = current_app.config["VECTIS_SETTINGS"]
                try:
                    connector = build_connector(connection, redis(), settings)
                except VendorRetired as exc:
                    fail_run(s, connection, run, exc)
                    return run.status
                # Where the vendor lives, in clear beside the sealed config for the pages that link to it: a
                # connection saved before Vectis kept it (or whose simulator moved, in a demo) gets it here.
                connection.base_url = vendor_address(connection.vendor, connector.config, settings)
                try:
                    sync_connection(s, connection, run, connector, before_commit=lock.check)
                except LockLost:
                    return "lock lost: the next sync resumes this one"
                finally:
                    connector.ctx.http.close()
                status = run.status
            # What the sync brought in (failed runs, new tickets) reaches the alerts and rules now, not
            # at the next tick.
            rules.enqueue(tenant_id)
            # A first sync bulk-loads tables the planner thinks empty: fresh statistics and merged search words
            # soon, in a job of its own (one a minute however many syncs end in it), so that work never holds up
            # or fails a sync.
            stamp = datetime.now(UTC).strftime("%Y%m%d%H%M")
            if not _waiting_or_running(f"analyze-{stamp}"):
                queue(QUEUE).enqueue(analyze, job_id=f"analyze-{stamp}", job_timeout=600)
            return status
        finally:
            lock.release()


def enqueue_sync(tenant_id: int, connection_id: int, sync_run_id: int | None, *, job_id: str | None = None) -> None:
    queue(QUEUE).enqueue(run_sync, tenant_id, connection_id, sync_run_id, job_id=job_id, job_timeout=TIMEOUT)


def analyze() -> str:
    """ANALYZE what recent writes outdated beyond autovacuum's threshold (``db.analyze_what_changed``) and merge
    the words they added to the search indexes (``db.merge_pending_words``)."""
    with app_context():
        tables = db.analyze_what_changed()
        pages = db.merge_pending_words()
    return f"analyzed {', '.join(tables) or 'nothing'}; merged {pages} pages of new words"


def test_connection(tenant_id: int, vendor: str, token: str) -> str:
    """Test connection for the admin page that polls for the answer (``ingest.integrations.start_test``)."""
    with app_context(), db.tenant_session(tenant_id) as s:
        return run_test(s, tenant_id, registry.get(vendor), token).message


# A job under this id that ended without moving the connection's next run (it crashed: a bug, a deploy whose
# code ran before its migration) must not keep the id taken, or the connection would never sync again; but
# one that keeps crashing is tried again every few minutes, not every tick.
_PENDING = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED})
RETRY_ENDED_AFTER = timedelta(minutes=5)


def _waiting_or_running(job_id: str) -> bool:
    """A job under this id waits, runs, or ended too recently to run it again."""
    job = queue(QUEUE).fetch_job(job_id)
    if job is None:
        return False
    if job.get_status(refresh=False) in _PENDING:
        return True
    ended = job.ended_at.replace(tzinfo=UTC) if job.ended_at and job.ended_at.tzinfo is None else job.ended_at
    return ended is not None and datetime.now(UTC) - ended < RETRY_ENDED_AFTER


def tick() -> int:
    """Enqueue every due connection (enabled, not paused). The job id is derived from the connection and
    its due time, so two ticks (or two cron processes by mistake) enqueue it once."""

    now = datetime.now(UTC)
    with app_context(), db.system_session() as s:
        due = s.execute(
            select(Connection.tenant_id, Connection.id, Connection.next_run_at).where(
                Connection.enabled,
                Connection.paused_reason.is_(None),
                (Connection.next_run_at.is_(None)) | (Connection.next_run_at <= now),
            )
        ).all()
        for tenant_id, connection_id, next_run_at in due:
            stamp = int((next_run_at or now).timestamp())
            job_id = f"sync-{connection_id}-{stamp}"
            if not _waiting_or_running(job_id):
                enqueue_sync(tenant_id, connection_id, None, job_id=job_id)
    return len(due)
