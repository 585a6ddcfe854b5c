"""Demo run history: the runs Vectis would have seen of a job over the days before its latest one.

VSPC reports only a job's latest session (vendor-apis.md, section 1), so a real workspace's Veeam strips fill
one run per sync, day after day; a demo started a minute ago would show one cell per job. The demo therefore
gives each job that has at most one run the earlier ones, made to agree with what the job's status says (no
success after its last success, a success at it), and keyed ``demo-history:<start>`` so they are never taken
for runs a vendor reported. The generated second tenant (``datagen``) gets its whole strip the same way.
Keepit needs none of this: it lists a connector's recent jobs, and the sync stores them.

Daily metrics and SLA snapshots (``vectis.metrics``) are computed by a nightly job from the day Vectis is
installed; the demo computes its last :data:`METRICS_DAYS` days at once from what its syncs and this history
stored, so trend questions have rows from the first minute: ``acme`` once every demo connection has finished its
first sync (the ConnectWise tickets, the Veeam runs above), the generated second tenant as soon as it is generated.
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
from vectis.metrics.daily import backfill as backfill_days
from vectis.models import BackupConnector, BackupConnectorStatus, BackupRun, Connection, Tenant
from vectis.platform.db import system_session, tenant_session

log = logging.getLogger("vectis.demo.history")
KEY_PREFIX = "demo-history:"
METRICS_DAYS = 90  # how far back the demo's daily metrics and SLA snapshots go
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


def backfill_metrics(tenant_id: int, days: int = METRICS_DAYS) -> int:
    """The tenant's daily metrics and SLA snapshots for the last ``days`` days, from what is stored now, in one
    statement (a restart computes them again, replacing the rows): how many customer-days."""
    with tenant_session(tenant_id) as s:
        return backfill_days(s, days).rows


def _first_syncs_done(tenant_id: int) -> bool:
    """Whether every enabled connection of the tenant has finished a sync, well or not (one that cannot sync
    must not keep the metrics from being computed from the others)."""
    with tenant_session(tenant_id) as s:
        waiting = s.scalar(select(func.count()).where(Connection.enabled.is_(True), Connection.last_status.is_(None)))
    return not waiting


def backfill_after_first_sync(
    app: Flask, slug: str = "acme", *, timeout: float = 600, every: float = 5
) -> threading.Thread:
    """In the background: wait for the demo's first Veeam sync to finish, then backfill its jobs (a restart
    finds them filled and does nothing); then, once every connection has synced, its daily metrics (computed
    anyway when ``timeout`` runs out, from whatever was synced)."""

    def wait_then_fill() -> None:
        with app.app_context():
            with system_session() as s:
                tenant_id = s.scalar(select(Tenant.id).where(Tenant.slug == slug))
            if tenant_id is None:
                return
            deadline = time.monotonic() + timeout
            runs: int | None = None
            try:
                while time.monotonic() < deadline:
                    if runs is None and (runs := backfill(tenant_id)):
                        print(f"vectis: demo run history for {runs} Veeam jobs of {slug}", flush=True)
                    if runs is not None and _first_syncs_done(tenant_id):
                        break
                    time.sleep(every)
                backfill_metrics(tenant_id)
                print(f"vectis: demo daily metrics of {slug} for the last {METRICS_DAYS} days", flush=True)
            except Exception:  # a demo nicety must never take the demo down
                log.exception("demo history failed")

    thread = threading.Thread(target=wait_then_fill, name="demo-run-history", daemon=True)
    thread.start()
    return thread
