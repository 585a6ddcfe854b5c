"""Managed devices from any RMM (NinjaOne now; others later, into the same table), vendor-neutral."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Index, String, false, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned

# The words Vectis uses for a device's kind, whatever the RMM calls it (its own word stays in ``vendor_class``).
DEVICE_CLASSES = ("workstation", "server", "laptop", "mac", "linux", "network", "virtual", "other")


class Device(TenantOwned, Base):
    """One device an RMM manages. Keyed by the RMM's own id, so a rename there never makes a second row; its
    customer follows its organisation at the RMM (``customer_link_id``), so a device moved to another organisation
    moves customer at the next sync. Never deleted by a sync: one the RMM no longer lists gets ``removed_at``."""

    __tablename__ = "devices"
    __table_args__ = (
        Index(
            "ix_devices_tenant_id_connection_id_external_id", "tenant_id", "connection_id", "external_id", unique=True
        ),
        # The hub's Devices tab: a customer's devices, offline first, then by name. No id in either index: alerts and
        # timeline entries point at devices, and tests/test_migrations.py says why such a parent's ids stay apart.
        Index("ix_devices_tenant_id_customer_id_online_name", "tenant_id", "customer_id", "online", "name"),
        Index("ix_devices_tenant_id_name", "tenant_id", "name"),  # the API's list across customers, by name
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    # The RMM organisation it belongs to: linking that organisation later points the device at its customer.
    customer_link_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_links.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    site: Mapped[str | None] = mapped_column(String(200))  # the RMM's location within the organisation
    device_class: Mapped[str] = mapped_column(String(20), nullable=False, server_default="other")  # DEVICE_CLASSES
    vendor_class: Mapped[str | None] = mapped_column(String(100))  # as the RMM says it: WINDOWS_SERVER, MAC, …
    os_name: Mapped[str | None] = mapped_column(String(300))
    online: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    serial: Mapped[str | None] = mapped_column(String(200))
    make: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    # What the RMM tells beyond the columns above (its ids of the organisation and location, IP addresses, …).
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    last_seen_run_id: Mapped[int | None] = mapped_column(BigInteger)  # the sync that last listed it
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
