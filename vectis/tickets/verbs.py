"""Ticket write-back to the PSA: reply (public or internal, optionally with a status change and an
attachment), change status, create a ticket. Each call goes to the vendor, the ticket is read back and
stored, and the audit row holds the request and the vendor's answer."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import current_app
from sqlalchemy import select

from vectis.actions.base import ActionFailed, Applied, Context, RateLimit, Target, Verb
from vectis.actions.registry import register
from vectis.connectors.connectwise import ConnectWiseConnector, parse_ticket
from vectis.connectors.factory import build_connector
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
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis
from vectis.tickets.correlate import attach_alert
from vectis.tickets.writer import store_ticket

ATTACHMENT_CAP = 10 * 1024 * 1024  # ConnectWise's document limit
WRITERS = frozenset({Role.ADMIN, Role.TECHNICIAN})


def _ticket(ctx: Context, target: Target) -> Ticket:
    ticket = ctx.session.get(Ticket, int(target.id or 0))
    if ticket is None:
        raise ActionFailed("That ticket no longer exists in Vectis. Reload the page.")
    return ticket


def _connector(ctx: Context, connection: Connection) -> ConnectWiseConnector:

    connector = build_connector(connection, redis(), current_app.config["VECTIS_SETTINGS"])
    if not isinstance(connector, ConnectWiseConnector):
        raise ActionFailed(f"Vectis cannot write tickets back to {connection.name} yet.")
    return connector


def _vendor_failed(exc: ConnectorError) -> ActionFailed:
    return ActionFailed(f"ConnectWise did not accept it: {exc.message}", vendor_status=exc.status)


def _refresh(ctx: Context, connector: ConnectWiseConnector, connection: Connection, external_id: str) -> Ticket:
    """Read the ticket back from the vendor and store it: what Vectis shows is what ConnectWise has."""

    item, notes = connector.get_ticket(external_id)
    record = parse_ticket(item, notes)
    if record is None:
        raise ActionFailed("ConnectWise answered, but the ticket it sent back could not be read.")

    return store_ticket(ctx.session, connection, record)


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
        rate = connection.rate_limit_per_second or ConnectWiseConnector.default_rate_limit
        return RateLimit(f"connection:{ctx.tenant_id}:{connection.id}", rate, burst=max(1, round(rate)))


def _int(value: Any) -> int:
    """A form's id: anything that is not a number finds nothing (id 0), so the verb says what to choose."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


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
        attachment = _attachment(payload)
        connection = ctx.session.get(Connection, ticket.connection_id)
        assert connection is not None
        connector = _connector(ctx, connection)
        vendor: dict[str, Any] = {}
        try:
            if attachment:
                connector.upload(ticket.external_id, attachment[0], attachment[1])
                vendor["attachment"] = {"status": 201, "name": attachment[0], "bytes": len(attachment[1])}
            note = connector.add_note(ticket.external_id, text, internal=internal)
            vendor["note"] = {"status": 201, "id": note.get("id")}
            if status is not None and status.id != ticket.status_id:
                connector.set_status(ticket.external_id, status.external_id)
                vendor["status"] = {"status": 200, "to": status.name}
            ticket = _refresh(ctx, connector, connection, ticket.external_id)
        except ConnectorError as exc:
            raise _vendor_failed(exc) from None
        finally:
            connector.ctx.http.close()
        kind = "Internal note" if internal else "Reply"
        moved = f"; status is now {ticket.status_name}" if status is not None else ""
        return Applied(f"{kind} sent to ConnectWise ticket #{ticket.external_id}{moved}.", response={"vendor": vendor})


def _attachment(payload: dict[str, Any]) -> tuple[str, bytes] | None:
    name, content = payload.get("attachment_name"), payload.get("attachment_content")
    if not name or not content:
        return None
    try:
        data = base64.b64decode(str(content), validate=True)
    except (binascii.Error, ValueError):
        raise ActionFailed("The attachment could not be read. Choose the file again.") from None
    if len(data) > ATTACHMENT_CAP:
        raise ActionFailed(
            f"{name} is {len(data) / 1024 / 1024:.1f} MB; ConnectWise takes attachments up to 10 MB. "
            "Share larger files another way."
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
        connection = ctx.session.get(Connection, ticket.connection_id)
        assert connection is not None
        connector = _connector(ctx, connection)
        try:
            connector.set_status(ticket.external_id, status.external_id)
            ticket = _refresh(ctx, connector, connection, ticket.external_id)
        except ConnectorError as exc:
            raise _vendor_failed(exc) from None
        finally:
            connector.ctx.http.close()
        return Applied(
            f"Ticket #{ticket.external_id} moved from {before} to {ticket.status_name}.",
            response={"vendor": {"status": 200}, "before": before, "after": ticket.status_name},
        )


@register
class CreateTicket(TicketVerb):
    name = "ticket.create"
    label = "Create a ticket"
    target_type = "customer"

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
        company = ctx.session.scalar(
            select(CustomerLink.external_id).where(
                CustomerLink.connection_id == board.connection_id, CustomerLink.customer_id == customer.id
            )
        )
        if company is None:
            raise ActionFailed(
                f"{customer.name} is not linked to a ConnectWise company yet (Admin → Customer matching)."
            )
        connection = ctx.session.get(Connection, board.connection_id)
        assert connection is not None
        fields: dict[str, Any] = {
            "summary": summary[:100],
            "board": {"id": int(board.external_id)},
            "company": {"id": int(company)},
        }
        if payload.get("priority_id"):
            priority = ctx.session.get(TicketPriority, _int(payload["priority_id"]))
            if priority is None or priority.connection_id != board.connection_id:
                raise ActionFailed("That priority is not one of this ConnectWise's. Choose it again.")
            fields["priority"] = {"id": int(priority.external_id)}
        if payload.get("contact_id"):
            contact = ctx.session.get(Contact, _int(payload["contact_id"]))
            if contact is None or contact.connection_id != board.connection_id or contact.customer_id != customer.id:
                raise ActionFailed(f"That contact is not one of {customer.name}'s. Choose the contact again.")
            fields["contact"] = {"id": int(contact.external_id)}
        if payload.get("description"):
            fields["initialDescription"] = str(payload["description"])
        connector = _connector(ctx, connection)
        try:
            created = connector.create_ticket(fields)
            ticket = _refresh(ctx, connector, connection, str(created.get("id")))
        except ConnectorError as exc:
            raise _vendor_failed(exc) from None
        finally:
            connector.ctx.http.close()
        if payload.get("alert_id"):
            attached_by = "user" if ctx.actor.type == "user" else "rule"
            attach_alert(ctx.session, ctx.tenant_id, _int(payload["alert_id"]), ticket.id, attached_by=attached_by)
        return Applied(
            f"Created ConnectWise ticket #{ticket.external_id}: {ticket.summary}",
            response={"vendor": {"status": 201, "id": created.get("id")}, "ticket_id": ticket.id},
        )
