"""Reading the audit log: filters that live in the URL, keyset pages newest first, CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from vectis.models import AuditEntry
from vectis.platform import db, params

PAGE_SIZE = 50
DEFAULT_DAYS = 7


def _parse_date(value: str | None) -> date | None:
    return params.day(value)


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    user: str = ""  # actor id
    target: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str], *, today: date | None = None) -> AuditFilters:
        today = today or datetime.now(UTC).date()
        since = _parse_date(args.get("since"))
        if "since" not in args:
            since = today - timedelta(days=DEFAULT_DAYS - 1)
        return cls(
            action=args.get("action", "").strip(),
            user=args.get("user", "").strip(),
            target=args.get("target", "").strip()[:200],
            since=since,
            until=_parse_date(args.get("until")),
        )

    def query_string(self, **extra: Any) -> str:
        params = {
            "action": self.action,
            "user": self.user,
            "target": self.target,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            **extra,
        }
        return urlencode({k: v for k, v in params.items() if v != "" or k == "since"})

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        if self.action:
            stmt = stmt.where(AuditEntry.action == self.action)
        if self.user:
            stmt = stmt.where(AuditEntry.actor_type == "user", AuditEntry.actor_id == self.user)
        if self.target:
            pattern = db.containing(self.target)
            stmt = stmt.where(or_(AuditEntry.target_label.ilike(pattern), AuditEntry.target_id == self.target))
        if self.since:
            stmt = stmt.where(AuditEntry.occurred_at >= datetime.combine(self.since, time.min, UTC))
        if self.until:
            stmt = stmt.where(AuditEntry.occurred_at < datetime.combine(self.until + timedelta(days=1), time.min, UTC))
        return stmt


@dataclass(frozen=True)
class Page:
    entries: list[AuditEntry]
    next_before: int | None  # the seq to continue from, None on the last page


def page(session: Session, filters: AuditFilters, before: int | None = None, size: int = PAGE_SIZE) -> Page:
    stmt = filters.apply(select(AuditEntry)).order_by(AuditEntry.seq.desc()).limit(size + 1)
    if before is not None:
        stmt = stmt.where(AuditEntry.seq < before)
    rows = list(session.scalars(stmt))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].seq if more and rows else None)


CLAMP = 2_000  # characters of one value in an entry's details shown before "Show all"


@dataclass(frozen=True)
class Clamped:
    """A value as first shown, and the whole of it when that was cut (None when nothing was)."""

    short: str
    full: str | None = None


def clamp(text: str, limit: int) -> Clamped:
    if len(text) <= limit:
        return Clamped(text)
    return Clamped(f"{text[:limit]}… ({len(text) - limit:,} more characters)", text)


def _clamp_values(value: Any) -> Any:
    if isinstance(value, str):
        return clamp(value, CLAMP).short
    if isinstance(value, dict):
        return {k: _clamp_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clamp_values(v) for v in value]
    return value


def details(entry: AuditEntry) -> Clamped:
    """An entry's details as indented JSON, every long value cut to :data:`CLAMP` characters for the first
    look (a 50 KB note would bury the rest); the whole entry comes with it when something was cut."""
    shown = {
        "entry": entry.seq,
        "target": {"type": entry.target_type, "id": entry.target_id},
        "request_id": entry.request_id,
        "vendor_status": entry.vendor_status,
        "payload": entry.payload,
        "hash": entry.row_hash.hex(),
    }
    full = json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False)
    short = json.dumps(_clamp_values(shown), indent=2, sort_keys=True, ensure_ascii=False)
    return Clamped(short, full if short != full else None)


def known_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


CSV_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "surface",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "result",
    "vendor_status",
    "error",
    "request_id",
    "payload",
    "row_hash",
)


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted: audit labels can hold what anyone typed."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_lines(session: Session, filters: AuditFilters) -> Iterator[str]:
    """The filtered log as CSV, newest first, streamed in keyset batches (constant memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    before = None
    while True:
        batch = page(session, filters, before, size=500)
        for e in batch.entries:
            writer.writerow(
                [
                    _cell(v)
                    for v in [
                        e.seq,
                        e.occurred_at.isoformat(),
                        e.actor_type,
                        e.actor_id or "",
                        e.actor_label,
                        e.surface,
                        e.action,
                        e.target_type,
                        e.target_id or "",
                        e.target_label,
                        e.result,
                        e.vendor_status or "",
                        e.error or "",
                        e.request_id or "",
                        json.dumps(e.payload, sort_keys=True),
                        e.row_hash.hex(),
                    ]
                ]
            )
        yield flush()
        if batch.next_before is None:
            return
        before = batch.next_before
