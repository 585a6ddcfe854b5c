"""What the portal's read-only surfaces read: Assets (devices per site, from the RMMs) and Backups (each job's last
success, from the backup tools), the same rows the operators' hub reads, filtered to the portal user's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.backups.state import LABEL, TONE, health_of
from vectis.customers.directory import job_rows
from vectis.models import Device
from vectis.platform import db

LIMIT = 500


@dataclass(frozen=True)
class Asset:
    name: str
    os: str | None
    last_seen: datetime | None
    online: bool
    customer_id: int | None


@dataclass(frozen=True)
class BackupJob:
    name: str
    kind: str
    customer_id: int | None
    last_success: datetime | None
    state: str  # in words: OK, Failed, Stale…
    tone: str  # ok | warn | bad | muted: the badge's colour


def assets(session: Session, customer_ids: list[int]) -> list[Asset]:
    rows = session.execute(
        select(Device.name, Device.os_name, Device.last_contact_at, Device.online, Device.customer_id)
        .where(db.among(Device.customer_id, customer_ids), Device.removed_at.is_(None))
        .order_by(Device.name, Device.id)
        .limit(LIMIT)
    )
    return [Asset(*row) for row in rows]


def backups(session: Session, customer_ids: list[int]) -> list[BackupJob]:
    now = datetime.now(UTC)
    jobs = [job for job in job_rows(session, customer_ids) if job.removed_at is None]
    listed = []
    for job in sorted(jobs, key=lambda j: (j.name.lower(), j.id))[:LIMIT]:
        state = health_of(job, now).state
        listed.append(
            BackupJob(
                job.name, job.kind, job.customer_id, job.last_success_at, LABEL.get(state, state), TONE.get(state, "")
            )
        )
    return listed
