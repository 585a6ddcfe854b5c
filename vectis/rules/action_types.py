"""What a rule can do, how each step becomes one ``vectis/actions`` verb call (the exact target and payload
that History shows for a dry run and that ``perform()`` receives when the rule is live), and how a step or a
call reads in words: every page that shows an action (the rule list, the rule, History, Versions, trial runs,
templates) asks :func:`describe_action`, which names boards, priorities and statuses as the PSA calls them.

Texts may carry placeholders from the triggering record: ``{customer.name}``, ``{job.name}``, ``{title}``. A
placeholder whose value is empty reads as a word chosen for its field ("Last success: never."), never as
nothing; dates read as people write them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vectis.actions.base import Target
from vectis.alerts.as_ticket import priority_for
from vectis.alerts.triggers import SEVERITIES
from vectis.connectors import registry
from vectis.events.fields import Field
from vectis.events.stream import Event
from vectis.models import Alert, Connection, Customer, Ticket, TicketBoard, TicketPriority, TicketStatus
from vectis.models.licensing import MAX_SEATS, LicenseSubscription
from vectis.models.security import Detection
from vectis.platform import db
from vectis.platform import params as param_values
from vectis.platform.dates import parse_instant, when_in_full
from vectis.rules.triggers import field_maps
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
        found = {row.id: row for row in self.session.scalars(select(model).where(db.among(model.id, wanted)))}
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

    def priority_for_severity(self, connection_id: int, severity: str) -> TicketPriority | None:
        """The PSA priority for a detection of ``severity``: critical and high ones as urgent as a critical alert
        (``vectis/alerts/as_ticket.py``), the rest at the desk's default."""
        urgent = "critical" if severity in ("critical", "high") else "warning"
        return self._once(  # type: ignore[no-any-return]
            ("priority-for", connection_id, urgent), lambda: priority_for(self.session, connection_id, urgent)
        )

    def status(self, board_id: int | None, name: str) -> TicketStatus | None:
        return self._once(  # type: ignore[no-any-return]
            ("status", board_id, name),
            lambda: self.session.scalar(
                select(TicketStatus).where(TicketStatus.board_id == board_id, func.lower(TicketStatus.name) == name)
            ),
        )


# --- placeholders -------------------------------------------------------------------------------------

# What an empty placeholder reads as. Decided per field where the field's meaning gives a better word than
# its type's ("never" for a job with no success on record, "unassigned" for a ticket); by type otherwise.
EMPTY_BY_TYPE = {"date": "unknown", "number": "unknown", "text": "unknown", "enum": "unknown", "boolean": "no"}
EMPTY_BY_FIELD = {
    "title": "(untitled)",
    "job.name": "an unnamed job",
    "job.last_success_at": "never",
    "job.last_attempt_at": "never",
    "job.message": "none",
    "customer.name": "an unmatched account",
    "customer.tags": "no tags",
    "ticket.summary": "(no summary)",
    "ticket.previous_status": "none",
    "ticket.priority": "no priority",
    "ticket.assignee": "unassigned",
    "device.name": "an unnamed device",
    "ticket.contact": "no contact",
    "alert.message": "none",
    "subscription.sku": "no SKU",
    "device.user": "no user",
    "device.failing_policies": "none",
}


def _empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | tuple) and not value)


def shown(key: str, value: Any, field: Field | None = None) -> str:
    """One placeholder's value as a person reads it: a date as "24 Nov 2025 05:56 UTC", a number without
    a trailing ".0", a choice by its label, yes/no, and an empty value as its field's word for nothing."""
    kind = field.type if field is not None else ("date" if isinstance(value, datetime) else "text")
    if _empty(value):
        return EMPTY_BY_FIELD.get(key) or EMPTY_BY_TYPE.get(kind, "none")
    if kind == "date" or isinstance(value, datetime):
        return _date(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}".removesuffix(".0")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return dict(field.choices).get(str(value), str(value)) if field is not None else str(value)


