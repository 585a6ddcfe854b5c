"""Queries saved from the query builder, shared with the team by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column

# Who may run a saved query: everyone, technicians and admins, or admins only. Only its owner and admins edit it.
AUDIENCES = ("everyone", "technician", "admin")


class SavedQuery(TenantOwned, Base):
    __tablename__ = "saved_queries"
    __table_args__ = (
        Index("ix_saved_queries_tenant_id_name", "tenant_id", "name"),
        Index("ix_saved_queries_owner_id", "owner_id"),  # removing a user finds the queries they owned
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    owner_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    owner_label: Mapped[str] = mapped_column(String(320), nullable=False)  # kept when the owner's account goes
    audience: Mapped[str] = mapped_column(String(20), nullable=False, server_default="everyone")  # one of AUDIENCES
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)  # canonical (vectis/query/spec.py)
    spec_hash: Mapped[str] = mapped_column(String(16), nullable=False)
    run_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
