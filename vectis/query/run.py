"""Running a spec: the preview the builder shows, the rows an export streams, and the audit row of each run.

Every run goes through the tenant's session (row-level security underneath) with a statement timeout, and writes
one audit row: who ran what (the spec's hash, and the saved query when it was one), how many rows, how long.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from vectis.audit import writer as audit
from vectis.audit.actors import Actor, Target
from vectis.models import SavedQuery
from vectis.query.allowlist import TABLES, Kind
from vectis.query.compiler import Compiled, compile_spec
from vectis.query.spec import Spec

PREVIEW_ROWS: Final = 50
PREVIEW_TIMEOUT_MS: Final = 10_000
EXPORT_TIMEOUT_MS: Final = 300_000


class QueryTimeout(Exception):
    """The database stopped the query at the statement timeout."""

    def __init__(self, seconds: int) -> None:
        super().__init__(
            f"The query ran for {seconds} seconds and was stopped. Add a condition (a date range, a customer) "
            "or fewer joins, and run it again."
        )


@dataclass(frozen=True)
class Header:
    label: str
    kind: Kind


@dataclass(frozen=True)
class Trail:
    """How many rows each step leaves: the base table, after joins, after conditions, the result."""

    base: int
    joined: int
    filtered: int
    result: int


@dataclass
class Preview:
    spec: Spec
    headers: list[Header]
    rows: Sequence[Sequence[Any]]
    trail: Trail
    warnings: list[str] = field(default_factory=list)
    milliseconds: int = 0

    @property
    def shown(self) -> int:
        return len(self.rows)


def headers(spec: Spec) -> list[Header]:
    return [
        Header(
            c.label, Kind.NUMBER if c.column is None or (c.aggregate and c.aggregate.key == "count") else c.column.kind
        )
        for c in spec.columns
    ]


def _timeout(session: Session, milliseconds: int) -> None:
    """The transaction's time limit, and a plan made for each query's own values. psycopg prepares a statement
    once a connection has run it five times, and PostgreSQL then may settle on a generic plan: for the tour's
    question that plan took 1.6 s where its own took 0.16 s (bench/query.py). A question is asked rarely and its
    values decide its plan, so it is always planned for them. Both SET LOCAL: the pooled connection goes back with
    the server's own settings."""
    session.execute(
        text(
            "SELECT set_config('statement_timeout', :ms, true), set_config('plan_cache_mode', 'force_custom_plan', true)"
        ),
        {"ms": str(milliseconds)},
    )


def _cancelled(error: OperationalError) -> bool:
    return getattr(getattr(error, "orig", None), "sqlstate", None) == "57014"  # query_canceled


def warnings_for(spec: Spec, compiled: Compiled, trail: Trail) -> list[str]:
    """The fan-out warnings under the trail, in words."""
    said: list[str] = []
    base = spec.base
    if trail.joined == 0:
        return said  # nothing joined, nothing repeated
    if compiled.repeated:
        repeated = [TABLES[key] for key in compiled.repeated]
        each = " and each ".join(t.singular for t in repeated)
        said.append(
            f"Joins repeat each {each} before the summary ({trail.joined:,} joined rows from {trail.base:,} "
            f"{base.label.lower()}). Totals and counts take each {'one' if len(repeated) > 1 else repeated[0].singular} "
            "once, so they are not multiplied."
        )
    for left, right in compiled.crossed:
        a, b = TABLES[left], TABLES[right]
        said.append(
            f"{a.label} and {b.label} are both joined to the same rows: each {a.singular} is listed once for every "
            f"{b.singular} ({trail.joined:,} rows). Summarise one of them, or ask two questions."
        )
    return said


