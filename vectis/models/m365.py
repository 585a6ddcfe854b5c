"""Microsoft 365 posture, per customer tenant (an Entra tenant read through Microsoft Graph): what each of the hub's
four panels shows and whether it could be read. Every row is keyed by its connection and the Entra tenant it came
from (``tenant_external_id``, the tenant's id as the connection lists it): a customer's rows are found through its
customer link to that tenant, so linking a tenant to another customer moves its posture with it.

``m365_panels`` says, per tenant and panel, whether the last read was ``known``, ``partial`` (Graph said 206) or
``unknown`` (with the reason in words), when it was tried (``observed_at``) and when the data shown was read
(``refreshed_at``): an unknown panel keeps its last good rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Identity, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned

PANELS = ("intune", "secure_score", "conditional_access", "admin_mfa")
PANEL_STATES = ("known", "partial", "unknown")


def _connection() -> Mapped[int]:
    return mapped_column(BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False)


def _updated() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class M365Panel(TenantOwned, Base):
    __tablename__ = "m365_panels"
    __table_args__ = (
        Index(
            "ix_m365_panels_key",
            "tenant_id",
            "connection_id",
            "tenant_external_id",
            "panel",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = _connection()
    tenant_external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    panel: Mapped[str] = mapped_column(String(30), nullable=False)  # PANELS
    state: Mapped[str] = mapped_column(String(10), nullable=False)  # PANEL_STATES
    reason: Mapped[str | None] = mapped_column(Text)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)  # the last try
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the data shown: read then
    # What the panel shows beside its rows (Secure Score's top improvement actions).
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    updated_at: Mapped[datetime] = _updated()


class M365SecureScore(TenantOwned, Base):
    """One Secure Score a day per tenant: the sparkline's points (a day Graph kept none is a gap)."""

    __tablename__ = "m365_secure_scores"
    __table_args__ = (
        Index(
            "ix_m365_secure_scores_key",
            "tenant_id",
            "connection_id",
            "tenant_external_id",
            "day",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = _connection()
    tenant_external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    current_score: Mapped[float] = mapped_column(Float, nullable=False)
    max_score: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[datetime] = _updated()


class M365ManagedDevice(TenantOwned, Base):
    __tablename__ = "m365_managed_devices"
    __table_args__ = (
        Index(
            "ix_m365_managed_devices_key",
            "tenant_id",
            "connection_id",
            "tenant_external_id",
            "external_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = _connection()
    tenant_external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    os: Mapped[str | None] = mapped_column(String(100))
    compliance_state: Mapped[str] = mapped_column(String(30), nullable=False)  # Graph's complianceState
    user_principal_name: Mapped[str | None] = mapped_column(String(300))
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failing_policies: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")
    updated_at: Mapped[datetime] = _updated()


class M365CaPolicy(TenantOwned, Base):
    __tablename__ = "m365_ca_policies"
    __table_args__ = (
        Index(
            "ix_m365_ca_policies_key",
            "tenant_id",
            "connection_id",
            "tenant_external_id",
            "external_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = _connection()
    tenant_external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(500), nullable=False)
    # enabled | disabled | enabledForReportingButNotEnforced: only "enabled" enforces anything.
    state: Mapped[str] = mapped_column(String(60), nullable=False)
    controls: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")
    for_admins: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    modified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _updated()


class M365PrivilegedUser(TenantOwned, Base):
    __tablename__ = "m365_privileged_users"
    __table_args__ = (
        Index(
            "ix_m365_privileged_users_key",
            "tenant_id",
            "connection_id",
            "tenant_external_id",
            "external_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = _connection()
    tenant_external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    user_principal_name: Mapped[str | None] = mapped_column(String(300))
    roles: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")
    # None: the registration report does not list the user (unknown, not "not registered").
    mfa_registered: Mapped[bool | None] = mapped_column(Boolean)
    methods: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")
    updated_at: Mapped[datetime] = _updated()
