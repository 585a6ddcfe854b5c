"""Licensing: the licence subscriptions every distributor holds for the MSP's customers (Pax8 now; Sherweb, Ingram,
TD SYNNEX later, all in the same tables), a weekly snapshot of each one's seats, and the seat changes scheduled for a
renewal (a committed term only goes down then)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Identity, Index, Integer, Numeric, String, Text, func
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column

UNIT = Numeric(14, 4)  # a seat's price may carry fractions of a cent
BILLING_TERMS = ("monthly", "annual", "2-year", "3-year", "one-time", "trial", "other")
COMMITTED_TERMS = ("annual", "2-year", "3-year")  # a reduction waits for the renewal (Microsoft's NCE)
SUBSCRIPTION_STATUSES = ("active", "pending", "cancelled", "trial", "other")
MAX_SEATS = 100_000  # the most seats Vectis asks a distributor for, from a form, the API or a rule
CHANGE_STATES = ("pending", "running", "queued", "done", "failed", "unknown", "cancelled")


class LicenseSubscription(TenantOwned, Base):
    """One licence subscription at a distributor, keyed by its own id, so a sync that reads it again updates the row;
    its customer follows the distributor's company (``customer_link_id``). ``unit_cost`` is what the MSP pays a seat
    a month; ``commitment_ends_on`` the end of the committed term running now (None: no commitment)."""

    __tablename__ = "license_subscriptions"
    __table_args__ = (
        Index(
            "ix_license_subscriptions_tenant_id_connection_id_external_id",
            "tenant_id",
            "connection_id",
            "external_id",
            unique=True,
        ),
        # The hub's Licensing tab: a customer's subscriptions by product.
        Index(
            "ix_license_subscriptions_tenant_id_customer_id_product_name", "tenant_id", "customer_id", "product_name"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    vendor: Mapped[str] = mapped_column(String(40), nullable=False)  # the distributor's registry key ("pax8")
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    customer_link_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_links.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    product_name: Mapped[str] = mapped_column(String(300), nullable=False)
    product_external_id: Mapped[str | None] = mapped_column(String(100))
    sku: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_cost: Mapped[Decimal | None] = mapped_column(UNIT)
    unit_price: Mapped[Decimal | None] = mapped_column(UNIT)
    currency: Mapped[str | None] = mapped_column(String(3))
    billing_term: Mapped[str] = mapped_column(String(20), nullable=False)  # BILLING_TERMS
    vendor_term: Mapped[str] = mapped_column(String(60), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # SUBSCRIPTION_STATUSES
    vendor_status: Mapped[str] = mapped_column(String(60), nullable=False)
    commitment_ends_on: Mapped[date | None] = mapped_column(Date)
    starts_on: Mapped[date | None] = mapped_column(Date)
    vendor_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    last_seen_run_id: Mapped[int | None] = mapped_column(BigInteger)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # no longer listed by the distributor
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class LicenseUsage(TenantOwned, Base):
    """A subscription's seats in one week (its Monday), as last read that week: the trend beside the subscription."""

    __tablename__ = "license_usage"
    __table_args__ = (
        Index("ix_license_usage_tenant_id_subscription_id_week", "tenant_id", "subscription_id", "week", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("license_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    week: Mapped[date] = mapped_column(Date, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class LicenseScheduledChange(TenantOwned, Base):
    """A seat change a technician scheduled for a subscription's renewal: the cron job claims it once on ``due_on``
    (``pending`` → ``running`` in one conditional UPDATE) and sends it through ``vectis/actions``; ``result`` says
    what came of it (``queued`` while it waits for the rate limit, then ``done``, ``failed`` or ``unknown``). One pending change per subscription: a second replaces the first."""

    __tablename__ = "license_scheduled_changes"
    __table_args__ = (
        Index("ix_license_scheduled_changes_tenant_id_state_due_on", "tenant_id", "state", "due_on"),
        Index(
            "ix_license_scheduled_changes_one_pending",
            "tenant_id",
            "subscription_id",
            unique=True,
            postgresql_where=sql("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("license_subscriptions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, server_default="pending")  # CHANGE_STATES
    requested_by: Mapped[str] = mapped_column(String(200), nullable=False)
    result: Mapped[str | None] = mapped_column(Text)
    audit_id: Mapped[int | None] = mapped_column(BigInteger)  # the audit row of the change when it ran
    created_at: Mapped[datetime] = created_at_column()
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # when a run took it: stuck after
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
