"""The sync engine: reads a connection's streams page by page and writes their records.

Each page is one transaction: its records are upserted (idempotent) and the stream's cursor is saved in
the same commit, so a worker killed after page k resumes at page k+1 and ends in the same state as an
uninterrupted sync. Snapshot streams (companies, jobs) are read whole every time; a job not seen in a
complete pass is marked removed, never deleted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from vectis.connectors import registry
from vectis.connectors.base import (
    BackupEventRecord,
    BackupJobRecord,
    Connector,
    ConnectorContext,
    CustomerRecord,
    Record,
    Stream,
)
from vectis.connectors.http import ConnectorError, HttpClient
from vectis.models import (
    BackupAuditEvent,
    BackupConnector,
    BackupConnectorStatus,
    Connection,
    Customer,
    CustomerLink,
    StreamCursor,
    SyncRun,
    TimelineEvent,
)
from vectis.ratelimit import TokenBucket

log = logging.getLogger("vectis.sync")
MAX_BACKOFF = timedelta(hours=6)
_SUFFIXES = re.compile(r"\b(inc|llc|ltd|limited|gmbh|ag|co|corp|corporation|company|plc|bv|srl|sa|the)\b")


def normalize_name(name: str) -> str:
    """``"Aldridge & Co., Ltd."`` and ``"aldridge and co"`` meet at ``"aldridge"``."""
    text = name.lower().replace("&", " and ")
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    text = _SUFFIXES.sub(" ", text).replace(" and ", " ")
    return " ".join(text.split())


def build_connector(
    connection: Connection, redis: Redis, *, allow_loopback: bool, config: dict[str, Any] | None = None
) -> Connector:
    cls = registry.get(connection.vendor)
    config = config if config is not None else connection.read_config()
    rate = connection.rate_limit_per_second or cls.default_rate_limit
    bucket = TokenBucket(
        redis, f"connection:{connection.tenant_id}:{connection.id or 'unsaved'}", rate, burst=max(1, round(rate))
    )
    http = HttpClient(base_url=config[cls.base_url_field], bucket=bucket, allow_loopback=allow_loopback)
    return cls(config, ConnectorContext(connection.tenant_id, connection.id, http, redis))


@dataclass
class Writer:
    """Writes one run's records; remembers vendor account -> customer for the jobs and events after it."""

    session: Session
    connection: Connection
    run: SyncRun
    source: str
    customers: dict[str, int] = field(default_factory=dict)

    def customer_id(self, external_id: str | None) -> int | None:
        if not external_id:
            return None
        if external_id not in self.customers:
            found = self.session.scalar(
                select(CustomerLink.customer_id).where(
                    CustomerLink.connection_id == self.connection.id, CustomerLink.external_id == external_id
                )
            )
            if found is None:
                return None
            self.customers[external_id] = found
        return self.customers[external_id]

    def write(self, record: Record) -> None:
        if isinstance(record, CustomerRecord):
            self._customer(record)
        elif isinstance(record, BackupJobRecord):
            self._job(record)
        else:
            self._event(record)

    def _customer(self, record: CustomerRecord) -> None:
        link = self.session.scalar(
            select(CustomerLink).where(
                CustomerLink.connection_id == self.connection.id, CustomerLink.external_id == record.external_id
            )
        )
        if link is not None:  # the vendor's stable id decides: a rename is just a new external name
            link.external_name = record.name
            link.updated_at = datetime.now(UTC)
            self.customers[record.external_id] = link.customer_id
            return
        normalized = normalize_name(record.name)
        customer = self.session.scalar(
            select(Customer).where(Customer.normalized_name == normalized).order_by(Customer.id).limit(1)
        )
        if customer is None:
            customer = Customer(tenant_id=self.connection.tenant_id, name=record.name, normalized_name=normalized)
            self.session.add(customer)
            self.session.flush()
        self.session.add(
            CustomerLink(
                tenant_id=self.connection.tenant_id,
                customer_id=customer.id,
                connection_id=self.connection.id,
                external_id=record.external_id,
                external_name=record.name,
            )
        )
        self.customers[record.external_id] = customer.id

    def _job(self, record: BackupJobRecord) -> None:
        now = datetime.now(UTC)
        values = {
            "tenant_id": self.connection.tenant_id,
            "connection_id": self.connection.id,
            "customer_id": self.customer_id(record.customer_external_id),
            "external_id": record.external_id,
            "name": record.name[:300],
            "kind": record.kind,
            "vendor_type": record.vendor_type[:80],
            "protected_object": (record.protected_object or None) and record.protected_object[:300],
            "last_seen_run_id": self.run.id,
            "removed_at": None,
            "updated_at": now,
        }
        stmt = insert(BackupConnector).values(values)
        job_id = self.session.scalar(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "connection_id", "external_id"],
                set_={k: stmt.excluded[k] for k in values if k not in ("tenant_id", "connection_id", "external_id")},
            ).returning(BackupConnector.id)
        )
        succeeded = record.state in ("success", "warning")
        status_values = {
            "tenant_id": self.connection.tenant_id,
            "backup_connector_id": job_id,
            "state": record.state,
            "vendor_status": record.vendor_status[:40],
            "last_attempt_at": record.last_attempt_at,
            "last_success_at": (record.last_end_at or record.last_attempt_at) if succeeded else None,
            "last_duration_seconds": record.duration_seconds,
            "message": record.message,
            "updated_at": now,
        }
        status = insert(BackupConnectorStatus).values(status_values)
        table = BackupConnectorStatus.__table__
        self.session.execute(
            status.on_conflict_do_update(
                index_elements=["tenant_id", "backup_connector_id"],
                set_={
                    **{
                        k: status.excluded[k]
                        for k in (
                            "state",
                            "vendor_status",
                            "last_attempt_at",
                            "last_duration_seconds",
                            "message",
                            "updated_at",
                        )
                    },
                    # The vendor only knows the latest run: the last success is ours to remember.
                    "last_success_at": (status.excluded.last_success_at if succeeded else table.c.last_success_at),
                },
            )
        )

    def _event(self, record: BackupEventRecord) -> None:
        customer_id = self.customer_id(record.customer_external_id)
        self.session.execute(
            insert(BackupAuditEvent)
            .values(
                tenant_id=self.connection.tenant_id,
                connection_id=self.connection.id,
                customer_id=customer_id,
                external_id=record.external_id[:200],
                occurred_at=record.occurred_at,
                category=record.category[:40],
                severity=record.severity,
                title=record.title[:500],
                detail=record.detail,
                raw=record.raw,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "connection_id", "external_id"])
        )
        self.session.execute(
            insert(TimelineEvent)
            .values(
                tenant_id=self.connection.tenant_id,
                customer_id=customer_id,
                connection_id=self.connection.id,
                source=self.source,
                kind=f"backup.{record.category}"[:60],
                occurred_at=record.occurred_at,
                title=record.title[:500],
                detail=record.detail,
                severity=record.severity,
                dedup_key=record.external_id[:300],
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "connection_id", "dedup_key"])
        )


