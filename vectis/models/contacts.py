"""People at a customer, as a vendor knows them (a PSA's contacts): whom a ticket is for."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Identity, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned


class Contact(TenantOwned, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index(
            "ix_contacts_tenant_id_connection_id_external_id", "tenant_id", "connection_id", "external_id", unique=True
        ),
        Index("ix_contacts_tenant_id_customer_id", "tenant_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    customer_link_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_links.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    inactive: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
