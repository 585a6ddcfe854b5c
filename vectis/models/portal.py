"""The customer portal: the people of a customer who sign in to it, the MSP's branding it wears, and which of its
surfaces are on, for the whole workspace and per customer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column
from vectis.platform.crypto import Sealed, SealedType


class PortalRole(StrEnum):
    ADMIN = "admin"  # acts on tickets and invites other people of the same customer
    MEMBER = "member"  # sees and acts on tickets
    VIEWER = "viewer"  # reads only

    @property
    def label(self) -> str:
        return {"admin": "Admin", "member": "Member", "viewer": "Viewer"}[self.value]


class PortalUser(TenantOwned, Base):
    """A person at one customer. Email is unique within the workspace: a sign-in names one customer. No password
    until they have used their one-time setup link; only hashes of either (and of a password reset link) are kept."""

    __tablename__ = "portal_users"
    __table_args__ = (
        Index("ix_portal_users_tenant_id_email", "tenant_id", "email", unique=True),
        Index("ix_portal_users_tenant_id_customer_id", "tenant_id", "customer_id"),
        Index("ix_portal_users_setup_token_hash", "setup_token_hash", unique=True),
        Index("ix_portal_users_reset_token_hash", "reset_token_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)  # lower-cased
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    setup_token_hash: Mapped[str | None] = mapped_column(String(64))
    setup_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "Forgot your password?": the newest reset link's SHA-256 (one at a time; spent when used) and its end.
    reset_token_hash: Mapped[str | None] = mapped_column(String(64))
    reset_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Two-factor sign-in, as an operator's (vectis/identity/mfa.py): the TOTP secret sealed per tenant, and the last
    # time step accepted, so a code works once (RFC 6238 section 5.2). None: not enrolled.
    totp_secret: Mapped[Sealed | None] = mapped_column(SealedType)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    mfa_enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Bumped when the password changes or the user is turned off: every session minted before is worthless.
    session_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    invited_by: Mapped[str] = mapped_column(String(320), nullable=False)  # an operator's or a portal admin's email
    last_signed_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()

    @property
    def role_enum(self) -> PortalRole:
        return PortalRole(self.role)

    @property
    def mfa_enrolled(self) -> bool:
        return self.totp_secret is not None

    # flask-login's user protocol, spelled out (its UserMixin would also answer for an operator's id space).
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class PortalUserSite(TenantOwned, Base):
    """A site (a customer whose parent is the user's customer) a site-limited user may see. None: all of them."""

    __tablename__ = "portal_user_sites"
    __table_args__ = (
        Index(
            "ix_portal_user_sites_tenant_id_portal_user_id_customer_id",
            "tenant_id",
            "portal_user_id",
            "customer_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    portal_user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("portal_users.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )


class PortalRecoveryCode(TenantOwned, Base):
    """A portal user's one-time two-factor recovery code: a SHA-256 of an 80-bit random code, never the code (the
    operators' ``RecoveryCode``, for the other kind of account)."""

    __tablename__ = "portal_recovery_codes"
    __table_args__ = (Index("ix_portal_recovery_codes_tenant_id_portal_user_id", "tenant_id", "portal_user_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    portal_user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("portal_users.id", ondelete="CASCADE"), nullable=False
    )
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PortalBranding(TenantOwned, Base):
    """How the portal (and the mail it sends) looks: one row per workspace, absent until an admin saves one."""

    __tablename__ = "portal_branding"
    __table_args__ = (Index("ix_portal_branding_tenant_id", "tenant_id", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    company_name: Mapped[str] = mapped_column(String(200), nullable=False)
    accent: Mapped[str] = mapped_column(String(7), nullable=False)  # "#rrggbb"
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)  # sanitised SVG or PNG, as served
    logo_content_type: Mapped[str | None] = mapped_column(String(40))
    # The MSP's postal address, in the footer of every digest and announcement (CAN-SPAM asks for one).
    postal_address: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = created_at_column()


class PortalSettings(TenantOwned, Base):
    """Which portal surfaces are on. ``customer_id`` None: the workspace's switch; a customer's row narrows it
    (a surface shows only where both are on) and names the board its new tickets land on."""

    __tablename__ = "portal_settings"
    __table_args__ = (
        Index(
            "ix_portal_settings_tenant_id_customer_id",
            "tenant_id",
            "customer_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"))
    tickets: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    assets: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    backups: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    board_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ticket_boards.id", ondelete="SET NULL"))
    # The workspace row's only (Admin → Portal → Sign-in): every portal user signs in with a second factor, and one
    # without it is taken to enrolment right after their password.
    require_mfa: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    updated_at: Mapped[datetime] = created_at_column()


class PortalMailOptOut(TenantOwned, Base):
    """A portal user who unsubscribed from one category of mail (digest, announcement). Ticket mail has no row
    here to be: it is transactional and always sent."""

    __tablename__ = "portal_mail_optouts"
    __table_args__ = (
        Index(
            "ix_portal_mail_optouts_tenant_id_portal_user_id_category",
            "tenant_id",
            "portal_user_id",
            "category",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    portal_user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("portal_users.id", ondelete="CASCADE"), nullable=False
    )
    category: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
