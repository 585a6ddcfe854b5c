"""What a rule can do, and how each step becomes one ``vectis/actions`` verb call: the exact target and
payload that History shows for a dry run and that ``perform()`` receives when the rule is live.

Texts may carry placeholders from the triggering record: ``{customer.name}``, ``{job.name}``, ``{title}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vectis.actions.base import Target
from vectis.alerts.triggers import SEVERITIES
from vectis.events.fields import Field
from vectis.events.stream import Event
from vectis.models import Alert, Customer, Ticket, TicketBoard, TicketPriority, TicketStatus
from vectis.tickets.boards import usual_boards

PLACEHOLDER = re.compile(r"\{([a-z_][a-z_.]*)\}")


class Skip(Exception):
    """This step cannot apply to this event (no customer, not a ticket, no such status): recorded, not sent."""


@dataclass(frozen=True)
class Call:
    verb: str
    target: Target
    payload: dict[str, Any]

    @property
    def target_key(self) -> str:
        return f"{self.target.type}:{self.target.id}"


class Lookups:
    """What building actions reads, remembered for one batch: a hundred fires on one customer read its
    board and default priority once, not a hundred times."""

    def __init__(self, session: Session, customer_ids: Iterable[int | None] = ()) -> None:
        self.session = session
        self.customer_ids = {c for c in customer_ids if c is not None}  # the batch's, read together
        self._memo: dict[tuple[Any, ...], Any] = {}

    def _once(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = load()
        return self._memo[key]

    def preload(self, model: type[Any], idents: Iterable[int | None]) -> None:
        """Read the rows a batch will ask for in one query (the subjects of its events)."""
        wanted = {i for i in idents if i is not None and ("get", model, i) not in self._memo}
        if not wanted:
            return
        found = {row.id: row for row in self.session.scalars(select(model).where(model.id.in_(wanted)))}
        for ident in wanted:
            self._memo[("get", model, ident)] = found.get(ident)

    def get(self, model: type[Any], ident: Any) -> Any:
        return self._once(("get", model, ident), lambda: self.session.get(model, ident)) if ident else None

    def usual_board(self, customer_id: int) -> int | None:
        if ("board", customer_id) not in self._memo:
            for cid, board_id in usual_boards(self.session, self.customer_ids | {customer_id}).items():
                self._memo[("board", cid)] = board_id
        return self._memo[("board", customer_id)]  # type: ignore[no-any-return]

    def default_priority(self, connection_id: int) -> int | None:
        return self._once(  # type: ignore[no-any-return]
            ("priority", connection_id),
            lambda: self.session.scalar(
                select(TicketPriority.id).where(
                    TicketPriority.connection_id == connection_id, TicketPriority.is_default.is_(True)
                )
            ),
        )

    def status(self, board_id: int | None, name: str) -> TicketStatus | None:
        return self._once(  # type: ignore[no-any-return]
            ("status", board_id, name),
            lambda: self.session.scalar(
                select(TicketStatus).where(TicketStatus.board_id == board_id, func.lower(TicketStatus.name) == name)
            ),
        )


@dataclass(frozen=True)
class Built:
    lookups: Lookups
    event: Event
    record: Mapping[str, Any]
    params: Mapping[str, Any]

    def text(self, key: str, default: str = "") -> str:
        template = str(self.params.get(key) or default)
        return PLACEHOLDER.sub(lambda m: _show(self.record.get(m.group(1), m.group(0))), template)


def _show(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class ActionType:
    key: str
    label: str
    verb: str
    fields: tuple[Field, ...]
    subjects: frozenset[str] | None  # the trigger subjects it applies to; None: any
    build: Callable[[Built], Call]
    help: str = ""


def _customer(built: Built) -> Customer:
    customer: Customer | None = built.lookups.get(Customer, built.event.customer_id)
    if customer is None:
        raise Skip("The event is on no customer (its account waits in Admin → Customer matching).")
    return customer


def _ticket(built: Built) -> Ticket:
    ticket: Ticket | None = (
        built.lookups.get(Ticket, built.event.subject_id) if built.event.subject_type == "ticket" else None
    )
    if ticket is None:
        raise Skip("The event is not about a ticket.")
    return ticket


def _create_ticket(built: Built) -> Call:
    customer = _customer(built)
    find = built.lookups
    chosen = str(built.params.get("board_id") or "").strip()
    board: TicketBoard | None = find.get(TicketBoard, int(chosen)) if chosen.isdigit() else None
    if chosen and (board is None or board.inactive):
        raise Skip("The board this rule names no longer exists or is inactive in the PSA: edit the rule.")
    if board is None:
        board = find.get(TicketBoard, find.usual_board(customer.id))
    if board is None:
        raise Skip("No PSA board to put the ticket on: connect ConnectWise first.")
    wanted = str(built.params.get("priority_id") or "").strip()
    priority: TicketPriority | None = find.get(TicketPriority, int(wanted)) if wanted.isdigit() else None
    if wanted and (priority is None or priority.connection_id != board.connection_id):
        raise Skip("The priority this rule names is not one of that PSA's: edit the rule.")
    priority_id = priority.id if priority else find.default_priority(board.connection_id)
    payload: dict[str, Any] = {
        "summary": built.text("summary", "{title}")[:100],
        "board_id": board.id,
        "priority_id": priority_id or "",
        "contact_id": "",
        "description": built.text("description", "Opened by a Vectis rule: {title}"),
    }
    if built.event.subject_type == "alert":
        payload["alert_id"] = built.event.subject_id
    return Call("ticket.create", Target("customer", str(customer.id), customer.name), payload)


def _status_change(built: Built) -> Call:
    ticket = _ticket(built)
    status = built.lookups.status(ticket.board_id, built.text("status").strip().lower())
    if status is None:
        raise Skip(f"The ticket's board has no status called “{built.text('status')}”.")
    return Call(
        "ticket.update_status", Target("ticket", str(ticket.id), f"#{ticket.external_id}"), {"status_id": status.id}
    )


def _note(built: Built) -> Call:
    ticket = _ticket(built)
    internal = built.params.get("internal", True) not in (False, "false", "0", "")
    payload = {"text": built.text("text"), "internal": internal, "status_id": ""}
    return Call("ticket.reply", Target("ticket", str(ticket.id), f"#{ticket.external_id}"), payload)


def _raise_alert(built: Built) -> Call:
    event = built.event
    payload = {
        "severity": str(built.params.get("severity") or "warning"),
        "message": built.text("message", "{title}"),
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "subject_label": event.title[:300],
        "customer_id": event.customer_id,
        "connection_id": event.connection_id,
        "condition": str(built.params.get("condition") or ""),
    }
    return Call("alert.raise", Target(event.subject_type, str(event.subject_id), event.title[:200]), payload)


def _acknowledge(built: Built) -> Call:
    alert = built.lookups.get(Alert, built.event.subject_id) if built.event.subject_type == "alert" else None
    if alert is None:
        raise Skip("The event is not about an alert.")
    return Call("alert.acknowledge", Target("alert", str(alert.id), alert.subject_label), {})


def _email(built: Built) -> Call:
    to = built.text("to").strip()
    if "@" not in to:
        raise Skip("The e-mail step has no address to send to.")
    payload = {"to": to, "subject": built.text("subject", "{title}")[:200], "body": built.text("body", "{title}")}
    return Call("mail.send", Target("email", to, to), payload)


TEXT = "text"
ACTION_TYPES: dict[str, ActionType] = {
    a.key: a
    for a in (
        ActionType(
            "create_ticket",
            "Create a ticket",
            "ticket.create",
            (
                Field("summary", "Summary", TEXT),
                Field("board_id", "Board (empty: the customer's usual one)", TEXT),
                Field("priority_id", "Priority (empty: ConnectWise's default)", TEXT),
                Field("description", "Details", TEXT),
            ),
            None,
            _create_ticket,
            help="In the customer's PSA (ConnectWise).",
        ),
        ActionType(
            "update_ticket_status",
            "Change the ticket's status",
            "ticket.update_status",
            (Field("status", "New status (as named on the ticket's board)", TEXT),),
            frozenset({"ticket"}),
            _status_change,
        ),
        ActionType(
            "add_ticket_note",
            "Add a note to the ticket",
            "ticket.reply",
            (Field("text", "Note", TEXT), Field("internal", "Internal note", "boolean")),
            frozenset({"ticket"}),
            _note,
        ),
        ActionType(
            "create_alert",
            "Create an alert",
            "alert.raise",
            (Field("severity", "Severity", "enum", SEVERITIES), Field("message", "Message", TEXT)),
            None,
            _raise_alert,
        ),
        ActionType(
            "acknowledge_alert", "Acknowledge the alert", "alert.acknowledge", (), frozenset({"alert"}), _acknowledge
        ),
        ActionType(
            "send_email",
            "Send an e-mail",
            "mail.send",
            (Field("to", "To", TEXT), Field("subject", "Subject", TEXT), Field("body", "Message", TEXT)),
            None,
            _email,
            help="Through Vectis's mail queue.",
        ),
    )
}


def build(lookups: Lookups, event: Event, record: Mapping[str, Any], step: Mapping[str, Any]) -> Call:
    kind = ACTION_TYPES.get(str(step.get("type")))
    if kind is None:
        raise Skip(f"Unknown action “{step.get('type')}”.")
    if kind.subjects is not None and event.subject_type not in kind.subjects:
        raise Skip(f"“{kind.label}” needs a {' or '.join(sorted(kind.subjects))} event.")
    return kind.build(Built(lookups, event, record, step.get("params") or {}))
