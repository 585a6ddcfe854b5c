"""The unified, append-only stream of what happened, across every tool, per customer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column


class TimelineEvent(TenantOwned, Base):
    __tablename__ = "timeline_events"
    __table_args__ = (
        Index(
            "ix_timeline_events_tenant_id_connection_id_dedup_key",
            "tenant_id",
            "connection_id",
            "dedup_key",
            unique=True,
        ),
        Index(
            "ix_timeline_events_tenant_id_customer_id_occurred_at_id", "tenant_id", "customer_id", "occurred_at", "id"
        ),
        Index("ix_timeline_events_tenant_id_occurred_at_id", "tenant_id", "occurred_at", "id"),
        # The kinds of entry that exist, for the "hide" filter: a few index probes, not a scan of millions.
        Index("ix_timeline_events_tenant_id_kind", "tenant_id", "kind"),
        # A device's page reads its entries by it; removing a connection's devices finds theirs by it. Partial: most
        # entries (backups, tickets, notes) are on no device and cost this index nothing.
        Index("ix_timeline_events_device_id", "device_id", postgresql_where=text("device_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    # The vendor account it belongs to: linking that account later points these rows at its customer.
    customer_link_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_links.id", ondelete="SET NULL"), index=True
    )
    connection_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("connections.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(40), nullable=False)
    kind: Mapped[str] = mapped_column(String(60), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(String(20))
    dedup_key: Mapped[str] = mapped_column(String(300), nullable=False)
    note_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_notes.id", ondelete="CASCADE"), index=True
    )
    # The PSA ticket a ticket entry (opened, reply received or sent, closed) is about: the entry links to it.
    ticket_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    # The device an RMM's entry is about (a patch cycle, a condition triggered or reset, an AV update): what a device's
    # page reads. A column rather than a match on the title, which names a device only in words (and "FS01" is in
    # "FS010"); nullable and empty for every other entry, it cost no rewrite of the table to add (migration 0031).
    device_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("devices.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