def _date(value: Any) -> str:
    moment = value if isinstance(value, datetime) else parse_instant(value)
    return str(value) if moment is None else when_in_full(moment)


def fill(template: str, record: Mapping[str, Any], fields: Mapping[str, Field]) -> str:
    """``template`` with each ``{placeholder}`` replaced by the record's value as :func:`shown` words it. A
    placeholder the record does not know stays as typed, so its author sees the typo."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in record and key not in fields and key not in EMPTY_BY_FIELD:
            return match.group(0)
        return shown(key, record.get(key), fields.get(key))

    return PLACEHOLDER.sub(value, template)


@dataclass(frozen=True)
class Built:
    lookups: Lookups
    event: Event
    record: Mapping[str, Any]
    params: Mapping[str, Any]

    def text(self, key: str) -> str:
        """The step's text ``key`` (or what an empty one sends), its placeholders filled from the event."""
        template = str(self.params.get(key) or TEXT_DEFAULTS.get(key, ""))
        return fill(template, self.record, field_maps().get(self.event.trigger, {}))


# --- an action in words ------------------------------------------------------------------------------


class Names:
    """What a description names, as the PSA calls it: boards, priorities and statuses from the last sync, and
    customers. Each table is read once per page, however many actions the page describes."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._customers: dict[int, str] = {}

    @cached_property
    def psa(self) -> str:
        """The connected PSA's name ("ConnectWise PSA"), for what no longer exists there."""
        labels = sorted(
            {
                vendor.label
                for key in self.session.scalars(select(Connection.vendor).distinct())
                if (vendor := registry.CONNECTORS.get(key)) is not None and vendor.category == "psa"
            }
        )
        return labels[0] if len(labels) == 1 else "the PSA"

    @cached_property
    def _boards(self) -> dict[int, TicketBoard]:
        return {b.id: b for b in self.session.scalars(select(TicketBoard))}

    @cached_property
    def _priorities(self) -> dict[int, str]:
        return {i: n for i, n in self.session.execute(select(TicketPriority.id, TicketPriority.name))}

    @cached_property
    def _statuses(self) -> dict[int, str]:
        return {i: n for i, n in self.session.execute(select(TicketStatus.id, TicketStatus.name))}

    def board(self, ident: int) -> str:
        found = self._boards.get(ident)
        if found is None:
            return f"board #{ident}, no longer in {self.psa}"
        return f"{found.name} (inactive in {self.psa})" if found.inactive else found.name

    def priority(self, ident: int) -> str:
        return self._priorities.get(ident) or f"priority #{ident}, no longer in {self.psa}"

    def status(self, ident: int) -> str:
        return self._statuses.get(ident) or f"status #{ident}, no longer in {self.psa}"

    def customers(self, idents: Iterable[int]) -> list[str]:
        wanted = [int(i) for i in idents]
        missing = {i for i in wanted if i not in self._customers}
        if missing:
            found = self.session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(missing)))
            self._customers.update({i: name for i, name in found})
        return [self._customers.get(i, "a customer since deleted") for i in wanted]


@dataclass(frozen=True)
class ActionText:
    """An action in words: one sentence for lists, and the full texts it carries for a closer look."""

    sentence: str
    details: tuple[tuple[str, str], ...] = ()


HEADLINE = 120  # characters of a text quoted in the sentence; the whole text goes to the details
# The texts a step sends when its author left them empty.
TEXT_DEFAULTS = {
    "summary": "{title}",
    "description": "Opened by a Vectis rule: {title}",
    "message": "{title}",
    "subject": "{title}",
    "body": "{title}",
}


def _id(value: Any) -> int | None:
    # Not str.isdigit: "²" is a digit to it and not a number to int(), and one such value saved in a rule would
    # break every page that describes its actions.
    return param_values.integer(value)


