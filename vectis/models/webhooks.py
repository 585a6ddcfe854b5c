"""Inbound vendor callbacks, one row per delivery: what arrived, whether its signature held, what was done."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column
from vectis.platform.crypto import Sealed, SealedType


class WebhookDelivery(TenantOwned, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_tenant_id_connection_id_received_at", "tenant_id", "connection_id", "received_at"),
        # The delivery log across connections, newest first (the API), and retention's cut by age.
        Index("ix_webhook_deliveries_tenant_id_received_at", "tenant_id", "received_at"),
        # A verified message is processed once, however often the vendor sends it.
        Index(
            "ix_webhook_deliveries_tenant_id_connection_id_message_id",
            "tenant_id",
            "connection_id",
            "message_id",
            unique=True,
            postgresql_where=text("verified"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    received_at: Mapped[datetime] = created_at_column()
    message_id: Mapped[str | None] = mapped_column(String(100))
    verified: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    reason: Mapped[str] = mapped_column(Text, nullable=False)  # in words: why it was accepted or refused
    record: Mapped[str | None] = mapped_column(String(100))  # e.g. "ticket 48222 updated"
    # A callback whose signing key was not fetched yet waits here, sealed, for the job that fetches the key.
    pending_body: Mapped[Sealed | None] = mapped_column(SealedType)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(Text)
    # Sent by Vectis itself to prove the address reaches the receiver: recorded, never processed.
    test: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
