"""What Vectis computes once a day per customer from what was synced (``vectis.metrics``): the day's ticket,
backup and alert counts, and a snapshot of its tickets against the PSA's SLA, so "trend" questions have rows to
ask. One row per (customer, day), a day being a UTC calendar day; computing a day again replaces its row.

Every customer gets a row for every day computed, zeros included: a trend with no row for a quiet day would read
as a gap, not as nothing happening."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, ForeignKey, Identity, Index, Integer, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column

PERCENT = Numeric(5, 2)  # 0.00 to 100.00


def _count() -> Mapped[int]:
    return mapped_column(Integer, nullable=False)


class DailyMetrics(TenantOwned, Base):
    """One customer's day: tickets opened, closed and still open at its end; backup runs and how many succeeded;
    alerts opened. Definitions in ``vectis/metrics/daily.py``."""

    __tablename__ = "daily_metrics"
    __table_args__ = (
        # One row per customer and day (the upsert's key), and a customer's trend in day order.
        Index("ix_daily_metrics_tenant_id_customer_id_day", "tenant_id", "customer_id", "day", unique=True),
        # Every customer's rows over a span of days ("tickets opened per day across all customers").
        Index("ix_daily_metrics_tenant_id_day", "tenant_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)  # a UTC calendar day
    tickets_opened: Mapped[int] = _count()
    tickets_closed: Mapped[int] = _count()
    tickets_open_at_end: Mapped[int] = _count()
    backup_runs: Mapped[int] = _count()  # runs that finished with an outcome: success, warning or failed
    backup_runs_succeeded: Mapped[int] = _count()  # success or warning: a restore point was made
    backup_runs_warning: Mapped[int] = _count()  # of those, finished with warnings
    # succeeded / runs × 100; None on a day with no finished run (no runs is not 0% success).
    backup_success_rate: Mapped[Decimal | None] = mapped_column(PERCENT)
    alerts_opened: Mapped[int] = _count()
    computed_at: Mapped[datetime] = created_at_column()


class SlaSnapshot(TenantOwned, Base):
    """One customer's tickets against the PSA's SLA on a day: those open at any time that day or closed that day,
    each in SLA, out of SLA (breached) or without an SLA, by the PSA's own word (ConnectWise's ``isInSla``); and
    the day's responses and resolutions. Definitions in ``vectis/metrics/daily.py``."""

    __tablename__ = "sla_snapshots"
    __table_args__ = (
        Index("ix_sla_snapshots_tenant_id_customer_id_day", "tenant_id", "customer_id", "day", unique=True),
        Index("ix_sla_snapshots_tenant_id_day", "tenant_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    tickets_in_sla: Mapped[int] = _count()
    tickets_out_of_sla: Mapped[int] = _count()  # breached
    tickets_without_sla: Mapped[int] = _count()
    # in / (in + out) × 100; None when no ticket of the day was under an SLA.
    in_sla_rate: Mapped[Decimal | None] = mapped_column(PERCENT)
    tickets_responded: Mapped[int] = _count()  # first responded to that day
    tickets_resolved: Mapped[int] = _count()  # resolved that day
    tickets_resolved_out_of_sla: Mapped[int] = _count()  # resolved that day, having missed their SLA
    tickets_awaiting_response: Mapped[int] = _count()  # under an SLA, open at the day's end, not responded to yet
    computed_at: Mapped[datetime] = created_at_column()
