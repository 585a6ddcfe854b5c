"""A PSA's people (its members: the technicians who own tickets and write notes) and how Vectis's users map to
them, so what Vectis writes to the PSA carries the technician who wrote it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column


class PsaMember(TenantOwned, Base):
    """A member of a PSA (ConnectWise's ``/system/members``), vendor-neutral."""

    __tablename__ = "psa_members"
    __table_args__ = (
        Index(
            "ix_psa_members_tenant_id_connection_id_external_id",
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
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    identifier: Mapped[str | None] = mapped_column(String(100))  # the member's sign-in name at the vendor
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    inactive: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())


class PsaMemberChoice(TenantOwned, Base):
    """An admin's choice of a user's member at one PSA (``member_id`` None: none, sign the text). Without a
    choice the user is the member with their email; a sync never changes a choice."""

    __tablename__ = "psa_member_choices"
    __table_args__ = (
        Index(
            "ix_psa_member_choices_tenant_id_user_id_connection_id",
            "tenant_id",
            "user_id",
            "connection_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    member_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("psa_members.id", ondelete="CASCADE"))
    chosen_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    chosen_at: Mapped[datetime] = created_at_column()


class PsaAuthorship(TenantOwned, Base):
    """What one PSA connection answered when Vectis named a member as a note's author. A refusal is kept, so
    later writes sign their text at once instead of being refused first, until ``retry_at``."""

    __tablename__ = "psa_authorship"
    __table_args__ = (Index("ix_psa_authorship_tenant_id_connection_id", "tenant_id", "connection_id", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    refused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refused_reason: Mapped[str | None] = mapped_column(Text)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