def _text(params: Mapping[str, Any], key: str) -> str:
    return str(params.get(key) or TEXT_DEFAULTS.get(key, "")).strip()


def _quoted(sentence: str, headline: str, label: str, *others: tuple[str, str]) -> ActionText:
    """``sentence: “headline”``, the headline cut for a list; the details hold every other text, and the
    headline too when it was cut."""
    details = [(name, text) for name, text in others if text]
    if not headline:
        return ActionText(sentence, tuple(details))
    if len(headline) > HEADLINE:
        details.insert(0, (label, headline))
        headline = headline[: HEADLINE - 1].rstrip() + "…"
    return ActionText(f"{sentence}: “{headline}”", tuple(details))


def _internal(params: Mapping[str, Any]) -> bool:
    """A note is internal unless its step says otherwise (a form sends "", a stored step False)."""
    return params.get("internal", True) not in (False, "false", "0", "")


def _label(target: Mapping[str, Any] | None) -> str:
    """What a call acts on, as its target names it ("#48283", "Harbor Dental"); "" for a rule's step."""
    return str((target or {}).get("label") or "")


def _describe_ticket(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    board_id, priority_id = _id(params.get("board_id")), _id(params.get("priority_id"))
    board = names.board(board_id) if board_id is not None else "the customer's usual board"
    named = names.priority(priority_id) if priority_id is not None else ""
    # ConnectWise's own names often start with the word ("Priority 2 - High"): not "priority Priority 2".
    priority = (named if named.lower().startswith("priority") else f"priority {named}") if named else "default priority"
    customer = f" for {_label(target)}" if _label(target) else ""
    linked = ", linked to the alert" if params.get("alert_id") else ""
    sentence = f"Create a ticket{customer} on {board}, {priority}{linked}"
    return _quoted(sentence, _text(params, "summary"), "Summary", ("Details", _text(params, "description")))


def _describe_status(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    status_id = _id(params.get("status_id"))
    wanted = names.status(status_id) if status_id is not None else str(params.get("status") or "").strip()
    ticket = f"{_label(target)}'s status" if _label(target) else "the ticket's status"
    return ActionText(f"Change {ticket} to {wanted}" if wanted else f"Change {ticket} (no status named yet)")


def _describe_note(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    internal = _internal(params)
    kind = "an internal note" if internal else "a reply the customer sees"
    where = f" to {_label(target)}" if _label(target) else ""
    return _quoted(f"Add {kind}{where}", _text(params, "text"), "Note")


def _describe_alert(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    severity = str(params.get("severity") or "warning")
    word = dict(SEVERITIES).get(severity, severity).lower()
    article = "an" if word[:1] in "aeiou" else "a"
    on = f" on “{_label(target)}”" if _label(target) else ""
    return _quoted(f"Create {article} {word} alert{on}", _text(params, "message"), "Message")


def _describe_acknowledge(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    return ActionText(f"Acknowledge the alert “{_label(target)}”" if _label(target) else "Acknowledge the alert")


def _describe_resolve(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    said = f"Resolve the alert “{_label(target)}”" if _label(target) else "Resolve the alert"
    return ActionText(f"{said} (an RMM's alert is reset there too)")


def _describe_email(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    to = str(params.get("to") or "").strip()
    sentence = f"E-mail {to}" if to else "E-mail (no address yet)"
    return _quoted(sentence, _text(params, "subject"), "Subject", ("Message", _text(params, "body")))


Describe = Callable[[Mapping[str, Any], Names, Mapping[str, Any] | None], ActionText]


@dataclass(frozen=True)
class ActionType:
    key: str
    label: str
    verb: str
    fields: tuple[Field, ...]
    subjects: frozenset[str] | None  # the trigger subjects it applies to; None: any
    build: Callable[[Built], Call]
    describe: Describe  # a step ({"params"}) or a call it made ({"payload", "target"}) in words
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
    board_id = _id(chosen)
    board: TicketBoard | None = find.get(TicketBoard, board_id) if board_id is not None else None
    if chosen and (board is None or board.inactive):
        raise Skip("The board this rule names no longer exists or is inactive in the PSA: edit the rule.")
    if board is None:
        board = find.get(TicketBoard, find.usual_board(customer.id))
    if board is None:
        raise Skip("No PSA board to put the ticket on: connect ConnectWise first.")
    wanted = str(built.params.get("priority_id") or "").strip()
    wanted_id = _id(wanted)
    priority: TicketPriority | None = find.get(TicketPriority, wanted_id) if wanted_id is not None else None
    if wanted and (priority is None or priority.connection_id != board.connection_id):
        raise Skip("The priority this rule names is not one of that PSA's: edit the rule.")
    if priority is None and built.event.subject_type == "detection":
        priority = find.priority_for_severity(board.connection_id, str(built.record.get("detection.severity") or ""))
    priority_id = priority.id if priority else find.default_priority(board.connection_id)
    payload: dict[str, Any] = {
        "summary": built.text("summary")[:100],
        "board_id": board.id,
        "priority_id": priority_id or "",
        "contact_id": "",
        "description": built.text("description"),
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
    internal = _internal(built.params)
    payload = {"text": built.text("text"), "internal": internal, "status_id": ""}
    return Call("ticket.reply", Target("ticket", str(ticket.id), f"#{ticket.external_id}"), payload)


def _device_of(built: Built) -> int | None:
    """The device the event is about: its subject, or the device of the alert it is about."""
    event = built.event
    if event.subject_type == "device":
        return event.subject_id
    alert = built.lookups.get(Alert, event.subject_id) if event.subject_type == "alert" else None
    return alert.device_id if alert is not None else None


def _raise_alert(built: Built) -> Call:
    event = built.event
    payload = {
        "severity": str(built.params.get("severity") or "warning"),
        "message": built.text("message"),
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "subject_label": event.title[:300],
        "customer_id": event.customer_id,
        "connection_id": event.connection_id,
        "condition": str(built.params.get("condition") or ""),
    }
    if (device_id := _device_of(built)) is not None:  # an event on no device sends what it always has
        payload["device_id"] = device_id
    return Call("alert.raise", Target(event.subject_type, str(event.subject_id), event.title[:200]), payload)


def _acknowledge(built: Built) -> Call:
    alert = built.lookups.get(Alert, built.event.subject_id) if built.event.subject_type == "alert" else None
    if alert is None:
        raise Skip("The event is not about an alert.")
    return Call("alert.acknowledge", Target("alert", str(alert.id), alert.subject_label), {})


def _resolve(built: Built) -> Call:
    alert = built.lookups.get(Alert, built.event.subject_id) if built.event.subject_type == "alert" else None
    if alert is None:
        raise Skip("The event is not about an alert.")
    return Call("alert.resolve", Target("alert", str(alert.id), alert.subject_label), {})


def _detection(built: Built) -> Detection:
    found: Detection | None = (
        built.lookups.get(Detection, built.event.subject_id) if built.event.subject_type == "detection" else None
    )
    if found is None:
        raise Skip("The event is not about a detection.")
    return found


def _detection_target(found: Detection) -> Target:
    on = f" on {found.device_name}" if found.device_name else ""
    return Target("detection", str(found.id), f"{found.title}{on}"[:200])


def _isolate(built: Built) -> Call:
    found = _detection(built)
    return Call("detection.isolate", _detection_target(found), {"comment": built.text("comment")})


def _resolve_detection(built: Built) -> Call:
    return Call("detection.resolve", _detection_target(_detection(built)), {})


def _false_positive(built: Built) -> Call:
    found = _detection(built)
    days = param_values.integer(str(built.params.get("days") or "").strip(), low=1, high=365)
    payload = {
        "reason": built.text("reason"),
        "scope": str(built.params.get("scope") or ""),
        "days": str(days) if days is not None else "",  # empty: the suppression lasts until someone removes it
    }
    return Call("detection.false_positive", _detection_target(found), payload)


def _describe_isolate(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    said = f"Isolate the endpoint of “{_label(target)}”" if _label(target) else "Isolate the detection's endpoint"
    return ActionText(f"{said} (at the tool that reported it)")


def _describe_resolve_detection(
    params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None
) -> ActionText:
    said = f"Resolve the detection “{_label(target)}”" if _label(target) else "Resolve the detection"
    return ActionText(f"{said} (at the tool that reported it)")


def _describe_false_positive(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    said = f"Mark “{_label(target)}” a false positive" if _label(target) else "Mark the detection a false positive"
    days = param_values.integer(str(params.get("days") or "").strip(), low=1, high=365)
    said += f", suppressed for {days} day{'' if days == 1 else 's'}" if days else ", suppressed until removed"
    return _quoted(said, _text(params, "reason"), "Reason")


def seat_change(value: object) -> int | None:
    """``+2``, ``-1`` or ``3`` (a number or its text): the change in seats, at most MAX_SEATS either way; else None.
    The sign is read here because ``params.integer`` takes digits only."""
    text = str(value if value is not None and not isinstance(value, bool) else "").strip()
    sign = -1 if text.startswith("-") else 1
    size = param_values.integer(text[1:] if text[:1] in "+-" and text else text, high=MAX_SEATS)
    return None if size is None else sign * size


def _adjust_seats(built: Built) -> Call:
    """The customer's subscription whose product name or SKU is the rule's, to its seats now plus the change."""
    customer = _customer(built)
    product = built.text("product").strip()
    change = seat_change(built.params.get("change"))
    if not product or change is None or change == 0:
        raise Skip("The step names no product, or no change in seats: edit the rule.")
    found: LicenseSubscription | None = built.lookups.session.scalar(
        select(LicenseSubscription)
        .where(
            LicenseSubscription.customer_id == customer.id,
            LicenseSubscription.removed_at.is_(None),
            (func.lower(LicenseSubscription.product_name) == product.lower())
            | (func.lower(LicenseSubscription.sku) == product.lower()),
        )
        .order_by(LicenseSubscription.id)
        .limit(1)
    )
    if found is None:
        raise Skip(f"{customer.name} has no licence subscription for “{product}”.")
    if found.quantity + change < 1:
        raise Skip(f"{found.product_name} has {found.quantity} seats: it cannot lose {-change}.")
    return Call(
        "license.adjust_seats",
        Target("license_subscription", str(found.id), f"{found.product_name} at {customer.name}"[:200]),
        {"quantity": found.quantity + change},
    )


def _describe_adjust_seats(params: Mapping[str, Any], names: Names, target: Mapping[str, Any] | None) -> ActionText:
    if target is not None and "quantity" in params:
        return ActionText(f"Set “{_label(target)}” to {params['quantity']} seats in Pax8")
    change = str(params.get("change") or "").strip() or "?"
    sign = "" if change.startswith(("-", "+")) else "+"
    product = _text(params, "product") or "(no product yet)"
    return ActionText(f"Adjust Pax8 seats of {product} by {sign}{change}")


def _email(built: Built) -> Call:
    to = built.text("to").strip()
    if "@" not in to:
        raise Skip("The e-mail step has no address to send to.")
    payload = {"to": to, "subject": built.text("subject")[:200], "body": built.text("body")}
    return Call("mail.send", Target("email", to, to), payload)


TEXT = "text"
SUPPRESSION_SCOPE_CHOICES = (
    ("hash", "File hash"),
    ("path", "File path"),
    ("device", "Endpoint"),
    ("customer", "Customer (every detection)"),
)
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
            _describe_ticket,
            help="In the customer's PSA (ConnectWise).",
        ),
        ActionType(
            "update_ticket_status",
            "Change the ticket's status",
            "ticket.update_status",
            (Field("status", "New status (as named on the ticket's board)", TEXT),),
            frozenset({"ticket"}),
            _status_change,
            _describe_status,
        ),
        ActionType(
            "add_ticket_note",
            "Add a note to the ticket",
            "ticket.reply",
            (Field("text", "Note", TEXT), Field("internal", "Internal note", "boolean")),
            frozenset({"ticket"}),
            _note,
            _describe_note,
        ),
        ActionType(
            "create_alert",
            "Create an alert",
            "alert.raise",
            (Field("severity", "Severity", "enum", SEVERITIES), Field("message", "Message", TEXT)),
            None,
            _raise_alert,
            _describe_alert,
        ),
        ActionType(
            "acknowledge_alert",
            "Acknowledge the alert",
            "alert.acknowledge",
            (),
            frozenset({"alert"}),
            _acknowledge,
            _describe_acknowledge,
        ),
        ActionType(
            "resolve_alert",
            "Resolve the alert",
            "alert.resolve",
            (),
            frozenset({"alert"}),
            _resolve,
            _describe_resolve,
            help="An alert NinjaOne holds is reset in NinjaOne too.",
        ),
        ActionType(
            "isolate_endpoint",
            "Isolate the endpoint",
            "detection.isolate",
            (Field("comment", "Comment sent to the tool", TEXT),),
            frozenset({"detection"}),
            _isolate,
            _describe_isolate,
            help="At the endpoint-security tool that reported the detection. Nothing is sent for an "
            "endpoint already isolated.",
        ),
        ActionType(
            "resolve_detection",
            "Resolve the detection",
            "detection.resolve",
            (),
            frozenset({"detection"}),
            _resolve_detection,
            _describe_resolve_detection,
            help="At the tool that reported it.",
        ),
        ActionType(
            "mark_false_positive",
            "Mark the detection a false positive",
            "detection.false_positive",
            (
                Field("reason", "Reason", TEXT),
                Field("scope", "Suppress by", "enum", SUPPRESSION_SCOPE_CHOICES),
                Field("days", "Suppression lasts (days, 1-365; empty: until removed)", "number"),
            ),
            frozenset({"detection"}),
            _false_positive,
            _describe_false_positive,
            help="At the tool, and Vectis keeps a suppression with the reason.",
        ),
        ActionType(
            "adjust_license_seats",
            "Adjust Pax8 seats",
            "license.adjust_seats",
            (Field("product", "Product name or SKU", TEXT), Field("change", "Change in seats (+2, -1)", "number")),
            None,
            _adjust_seats,
            _describe_adjust_seats,
            help="At the distributor, for the event's customer. A reduction of an annual (NCE) term is refused "
            "until its renewal, and History says so.",
        ),
        ActionType(
            "send_email",
            "Send an e-mail",
            "mail.send",
            (Field("to", "To", TEXT), Field("subject", "Subject", TEXT), Field("body", "Message", TEXT)),
            None,
            _email,
            _describe_email,
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


def describe_action(step: Mapping[str, Any], names: Names) -> ActionText:
    """An action in words, wherever it shows: a rule's step (``{"type", "params"}``), a call it made or would
    make (``{"verb", "target", "payload"}``), or one it did not make (``{"skip", "type"}``)."""
    key = str(step.get("type") or step.get("verb") or "")
    kind = ACTION_TYPES.get(key) or next((a for a in ACTION_TYPES.values() if a.verb == key), None)
    if "skip" in step:
        return ActionText(f"{kind.label if kind else 'An action'} — {step['skip']}")
    if kind is None:
        return ActionText(f"An action Vectis no longer has (“{key}”)")
    if "payload" in step:
        return kind.describe(step.get("payload") or {}, names, step.get("target") or {})
    return kind.describe(step.get("params") or {}, names, None)
