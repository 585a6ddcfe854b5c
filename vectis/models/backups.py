"""Backup jobs / connectors from every backup vendor, their latest state, the runs Vectis has seen, and their
audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column

KINDS = ("Backup", "BackupCopy", "Replica", "Tape", "Other")
STATES = ("success", "warning", "failed", "running", "stopped", "unknown")


class BackupConnector(TenantOwned, Base):
    """One backup job (Veeam) or protected connector (Keepit). Never deleted: a job that disappears at
    the vendor gets ``removed_at``."""

    __tablename__ = "backup_connectors"
    __table_args__ = (
        Index(
            "ix_backup_connectors_tenant_id_connection_id_external_id",
            "tenant_id",
            "connection_id",
            "external_id",
            unique=True,
        ),
        Index("ix_backup_connectors_tenant_id_customer_id", "tenant_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    # The vendor account it belongs to: linking that account later points these rows at its customer.
    customer_link_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_links.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(200), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    vendor_type: Mapped[str] = mapped_column(String(80), nullable=False)
    protected_object: Mapped[str | None] = mapped_column(String(300))
    last_seen_run_id: Mapped[int | None] = mapped_column(BigInteger)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class BackupConnectorStatus(TenantOwned, Base):
    """The latest run of a backup connector. ``last_success_at`` is derived from our own history: the
    vendor reports only the latest run."""

    __tablename__ = "backup_connector_status"
    __table_args__ = (
        Index(
            "ix_backup_connector_status_tenant_id_backup_connector_id", "tenant_id", "backup_connector_id", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    backup_connector_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("backup_connectors.id", ondelete="CASCADE"), nullable=False, index=True
    )
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    vendor_status: Mapped[str] = mapped_column(String(40), nullable=False)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_duration_seconds: Mapped[int | None] = mapped_column(Integer)
    # Failed runs in a row, counted as Vectis sees new attempts ("failed 3 runs in a row").
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class BackupRun(TenantOwned, Base):
    """One run of a job, as Vectis saw it. Veeam reports only a job's latest run, so a run is kept from the
    sync that first sees it (Keepit lists its recent runs, so those arrive with history); the run-history
    strip reads these. Part of the record: never purged."""

    __tablename__ = "backup_runs"
    __table_args__ = (
        Index(
            "ix_backup_runs_tenant_id_backup_connector_id_run_key",
            "tenant_id",
            "backup_connector_id",
            "run_key",
            unique=True,
        ),
        Index(
            "ix_backup_runs_tenant_id_backup_connector_id_started_at", "tenant_id", "backup_connector_id", "started_at"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Indexed alone as well: removing a job (or a connection's 5,000) finds its runs by this column only.
    backup_connector_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("backup_connectors.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # The vendor's id of the run (a Keepit job's guid), or when it started where the vendor gives none (VSPC):
    # the same run read again is the same row.
    run_key: Mapped[str] = mapped_column(String(200), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)  # one of STATES
    vendor_status: Mapped[str] = mapped_column(String(40), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()  # when Vectis first saw it


class BackupAuditEvent(TenantOwned, Base):
    __tablename__ = "backup_audit_events"
    __table_args__ = (
        Index(
            "ix_backup_audit_events_tenant_id_connection_id_external_id",
            "tenant_id",
            "connection_id",
            "external_id",
            unique=True,
        ),
        Index("ix_backup_audit_events_tenant_id_customer_id_occurred_at", "tenant_id", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    # The vendor account it belongs to: linking that account later points these rows at its customer.
    customer_link_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_links.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(200), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    severity: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