def _load_cursor(session: Session, connection: Connection, stream: Stream) -> dict[str, Any] | None:
    return session.scalar(
        select(StreamCursor.cursor).where(
            StreamCursor.connection_id == connection.id, StreamCursor.stream == stream.name
        )
    )


def _save_cursor(session: Session, connection: Connection, stream: Stream, cursor: dict[str, Any]) -> None:
    stmt = insert(StreamCursor).values(
        tenant_id=connection.tenant_id, connection_id=connection.id, stream=stream.name, cursor=cursor
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "connection_id", "stream"],
            set_={"cursor": stmt.excluded.cursor, "updated_at": datetime.now(UTC)},
        )
    )


def run_sync(session: Session, connection: Connection, run: SyncRun, connector: Connector) -> None:
    """Sync every stream of ``connection`` into its tables. Commits page by page; on a vendor error the
    run fails with the reason in words, what was committed stays, and the cursor does not move past it."""
    now = datetime.now(UTC)
    run.status, run.started_at = "running", now
    session.commit()
    writer = Writer(session, connection, run, registry.get(connection.vendor).label)
    try:
        connector.before_sync()
        for stream in connector.streams():
            cursor = _load_cursor(session, connection, stream)
            for page in connector.read(stream, cursor):
                for record in page.records:
                    writer.write(record)
                if page.cursor is not None:
                    _save_cursor(session, connection, stream, page.cursor)
                run.counts = {**run.counts, stream.name: run.counts.get(stream.name, 0) + len(page.records)}
                run.requests_made = connector.ctx.http.requests_made
                session.commit()
            if stream.snapshot and stream.name.endswith("jobs"):
                _mark_removed(session, connection, run, stream)
                session.commit()
    except ConnectorError as exc:
        session.rollback()
        _finish(session, connection, run, error=exc)
        return
    _finish(session, connection, run, error=None)


def _mark_removed(session: Session, connection: Connection, run: SyncRun, stream: Stream) -> None:
    agent = stream.name == "agent_jobs"
    prefix_filter = (
        BackupConnector.external_id.like("agent:%") if agent else BackupConnector.external_id.not_like("agent:%")
    )
    session.execute(
        update(BackupConnector)
        .where(
            and_(
                BackupConnector.connection_id == connection.id,
                BackupConnector.removed_at.is_(None),
                prefix_filter,
                (BackupConnector.last_seen_run_id != run.id) | BackupConnector.last_seen_run_id.is_(None),
            )
        )
        .values(removed_at=datetime.now(UTC))
    )


def _finish(session: Session, connection: Connection, run: SyncRun, *, error: ConnectorError | None) -> None:
    now = datetime.now(UTC)
    run.finished_at = now
    connection.last_sync_at = now
    if error is None:
        run.status = "succeeded"
        connection.last_status, connection.last_error = "succeeded", None
        connection.failure_count = 0
        connection.next_run_at = now + timedelta(minutes=connection.sync_interval_minutes)
    else:
        run.status, run.error = "failed", error.message
        connection.last_status, connection.last_error = "failed", error.message
        connection.failure_count += 1
        if error.permanent:
            # Retrying cannot fix bad credentials or a refused version: pause until an admin acts.
            connection.paused_reason = error.message
        backoff = min(
            timedelta(minutes=connection.sync_interval_minutes) * 2 ** min(connection.failure_count, 10), MAX_BACKOFF
        )
        connection.next_run_at = now + backoff
        log.warning("sync of connection %s failed: %s", connection.id, error.message)
    session.commit()
