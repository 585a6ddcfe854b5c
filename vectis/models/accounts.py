"""What operator accounts need beyond the user row: recovery codes and invitations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column


class RecoveryCode(TenantOwned, Base):
    """A one-time MFA recovery code, stored as a SHA-256 of an 80-bit random code (never the code)."""

    __tablename__ = "recovery_codes"
    __table_args__ = (Index("ix_recovery_codes_tenant_id_user_id", "tenant_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Invite(TenantOwned, Base):
    """A one-time setup link for a new user; the token itself is only in the link, here its hash."""

    __tablename__ = "invites"
    __table_args__ = (Index("ix_invites_tenant_id_token_hash", "tenant_id", "token_hash", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    invited_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
