"""Exporting a query's result: one click, whatever its size.

:func:`start` counts the result first. Over an Excel sheet's rows, an xlsx export is refused with
:class:`~vectis.query.export.TooManyRows` and nothing is queued. A small result (at most :data:`INLINE_ROWS` rows) is
written during the request and handed back as a :class:`Download` the route sends as it is. A larger one becomes a
``query_exports`` row and a job on the ``exports`` queue (``jobs/exports.py`` → :func:`run_export`): the worker
streams the rows from a server-side cursor into a temporary file, moves ``rows_written`` every
:data:`~vectis.query.export.PROGRESS_EVERY` rows from a second session (the progress component polls
:func:`status`), and stores the file for :data:`KEPT`. :func:`read` hands it to its owner in slices.

**Who may download**: only the person who asked for it, not even an admin: the file is a copy of what that person's
question found, and anyone else can ask the same question (the spec, its hash and the saved query are in the audit
log). Another tenant's export does not exist to a session (row-level security), and someone else's is answered the
same way: :func:`status` and :func:`read` return None, which the route turns into a 404.

**Audit**: every export that ran writes one ``query.export`` row (:func:`vectis.query.run.record_run`) with the user,
the spec hash, the rows, the milliseconds, the format and whether it ran in the request or the worker; an export
that failed while running writes its row with result ``failed`` and the reason.

Expired exports are deleted by the nightly retention job (``vectis.retention.purge``); :func:`read` refuses them
from the moment they expire.
"""

from __future__ import annotations

import logging
import re
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, Final

from redis.exceptions import RedisError
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from vectis.audit.actors import Actor
from vectis.models import QueryExport, User
from vectis.models.queries import EXPORT_FORMATS
from vectis.platform import dates, db
from vectis.platform import jobs as wire
from vectis.query import run
from vectis.query.describe import describe
from vectis.query.export import (
    CONTENT_TYPES,
    EXCEL_ROWS,
    PROGRESS_EVERY,
    Details,
    Progress,
    TooManyRows,
    Written,
    check_fits,
    write_csv,
    write_xlsx,
)
from vectis.query.spec import Spec, SpecError, parse

log = logging.getLogger("vectis.query.exports")

INLINE_ROWS: Final = 20_000  # written during the request: a second or two at most
KEPT: Final = timedelta(hours=24)
CHUNK: Final = 1 << 20  # bytes a download reads at a time
# A queued or running export not finished by then lost its worker (a deploy, a crash): the job's own timeout, and a
# minute for the queue.
STALE_AFTER: Final = timedelta(seconds=wire.QUERY_EXPORT.timeout + 60)
INTERRUPTED: Final = "The export stopped before it finished (its worker was interrupted). Export it again."
UNEXPECTED: Final = "The export stopped on an unexpected error; it has been logged. Try again, or tell your admin."


class ExportUnavailable(Exception):
    """An export that cannot be downloaded (yet, or any more); the message says why in words."""


@dataclass(frozen=True)
class Download:
    """A small export written during the request: send ``data`` as it is."""

    file_name: str
    content_type: str
    data: bytes
    rows: int
    milliseconds: int


@dataclass(frozen=True)
class Status:
    """What the progress component shows."""

    id: int
    state: str  # queued | running | done | failed
    format: str
    rows_total: int | None
    rows_written: int
    message: str | None
    file_name: str | None
    file_size: int | None
    expires_at: datetime
    expired: bool

    @property
    def running(self) -> bool:
        """Whether the component should keep polling."""
        return self.state in ("queued", "running")

    @property
    def ready(self) -> bool:
        """Whether a download link can be shown."""
        return self.state == "done" and not self.expired

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_written * 100 // self.rows_total)


@dataclass(frozen=True)
class Stored:
    """A finished export's file, read in slices by :meth:`chunks`."""

    id: int
    file_name: str
    content_type: str
    size: int

    def chunks(self, session: Session, size: int = CHUNK) -> Iterator[bytes]:
        """The file, ``size`` bytes at a time, through ``session`` (the route's, kept open for a streamed response by
        ``stream_with_context``). The column is stored uncompressed, so each slice reads only its own pages."""
        for start in range(1, self.size + 1, size):
            part = session.scalar(
                select(func.substring(QueryExport.file, start, size)).where(QueryExport.id == self.id)
            )
            if part is None:  # removed meanwhile (expired and purged)
                return
            yield bytes(part)


