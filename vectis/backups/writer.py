"""Writes what backup vendors report: jobs (Veeam jobs, Keepit connectors) with their latest status and the
runs seen of them, and backup audit events with their timeline rows. Called by the sync engine for each page,
in its transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from vectis.connectors.base import BackupEventRecord, BackupJobRecord, BackupRunRecord
from vectis.models import (
    BackupAuditEvent,
    BackupConnector,
    BackupConnectorStatus,
    BackupRun,
    Connection,
    Linked,
    SyncRun,
    TimelineEvent,
)
from vectis.platform.bulk import upsert

Account = Callable[[str | None], Linked]  # a vendor account id -> where its rows point


def write_jobs(
    session: Session, connection: Connection, run: SyncRun, records: list[BackupJobRecord], account: Account
) -> None:
    """Jobs and their latest status, one upsert each; the last success and the failure streak are ours to keep."""
    now = datetime.now(UTC)
    rows = [
        {
            "tenant_id": connection.tenant_id,
            "connection_id": connection.id,
            "customer_id": account(r.customer_external_id).customer_id,
            "customer_link_id": account(r.customer_external_id).link_id,
            "external_id": r.external_id,
            "name": r.name[:300],
            "kind": r.kind,
            "vendor_type": r.vendor_type[:80],
            "protected_object": r.protected_object[:300] if r.protected_object else None,
            "last_seen_run_id": run.id,
            "removed_at": None,
            "updated_at": now,
        }
        for r in records
    ]
    db = session.connection()
    jobs = upsert(
        db,
        BackupConnector.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "connection_id", "external_id"),
        update=(
            "customer_id",
            "customer_link_id",
            "name",
            "kind",
            "vendor_type",
            "protected_object",
            "last_seen_run_id",
            "removed_at",
            "updated_at",
        ),
        returning=("external_id", "id"),
    )
    ids = {row.external_id: row.id for row in jobs}
    statuses = [
        {
            "tenant_id": connection.tenant_id,
            "backup_connector_id": ids[r.external_id],
            "state": r.state,
            "vendor_status": r.vendor_status[:40],
            "last_attempt_at": r.last_attempt_at,
            "last_success_at": last_success_of(r),
            "last_duration_seconds": r.duration_seconds,
            "message": r.message,
            "consecutive_failures": 1 if r.state == "failed" else 0,
            "updated_at": now,
        }
        for r in records
    ]
    upsert(
        db,
        BackupConnectorStatus.__table__,  # type: ignore[arg-type]
        statuses,
        conflict=("tenant_id", "backup_connector_id"),
        update=("state", "vendor_status", "last_attempt_at", "last_duration_seconds", "message", "updated_at"),
        # The vendor only knows the latest run: the last success is ours to remember.
        merge={
            "last_success_at": "coalesce(excluded.last_success_at, t.last_success_at)",
            # A new failed attempt adds one; a success starts again from zero; the same run read
            # again changes nothing.
            "consecutive_failures": "CASE WHEN excluded.state = 'failed' AND excluded.last_attempt_at "
            "IS DISTINCT FROM t.last_attempt_at THEN t.consecutive_failures + 1 "
            "WHEN excluded.state IN ('success', 'warning') THEN 0 ELSE t.consecutive_failures END",
        },
    )
    write_runs(session, connection.tenant_id, {ids[r.external_id]: runs_of(r) for r in records})


# A run read again replaces what was kept of it only while it was running (it has finished since) or with
# an outcome: a job that goes idle after a success must not turn that success grey.
_RUN_SETTLES = "t.state = 'running' OR excluded.state IN ('success', 'warning', 'failed')"


def runs_of(r: BackupJobRecord) -> tuple[BackupRunRecord, ...]:
    """The runs a record shows: those the vendor listed, else its latest, keyed by when it started."""
    if r.runs or r.last_attempt_at is None or r.state == "unknown":
        return r.runs
    # While a session runs, a vendor's "last end" can be the previous session's.
    ended = (
        r.last_end_at if r.state != "running" and (r.last_end_at or r.last_attempt_at) >= r.last_attempt_at else None
    )
    run_id = r.last_attempt_at.isoformat()
    return (BackupRunRecord(run_id, r.state, r.vendor_status, r.last_attempt_at, ended, r.message),)


def write_runs(session: Session, tenant_id: int, runs: dict[int, tuple[BackupRunRecord, ...]]) -> None:
    """Every run once per job and vendor run id, in one statement: syncs read the same runs again and again."""
    rows = [
        {
            "tenant_id": tenant_id,
            "backup_connector_id": job_id,
            "run_key": run.run_id[:200],
            "state": run.state,
            "vendor_status": run.vendor_status[:40],
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "duration_seconds": max(int((run.ended_at - run.started_at).total_seconds()), 0) if run.ended_at else None,
            "message": run.message,
        }
        for job_id, job_runs in runs.items()
        for run in {run.run_id: run for run in job_runs}.values()  # a vendor listing one run twice
    ]
    upsert(
        session.connection(),
        BackupRun.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "backup_connector_id", "run_key"),
        merge={
            column: f"CASE WHEN {_RUN_SETTLES} THEN excluded.{column} ELSE t.{column} END"
            for column in ("state", "vendor_status", "ended_at", "duration_seconds", "message")
        },
    )


def write_events(
    session: Session, connection: Connection, source: str, records: list[BackupEventRecord], account: Account
) -> None:
    """Backup audit events and their timeline rows; failures attach to the tickets open around them."""
    tenant_id, connection_id = connection.tenant_id, connection.id
    audit_rows, timeline_rows = [], []
    for r in records:
        linked = account(r.customer_external_id)
        audit_rows.append(
            {
                "tenant_id": tenant_id,
                "connection_id": connection_id,
                "customer_id": linked.customer_id,
                "customer_link_id": linked.link_id,
                "external_id": r.external_id[:200],
                "occurred_at": r.occurred_at,
                "category": r.category[:40],
                "severity": r.severity,
                "title": r.title[:500],
                "detail": r.detail,
                "raw": r.raw,
            }
        )
        timeline_rows.append(
            {
                "tenant_id": tenant_id,
                "customer_id": linked.customer_id,
                "customer_link_id": linked.link_id,
                "connection_id": connection_id,
                "source": source,
                "kind": f"backup.{r.category}"[:60],
                "occurred_at": r.occurred_at,
                "title": r.title[:500],
                "detail": r.detail,
                "severity": r.severity,
                "dedup_key": r.external_id[:300],
            }
        )
    db = session.connection()
    upsert(
        db,
        BackupAuditEvent.__table__,  # type: ignore[arg-type]
        audit_rows,
        conflict=("tenant_id", "connection_id", "external_id"),
    )
    upsert(
        db,
        TimelineEvent.__table__,  # type: ignore[arg-type]
        timeline_rows,
        conflict=("tenant_id", "connection_id", "dedup_key"),
    )


def last_success_of(r: BackupJobRecord) -> datetime | None:
    """When the last successful run started, so that it compares with Last attempt (a start too): a success
    dated at its end, or a vendor's snapshot time, would show "last success 05:56, last attempt 04:49" for
    the one run. A success never postdates the latest attempt; a run that went well is its own success."""
    success = r.last_success_at or (r.last_attempt_at or r.last_end_at if r.state in ("success", "warning") else None)
    if success is not None and r.last_attempt_at is not None and success > r.last_attempt_at:
        return r.last_attempt_at
    return success
