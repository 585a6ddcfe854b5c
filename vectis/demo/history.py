"""Demo run history: the runs Vectis would have seen of a job over the days before its latest one.

VSPC reports only a job's latest session (vendor-apis.md, section 1), so a real workspace's Veeam strips fill
one run per sync, day after day; a demo started a minute ago would show one cell per job. The demo therefore
gives each job that has at most one run the earlier ones, made to agree with what the job's status says (no
success after its last success, a success at it), and keyed ``demo-history:<start>`` so they are never taken
for runs a vendor reported. The generated second tenant (``datagen``) gets its whole strip the same way.
Keepit needs none of this: it lists a connector's recent jobs, and the sync stores them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from vectis.backups.runs import STRIP
from vectis.backups.writer import write_runs
from vectis.connectors.base import BackupRunRecord
from vectis.demo.seed import DEMO_VSPC
from vectis.models import BackupConnector, BackupConnectorStatus, BackupRun, Connection, Tenant
from vectis.platform.db import system_session, tenant_session

log = logging.getLogger("vectis.demo.history")
KEY_PREFIX = "demo-history:"
_WORDS = {"success": "Success", "warning": "Warning", "failed": "Failed", "running": "Running", "stopped": "Idle"}
_WARNINGS = (
    "Changed block tracking cannot be enabled: one or more VM snapshots present.",
    "Free space on the backup repository is below 10%.",
    "Unable to allocate processing resources. Retrying.",
)
_ERRORS = (
    "Failed to connect to the host: The operation has timed out.",
    "There is not enough space on the disk. Failed to write data to the file.",
    "Unable to truncate transaction logs: access denied.",
)


@dataclass(frozen=True)
class Latest:
    """What a job's status says of its runs."""

    key: str  # a stable seed: the job's external id
    state: str | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    duration_seconds: int | None
    removed_at: datetime | None = None


def earlier_runs(job: Latest, count: int = STRIP - 1) -> list[BackupRunRecord]:
    """Up to ``count`` runs a day apart before the latest attempt, oldest first. Every run after the last
    success failed (all of them when there is none on record); the one at the last success succeeded; older
    ones mostly succeeded."""
    if job.last_attempt_at is None or job.state in (None, "unknown"):
        return []
    rng = random.Random(f"runs:{job.key}")  # noqa: S311 - demo data, not security
    took = timedelta(seconds=job.duration_seconds or rng.randint(600, 5400))
    runs: list[BackupRunRecord] = []
    success = job.last_success_at if job.last_success_at and job.last_success_at < job.last_attempt_at else None
    never = job.last_success_at is None and job.state not in ("success", "warning")  # no success on record
    placed = False
    for k in range(1, count + 1):
        started = job.last_attempt_at - timedelta(days=k, minutes=rng.randint(-20, 20))
        if never:
            state = "failed"
        elif success is not None and not placed and abs(started - success) < timedelta(hours=12):
            started, state, placed = success, "success", True  # the last success is the run of that day
        elif success is not None and started > success:
            state = "failed"
        else:
            state = rng.choices(("success", "warning", "failed"), weights=(88, 8, 4))[0]
        message = {"warning": rng.choice(_WARNINGS), "failed": rng.choice(_ERRORS)}.get(state)
        runs.append(
            BackupRunRecord(
                f"{KEY_PREFIX}{started.isoformat()}", state, _WORDS[state], started, started + took, message
            )
        )
    return sorted(runs, key=lambda r: r.started_at)


def strip_of(job: Latest, now: datetime) -> list[BackupRunRecord]:
    """A generated job's whole strip: the earlier runs and the latest one its status describes."""
    runs = earlier_runs(job)
    if job.last_attempt_at is not None and job.state not in (None, "unknown"):
        took = timedelta(seconds=job.duration_seconds or 0)
        ended = None if job.state == "running" else min(job.last_attempt_at + took, now)
        key = f"{KEY_PREFIX}{job.last_attempt_at.isoformat()}"
        runs.append(BackupRunRecord(key, job.state, _WORDS.get(job.state, job.state), job.last_attempt_at, ended))
    return runs


def _jobs(tenant_id: int) -> list[tuple[int, Latest]] | None:
    """Jobs of the demo's own VSPC connection (not one someone added) that Vectis has seen at most one run of;
    None until that connection's first sync has finished."""
    with tenant_session(tenant_id) as s:
        demo = list(
            s.scalars(
                select(Connection).where(
                    Connection.vendor == "veeam", Connection.base_url == DEMO_VSPC["base_url"].rstrip("/")
                )
            )
        )
        if not any(c.last_sync_at for c in demo):
            return None
        connections = [c.id for c in demo]
        seen = select(func.count()).where(BackupRun.backup_connector_id == BackupConnector.id).scalar_subquery()
        rows = s.execute(
            select(BackupConnector, BackupConnectorStatus)
            .join(BackupConnectorStatus, BackupConnectorStatus.backup_connector_id == BackupConnector.id)
            .where(BackupConnector.connection_id.in_(connections), seen <= 1)
        ).all()
        return [
            (
                job.id,
                Latest(
                    job.external_id,
                    status.state,
                    status.last_attempt_at,
                    status.last_success_at,
                    status.last_duration_seconds,
                    job.removed_at,
                ),
            )
            for job, status in rows
        ]


def backfill(tenant_id: int) -> int | None:
    """Earlier runs for the demo Veeam jobs that have at most one: how many jobs got them, or None while the
    demo's Veeam connection has not finished its first sync."""
    jobs = _jobs(tenant_id)
    if jobs is None:
        return None
    runs = {job_id: found for job_id, latest in jobs if (found := tuple(earlier_runs(latest)))}
    if runs:
        with tenant_session(tenant_id) as s:
            write_runs(s, tenant_id, runs)
    return len(runs)


def backfill_after_first_sync(
    app: Flask, slug: str = "acme", *, timeout: float = 600, every: float = 5
) -> threading.Thread:
    """In the background: wait for the demo's first Veeam sync to finish, then backfill its jobs (a restart
    finds them filled and does nothing)."""

    def wait_then_fill() -> None:
        with app.app_context():
            with system_session() as s:
                tenant_id = s.scalar(select(Tenant.id).where(Tenant.slug == slug))
            deadline = time.monotonic() + timeout
            while tenant_id is not None and time.monotonic() < deadline:
                try:
                    filled = backfill(tenant_id)
                    if filled is not None:
                        if filled:
                            print(f"vectis: demo run history for {filled} Veeam jobs of {slug}", flush=True)
                        return
                except Exception:  # a demo nicety must never take the demo down
                    log.exception("demo run history failed")
                    return
                time.sleep(every)

    thread = threading.Thread(target=wait_then_fill, name="demo-run-history", daemon=True)
    thread.start()
    return thread