def file_name(spec: Spec, fmt: str, at: datetime) -> str:
    """``vectis-customers-2026-12-07-1015.xlsx``: what was asked about, and when (UTC)."""
    table = re.sub(r"[^a-z0-9]+", "-", spec.base.label.lower()).strip("-")
    return f"vectis-{table}-{at.astimezone(UTC):%Y-%m-%d-%H%M}.{fmt}"


def _run_by(session: Session, actor: Actor) -> str:
    """Who ran it, as the Query sheet says it: "Ada Lovelace (ada@acme.test)"."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    return f"{user.name} ({user.email})" if user is not None else actor.label


def _check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")


def start(
    session: Session,
    *,
    tenant_id: int,
    actor: Actor,
    spec: Spec,
    fmt: str,
    saved_query_id: int | None = None,
    surface: str = "ui",
    now: datetime | None = None,
    inline_rows: int = INLINE_ROWS,
    excel_rows: int = EXCEL_ROWS,
) -> Download | QueryExport:
    """One click on Export. Counts the result; over ``excel_rows`` an xlsx export raises :class:`TooManyRows` before
    anything is written or queued. Up to ``inline_rows`` rows the file is written now: a :class:`Download`, audited
    and committed. Otherwise a queued :class:`QueryExport` (committed, so the worker finds it) whose progress the
    route shows by polling :func:`status`; if the queue cannot be reached it comes back ``failed``, with a message.
    Raises :class:`~vectis.query.run.QueryTimeout` when counting takes longer than an export may."""
    _check_format(fmt)
    if actor.user_id is None:
        raise ValueError("an export belongs to a user: only a signed-in user can start one")
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    total = run.count(session, spec, now=now)
    check_fits(total, fmt, limit=excel_rows)
    if total <= inline_rows:
        return write_now(
            session,
            tenant_id=tenant_id,
            actor=actor,
            spec=spec,
            fmt=fmt,
            saved_query_id=saved_query_id,
            surface=surface,
            now=now,
            started=started,
            excel_rows=excel_rows,
        )
    export = QueryExport(
        tenant_id=tenant_id,
        user_id=actor.user_id,
        spec=spec.raw,
        spec_hash=spec.hash,
        saved_query_id=saved_query_id,
        format=fmt,
        state="queued",
        rows_total=total,
        rows_written=0,
        created_at=now,
        expires_at=now + KEPT,
    )
    session.add(export)
    session.commit()
    try:
        wire.QUERY_EXPORT.enqueue(tenant_id, export.id, job_id=f"query-export-{export.id}")
    except RedisError:
        log.exception("query export %s: could not be queued", export.id)
        export.state, export.message, export.finished_at = "failed", "The export could not be queued. Try again.", now
        session.commit()
    return export


def write_now(
    session: Session,
    *,
    tenant_id: int,
    actor: Actor,
    spec: Spec,
    fmt: str,
    saved_query_id: int | None = None,
    surface: str = "ui",
    now: datetime | None = None,
    started: float | None = None,
    excel_rows: int = EXCEL_ROWS,
) -> Download:
    """Write the whole result into memory now, audit it and commit. For results known to be small (:func:`start`
    decides); a result that turns out larger than ``excel_rows`` still raises :class:`TooManyRows`, never a cut file.
    A query that times out raises :class:`~vectis.query.run.QueryTimeout`, audited as failed."""
    _check_format(fmt)
    now = now or datetime.now(UTC)
    started = time.perf_counter() if started is None else started
    buffer = BytesIO()
    extra = {"format": fmt, "where": "request", "saved_query_id": saved_query_id}
    try:
        written = _write(session, spec, fmt, buffer, run_by=_run_by(session, actor), now=now, excel_rows=excel_rows)
    except (run.QueryTimeout, TooManyRows) as stopped:
        session.rollback()
        milliseconds = round((time.perf_counter() - started) * 1000)
        run.record_run(
            session, tenant_id=tenant_id, actor=actor, spec=spec, action="query.export", rows=0,
            milliseconds=milliseconds, surface=surface, result="failed", error=str(stopped), extra=extra,
        )  # fmt: skip
        session.commit()
        raise
    milliseconds = round((time.perf_counter() - started) * 1000)
    run.record_run(
        session, tenant_id=tenant_id, actor=actor, spec=spec, action="query.export", rows=written.rows,
        milliseconds=milliseconds, surface=surface, extra=extra,
    )  # fmt: skip
    session.commit()
    return Download(file_name(spec, fmt, now), CONTENT_TYPES[fmt], buffer.getvalue(), written.rows, milliseconds)


def _write(
    session: Session,
    spec: Spec,
    fmt: str,
    out: BinaryIO,
    *,
    run_by: str,
    now: datetime,
    excel_rows: int = EXCEL_ROWS,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> Written:
    """Stream the result from ``session`` into ``out`` as ``fmt``."""
    rows = run.stream(session, spec, now=now)
    if fmt == "xlsx":
        details = Details(describe(spec), spec.hash, run_by, now)
        return write_xlsx(
            run.headers(spec), rows, out, details, progress, limit=excel_rows, progress_every=progress_every
        )
    return write_csv(run.headers(spec), rows, out, progress, progress_every=progress_every)


# --- the worker's part ----------------------------------------------------------------------------------------------


def run_export(tenant_id: int, export_id: int, *, progress_every: int = PROGRESS_EVERY) -> str:
    """Write a queued export (the ``exports`` job, with an app context). Three sessions of the tenant: one claims the
    export and, at the end, stores the file with its audit row; one streams the rows (a long transaction with a
    server-side cursor); one commits the progress as it goes, so the bar moves while the rows are still coming."""
    now = datetime.now(UTC)
    with db.tenant_session(tenant_id) as s:
        claimed = s.execute(
            update(QueryExport)
            .where(QueryExport.id == export_id, QueryExport.state == "queued")
            .values(state="running", started_at=now)
            .returning(QueryExport.user_id, QueryExport.spec, QueryExport.format, QueryExport.saved_query_id)
        ).first()
        if claimed is None:  # gone (expired and purged), or a second job for one already taken
            return "not queued"
        user = s.get(User, claimed.user_id) if claimed.user_id is not None else None
        if user is None:
            actor, run_by = None, ""
        else:
            actor, run_by = Actor.for_user(user), f"{user.name} ({user.email})"
    fmt = claimed.format
    extra = {"format": fmt, "where": "worker", "export_id": export_id, "saved_query_id": claimed.saved_query_id}
    if actor is None:
        return _fail(tenant_id, export_id, "The person who asked for this export no longer has an account.")
    try:
        spec = parse(claimed.spec)
    except SpecError as refused:
        return _fail(tenant_id, export_id, f"This query can no longer run: {refused}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vectis-export-") as folder:
        path = Path(folder) / f"export.{fmt}"
        try:
            with db.tenant_session(tenant_id) as progress_session, db.tenant_session(tenant_id) as rows_session:

                def progress(rows: int) -> None:
                    progress_session.execute(
                        update(QueryExport).where(QueryExport.id == export_id).values(rows_written=rows)
                    )
                    progress_session.commit()

                with path.open("wb") as out:
                    written = _write(
                        rows_session,
                        spec,
                        fmt,
                        out,
                        run_by=run_by,
                        now=now,
                        progress=progress,
                        progress_every=progress_every,
                    )
        except (run.QueryTimeout, TooManyRows) as stopped:
            return _fail(tenant_id, export_id, str(stopped), actor=actor, spec=spec, started=started, extra=extra)
        except Exception:
            log.exception("query export %s failed", export_id)
            _fail(tenant_id, export_id, UNEXPECTED, actor=actor, spec=spec, started=started, extra=extra)
            raise
        milliseconds = round((time.perf_counter() - started) * 1000)
        with db.tenant_session(tenant_id) as s:
            size = _store_file(s, export_id, path)
            s.execute(
                update(QueryExport)
                .where(QueryExport.id == export_id)
                .values(
                    state="done",
                    rows_total=written.rows,
                    rows_written=written.rows,
                    file_size=size,
                    file_name=file_name(spec, fmt, now),
                    milliseconds=milliseconds,
                    message=f"{written.rows:,} rows in {_seconds(milliseconds)}.",
                    finished_at=datetime.now(UTC),
                )
            )
            run.record_run(
                s, tenant_id=tenant_id, actor=actor, spec=spec, action="query.export", rows=written.rows,
                milliseconds=milliseconds, extra=extra,
            )  # fmt: skip
    return f"{written.rows} rows"


# PostgreSQL's binary COPY: its signature, no flags, no header extension; then one row of one field; then the end.
_COPY_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_END: Final = struct.pack("!h", -1)


def _store_file(session: Session, export_id: int, path: Path) -> int:
    """Put the file at ``path`` into the export's row without ever holding it in memory (a million rows are some
    40 MB, which as one parameter the driver would copy and escape again: the worker's memory would double). It is
    streamed by binary COPY into a temporary table (COPY cannot write to a table under row-level security; a
    temporary table is this connection's alone) and moved into the row by one UPDATE. Returns its size."""
    size = path.stat().st_size
    session.execute(text("CREATE TEMPORARY TABLE export_file (file bytea NOT NULL) ON COMMIT DROP"))
    driver = session.connection().connection.driver_connection
    if driver is None:  # a live session's connection always has one
        raise RuntimeError("no database connection to copy the file through")
    with (
        driver.cursor() as cursor,
        path.open("rb") as source,
        cursor.copy("COPY export_file (file) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(_COPY_HEADER + struct.pack("!hi", 1, size))
        while chunk := source.read(CHUNK):
            copy.write(chunk)
        copy.write(_COPY_END)
    session.execute(
        text("UPDATE query_exports SET file = (SELECT file FROM export_file) WHERE id = :id"), {"id": export_id}
    )
    return size


def _seconds(milliseconds: int) -> str:
    return f"{milliseconds / 1000:,.1f} s"


def _fail(
    tenant_id: int,
    export_id: int,
    message: str,
    *,
    actor: Actor | None = None,
    spec: Spec | None = None,
    started: float | None = None,
    extra: dict[str, object] | None = None,
) -> str:
    """Mark the export failed with ``message``; an export that had begun to run is audited as failed too."""
    with db.tenant_session(tenant_id) as s:
        s.execute(
            update(QueryExport)
            .where(QueryExport.id == export_id)
            .values(state="failed", message=message, finished_at=datetime.now(UTC))
        )
        if actor is not None and spec is not None and started is not None:
            run.record_run(
                s, tenant_id=tenant_id, actor=actor, spec=spec, action="query.export", rows=0,
                milliseconds=round((time.perf_counter() - started) * 1000), result="failed", error=message,
                extra=dict(extra or {}),
            )  # fmt: skip
    return f"failed: {message}"


# --- the progress component and the download ------------------------------------------------------------------------


def _owned(session: Session, export_id: int, user_id: int | None) -> QueryExport | None:
    """The export, if it is ``user_id``'s (row-level security has already hidden every other tenant's)."""
    export = session.get(QueryExport, export_id)
    return export if export is not None and user_id is not None and export.user_id == user_id else None


def status(session: Session, export_id: int, *, user_id: int | None, now: datetime | None = None) -> Status | None:
    """The export's progress for its owner; None for anyone else or no such export (a 404). An export whose worker
    was lost is marked failed here, so the component stops polling and says so."""
    now = now or datetime.now(UTC)
    export = _owned(session, export_id, user_id)
    if export is None:
        return None
    if export.state in ("queued", "running") and now - (export.started_at or export.created_at) > STALE_AFTER:
        export.state, export.message, export.finished_at = "failed", INTERRUPTED, now
        session.commit()
    return Status(
        id=export.id,
        state=export.state,
        format=export.format,
        rows_total=export.rows_total,
        rows_written=export.rows_written,
        message=export.message,
        file_name=export.file_name,
        file_size=export.file_size,
        expires_at=export.expires_at,
        expired=now >= export.expires_at,
    )


def read(session: Session, export_id: int, *, user_id: int | None, now: datetime | None = None) -> Stored | None:
    """The finished file for its owner, to stream with :meth:`Stored.chunks`; None for anyone else or no such export
    (a 404). Raises :class:`ExportUnavailable` (a 410 or 409, with its message) when it is not ready or has expired."""
    now = now or datetime.now(UTC)
    export = _owned(session, export_id, user_id)
    if export is None:
        return None
    if now >= export.expires_at:
        raise ExportUnavailable(
            f"This export expired on {dates.when_in_full(export.expires_at)}: exports are kept for "
            f"{KEPT.total_seconds() / 3600:.0f} hours. Export the query again."
        )
    if export.state != "done" or export.file_size is None or export.file_name is None:
        raise ExportUnavailable(export.message or "This export is not finished yet.")
    return Stored(export.id, export.file_name, CONTENT_TYPES[export.format], export.file_size)
