"""Tenants (MSP workspaces) and their operators."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column
from vectis.platform.crypto import Sealed, SealedType


class Tenant(Base):
    """One MSP workspace; its slug is its subdomain. Readable by every request (host resolution
    happens before sign-in); only the tenant itself may update its row (RLS on UPDATE)."""

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9](-?[a-z0-9])*$'", name="slug_is_a_dns_label"),
        CheckConstraint("max_token_days BETWEEN 1 AND 3650", name="max_token_days_in_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The longest a personal access token of this workspace may live; its admins set it (Account -> Tokens).
    max_token_days: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="365")
    created_at: Mapped[datetime] = created_at_column()


class Installation(Base):
    """One row: facts of this installation that must outlive every restart and key rotation. ``id_key``
    enciphers public ids (``vectis/platform/public_ids.py``): changing it would change every id in every URL."""

    __tablename__ = "installation"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    id_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Role(StrEnum):
    ADMIN = "admin"
    TECHNICIAN = "technician"
    READ_ONLY = "read_only"

    @property
    def label(self) -> str:
        return {"admin": "Admin", "technician": "Technician", "read_only": "Read-only"}[self.value]


class User(TenantOwned, Base):
    """An operator of one tenant. Email is unique within the tenant, not across tenants."""

    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_tenant_id_email", "tenant_id", "email", unique=True),
        CheckConstraint("role in ('admin', 'technician', 'read_only')", name="role_is_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(Text)
    totp_secret: Mapped[Sealed | None] = mapped_column(SealedType)
    # The last TOTP time step accepted: a code is good once (RFC 6238 section 5.2), not for its whole window.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    mfa_enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Stored in each session at sign-in; bumping it (password change, MFA reset, deactivation) ends every
    # session signed in before, even after a reactivation or re-enrolment.
    session_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    created_at: Mapped[datetime] = created_at_column()
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def mfa_enrolled(self) -> bool:
        return self.totp_secret is not None

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    # flask-login's user protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)
