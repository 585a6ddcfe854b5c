"""Alerts: a condition that holds for a job or a record (a backup gone stale, a failed run), with the
technician's handling of it (acknowledged, muted, resolved, opened as a ticket)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # someone is on it; stays listed under Acknowledged
    MUTED = "muted"  # the condition is muted for this customer
    RESOLVED = "resolved"


# What kind of trouble a condition is, whoever names it: NinjaOne's ``DISK_FREE_SPACE``, another tool's
# ``disk.critical`` and a rule's ``low_disk`` are all "disk", so alerts about one device from several tools can be
# told to be the same (``vectis/alerts/dedupe.py``). The first class with a word of the condition wins, in this
# order: "antivirus_update" is av, "backup_disk_full" is backup.
CONDITION_CLASSES: tuple[tuple[str, frozenset[str]], ...] = (
    ("backup", frozenset({"backup", "backups", "snapshot", "replication"})),
    ("av", frozenset({"av", "antivirus", "virus", "malware", "threat", "threats", "defender", "quarantine"})),
    ("offline", frozenset({"offline", "unreachable", "heartbeat", "unresponsive", "down"})),
    ("disk", frozenset({"disk", "disks", "drive", "drives", "volume", "volumes", "storage", "smart", "raid"})),
    ("cpu", frozenset({"cpu", "processor"})),
    ("memory", frozenset({"memory", "ram"})),
    ("patch", frozenset({"patch", "patches", "patching", "update", "updates", "hotfix", "reboot"})),
    ("network", frozenset({"network", "ping", "latency", "packet", "bandwidth", "interface", "nic"})),
    ("service", frozenset({"service", "services", "process", "processes"})),
)
OTHER = "other"


@lru_cache(maxsize=1024)  # a tool names few conditions, and a page of its alerts asks about each several times
def classify_condition(condition: str) -> str:
    """``DISK_FREE_SPACE`` -> "disk", ``cpuHigh`` -> "cpu", ``rule:12`` -> "other": by whole words (camelCase and
    any punctuation split them), so "download" is never "down"."""
    words = set(re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", condition).lower()))
    return next((name for name, marks in CONDITION_CLASSES if words & marks), OTHER)


def _class_of_condition(context: DefaultExecutionContext) -> str:
    parameters = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return classify_condition(str(parameters.get("condition") or ""))


class Alert(TenantOwned, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # One alert per (subject, condition) until it resolves; then it may fire again.
        Index(
            "ix_alerts_tenant_id_subject_type_subject_id_condition",
            "tenant_id",
            "subject_type",
            "subject_id",
            "condition",
            unique=True,
            postgresql_where=text("state <> 'resolved'"),
        ),
        Index("ix_alerts_tenant_id_state_last_seen_at", "tenant_id", "state", "last_seen_at"),
        Index("ix_alerts_tenant_id_customer_id_state", "tenant_id", "customer_id", "state"),
        # A device's alerts (its page, the Devices tab's counts, the dedupe): and removing a connection's thousands
        # of devices finds theirs by it.
        Index("ix_alerts_device_id", "device_id", postgresql_where=text("device_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    connection_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("connections.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(40), nullable=False)  # Veeam, Keepit, a rule's name
    condition: Mapped[str] = mapped_column(String(60), nullable=False)  # backup_stale, backup_failed, rule:<id>
    # CONDITION_CLASSES' word for the condition, set as the row is written: what the dedupe compares across tools.
    condition_class: Mapped[str] = mapped_column(
        String(20), nullable=False, default=_class_of_condition, server_default=OTHER
    )
    severity: Mapped[str] = mapped_column(String(20), nullable=False)  # critical | warning | info
    subject_type: Mapped[str] = mapped_column(String(40), nullable=False)  # backup_job | backup_event | ticket
    subject_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    subject_label: Mapped[str] = mapped_column(String(300), nullable=False)
    # The device it is about, when a tool says so (an RMM's alert, a rule on a device's event): alerts about one
    # device collapse across tools (``vectis/alerts/dedupe.py``).
    device_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("devices.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, server_default=AlertState.OPEN.value)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    acknowledged_by: Mapped[str | None] = mapped_column(String(320))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When rules were told of it (its one ``alert.created``). None while it has been muted since it opened: rules
    # hear of such an alert when its mute ends, and of no alert twice.
    announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(320))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ticket_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_at: Mapped[datetime] = created_at_column()


class AlertMute(TenantOwned, Base):
    """ "Mute this condition for this customer for N hours", with the reason someone gave."""

    __tablename__ = "alert_mutes"
    __table_args__ = (Index("ix_alert_mutes_tenant_id_customer_id_condition", "tenant_id", "customer_id", "condition"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    condition: Mapped[str] = mapped_column(String(60), nullable=False)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(320), nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class VendorAlert(TenantOwned, Base):
    """An alert a tool holds open (a NinjaOne condition on a device), and the Vectis alert it landed in. Several may
    land in one (``vectis/alerts/dedupe.py``); the Vectis alert resolves itself when every one of them has cleared at
    its tool, and resolving it in Vectis resets them there. Kept after it clears: a sync that lists it again (the tool
    had not caught up) does not open it twice."""

    __tablename__ = "vendor_alerts"
    __table_args__ = (
        Index(
            "ix_vendor_alerts_tenant_id_connection_id_external_id",
            "tenant_id",
            "connection_id",
            "external_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    alert_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)  # the tool's id of it (NinjaOne's uid)
    condition: Mapped[str] = mapped_column(String(60), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen_run_id: Mapped[int | None] = mapped_column(BigInteger)  # the sync that last listed it open
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # gone at the tool, or reset
    created_at: Mapped[datetime] = created_at_column()
