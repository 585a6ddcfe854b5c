"""The query builder's saved queries, shared with the team by role, and its exports: a request to write a result as Excel or CSV, its progress, and the file for a day."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    func,
)
from sqlalchemy import Text as SqlText
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column

EXPORT_FORMATS = ("xlsx", "csv")
EXPORT_STATES = ("queued", "running", "done", "failed")


class QueryExport(TenantOwned, Base):
    """One export of a query, written by the ``exports`` worker (``jobs/exports.py``) when it is too large to write
    during the request. ``rows_written`` moves while it runs, for the progress bar. The file is kept a day
    (``expires_at``) in ``file``, stored uncompressed (the migration sets ``STORAGE EXTERNAL``: an xlsx is a zip
    already), so a download reads it in slices without loading it whole. Only its owner downloads it."""

    __tablename__ = "query_exports"
    __table_args__ = (
        Index("ix_query_exports_tenant_id_user_id_created_at", "tenant_id", "user_id", "created_at"),
        Index("ix_query_exports_tenant_id_expires_at", "tenant_id", "expires_at"),
        CheckConstraint("format in ('xlsx', 'csv')", name="format_is_known"),
        CheckConstraint("state in ('queued', 'running', 'done', 'failed')", name="state_is_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Who asked; None once that user is removed (the export then expires unread).
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)  # the canonical spec (Spec.raw)
    spec_hash: Mapped[str] = mapped_column(String(16), nullable=False)
    # The saved query it ran, if it was one.
    saved_query_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("saved_queries.id", ondelete="SET NULL"), index=True
    )
    format: Mapped[str] = mapped_column(String(4), nullable=False)  # one of EXPORT_FORMATS
    state: Mapped[str] = mapped_column(String(10), nullable=False, server_default="queued")  # one of EXPORT_STATES
    rows_total: Mapped[int | None] = mapped_column(Integer)  # counted before it was queued
    rows_written: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    message: Mapped[str | None] = mapped_column(SqlText)  # what happened, in words; why it failed
    # Deferred: a progress poll reads the row many times and never needs the file.
    file: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_name: Mapped[str | None] = mapped_column(String(200))
    milliseconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


# Who may run a saved query: everyone, technicians and admins, or admins only. Only its owner and admins edit it.
AUDIENCES = ("everyone", "technician", "admin")


class SavedQuery(TenantOwned, Base):
    __tablename__ = "saved_queries"
    __table_args__ = (
        Index("ix_saved_queries_tenant_id_name", "tenant_id", "name"),
        Index("ix_saved_queries_owner_id", "owner_id"),  # removing a user finds the queries they owned
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(SqlText, nullable=False, server_default="")
    owner_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    owner_label: Mapped[str] = mapped_column(String(320), nullable=False)  # kept when the owner's account goes
    audience: Mapped[str] = mapped_column(String(20), nullable=False, server_default="everyone")  # one of AUDIENCES
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)  # canonical (vectis/query/spec.py)
    spec_hash: Mapped[str] = mapped_column(String(16), nullable=False)
    run_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
