"""Endpoint security: the detections every EDR tool reports (SentinelOne, ESET, Huntress, Microsoft Defender, all in the
same table), vendor-neutral, and the suppressions a technician makes by marking one a false positive."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column

SEVERITIES = ("critical", "high", "medium", "low")  # most severe first: the order the Security pages sort by
DETECTION_STATUSES = ("open", "in_progress", "resolved")
VERDICTS = ("true_positive", "false_positive", "suspicious")
# An endpoint's network state: "isolating" and "releasing" are pending, sent but not yet confirmed by the tool.
ISOLATION_STATES = ("connected", "isolating", "isolated", "releasing")
SUPPRESSION_SCOPES = ("hash", "path", "device", "customer")


class Detection(TenantOwned, Base):
    """One threat an endpoint-security tool detected. Keyed by the tool's own id, so a sync that reads it again
    updates the row; its customer follows the tool's site (``customer_link_id``). ``isolation`` is its endpoint's
    network state as last read (every detection on that endpoint carries it), so a card can offer Isolate or
    Release without asking the tool."""

    __tablename__ = "detections"
    __table_args__ = (
        Index(
            "ix_detections_tenant_id_connection_id_external_id",
            "tenant_id",
            "connection_id",
            "external_id",
            unique=True,
        ),
        # The hub's Security tab and the global Security page: newest first, open ones by default.
        Index("ix_detections_tenant_id_customer_id_detected_at", "tenant_id", "customer_id", "detected_at"),
        Index("ix_detections_tenant_id_status_detected_at", "tenant_id", "status", "detected_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    customer_link_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_links.id", ondelete="SET NULL"), index=True
    )
    # The RMM's device of the same name at the same customer, when there is one: the card links to its page.
    device_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("devices.id", ondelete="SET NULL"), index=True)
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    device_external_id: Mapped[str | None] = mapped_column(String(100))  # the tool's id of the endpoint
    device_name: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    severity: Mapped[str] = mapped_column(String(10), nullable=False)  # SEVERITIES
    vendor_severity: Mapped[str] = mapped_column(String(60), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # DETECTION_STATUSES
    vendor_status: Mapped[str] = mapped_column(String(60), nullable=False)
    verdict: Mapped[str | None] = mapped_column(String(20))  # VERDICTS; None: nobody has judged it
    isolation: Mapped[str | None] = mapped_column(String(20))  # ISOLATION_STATES; None: the tool does not say
    classification: Mapped[str | None] = mapped_column(String(100))
    file_path: Mapped[str | None] = mapped_column(Text)
    file_hash: Mapped[str | None] = mapped_column(String(128))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    vendor_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    # Who resolved it or judged it from Vectis, and when (a sync that reads it resolved keeps them).
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Suppression(TenantOwned, Base):
    """A technician's word that detections like one are not threats: by file hash, file path, endpoint, or every
    detection at a customer, until ``expires_at`` (None: until removed). Made by marking a detection a false
    positive, with the reason; the rules' "no existing suppression" condition reads it."""

    __tablename__ = "suppressions"
    __table_args__ = (Index("ix_suppressions_tenant_id_scope_value", "tenant_id", "scope", "value"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    scope: Mapped[str] = mapped_column(String(20), nullable=False)  # SUPPRESSION_SCOPES
    # The hash, the path, the tool's endpoint id, or the customer's id as text: what a detection is matched by.
    value: Mapped[str] = mapped_column(Text, nullable=False)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"))
    detection_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("detections.id", ondelete="SET NULL"), index=True
    )  # the detection it was made from
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
