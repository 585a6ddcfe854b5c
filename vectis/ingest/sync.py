"""The sync engine: reads a connection's streams page by page and writes their records.

Each page is one transaction: its records are upserted (idempotent) and the stream's cursor is saved in
the same commit, so a worker killed after page k resumes at page k+1 and ends in the same state as an
uninterrupted sync. A page of a kind that may be written side by side (``vectis.ingest.lanes``) is two
transactions on two connections, committed in order, the cursor with the last. Snapshot streams (companies, jobs) are read whole every time; a job not seen in a
complete pass is marked removed, never deleted.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from vectis.backups import writer as backup_writer
from vectis.connectors import registry
from vectis.connectors.base import (
    BackupEventRecord,
    BackupJobRecord,
    Connector,
    ContactRecord,
    ContractRecord,
    CustomerRecord,
    DeviceRecord,
    Page,
    PsaMemberRecord,
    Record,
    Stream,
    TicketBoardRecord,
    TicketPriorityRecord,
    TicketRecord,
    TimelineRecord,
)
from vectis.connectors.clean import clean_records
from vectis.contracts import writer as contract_writer
from vectis.devices import writer as device_writer
from vectis.ingest import runlog
from vectis.ingest.lanes import SIDE_BY_SIDE, Lanes, Part, halves
from vectis.ingest.matching import DETAILS, Account, link_accounts
from vectis.ingest.timeline import write_timeline
from vectis.models import (
    BackupConnector,
    Connection,
    CustomerLink,
    Linked,
    StreamCursor,
    SyncRun,
)
from vectis.platform import db
from vectis.platform.ahead import prefetched
from vectis.platform.http import ConnectorError
from vectis.platform.locks import LockLost
from vectis.tickets import writer as ticket_writer
from vectis.tickets.correlate import attach_events, attach_to_tickets

log = logging.getLogger("vectis.ingest.sync")
NO_ACCOUNT = Linked(link_id=None, customer_id=None)  # a record naming an account the vendor did not list
MAX_BACKOFF = timedelta(hours=6)
# Allocations between two passes of the cyclic collector while a sync runs (Python's default: 700). A sync makes a
# page's vendor JSON, records and rows by the hundred thousand, nearly all freed by reference counting as the page is
# written; at the default the collector's passes walked them, and everything the sync still held, for 0.16-0.19 s of
# a NinjaOne first sync's CPU (bench/ninja_sync.py), every pass holding up both of the sync's threads. Now 0.04 s.
FEWER_COLLECTIONS = 50_000


class RecordSink(Protocol):
    """Where a capability above the sync engine takes its records (an RMM's alerts go through the alert dedupe):
    registered with :func:`sink_for` by the capability's own module, which ``vectis/capabilities.py`` imports."""

    def write(self, writer: Writer, records: list[Any]) -> None: ...

    def listed(self, writer: Writer) -> None:
        """After a complete read of a stream that ``lists`` this record type: what it did not list is gone."""
        ...


SINKS: dict[type[Any], RecordSink] = {}
# A timeline page's rows are keyed by its records' own ids (their dedup keys) and read the devices this run wrote; a
# device page's by the RMM's device ids, with the alerts still live on those devices: two pages of either may be
# written at once.
SIDE_BY_SIDE.update((TimelineRecord, DeviceRecord))
# Record type -> how a sink whose writes reach beyond its records' own ids cuts a page into parts (its ``parts``).
CUTS: dict[type[Any], Callable[[Writer, list[Any]], list[Part]]] = {}
S = TypeVar("S", bound=RecordSink)


def sink_for(record: type[Any], *, side_by_side: bool = False) -> Callable[[type[S]], type[S]]:
    """Class decorator: an instance of the class takes ``record``'s pages from every sync. ``side_by_side``: two of
    its pages may be written at once (``vectis.ingest.lanes``): its writes touch only rows keyed by the records' own
    ids, or the class cuts each page itself, with ``parts(writer, records) -> list[Part]``."""

    def register(cls: type[S]) -> type[S]:
        sink = SINKS[record] = cls()
        if side_by_side:
            SIDE_BY_SIDE.add(record)
            if hasattr(sink, "parts"):
                CUTS[record] = sink.parts
        return cls

    return register


@dataclass
class Writer:
    """Writes one run's records; remembers vendor account -> customer for the jobs and events after it."""

    session: Session
    connection: Connection
    run: SyncRun
    source: str
    customers: dict[str, Linked] = field(default_factory=dict)
    members: set[str] = field(default_factory=set)  # the PSA members this run listed
    retired_devices: int = 0  # devices the RMM no longer lists, marked removed by :meth:`complete`
    devices: dict[str, int] = field(default_factory=dict)  # the RMM's device id -> Vectis's, as this run wrote them

    def __post_init__(self) -> None:
        account = self._account
        session, connection = self.session, self.connection
        # Record type -> its capability's writer, in dependency order: customers before what names them.
        self._writers: dict[type[Any], Callable[[list[Any]], None]] = {
            CustomerRecord: self._customers,
            BackupJobRecord: lambda rs: backup_writer.write_jobs(session, connection, self.run, rs, account),
            BackupEventRecord: self._backup_events,
            TimelineRecord: self._timeline,
            TicketBoardRecord: lambda rs: ticket_writer.write_boards(session, connection, rs),
            TicketPriorityRecord: lambda rs: ticket_writer.write_priorities(session, connection, rs),
            ContactRecord: lambda rs: ticket_writer.write_contacts(session, connection, rs, account),
            PsaMemberRecord: self._members,
            TicketRecord: self._tickets,
            ContractRecord: lambda rs: contract_writer.write_contracts(session, connection, rs, account),
            DeviceRecord: self._devices,
            **{kind: partial(sink.write, self) for kind, sink in SINKS.items()},
        }

    def write_page(self, records: list[Record]) -> None:
        """One page in a few set-based statements: per-row round trips would make the database, not the
        vendor's rate limit, the bottleneck at MSP scale. Within a page the last record of an id wins."""
        by_type: dict[type[Any], dict[str, Record]] = {}
        for record in records:
            by_type.setdefault(type(record), {})[record.external_id] = record
        if set(by_type) - set(self._writers):
            unknown = ", ".join(sorted(t.__name__ for t in set(by_type) - set(self._writers)))
            raise TypeError(f"no writer for {unknown}")
        if set(by_type) - {CustomerRecord}:
            self.prefetch_customers()
        for kind, write in self._writers.items():
            if kind in by_type:
                write(list(by_type[kind].values()))

    def beside(self, session: Session) -> Writer:
        """A writer of this run's pages on another session (a lane's), sharing what this one has learnt."""
        return Writer(
            session, self.connection, self.run, self.source, customers=self.customers, members=self.members,
            devices=self.devices,
        )  # fmt: skip

    def listed(self, record: type[Any]) -> None:
        """A stream that lists every open ``record`` was read to its end."""
        if record in SINKS:
            SINKS[record].listed(self)

    def account(self, external_id: str | None) -> Linked:
        """Where the vendor's account ``external_id`` points: its link and customer (none for one not listed)."""
        return self._account(external_id)

    def _backup_events(self, records: list[BackupEventRecord]) -> None:
        backup_writer.write_events(self.session, self.connection, self.source, records, self._account)
        times = [r.occurred_at for r in records]
        attach_events(self.session, self.connection.id, min(times), max(times))

    def _timeline(self, records: list[TimelineRecord]) -> None:
        write_timeline(self.session, self.connection, self.source, records, self._account, devices_known=self.devices)

    def _tickets(self, records: list[TicketRecord]) -> None:
        seen = ticket_writer.seen_before(self.session, self.connection, records)
        written = ticket_writer.write_tickets(self.session, self.connection, records, self._account)
        attach_to_tickets(self.session, written)
        ticket_writer.tell_page(self.session, seen)

    def _devices(self, records: list[DeviceRecord]) -> None:
        written = device_writer.upsert_devices(
            self.session, self.connection, records, account=self._account, run_id=self.run.id
        )
        self.devices.update(written)

    def _members(self, records: list[PsaMemberRecord]) -> None:
        ticket_writer.write_members(self.session, self.connection, records)
        self.members.update(r.external_id for r in records)

    def complete(self) -> int:
        """After a complete pass over every stream: what the vendor no longer lists; the backup jobs and
        connectors marked removed, for the run's log. Members only when the run listed some: a role that may
        not read them lists none (a PSA always has its API member), which says nothing about who was deleted; devices
        likewise only when the run listed some."""
        if self.members:
            ticket_writer.retire_members(self.session, self.connection, self.members)
        if self.devices:  # this run listed some RMM devices (on this session or a lane's: they share the map)
            self.retired_devices = device_writer.retire_devices(self.session, self.connection, self.run.id)
        return _mark_removed(self.session, self.connection, self.run)

    def _customers(self, records: list[CustomerRecord]) -> None:
        accounts = [
            Account(
                r.external_id,
                r.name,
                {k: v for k in DETAILS if (v := getattr(r, k))},
            )
            for r in records
        ]
        self.customers.update(link_accounts(self.session, self.connection, accounts))

    def prefetch_customers(self) -> None:
        if not self.customers:
            rows = self.session.execute(
                select(CustomerLink.external_id, CustomerLink.id, CustomerLink.customer_id).where(
                    CustomerLink.connection_id == self.connection.id
                )
            )
            self.customers.update({eid: Linked(link_id, customer_id) for eid, link_id, customer_id in rows})

    def _account(self, external_id: str | None) -> Linked:
        return self.customers.get(external_id or "", NO_ACCOUNT)


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


@dataclass(frozen=True)
class _Cleaned:
    page: Page
    records: list[Record]
    changes: Counter[str]


def _pages(
    connector: Connector, streams: list[Stream], cursors: dict[str, dict[str, Any] | None]
) -> Iterator[tuple[Stream, _Cleaned | None]]:
    """Every stream's pages in order, cleaned, each stream closed by ``(stream, None)``. It runs in the
    fetching thread, across stream boundaries: the next page is fetched and cleaned (a third of a sync's
    own time at R = 50) while the database writes this one."""
    for stream in streams:
        for page in connector.read(stream, cursors[stream.name]):
            yield stream, _Cleaned(page, *clean_records(page.records))
        yield stream, None


def run_sync(
    session: Session,
    connection: Connection,
    run: SyncRun,
    connector: Connector,
    *,
    before_commit: Callable[[], object] | None = None,
) -> None:
    """Sync every stream of ``connection`` into its tables. Commits page by page; on a vendor error the
    run fails with the reason in words, what was committed stays, and the cursor does not move past it.

    ``before_commit`` runs before each page is committed: the job checks it still holds the connection's
    lock there; if it raises :class:`LockLost`, the page is rolled back and nothing more is written, since
    another worker now syncs this connection."""
    now = datetime.now(UTC)
    run.status, run.started_at = "running", now
    session.commit()
    writer = Writer(session, connection, run, registry.get(connection.vendor).label)
    session.info["asynchronous_commit"] = True  # each page commits with its cursor: replayable
    # Only this run writes its run row and nothing here reads the connection's changing columns: reloading
    # both after every page's commit cost two round trips a page. _finish sees them fresh again.
    session.expire_on_commit = False
    lanes = Lanes(partial(_lane, writer))
    threshold = gc.get_threshold()
    gc.set_threshold(FEWER_COLLECTIONS, *threshold[1:])
    try:
        connector.before_sync()
        streams = connector.streams()
        cursors = {stream.name: _load_cursor(session, connection, stream) for stream in streams}
        started = datetime.now(UTC)
        pages = _Pages(session, connection, run, connector, writer, cursors, before_commit, lanes)
        for stream, cleaned in prefetched(_pages(connector, streams, cursors)):
            if cleaned is not None:
                pages.write(stream, cleaned)
                continue
            lanes.drain()
            if stream.lists is not None:
                writer.listed(stream.lists)
            seconds = (datetime.now(UTC) - started).total_seconds()
            started = datetime.now(UTC)
            run.log = runlog.stream_done(run.log, stream.name, seconds=seconds, cursor=cursors[stream.name])
            session.commit()
        # Only a complete pass over every stream can tell what the vendor no longer has.
        _complete(session, writer, run, connector.sync_notes())
    except ConnectorError as exc:
        lanes.drain()  # the pages read before the vendor stopped answering stay, as the ones committed already
        session.rollback()
        session.expire_on_commit = True
        run.log = runlog.stopped(run.log, exc.message)
        _finish(session, connection, run, error=exc)
        return
    except LockLost:
        session.rollback()  # the worker that holds the lock now marks this run interrupted and resumes it
        log.warning(
            "sync of connection %s stopped: its lock was lost (Redis restarted, or it stalled past the lock)",
            connection.id,
        )
        raise
    finally:
        lanes.close()  # a page still in flight here is rolled back: its write or the sync failed
        gc.set_threshold(*threshold)
        session.info.pop("asynchronous_commit", None)
        session.expire_on_commit = True
    session.expire(connection)
    _finish(session, connection, run, error=None)


@dataclass
class _Pages:
    """Where each page read goes (a lane, or the sync's own session), and its place in the run's log."""

    session: Session
    connection: Connection
    run: SyncRun
    connector: Connector
    writer: Writer
    cursors: dict[str, dict[str, Any] | None]
    before_commit: Callable[[], object] | None
    lanes: Lanes

    def write(self, stream: Stream, cleaned: _Cleaned) -> None:
        page, records = cleaned.page, cleaned.records
        parts = self._parts(records)
        if parts:
            self.lanes.start(
                parts,
                lambda into, last: self._committing(stream, page.cursor if last else None, into),
                partial(self._committed, stream, cleaned),
            )
            return
        self.lanes.drain()
        self._noted(stream, cleaned)
        self.writer.write_page(records)
        self._committing(stream, page.cursor, self.session)
        self.session.commit()

    def _parts(self, records: list[Record]) -> list[Part] | None:
        """The page cut for the lanes, or None: it is written on the sync's own session."""
        if not self.lanes.takes(records):
            return None
        self.writer.prefetch_customers()  # once, here: the lanes share the map
        kinds = {type(r) for r in records}
        cuts = [CUTS[kind] for kind in kinds if kind in CUTS]
        if not cuts:
            return halves(records)
        # A page its writer cuts holds nothing else: the cut knows only its own records' shared rows.
        return cuts[0](self.writer, records) if len(kinds) == 1 else None

    def _noted(self, stream: Stream, cleaned: _Cleaned) -> None:
        run, read = self.run, len(cleaned.page.records)
        run.log = runlog.stream_page(
            run.log, stream.name, records=read, odd=cleaned.changes, cursor=self.cursors[stream.name]
        )
        run.counts = {**run.counts, stream.name: run.counts.get(stream.name, 0) + read}
        run.requests_made = self.connector.ctx.http.requests_made

    def _committing(self, stream: Stream, cursor: dict[str, Any] | None, into: Session) -> None:
        """In the page's own transaction, last: its stream's cursor, and the check that this sync still holds the
        connection's lock."""
        if cursor is not None:
            _save_cursor(into, self.connection, stream, cursor)
        if self.before_commit is not None:
            self.before_commit()

    def _committed(self, stream: Stream, cleaned: _Cleaned) -> None:
        """A page a lane committed, in the run's counts and log."""
        self._noted(stream, cleaned)
        self.session.commit()


def _lane(writer: Writer) -> tuple[Session, Writer]:
    """A lane's session: the sync's tenant, its commits replayable as the sync's own are."""
    session = db.database().tenant_sessions()
    session.info.update(tenant_id=writer.connection.tenant_id, asynchronous_commit=True)
    session.expire_on_commit = False
    return session, writer.beside(session)


def _complete(session: Session, writer: Writer, run: SyncRun, notes: list[str]) -> None:
    for note in notes:
        run.log = runlog.noted(run.log, note)
    removed = writer.complete()
    if removed:
        run.log = runlog.removed(run.log, removed)
    if writer.retired_devices:
        run.log = runlog.removed_devices(run.log, writer.retired_devices)
    if removed or writer.retired_devices or notes:
        session.commit()


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


def fail_run(session: Session, connection: Connection, run: SyncRun, error: ConnectorError) -> None:
    """A run that could not start (no connector for its vendor): failed, in the error's words, as a sync is."""
    run.log = runlog.stopped(run.log, error.message)
    _finish(session, connection, run, error=error)


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