def preview(
    session: Session,
    spec: Spec,
    *,
    now: datetime | None = None,
    limit: int = PREVIEW_ROWS,
    timeout_ms: int = PREVIEW_TIMEOUT_MS,
) -> Preview:
    """The first ``limit`` rows and the row-count trail. Raises :class:`QueryTimeout`."""
    started = time.perf_counter()
    compiled = compile_spec(spec, now or datetime.now(UTC))
    _timeout(session, timeout_ms)
    try:
        shown = limit if spec.limit is None else min(limit, spec.limit)
        rows = session.execute(compiled.rows.limit(shown)).all()
        counts = session.execute(compiled.trail).one()
    except OperationalError as error:
        if _cancelled(error):
            session.rollback()
            raise QueryTimeout(max(timeout_ms // 1000, 1)) from None
        raise
    result = counts.result if spec.limit is None else min(counts.result, spec.limit)
    trail = Trail(counts.base, counts.joined, counts.filtered, result)
    elapsed = round((time.perf_counter() - started) * 1000)
    return Preview(spec, headers(spec), rows, trail, warnings_for(spec, compiled, trail), elapsed)


def stream(session: Session, spec: Spec, *, now: datetime | None = None, batch: int = 5000) -> Iterator[Sequence[Any]]:
    """Every row of the result, fetched from a server-side cursor ``batch`` at a time: an export's memory stays
    flat however many rows there are."""
    compiled = compile_spec(spec, now or datetime.now(UTC))
    _timeout(session, EXPORT_TIMEOUT_MS)
    result = session.execute(compiled.rows, execution_options={"stream_results": True, "max_row_buffer": batch})
    try:
        for chunk in result.partitions(batch):
            yield from chunk
    except OperationalError as error:
        if _cancelled(error):
            session.rollback()
            raise QueryTimeout(EXPORT_TIMEOUT_MS // 1000) from None
        raise
    finally:
        result.close()


def count(session: Session, spec: Spec, *, now: datetime | None = None) -> int:
    """How many rows the whole result has (for an export's over-the-limit check and its progress)."""
    compiled = compile_spec(spec, now or datetime.now(UTC))
    _timeout(session, EXPORT_TIMEOUT_MS)
    counts = session.execute(compiled.trail).one()
    return int(counts.result if spec.limit is None else min(counts.result, spec.limit))


def record_run(
    session: Session,
    *,
    tenant_id: int,
    actor: Actor,
    spec: Spec,
    action: str,
    rows: int,
    milliseconds: int,
    surface: str = "ui",
    saved: Target | None = None,
    result: str = "ok",
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """The audit row of one run or export (``query.run``, ``query.export``), in the caller's transaction."""
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        surface=surface,
        action=action,
        target=saved or Target("query", spec.hash, f"Query on {spec.base.label}"),
        result=result,
        payload={"spec_hash": spec.hash, "rows": rows, "milliseconds": milliseconds, **(extra or {})},
        error=error,
    )


def audited_preview(
    session: Session,
    spec: Spec,
    *,
    tenant_id: int,
    actor: Actor,
    saved: SavedQuery | None = None,
    surface: str = "ui",
    limit: int = PREVIEW_ROWS,
) -> tuple[Preview | None, str | None]:
    """A preview as a person asks for it: run, written to the audit log (a run stopped at its time limit too,
    as failed), counted on the saved query it came from, committed. Returns (preview, why it stopped)."""
    shown: Preview | None = None
    stopped: str | None = None
    try:
        shown = preview(session, spec, limit=limit)
    except QueryTimeout as error:
        stopped = str(error)
    record_run(
        session,
        tenant_id=tenant_id,
        actor=actor,
        spec=spec,
        action="query.run",
        rows=shown.trail.result if shown else 0,
        milliseconds=shown.milliseconds if shown else PREVIEW_TIMEOUT_MS,
        saved=Target("saved_query", str(saved.id), saved.name) if saved else None,
        surface=surface,
        result="ok" if shown else "failed",
        error=stopped,
    )
    if saved is not None and shown is not None:
        session.execute(
            update(SavedQuery)
            .where(SavedQuery.id == saved.id)
            .values(run_count=SavedQuery.run_count + 1, last_run_at=datetime.now(UTC))
        )
    session.commit()
    return shown, stopped
