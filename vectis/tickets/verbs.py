"""Ticket write-back to the PSA: reply (public or internal, optionally with a status change and an
attachment), change status, create a ticket. Each call goes to the vendor, the ticket is read back and
stored, and the audit row holds the request and the vendor's answer."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from vectis.actions.base import ActionFailed, Applied, Context, RateLimit, Target, Verb
from vectis.actions.registry import register
from vectis.actions.vendor import connector_for, vendor_refused, write_once
from vectis.connectors.capabilities import NewTicket, WritesTickets
from vectis.connectors.registry import get as vendor_class
from vectis.models import (
    Connection,
    Contact,
    Customer,
    CustomerLink,
    Role,
    Ticket,
    TicketBoard,
    TicketPriority,
    TicketStatus,
)
from vectis.platform import params
from vectis.platform.http import ConnectorError
from vectis.tickets.correlate import attach_alert
from vectis.tickets.writer import store_ticket

WRITERS = frozenset({Role.ADMIN, Role.TECHNICIAN})
DOING = "write tickets back to"


def _ticket(ctx: Context, target: Target) -> Ticket:
    ticket = ctx.session.get(Ticket, int(target.id or 0))
    if ticket is None:
        raise ActionFailed("That ticket no longer exists in Vectis. Reload the page.")
    return ticket


def _connection(ctx: Context, connection_id: int) -> Connection:
    connection = ctx.session.get(Connection, connection_id)
    if connection is None:
        raise ActionFailed("The PSA this ticket came from is no longer connected (Admin → Integrations).")
    return connection


def _refresh(ctx: Context, psa: WritesTickets, connection: Connection, external_id: str) -> Ticket:
    """Read the ticket back from the vendor and store it: what Vectis shows is what the PSA has."""
    record = psa.get_ticket(external_id)
    if record is None:
        raise ActionFailed(f"{psa.noun} answered, but the ticket it sent back could not be read.")
    return store_ticket(ctx.session, connection, record)


def _now() -> datetime:
    return datetime.now(UTC)


class TicketVerb(Verb):
    target_type = "ticket"
    roles = WRITERS

    def connection_id(self, ctx: Context, target: Target, payload: dict[str, Any]) -> int | None:
        """The PSA connection the call goes to: its rate-limit bucket is the one this action takes from."""
        ticket = ctx.session.get(Ticket, _int(target.id))
        return ticket.connection_id if ticket else None

    def rate_limit(self, ctx: Context, target: Target, payload: dict[str, Any]) -> RateLimit | None:
        connection_id = self.connection_id(ctx, target, payload)
        connection = ctx.session.get(Connection, connection_id) if connection_id else None
        if connection is None:
            return None
        rate = connection.rate_limit_per_second or vendor_class(connection.vendor).default_rate_limit
        return RateLimit(f"connection:{ctx.tenant_id}:{connection.id}", rate, burst=max(1, round(rate)))


def _int(value: Any) -> int:
    """A form's id: anything that is not a row key finds nothing (id 0), so the verb says what to choose."""
    return params.integer(value) or 0


def _status(ctx: Context, ticket: Ticket, status_id: Any) -> TicketStatus | None:
    if status_id in (None, ""):
        return None
    status = ctx.session.get(TicketStatus, _int(status_id))
    if status is None or status.board_id != ticket.board_id:
        raise ActionFailed("Choose one of this ticket's board statuses.")
    return status


@register
class ReplyToTicket(TicketVerb):
    name = "ticket.reply"
    label = "Reply to a ticket"
    repeatable = False

    def confirm(self, ctx: Context, target: Target, payload: dict[str, Any], since: datetime) -> Applied | None:
        ticket = _ticket(ctx, target)
        text, internal = str(payload.get("text") or "").strip(), bool(payload.get("internal"))
        connection = _connection(ctx, ticket.connection_id)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            try:
                if not psa.find_note(ticket.external_id, text, internal=internal, since=since):
                    return None
                ticket = _refresh(ctx, psa, connection, ticket.external_id)
            except ConnectorError:
                return None
            return Applied(f"The note is on {psa.noun} ticket #{ticket.external_id}.", response={"vendor": {}})

    def redact(self, payload: dict[str, Any]) -> dict[str, Any]:
        clean = dict(payload)
        if clean.get("attachment_content"):
            clean["attachment_content"] = f"<{len(str(clean['attachment_content'])) * 3 // 4} bytes, not kept here>"
        return clean

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        ticket = _ticket(ctx, target)
        text = str(payload.get("text") or "").strip()
        internal = bool(payload.get("internal"))
        if not text:
            raise ActionFailed("Write the reply first.")
        status = _status(ctx, ticket, payload.get("status_id"))
        connection = _connection(ctx, ticket.connection_id)
        vendor: dict[str, Any] = {}
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            attachment = _attachment(payload, psa.attachment_limit, psa.noun)
            external, since = ticket.external_id, _now()
            try:
                if attachment:
                    name, content = attachment
                    # No read-back for documents: an uncertain upload is reported as unknown, never repeated.
                    write_once(lambda: psa.upload(external, name, content), lambda: None, vendor=psa.noun, what=name)
                    vendor["attachment"] = {"name": name, "bytes": len(content)}
                write_once(
                    lambda: psa.add_note(external, text, internal=internal),
                    lambda: psa.find_note(external, text, internal=internal, since=since) or None,
                    vendor=psa.noun,
                    what="the note",
                )
                vendor["note"] = {"internal": internal}
                if status is not None and status.id != ticket.status_id:
                    psa.set_status(external, status.external_id)
                    vendor["status"] = {"to": status.name}
                ticket = _refresh(ctx, psa, connection, external)
            except ConnectorError as exc:
                raise vendor_refused(psa.noun, exc) from None
            noun = psa.noun
        kind = "Internal note" if internal else "Reply"
        moved = f"; status is now {ticket.status_name}" if status is not None else ""
        return Applied(f"{kind} sent to {noun} ticket #{ticket.external_id}{moved}.", response={"vendor": vendor})


