"""Backup jobs and connectors on the REST API, every vendor's side by side, each with its state as every surface
derives it (:func:`vectis.backups.state.derive`: what the vendor said, and what only time reveals)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Row, select, tuple_

from vectis.actions.resources import Call, KeysetQuery, Page, Schema, keyset, operation, page_of
from vectis.backups.state import health_of
from vectis.connectors import registry
from vectis.models import BackupConnector, BackupConnectorStatus, Connection, Customer
from vectis.platform import public_ids

# Every state derive() answers (vectis.backups.state.TONE; a test holds the two together).
State = Literal[
    "success", "warning", "failed", "running", "stopped", "unknown", "stale", "silent", "stuck", "never", "removed"
]
BATCH = 500  # jobs derived at a time while a state filter looks for a page of its own


class BackupJobOut(Schema):
    id: str = Field(description="Public id, bkj_…")
    name: str
    kind: str = Field(description="Backup, BackupCopy, Replica, Tape, Other")
    vendor: str
    customer_id: str | None = Field(description="cus_…; null while its vendor account is linked to no customer")
    customer_name: str | None
    protected_object: str | None
    state: State = Field(description="As Vectis derives it now: the vendor's latest run, and what time adds")
    needs_attention: bool = Field(description="failed, stuck, silent or stale")
    reason: str = Field(description="Why, in words")
    detail: str | None = Field(description="A failed job's second line: how long without a success")
    vendor_state: str | None = Field(description="The latest run as the vendor reported it; null: none yet")
    message: str | None = Field(description="The vendor's message on the latest run")
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_duration_seconds: int | None
    removed_at: datetime | None = Field(description="When it disappeared at the vendor")


class BackupQuery(KeysetQuery):
    shape = (str, "backup_job")
    customer_id: str | None = Field(default=None, description="Only this customer's jobs (cus_…)")
    state: State | None = Field(default=None, description="Only jobs in this derived state")


def _out(row: Row[*tuple[Any, ...]], now: datetime) -> BackupJobOut:
    health = health_of(row, now)
    return BackupJobOut(
        id=public_ids.encode("backup_job", row.id),
        name=row.name,
        kind=row.kind,
        vendor=registry.label(row.vendor),
        customer_id=public_ids.encode("customer", row.customer_id) if row.customer_id else None,
        customer_name=row.customer_name,
        protected_object=row.protected_object,
        state=health.state,  # type: ignore[arg-type]
        needs_attention=health.needs_attention,
        reason=health.reason,
        detail=health.detail,
        vendor_state=row.state,
        message=row.message,
        last_attempt_at=row.last_attempt_at,
        last_success_at=row.last_success_at,
        last_duration_seconds=row.last_duration_seconds,
        removed_at=row.removed_at,
    )


@operation(
    "GET", "/backups", scope="read", summary="List backup jobs with their state, by name", tag="Backups",
    response=BackupJobOut, query=BackupQuery, paged=True,
)  # fmt: skip
def list_backups(call: Call) -> Page[BackupJobOut]:
    """From every backup tool, each job with the state Vectis derives for it (failed, stale, …)."""
    query: BackupQuery = call.query
    job, status = BackupConnector, BackupConnectorStatus
    statement = (
        select(
            job.id, job.name, job.kind, job.customer_id, job.protected_object, job.removed_at, Connection.vendor,
            Customer.name.label("customer_name"), status.state, status.last_attempt_at, status.last_success_at,
            status.last_duration_seconds, status.message,
        )
        .join(Connection, Connection.id == job.connection_id)
        .outerjoin(status, status.backup_connector_id == job.id)
        .outerjoin(Customer, Customer.id == job.customer_id)
        .order_by(job.name, job.id)
    )  # fmt: skip
    if query.customer_id:
        customer = public_ids.decode("customer", query.customer_id)
        if customer is None:
            return Page[BackupJobOut](data=[], next_cursor=None)  # no such customer here: no jobs of it
        statement = statement.where(job.customer_id == customer)
    # The state is derived here, not stored: with a state filter, jobs are read in batches until a page is found.
    now, after = datetime.now(UTC), query.after
    batch = query.limit + 1 if query.state is None else BATCH
    found: list[BackupJobOut] = []
    while len(found) <= query.limit:
        rows = call.session.execute(
            (statement.where(tuple_(job.name, job.id) > tuple_(*after)) if after else statement).limit(batch)
        ).all()
        found += [out for out in (_out(row, now) for row in rows) if query.state in (None, out.state)]
        if len(rows) < batch:
            break
        after = (rows[-1].name, rows[-1].id)
    return page_of(found, query.limit, lambda j: keyset(j.name, j.id))
