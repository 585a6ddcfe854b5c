"""Tickets from any PSA (ConnectWise now; Autotask and HaloPSA later, into the same tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import TextClause

from vectis.models.base import Base, TenantOwned, created_at_column

# Ticket search (``vectis/tickets/queries.py``, ``ticket_search()`` in migration 0023) matches words by prefix
# with PostgreSQL's full-text search over the 'simple' configuration: every word as written (no stemming, no stop
# words), which suits hostnames and names. New rows' words wait in each index's pending list until the worker merges
# it after a sync (``db.merge_pending_words``).


def words_of(column: str) -> TextClause:
    """The words of ``column``, each the tenant's own ('42:printer', ``tenant_words()`` in migration 0023): one GIN
    index serves every tenant, and a search (even a prefix one) reads only its own tenant's entries."""
    return text(f"tenant_words(tenant_id, {column})")


class TicketBoard(TenantOwned, Base):
    __tablename__ = "ticket_boards"
    __table_args__ = (
        Index(
            "ix_ticket_boards_tenant_id_connection_id_external_id",
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
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    inactive: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())


class TicketStatus(TenantOwned, Base):
    """A board's real statuses: replies offer these, not a generic set."""

    __tablename__ = "ticket_statuses"
    __table_args__ = (
        Index("ix_ticket_statuses_tenant_id_board_id_external_id", "tenant_id", "board_id", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    board_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ticket_boards.id", ondelete="CASCADE"), nullable=False
    )
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    closed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class TicketPriority(TenantOwned, Base):
    """A PSA's priorities (ConnectWise's are one list for every board)."""

    __tablename__ = "ticket_priorities"
    __table_args__ = (
        Index(
            "ix_ticket_priorities_tenant_id_connection_id_external_id",
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
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())


class Ticket(TenantOwned, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index(
            "ix_tickets_tenant_id_connection_id_external_id", "tenant_id", "connection_id", "external_id", unique=True
        ),
        Index("ix_tickets_tenant_id_customer_id_closed_opened_at", "tenant_id", "customer_id", "closed", "opened_at"),
        # The queue's order, open or closed and every state; no id (tests/test_migrations.py says why).
        Index("ix_tickets_tenant_id_closed_updated_at", "tenant_id", "closed", "vendor_updated_at"),
        Index("ix_tickets_tenant_id_updated_at", "tenant_id", "vendor_updated_at"),
        Index("ix_tickets_tenant_id_assignee", "tenant_id", "assignee"),
        Index("ix_tickets_tenant_id_opened_at", "tenant_id", "opened_at"),
        Index("ix_tickets_tenant_id_external_id", "tenant_id", "external_id"),
        Index("ix_tickets_tenant_id_assignee_external_id", "tenant_id", "assignee_external_id"),
        Index(
            "ix_tickets_summary_words",
            words_of("summary"),
            postgresql_using="gin",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    customer_link_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_links.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    summary: Mapped[str] = mapped_column(String(500), nullable=False)
    board_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ticket_boards.id", ondelete="SET NULL"))
    status_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ticket_statuses.id", ondelete="SET NULL"))
    status_name: Mapped[str] = mapped_column(String(200), nullable=False)
    closed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    priority: Mapped[str | None] = mapped_column(String(100))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    assignee: Mapped[str | None] = mapped_column(String(200))
    # The vendor's ids of the owner (a PsaMember's external_id) and the priority: "My tickets" and the
    # assign and priority controls work on ids, the names above are what the vendor called them.
    assignee_external_id: Mapped[str | None] = mapped_column(String(100))
    priority_external_id: Mapped[str | None] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The PSA's SLA, as it tells it (ConnectWise: ``sla.name``, ``isInSla``, ``slaStatus``, ``dateResponded``,
    # ``dateResolved``). ``in_sla`` is the PSA's current word, not a history: it may turn false while the ticket is
    # open and is final once resolved. None everywhere: no SLA, or a PSA that does not say.
    sla_name: Mapped[str | None] = mapped_column(String(200))
    in_sla: Mapped[bool | None] = mapped_column(Boolean)
    sla_status: Mapped[str | None] = mapped_column(String(100))  # "Respond by Tue 10/04 11:00 PM UTC-05", "Waiting"
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    vendor_updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class TicketNote(TenantOwned, Base):
    """The conversation: public replies and internal notes."""

    __tablename__ = "ticket_notes"
    __table_args__ = (
        Index("ix_ticket_notes_tenant_id_ticket_id_external_id", "tenant_id", "ticket_id", "external_id", unique=True),
        Index(
            "ix_ticket_notes_body_words",
            words_of("body"),
            postgresql_using="gin",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    internal: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    author: Mapped[str | None] = mapped_column(String(200))
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class TicketStatusChange(TenantOwned, Base):
    """Status history as Vectis observes it (a sync or a callback sees a new status)."""

    __tablename__ = "ticket_status_changes"
    __table_args__ = (Index("ix_ticket_status_changes_tenant_id_ticket_id", "tenant_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status_name: Mapped[str] = mapped_column(String(200), nullable=False)
    observed_at: Mapped[datetime] = created_at_column()


class TicketRelated(TenantOwned, Base):
    """A record attached to a ticket: a timeline entry (backup event), later an alert or a device."""

    __tablename__ = "ticket_related"
    __table_args__ = (
        Index(
            "ix_ticket_related_tenant_id_ticket_id_kind_record_id",
            "tenant_id",
            "ticket_id",
            "kind",
            "record_id",
            unique=True,
        ),
        Index("ix_ticket_related_tenant_id_kind_record_id", "tenant_id", "kind", "record_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(40), nullable=False)  # timeline_event | alert | device
    record_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    attached_by: Mapped[str] = mapped_column(String(20), nullable=False)  # auto | user
    created_at: Mapped[datetime] = created_at_column()