def _attachment(payload: dict[str, Any], limit: int, noun: str) -> tuple[str, bytes] | None:
    name, content = payload.get("attachment_name"), payload.get("attachment_content")
    if not name or not content:
        return None
    try:
        data = base64.b64decode(str(content), validate=True)
    except (binascii.Error, ValueError):
        raise ActionFailed("The attachment could not be read. Choose the file again.") from None
    if len(data) > limit:
        raise ActionFailed(
            f"{name} is {len(data) / 1024 / 1024:.1f} MB; {noun} takes attachments up to "
            f"{limit // 1024 // 1024} MB. Share larger files another way."
        )
    return str(name)[:200], data


@register
class UpdateTicketStatus(TicketVerb):
    name = "ticket.update_status"
    label = "Change a ticket's status"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        ticket = _ticket(ctx, target)
        status = _status(ctx, ticket, payload.get("status_id"))
        if status is None:
            raise ActionFailed("Choose the new status.")
        before = ticket.status_name
        connection = _connection(ctx, ticket.connection_id)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            try:
                psa.set_status(ticket.external_id, status.external_id)
                ticket = _refresh(ctx, psa, connection, ticket.external_id)
            except ConnectorError as exc:
                raise vendor_refused(psa.noun, exc) from None
        return Applied(
            f"Ticket #{ticket.external_id} moved from {before} to {ticket.status_name}.",
            response={"before": before, "after": ticket.status_name},
        )


@register
class CreateTicket(TicketVerb):
    name = "ticket.create"
    label = "Create a ticket"
    target_type = "customer"
    repeatable = False

    def connection_id(self, ctx: Context, target: Target, payload: dict[str, Any]) -> int | None:
        board = ctx.session.get(TicketBoard, _int(payload.get("board_id")))
        return board.connection_id if board else None

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        customer = ctx.session.get(Customer, int(target.id or 0))
        if customer is None:
            raise ActionFailed("That customer no longer exists.")
        summary = str(payload.get("summary") or "").strip()
        if not summary:
            raise ActionFailed("Give the ticket a summary.")
        board = ctx.session.get(TicketBoard, _int(payload.get("board_id")))
        if board is None:
            raise ActionFailed("Choose the board the ticket goes on.")
        connection = _connection(ctx, board.connection_id)
        noun = vendor_class(connection.vendor).label
        company = ctx.session.scalar(
            select(CustomerLink.external_id).where(
                CustomerLink.connection_id == board.connection_id, CustomerLink.customer_id == customer.id
            )
        )
        if company is None:
            raise ActionFailed(
                f"{customer.name} is not linked to an account in {noun} yet (Admin → Customer matching)."
            )
        priority_id = contact_id = None
        if payload.get("priority_id"):
            priority = ctx.session.get(TicketPriority, _int(payload["priority_id"]))
            if priority is None or priority.connection_id != board.connection_id:
                raise ActionFailed(f"That priority is not one of {noun}'s. Choose it again.")
            priority_id = priority.external_id
        if payload.get("contact_id"):
            contact = ctx.session.get(Contact, _int(payload["contact_id"]))
            if contact is None or contact.connection_id != board.connection_id or contact.customer_id != customer.id:
                raise ActionFailed(f"That contact is not one of {customer.name}'s. Choose the contact again.")
            contact_id = contact.external_id
        new = NewTicket(
            company=company,
            board=board.external_id,
            summary=summary,
            priority=priority_id,
            contact=contact_id,
            description=str(payload.get("description") or "") or None,
        )
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            since = _now()
            try:
                created = write_once(
                    lambda: psa.create_ticket(new),
                    lambda: psa.find_ticket(new, since=since),
                    vendor=psa.noun,
                    what="the new ticket",
                )
                ticket = _refresh(ctx, psa, connection, created)
            except ConnectorError as exc:
                raise vendor_refused(psa.noun, exc) from None
            noun = psa.noun
        if payload.get("alert_id"):
            attached_by = "user" if ctx.actor.type == "user" else "rule"
            attach_alert(ctx.session, ctx.tenant_id, _int(payload["alert_id"]), ticket.id, attached_by=attached_by)
        return Applied(
            f"Created {noun} ticket #{ticket.external_id}: {ticket.summary}",
            response={"vendor": {"id": created}, "ticket_id": ticket.id},
        )
