"""Customers' contracts from any PSA (ConnectWise agreements now; Autotask and HaloPSA contracts later, into the
same tables) and their line items. Money is Numeric, never float: a contract's value is summed and compared."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    String,
    Text,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned

STATUSES = ("active", "cancelled", "expired", "inactive")
MONEY = Numeric(14, 2)
# A unit price may go below a cent (storage at $0.0125 a GB) and a quantity may be fractional (hours).
UNIT = Numeric(14, 4)


class Contract(TenantOwned, Base):
    """One contract as its PSA last described it. ``monthly_value`` is derived (``vectis/contracts/writer.py``):
    the vendor's amount per billing cycle, brought to a month so contracts on different cycles compare and sum;
    ``bill_amount`` and ``billing_cycle`` keep what the vendor said."""

    __tablename__ = "contracts"
    __table_args__ = (
        Index(
            "ix_contracts_tenant_id_connection_id_external_id", "tenant_id", "connection_id", "external_id", unique=True
        ),
        Index("ix_contracts_tenant_id_customer_id_ends_on", "tenant_id", "customer_id", "ends_on"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    # The vendor account (company) it belongs to: linking that account later points these rows at its customer.
    customer_link_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_links.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    contract_type: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # one of STATUSES
    vendor_status: Mapped[str | None] = mapped_column(String(60))
    starts_on: Mapped[date | None] = mapped_column(Date)
    # When the term ends, which is when it renews; None: no end date (it runs until cancelled).
    ends_on: Mapped[date | None] = mapped_column(Date)
    cancelled_on: Mapped[date | None] = mapped_column(Date)
    billing_cycle: Mapped[str | None] = mapped_column(String(60))
    bill_amount: Mapped[Decimal | None] = mapped_column(MONEY)  # per billing cycle, as the vendor bills it
    monthly_value: Mapped[Decimal | None] = mapped_column(MONEY)  # None: a cycle that does not repeat, or unknown
    currency: Mapped[str | None] = mapped_column(String(3))
    next_invoice_on: Mapped[date | None] = mapped_column(Date)
    vendor_updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ContractLineItem(TenantOwned, Base):
    """A line of a contract (a ConnectWise agreement addition): product, quantity, unit price, recurring or not."""

    __tablename__ = "contract_line_items"
    __table_args__ = (
        Index(
            "ix_contract_line_items_tenant_id_contract_id_external_id",
            "tenant_id",
            "contract_id",
            "external_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Indexed alone as well: removing a PSA connection removes its contracts, which find their lines by this.
    contract_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contracts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    product: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(UNIT, nullable=False)
    unit_price: Mapped[Decimal | None] = mapped_column(UNIT)  # per billing cycle of the contract
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    recurring: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    billable: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    starts_on: Mapped[date | None] = mapped_column(Date)
    cancelled_on: Mapped[date | None] = mapped_column(Date)
