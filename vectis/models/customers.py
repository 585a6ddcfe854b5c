"""Customers of the MSP, and which account at which vendor each one is."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column


class Customer(TenantOwned, Base):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_tenant_id_normalized_name", "tenant_id", "normalized_name"),
        Index("ix_customers_tenant_id_name", "tenant_id", "name"),  # no id: tests/test_migrations.py says why
        Index("ix_customers_parent_id", "parent_id"),  # a customer's sites; and removing one finds them
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    # Lower-cased, punctuation and legal suffixes stripped: how an unlinked vendor account finds its customer.
    normalized_name: Mapped[str] = mapped_column(String(300), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(60))
    location: Mapped[str | None] = mapped_column(String(200))  # city / country, as the vendors tell it
    # The MSP's own labels ("managed", "backup-only", "vip"): what a rule's scope can name.
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), nullable=False, server_default="{}")
    created_at: Mapped[datetime] = created_at_column()


class LinkStatus(StrEnum):
    LINKED = "linked"
    UNLINKED = "unlinked"  # waits in Admin -> Customer matching; its data shows on no customer
    SEPARATE = "separate"  # kept apart on purpose (internal, demo, NOC accounts)


class CustomerLink(TenantOwned, Base):
    """A vendor account (by its stable id) and the customer it is, if any. A rename at the vendor only
    updates ``external_name`` here, it never makes a second customer. Once an admin has decided about a
    link (``decided_at``), syncs never change its customer or status again."""

    __tablename__ = "customer_links"
    __table_args__ = (
        Index(
            "ix_customer_links_tenant_id_connection_id_external_id",
            "tenant_id",
            "connection_id",
            "external_id",
            unique=True,
        ),
        Index("ix_customer_links_tenant_id_customer_id", "tenant_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default=LinkStatus.LINKED.value)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    external_id: Mapped[str] = mapped_column(String(200), nullable=False)
    external_name: Mapped[str] = mapped_column(String(300), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Linked(NamedTuple):
    """Where a vendor account's rows point: its link and, once linked, its customer."""

    link_id: int | None  # None for a record naming an account the vendor never listed
    customer_id: int | None  # None while the account is unlinked or kept separate
