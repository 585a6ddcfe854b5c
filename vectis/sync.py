"""The sync engine: reads a connection's streams page by page and writes their records.

Each page is one transaction: its records are upserted (idempotent) and the stream's cursor is saved in
the same commit, so a worker killed after page k resumes at page k+1 and ends in the same state as an
uninterrupted sync. Snapshot streams (companies, jobs) are read whole every time; a job not seen in a
complete pass is marked removed, never deleted.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from vectis.bulk import upsert
from vectis.config import Settings
from vectis.connectors import registry
from vectis.connectors.base import (
    BackupEventRecord,
    BackupJobRecord,
    Connector,
    ConnectorContext,
    ContactRecord,
    CustomerRecord,
    Page,
    Record,
    Stream,
    TicketBoardRecord,
    TicketPriorityRecord,
    TicketRecord,
)
from vectis.connectors.http import ConnectorError, HttpClient
from vectis.correlate import attach_events, attach_to_tickets
from vectis.matching import DETAILS, Account, Linked, link_accounts
from vectis.models import (
    BackupAuditEvent,
    BackupConnector,
    BackupConnectorStatus,
    Connection,
    CustomerLink,
    StreamCursor,
    SyncRun,
    TimelineEvent,
)
from vectis.ratelimit import TokenBucket
from vectis.ticket_writer import write_boards, write_contacts, write_priorities, write_tickets

log = logging.getLogger("vectis.sync")
NO_ACCOUNT = Linked(link_id=None, customer_id=None)  # a record naming an account the vendor did not list
MAX_BACKOFF = timedelta(hours=6)


def build_connector(
    connection: Connection, redis: Redis, settings: Settings, *, config: dict[str, Any] | None = None
) -> Connector:
    cls = registry.get(connection.vendor)
    config = config if config is not None else connection.read_config()
    rate = connection.rate_limit_per_second or cls.default_rate_limit
    bucket = TokenBucket(
        redis, f"connection:{connection.tenant_id}:{connection.id or 'unsaved'}", rate, burst=max(1, round(rate))
    )
    template = settings.vendor_urls.get(cls.key) if settings.allow_loopback_vendors else None
    http = HttpClient(
        base_url=cls.base_url(config, template), bucket=bucket, allow_loopback=settings.allow_loopback_vendors
    )
    context = ConnectorContext(connection.tenant_id, connection.id, http, redis, settings.product_ids.get(cls.key))
    return cls(config, context)


@dataclass
class Writer:
    """Writes one run's records; remembers vendor account -> customer for the jobs and events after it."""

    session: Session
    connection: Connection
    run: SyncRun
    source: str
    customers: dict[str, Linked] = field(default_factory=dict)

    def write_page(self, records: list[Record]) -> None:
        """One page in a few set-based statements: per-row round trips would make the database, not the
        vendor's rate limit, the bottleneck at MSP scale."""
        customers = {r.external_id: r for r in records if isinstance(r, CustomerRecord)}
        if customers:
            self._customers(customers)
        jobs = {r.external_id: r for r in records if isinstance(r, BackupJobRecord)}  # last one wins in a page
        events = {r.external_id: r for r in records if isinstance(r, BackupEventRecord)}
        if jobs:
            self._jobs(list(jobs.values()))
        if events:
            self._events(list(events.values()))
        boards = [r for r in records if isinstance(r, TicketBoardRecord)]
        if boards:
            write_boards(self.session, self.connection, boards)
        priorities = [r for r in records if isinstance(r, TicketPriorityRecord)]
        if priorities:
            write_priorities(self.session, self.connection, priorities)
        contacts = {r.external_id: r for r in records if isinstance(r, ContactRecord)}
        if contacts:
            self._prefetch_customers()
            write_contacts(self.session, self.connection, list(contacts.values()), self._account)
        tickets = {r.external_id: r for r in records if isinstance(r, TicketRecord)}
        if tickets:
            self._prefetch_customers()
            written = write_tickets(self.session, self.connection, list(tickets.values()), self._account)
            attach_to_tickets(self.session, written)

    def _customers(self, records: dict[str, CustomerRecord]) -> None:
        accounts = [
            Account(
                r.external_id,
                r.name,
                {k: v for k in DETAILS if (v := getattr(r, k))},
            )
            for r in records.values()
        ]
        self.customers.update(link_accounts(self.session, self.connection, accounts))

    def _prefetch_customers(self) -> None:
        if not self.customers:
            rows = self.session.execute(
                select(CustomerLink.external_id, CustomerLink.id, CustomerLink.customer_id).where(
                    CustomerLink.connection_id == self.connection.id
                )
            )
            self.customers.update({eid: Linked(link_id, customer_id) for eid, link_id, customer_id in rows})

    def _account(self, external_id: str | None) -> Linked:
        return self.customers.get(external_id or "", NO_ACCOUNT)

    def _jobs(self, records: list[BackupJobRecord]) -> None:
        self._prefetch_customers()
        now = datetime.now(UTC)
        rows = [
            {
                "tenant_id": self.connection.tenant_id,
                "connection_id": self.connection.id,
                "customer_id": self._account(r.customer_external_id).customer_id,
                "customer_link_id": self._account(r.customer_external_id).link_id,
                "external_id": r.external_id,
                "name": r.name[:300],
                "kind": r.kind,
                "vendor_type": r.vendor_type[:80],
                "protected_object": r.protected_object[:300] if r.protected_object else None,
                "last_seen_run_id": self.run.id,
                "removed_at": None,
                "updated_at": now,
            }
            for r in records
        ]
        db = self.session.connection()
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
                "tenant_id": self.connection.tenant_id,
                "backup_connector_id": ids[r.external_id],
                "state": r.state,
                "vendor_status": r.vendor_status[:40],
                "last_attempt_at": r.last_attempt_at,
                "last_success_at": r.last_success_at
                or ((r.last_end_at or r.last_attempt_at) if r.state in ("success", "warning") else None),
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

    def _events(self, records: list[BackupEventRecord]) -> None:
        self._prefetch_customers()
        tenant_id, connection_id = self.connection.tenant_id, self.connection.id
        audit_rows, timeline_rows = [], []
        for r in records:
            account = self._account(r.customer_external_id)
            audit_rows.append(
                {
                    "tenant_id": tenant_id,
                    "connection_id": connection_id,
                    "customer_id": account.customer_id,
                    "customer_link_id": account.link_id,
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
                    "customer_id": account.customer_id,
                    "customer_link_id": account.link_id,
                    "connection_id": connection_id,
                    "source": self.source,
                    "kind": f"backup.{r.category}"[:60],
                    "occurred_at": r.occurred_at,
                    "title": r.title[:500],
                    "detail": r.detail,
                    "severity": r.severity,
                    "dedup_key": r.external_id[:300],
                }
            )
        db = self.session.connection()
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
        times = [r.occurred_at for r in records]
        attach_events(self.session, connection_id, min(times), max(times))


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


