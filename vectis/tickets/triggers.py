"""Ticket triggers: any PSA's tickets emit them."""

from __future__ import annotations

from vectis.events.fields import Field
from vectis.events.triggers import CUSTOMER_FIELDS, SOURCE, Trigger

TICKET_FIELDS = (
    Field("ticket.number", "Ticket number", "text"),
    Field("ticket.summary", "Summary", "text"),
    Field("ticket.status", "Status", "text"),
    Field("ticket.previous_status", "Previous status", "text"),
    Field("ticket.board", "Board", "text"),
    Field("ticket.priority", "Priority", "text"),
    Field("ticket.assignee", "Assignee", "text"),
    Field("ticket.contact", "Contact", "text"),
    Field("ticket.closed", "Closed", "boolean"),
    Field("ticket.opened_at", "Opened", "date"),
    Field("ticket.updated_at", "Last updated", "date"),
    Field("ticket.days_unchanged", "Days since last update", "number"),
    SOURCE,
    *CUSTOMER_FIELDS,
)

TICKET_OPENED = Trigger("ticket.opened", "Ticket opened", "ticket", TICKET_FIELDS, help="A new ticket in the PSA.")
TICKET_STATUS_CHANGED = Trigger(
    "ticket.status_changed", "Ticket status changed", "ticket", TICKET_FIELDS, help="A ticket moved to another status."
)
TICKET_IDLE = Trigger(
    "ticket.idle",
    "Ticket unchanged for N days",
    "ticket",
    TICKET_FIELDS,
    help="An open ticket nobody has touched for the number of days. Checked every minute; fires once per quiet spell.",
    params=(Field("days", "Days", "number"),),
    defaults={"days": 7},
)
TRIGGERS = (TICKET_OPENED, TICKET_STATUS_CHANGED, TICKET_IDLE)
