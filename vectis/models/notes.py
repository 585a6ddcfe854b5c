"""Vectis-native internal notes on a customer: technicians' words, never shown on the customer portal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column


class CustomerNote(TenantOwned, Base):
    """Its timeline entry (``timeline_events.note_id``) is written, edited and deleted with it."""

    __tablename__ = "customer_notes"
    __table_args__ = (Index("ix_customer_notes_tenant_id_customer_id", "tenant_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    author_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # When it happened ("talked to their CIO at 4pm"); the time it was written unless pinned.
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
