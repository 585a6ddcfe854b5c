"""The only writer of ``audit_log``: each entry with its seal (``vectis.audit.seal``), in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, g, has_request_context
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from vectis.audit.actors import Actor, Target
from vectis.audit.seal import seal_of
from vectis.models import AuditEntry, AuditSeal


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


@dataclass(frozen=True)
class Recorded:
    """The entry as written: its row's id and its place in the tenant's chain."""

    id: int
    seq: int


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
) -> Recorded:
    """Add one audit row to ``session``'s transaction; it is written when the caller commits, together
    with whatever state change it describes. Payloads must already be redacted. Labels an anonymous
    visitor chose are listed under ``payload["untrusted"]``, so no reader takes them for facts."""
    untrusted = [name for name, part in (("actor_label", actor), ("target_label", target)) if part.untrusted]
    if untrusted:
        payload = {**(payload or {}), "untrusted": untrusted}
    # Two prepared Core inserts on the session's connection, not the unit of work and not a statement built per row:
    # every API and MCP call writes one, and building it cost more than PostgreSQL spends on it (bench/api.py). What
    # the entry describes (pending ORM changes) is flushed first, so it is written before its record, in the same
    # transaction.
    session.flush()
    connection = session.connection()
    row = connection.execute(
        _ENTRY,
        {
            "tenant_id": tenant_id,
            "actor_type": actor.type,
            "actor_id": actor.id,
            "actor_label": actor.label[:320],
            "surface": surface,
            "action": action,
            "target_type": target.type,
            "target_id": target.id,
            "target_label": target.label[:320],
            "payload": payload or {},
            "result": result,
            "vendor_status": vendor_status,
            "error": error,
            "request_id": request_id or current_request_id(),
        },
    ).one()  # the trigger sets seq and row_hash; RETURNING brings them back for the seal
    key: bytes = current_app.config["VECTIS_SETTINGS"].audit_key
    connection.execute(_SEAL, {"tenant_id": tenant_id, "seq": row.seq, "mac": seal_of(key, row.row_hash)})
    return Recorded(row.id, row.seq)


_LOG: Table = AuditEntry.__table__  # type: ignore[assignment]
_SEALS: Table = AuditSeal.__table__  # type: ignore[assignment]
_ENTRY = insert(_LOG).returning(_LOG.c.id, _LOG.c.seq, _LOG.c.row_hash)
_SEAL = insert(_SEALS)