_DONE = object()
T = TypeVar("T")


def prefetched(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Fetch the next pages while the current one is written: the vendor's rate limit, not our writes,
    should set the pace. Errors surface in order, after the pages before them; a consumer that stops
    early stops the fetching thread too."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there in order
            put(exc)

    thread = threading.Thread(target=produce, name="sync-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


def _pages(
    connector: Connector, streams: list[Stream], cursors: dict[str, dict[str, Any] | None]
) -> Iterator[tuple[Stream, Page | None]]:
    """Every stream's pages in order, each stream closed by ``(stream, None)``: one fetching thread runs
    across stream boundaries, so the next stream's first page is on its way while this one is written."""
    for stream in streams:
        for page in connector.read(stream, cursors[stream.name]):
            yield stream, page
        yield stream, None


def run_sync(
    session: Session,
    connection: Connection,
    run: SyncRun,
    connector: Connector,
    *,
    on_page: Callable[[], object] | None = None,
) -> None:
    """Sync every stream of ``connection`` into its tables. Commits page by page; on a vendor error the
    run fails with the reason in words, what was committed stays, and the cursor does not move past it."""
    now = datetime.now(UTC)
    run.status, run.started_at = "running", now
    session.commit()
    writer = Writer(session, connection, run, registry.get(connection.vendor).label)
    session.info["asynchronous_commit"] = True  # each page commits with its cursor: replayable
    try:
        connector.before_sync()
        streams = connector.streams()
        cursors = {stream.name: _load_cursor(session, connection, stream) for stream in streams}
        started = datetime.now(UTC)
        for stream, page in prefetched(_pages(connector, streams, cursors)):
            if page is not None:
                writer.write_page(page.records)
                if page.cursor is not None:
                    _save_cursor(session, connection, stream, page.cursor)
                run.counts = {**run.counts, stream.name: run.counts.get(stream.name, 0) + len(page.records)}
                run.requests_made = connector.ctx.http.requests_made
                session.commit()
                if on_page is not None:
                    on_page()  # e.g. renew the connection's lock: this worker is alive and progressing
                continue
            seconds = (datetime.now(UTC) - started).total_seconds()
            started = datetime.now(UTC)
            resume = f" from {cursors[stream.name]}" if cursors[stream.name] else ""
            run.log = [*run.log, f"{stream.name}: {run.counts.get(stream.name, 0)} records{resume} in {seconds:.1f} s"]
            session.commit()
        # Only a complete pass over every stream can tell what the vendor no longer has.
        removed = _mark_removed(session, connection, run)
        if removed:
            run.log = [*run.log, f"{removed} backup jobs or connectors gone at the vendor: marked removed"]
            session.commit()
    except ConnectorError as exc:
        session.rollback()
        run.log = [*run.log, f"stopped: {exc.message}"]
        _finish(session, connection, run, error=exc)
        return
    finally:
        session.info.pop("asynchronous_commit", None)
    _finish(session, connection, run, error=None)


def _mark_removed(session: Session, connection: Connection, run: SyncRun) -> int:
    result = session.execute(
        update(BackupConnector)
        .where(
            BackupConnector.connection_id == connection.id,
            BackupConnector.removed_at.is_(None),
            (BackupConnector.last_seen_run_id != run.id) | BackupConnector.last_seen_run_id.is_(None),
        )
        .values(removed_at=datetime.now(UTC))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


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
