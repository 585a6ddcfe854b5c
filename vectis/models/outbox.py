"""Durable work handed to the worker: outgoing mail and write-backs waiting for their rate limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column
from vectis.platform.crypto import Sealed, SealedType


class OutboxMail(TenantOwned, Base):
    """A mail to send. The body can hold a setup link, so it is sealed like any other secret."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_tenant_id_created_at", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    to_address: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[Sealed] = mapped_column(SealedType, nullable=False)
    # transactional (ticket updates, invitations: always sent) | digest | announcement (each can be unsubscribed from)
    category: Mapped[str] = mapped_column(String(20), nullable=False, server_default="transactional")
    # Sent in the portal's branded shell (HTML beside the text), rendered by the worker: {"action_url", "action_label",
    # "unsubscribe_url"}. None: plain text, as operator mail is.
    shell: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The button's link when it is a one-time key (a setup or password reset link): sealed like the body, so the
    # shell's clear JSON never holds one (it says ``"action_url": null, "one_time": true`` instead).
    link: Mapped[Sealed | None] = mapped_column(SealedType)
    # What went out, as the worker rendered it ({"text", "html"}), sealed like the body: Admin → Sent mail shows it as
    # the recipient saw it, whatever the branding has become since.
    sent_as: Mapped[Sealed | None] = mapped_column(SealedType)
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)


class QueuedAction(TenantOwned, Base):
    """A ``perform`` call that hit its connection's rate limit: it waits here, never dropped, until the
    ``actions`` queue runs it. The payload is sealed because write-backs can carry credentials."""

    __tablename__ = "queued_actions"
    __table_args__ = (Index("ix_queued_actions_tenant_id_created_at", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    verb: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    surface: Mapped[str] = mapped_column(String(10), nullable=False)
    payload: Mapped[Sealed] = mapped_column(SealedType, nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    # Set and committed just before the vendor is called: a worker that died after it may have reached the
    # vendor, so the next run reads back instead of sending again.
    attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[str | None] = mapped_column(String(10))
