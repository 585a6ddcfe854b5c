"""Connections to vendor tools, their sync runs and stream cursors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Identity, Index, Integer, String, Text, false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column
from vectis.platform.crypto import Sealed, SealedType


class Connection(TenantOwned, Base):
    """One tenant's connection to one vendor. The whole vendor config (URL, user, secrets) is sealed; where the
    vendor lives is also kept in clear (``base_url``), for the pages that link to it."""

    __tablename__ = "connections"
    __table_args__ = (
        Index("ix_connections_tenant_id_vendor", "tenant_id", "vendor", unique=True),
        Index("ix_connections_tenant_id_next_run_at", "tenant_id", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    vendor: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    config: Mapped[Sealed] = mapped_column(SealedType, nullable=False)
    # Where the vendor lives, as the config says (``connectors.factory.seal_config``): not a secret, so a page
    # that links to the vendor's console never opens the sealed config. None until a save or a sync says.
    base_url: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    sync_interval_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default="15")
    rate_limit_per_second: Mapped[float | None] = mapped_column(Float)
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    paused_reason: Mapped[str | None] = mapped_column(Text)
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Whether accounts that match no customer become customers (the first tool connected) or wait to be
    # matched by an admin (every later one). Decided at the first sync; None until then.
    creates_customers: Mapped[bool | None] = mapped_column(Boolean)
    # The vendor's id for the callback Vectis registered ("Instant updates"); None while off.
    callback_id: Mapped[str | None] = mapped_column(String(100))
    callback_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # when it was turned on
    callback_by: Mapped[str | None] = mapped_column(String(320))  # and by whom
    created_at: Mapped[datetime] = created_at_column()

    def read_config(self) -> dict[str, Any]:
        value: dict[str, Any] = self.config.open(self.tenant_id)
        return value


class SyncRun(TenantOwned, Base):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_tenant_id_connection_id_id", "tenant_id", "connection_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)  # schedule | manual
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # queued | running | succeeded | failed
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default="{}")
    requests_made: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    # Entries as data (``vectis/ingest/runlog.py``); runs logged before that are plain strings.
    log: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default="[]")
    created_at: Mapped[datetime] = created_at_column()


class StreamCursor(TenantOwned, Base):
    """Where a stream resumes. Saved in the same transaction as the records before it."""

    __tablename__ = "stream_cursors"
    __table_args__ = (
        Index("ix_stream_cursors_tenant_id_connection_id_stream", "tenant_id", "connection_id", "stream", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    stream: Mapped[str] = mapped_column(String(64), nullable=False)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    updated_at: Mapped[datetime] = created_at_column()
