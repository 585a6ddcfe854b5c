"""Personal access tokens: how the REST API and the MCP endpoint know who is calling, and what they may do."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column


class ApiToken(TenantOwned, Base):
    """One token of one user. The raw value is shown once when it is made and never stored: ``token_hash`` is its
    SHA-256, ``prefix`` the start a person recognises it by in a list or an audit row."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        # Found by its hash alone, before anyone knows the tenant: unique across the installation.
        Index("ix_api_tokens_token_hash", "token_hash", unique=True),
        Index("ix_api_tokens_tenant_id_user_id", "tenant_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    label: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(20), nullable=False)  # "vct_pat_7Hq2xR9a"
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(40)), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)  # never open-ended
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(320))
