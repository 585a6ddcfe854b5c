"""The only writer of ``audit_log``, and the chain verifier behind ``flask vectis audit-verify``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from sqlalchemy import text
from sqlalchemy.orm import Session

from vectis.audit.actors import Actor, Target
from vectis.models import AuditEntry


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def record(
    session: Session,
    *,
    tenant_id: int,
    actor: Actor,
    surface: str,
    action: str,
    target: Target,
    result: str,
    payload: dict[str, Any] | None = None,
    vendor_status: int | None = None,
    error: str | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    """Add one audit row to ``session``'s transaction; it is written when the caller commits, together
    with whatever state change it describes. Payloads must already be redacted."""
    entry = AuditEntry(
        tenant_id=tenant_id,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label[:320],
        surface=surface,
        action=action,
        target_type=target.type,
        target_id=target.id,
        target_label=target.label[:320],
        payload=payload or {},
        result=result,
        vendor_status=vendor_status,
        error=error,
        request_id=request_id or current_request_id(),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


# Recomputes every row's hash with the very function the insert trigger used.
_WALK = text(
    """
    SELECT seq, prev_hash, row_hash,
           sha256(prev_hash || convert_to(audit_log_canonical(a), 'UTF8')) AS expected,
           lag(row_hash) OVER (ORDER BY seq) AS previous_row_hash,
           lag(seq) OVER (ORDER BY seq) AS previous_seq
      FROM audit_log a
     WHERE tenant_id = :tenant_id
     ORDER BY seq
    """
)


def verify_chain(session: Session, tenant_id: int) -> tuple[int, ChainBreak | None]:
    """Walks one tenant's chain; returns how many entries were checked and the first broken link."""
    checked = 0
    for row in session.execute(_WALK, {"tenant_id": tenant_id}):
        checked += 1
        expected_prev = b"" if row.previous_seq is None else bytes(row.previous_row_hash)
        expected_seq = 1 if row.previous_seq is None else row.previous_seq + 1
        if row.seq != expected_seq:
            return checked, ChainBreak(row.seq, f"entries {expected_seq}–{row.seq - 1} are missing")
        if bytes(row.prev_hash) != expected_prev:
            return checked, ChainBreak(
                row.seq, "it does not link to the entry before it (an entry was removed or replaced)"
            )
        if bytes(row.row_hash) != bytes(row.expected):
            return checked, ChainBreak(row.seq, "its content was changed after it was written")
    return checked, None
