"""The append-only audit log: one row per action or security event, hash-chained per tenant.

``seq``, ``prev_hash`` and ``row_hash`` are set by the database (trigger ``audit_log_chain``) under a
per-tenant lock, so the chain's order is the order rows were written and the app cannot forge a link.
Another trigger rejects UPDATE, DELETE and TRUNCATE for every role.

Whoever owns the database can still disable those triggers and recompute every hash. So each entry also
gets a seal (``audit_seal``): an HMAC of its ``row_hash`` with a key the database never holds, written by
the app in the same transaction (``vectis.audit.chain``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    FetchedValue,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned

RESULTS = ("ok", "failed", "blocked", "dry_run")
SURFACES = ("ui", "api", "mcp", "rule", "portal", "system")


class AuditEntry(TenantOwned, Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_tenant_id_seq", "tenant_id", "seq", unique=True),
        Index("ix_audit_log_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        CheckConstraint("result in ('ok', 'failed', 'blocked', 'dry_run', 'unknown')", name="result_is_known"),
        CheckConstraint("surface in ('ui', 'api', 'mcp', 'rule', 'portal', 'system')", name="surface_is_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, FetchedValue(), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    actor_type: Mapped[str] = mapped_column(String(20), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str] = mapped_column(String(320), nullable=False)
    surface: Mapped[str] = mapped_column(String(10), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target_type: Mapped[str] = mapped_column(String(40), nullable=False)
    target_id: Mapped[str | None] = mapped_column(String(64))
    target_label: Mapped[str] = mapped_column(String(320), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    result: Mapped[str] = mapped_column(String(10), nullable=False)
    vendor_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary, FetchedValue(), nullable=False)
    row_hash: Mapped[bytes] = mapped_column(LargeBinary, FetchedValue(), nullable=False)


class AuditSeal(TenantOwned, Base):
    """The keyed seal of one audit entry, by the entry's (tenant, seq); append-only like the log."""

    __tablename__ = "audit_seal"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mac: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
