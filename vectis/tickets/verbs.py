"""Ticket write-back to the PSA: reply (public or internal, optionally with a status change and an
attachment), change status, assign, change priority, create a ticket. Each call goes to the vendor, the
ticket is read back and stored, and the audit row holds the request and the vendor's answer. Each verb's
``would_send`` makes, with the connector's own builders, the requests its ``apply`` sends: a dry run shows them.

A reply, a note and a new ticket's description carry the technician who wrote them (``members.py``): as their
PSA member where the vendor records one, else signed in the text. The audit row says which (``author``)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from vectis.actions.base import ActionFailed, Applied, Context, RateLimit, Sending, Target, Verb
from vectis.actions.registry import register
from vectis.actions.vendor import OutcomeUnknown, connection_rate, connector_for, noun, vendor_refused, write_once
from vectis.connectors.capabilities import (
    AuthorRefused,
    NewTicket,
    TriagesTickets,
    WritesAsMembers,
    WritesTickets,
    as_capability,
)
from vectis.connectors.registry import get as vendor_class
from vectis.models import (
    Connection,
    Contact,
    Customer,
    CustomerLink,
    PsaMember,
    PsaMemberChoice,
    Role,
    Ticket,
    TicketBoard,
    TicketPriority,
    TicketStatus,
    User,
)
from vectis.platform import params
from vectis.platform.http import ConnectorError
from vectis.tickets import members
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


@dataclass(frozen=True)
class _ReadBack:
    """The ticket as the vendor has it after a write, stored; or, when reading it back failed, ``ticket`` None
    and ``said``: the sentence telling so. The write happened either way, so it is never told as refused."""

    ticket: Ticket | None
    said: str = ""


def _refresh(ctx: Context, psa: WritesTickets, connection: Connection, external_id: str) -> _ReadBack:
    """Read the ticket back from the vendor and store it: what Vectis shows is what the PSA has."""
    try:
        record = psa.get_ticket(external_id)
    except ConnectorError as exc:
        return _unread(psa.noun, exc.message)
    if record is None:
        return _unread(psa.noun, f"{psa.noun} sent it back in a form Vectis could not read")
    try:
        with ctx.session.begin_nested():  # stored whole or not at all
            return _ReadBack(store_ticket(ctx.session, connection, record))
    except LookupError:
        return _unread(psa.noun, f"{psa.noun} sent back a ticket Vectis could not store")


def _unread(noun: str, reason: str) -> _ReadBack:
    return _ReadBack(
        None, f" Refreshing it from {noun} failed: {reason.rstrip('.')}. Vectis shows it after the next sync."
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _noun(connection: Connection) -> str:
    return noun(connection)


def _nothing_sent(ctx: Context, ticket: Ticket, already: str) -> str:
    connection = ctx.session.get(Connection, ticket.connection_id)
    return f"Already {already}: nothing was sent to {_noun(connection) if connection else 'the PSA'}."


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
        return connection_rate(ctx, connection) if connection is not None else None


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


@dataclass(frozen=True)
class _Reply:
    """A reply, checked: the ticket, the text, and the status chosen with it."""

    ticket: Ticket
    text: str
    internal: bool
    status: TicketStatus | None
    connection: Connection

    @property
    def moving_to(self) -> TicketStatus | None:
        """The chosen status if the ticket is not in it yet: only then is a status change sent."""
        return self.status if self.status is not None and self.status.id != self.ticket.status_id else None


def _reply(ctx: Context, target: Target, payload: dict[str, Any]) -> _Reply:
    ticket = _ticket(ctx, target)
    text = str(payload.get("text") or "").strip()
    if not text:
        raise ActionFailed("Write the reply first.")
    status = _status(ctx, ticket, payload.get("status_id"))
    connection = _connection(ctx, ticket.connection_id)
    return _Reply(ticket, text, bool(payload.get("internal")), status, connection)


@register
class ReplyToTicket(TicketVerb):
    name = "ticket.reply"
    label = "Reply to a ticket"
    repeatable = False

    def confirm(self, ctx: Context, target: Target, payload: dict[str, Any], since: datetime) -> Applied | None:
        ticket = _ticket(ctx, target)
        text, internal = str(payload.get("text") or "").strip(), bool(payload.get("internal"))
        connection = _connection(ctx, ticket.connection_id)
        plan = _authorship(ctx, connection)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            try:
                # Sent as the member or, refused, signed: either text may be the one that arrived.
                texts = list(dict.fromkeys([text, plan.sign(text)]))
                if not any(psa.find_note(ticket.external_id, t, internal=internal, since=since) for t in texts):
                    return None
            except ConnectorError:
                return None
            read = _refresh(ctx, psa, connection, ticket.external_id)
            return Applied(
                f"The note is on {psa.noun} ticket #{ticket.external_id}.{read.said}", response={"vendor": {}}
            )

    def redact(self, payload: dict[str, Any]) -> dict[str, Any]:
        clean = dict(payload)
        if clean.get("attachment_content"):
            clean["attachment_content"] = f"<{len(str(clean['attachment_content'])) * 3 // 4} bytes, not kept here>"
        return clean

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        reply = _reply(ctx, target, payload)
        plan = _authorship(ctx, reply.connection)
        with connector_for(ctx, reply.connection, WritesTickets, doing=DOING) as psa:
            external, sending = reply.ticket.external_id, []
            attachment = _attachment(payload, psa.attachment_limit, psa.noun)
            if attachment:
                sending.append(Sending(psa.noun, psa.upload_request(external, *attachment)))
            sending.append(_note_request(psa, plan, external, reply.text, internal=reply.internal))
            if (moving_to := reply.moving_to) is not None:
                sending.append(Sending(psa.noun, psa.status_request(external, moving_to.external_id)))
            return sending

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        reply = _reply(ctx, target, payload)
        ticket, status, connection = reply.ticket, reply.status, reply.connection
        text, internal = reply.text, reply.internal
        plan = _authorship(ctx, connection)
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
                vendor["author"] = _write_note(
                    ctx, psa, connection=connection, plan=plan, external=external, text=text, internal=internal,
                    since=since,
                )  # fmt: skip
                vendor["note"] = {"internal": internal}
            except ConnectorError as exc:
                raise vendor_refused(psa.noun, exc) from None
            # The note is in: a refused status change must not make the reply look refused, or it is sent twice.
            refused = None
            if (moving_to := reply.moving_to) is not None:
                try:
                    psa.set_status(external, moving_to.external_id)
                    vendor["status"] = {"to": moving_to.name}
                except ConnectorError as exc:
                    refused = exc.message
                    vendor["status"] = {"to": moving_to.name, "refused": refused}
            read = _refresh(ctx, psa, connection, external)
            noun = psa.noun
        kind = "Internal note" if internal else "Reply"
        now = read.ticket.status_name if read.ticket else status.name if status else ""
        if refused is not None and status is not None:
            now = read.ticket.status_name if read.ticket else ticket.status_name
            moved = f"; {noun} refused the status change to {status.name} ({refused}), so it is still {now}"
        else:
            moved = f"; status is now {now}" if status is not None else ""
        return Applied(
            f"{kind} sent to {noun} ticket #{external}{_as_member(vendor['author'])}{moved}."
            + _signed(vendor["author"])
            + read.said,
            response={"vendor": vendor, "author": vendor["author"]},
        )


def _authorship(ctx: Context, connection: Connection) -> members.Authorship:
    user = ctx.session.get(User, ctx.actor.user_id) if ctx.actor.user_id else None
    writer = f"{ctx.actor.type} {ctx.actor.label}"
    return members.authorship(ctx.session, user, connection, _noun(connection), writer=writer)


def _author(plan: members.Authorship, *, member: PsaMember | None, why: str) -> dict[str, Any]:
    """What the audit row says about who the vendor shows as the author."""
    if member is not None:
        return {"as": "member", "member": member.name, "member_id": member.external_id}
    if plan.signature is None:
        return {"as": "api member", "why": why}
    return {"as": "signed as text", "signature": plan.signature, "why": why}


def _as_member(author: dict[str, Any]) -> str:
    """ " as Avery Admin" when the vendor shows the member as the author, for the sentence saying it was sent."""
    return f" as {author['member']}" if author.get("as") == "member" else ""


def _signed(author: dict[str, Any]) -> str:
    """A sentence saying the text was signed and why ("" otherwise: a member wrote it, or a rule)."""
    if author.get("as") != "signed as text":
        return ""
    why = str(author["why"]).removeprefix("signed as text: ").rstrip(".")
    return f" Signed “{author['signature']}”: {why}."


def _write_note(
    ctx: Context,
    psa: WritesTickets,
    *,
    connection: Connection,
    plan: members.Authorship,
    external: str,
    text: str,
    internal: bool,
    since: datetime,
) -> dict[str, Any]:
    """The note, at most once: as the member where the vendor takes one; refused (which stores nothing),
    once more signed. A refusal of any member is remembered, so the next writes sign at once."""
    why = plan.why
    if plan.member is not None:  # set only where the vendor takes a member (members.authorship)
        member, writer = plan.member, as_capability(psa, WritesAsMembers)
        try:
            write_once(
                lambda: writer.add_note_as(external, text, internal=internal, member=member.external_id),
                lambda: psa.find_note(external, text, internal=internal, since=since) or None,
                vendor=psa.noun,
                what="the note",
            )
            return _author(plan, member=member, why=why)
        except AuthorRefused as refused:
            if refused.any_member:
                # Kept even if the rest of this action fails: the vendor's answer about its role stands.
                reason = refused.reason
                ctx.lasting.append(lambda: members.remember_refusal(ctx.session, ctx.tenant_id, connection.id, reason))
            why = f"signed as text: {refused.reason}"
    final = plan.sign(text)
    write_once(
        lambda: psa.add_note(external, final, internal=internal),
        lambda: psa.find_note(external, final, internal=internal, since=since) or None,
        vendor=psa.noun,
        what="the note",
    )
    return _author(plan, member=None, why=why)


def _note_request(
    psa: WritesTickets, plan: members.Authorship, external: str, text: str, *, internal: bool, unknown: str = ""
) -> Sending:
    """The note as ``_write_note`` sends it first: as the member where there is one, else signed."""
    if plan.member is None:
        return Sending(psa.noun, psa.note_request(external, plan.sign(text), internal=internal), unknown or None)
    writer = as_capability(psa, WritesAsMembers)
    request = writer.note_as_request(external, text, internal=internal, member=plan.member.external_id)
    fallback = (
        f"Written as {psa.noun} member {plan.member.name}: if {psa.noun} refuses notes written as its members, "
        f"Vectis sends it once more as the API member, signed “{plan.signature}”."
    )
    return Sending(psa.noun, request, f"{unknown} {fallback}".strip())


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


def _status_change(ctx: Context, target: Target, payload: dict[str, Any]) -> tuple[Ticket, TicketStatus, Connection]:
    ticket = _ticket(ctx, target)
    status = _status(ctx, ticket, payload.get("status_id"))
    if status is None:
        raise ActionFailed("Choose the new status.")
    return ticket, status, _connection(ctx, ticket.connection_id)


@register
class UpdateTicketStatus(TicketVerb):
    name = "ticket.update_status"
    label = "Change a ticket's status"

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        ticket = ctx.session.get(Ticket, _int(target.id))
        status = ctx.session.get(TicketStatus, _int(payload.get("status_id")))
        if ticket is None or status is None or status.id != ticket.status_id:
            return None
        return _nothing_sent(ctx, ticket, status.name)

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        ticket, status, connection = _status_change(ctx, target, payload)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            return [Sending(psa.noun, psa.status_request(ticket.external_id, status.external_id))]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        ticket, status, connection = _status_change(ctx, target, payload)
        before = ticket.status_name
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            try:
                psa.set_status(ticket.external_id, status.external_id)
            except ConnectorError as exc:
                raise vendor_refused(psa.noun, exc) from None
            read = _refresh(ctx, psa, connection, ticket.external_id)
        after = read.ticket.status_name if read.ticket else status.name
        return Applied(
            f"Ticket #{ticket.external_id} moved from {before} to {after}.{read.said}",
            response={"before": before, "after": after},
        )


@dataclass(frozen=True)
class _Opening:
    """What a new ticket is made of, checked: where it goes and the ticket as the vendor's ids name it."""

    connection: Connection
    new: NewTicket


def _opening(ctx: Context, target: Target, payload: dict[str, Any]) -> _Opening:
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
        raise ActionFailed(f"{customer.name} is not linked to an account in {noun} yet (Admin → Customer matching).")
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
        description=str(payload.get("description") or "").strip() or None,
    )
    return _Opening(connection, new)


# Where the new ticket's number goes in what a dry run shows: the vendor gives it only when it creates the ticket.
NEW_TICKET = "{new ticket}"


def _as_written(new: NewTicket, plan: members.Authorship) -> tuple[NewTicket, str | None]:
    """The ticket as it is sent, and the description that follows it as the member's first note (None: it goes
    with the ticket). ConnectWise's new ticket has no author of its own (enteredBy is the API member; its owner is
    whom it is assigned to): its description is what a person wrote. Written by a member, the description goes as
    the ticket's first note in their name; otherwise it goes with the ticket, signed."""
    described = new.description or new.summary
    if plan.member is not None:
        return replace(new, description=None), described
    if plan.name is not None:
        return replace(new, description=plan.sign(described)), None
    return new, None


@register
class CreateTicket(TicketVerb):
    name = "ticket.create"
    label = "Create a ticket"
    target_type = "customer"
    repeatable = False

    def connection_id(self, ctx: Context, target: Target, payload: dict[str, Any]) -> int | None:
        board = ctx.session.get(TicketBoard, _int(payload.get("board_id")))
        return board.connection_id if board else None

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        opening = _opening(ctx, target, payload)
        plan = _authorship(ctx, opening.connection)
        new, described = _as_written(opening.new, plan)
        with connector_for(ctx, opening.connection, WritesTickets, doing=DOING) as psa:
            sending = [Sending(psa.noun, psa.create_request(new))]
            if described is not None:
                number = f"{NEW_TICKET} stands for the number {psa.noun} gives the new ticket."
                sending.append(_note_request(psa, plan, NEW_TICKET, described, internal=False, unknown=number))
            return sending

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        opening = _opening(ctx, target, payload)
        connection = opening.connection
        plan = _authorship(ctx, connection)
        new, described = _as_written(opening.new, plan)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            since = _now()
            try:
                created = write_once(
                    lambda: psa.create_ticket(new),
                    lambda: psa.find_ticket(new, since=since),
                    vendor=psa.noun,
                    what="the new ticket",
                )
            except ConnectorError as exc:
                raise vendor_refused(psa.noun, exc) from None
            author, missing = _author(plan, member=None, why=plan.why), ""
            if described is not None:
                # The ticket exists now: a description that fails to follow must not undo it in Vectis.
                try:
                    author = _write_note(
                        ctx, psa, connection=connection, plan=plan, external=created, text=described, internal=False,
                        since=since,
                    )  # fmt: skip
                except (ConnectorError, OutcomeUnknown) as exc:
                    author = {"as": "api member", "why": f"the description did not arrive: {exc.message}"}
                    missing = f" Its description did not reach {psa.noun} ({exc.message}): add it as a reply."
            return _created(ctx, psa, connection, created, payload, summary=new.summary, author=author, missing=missing)

    def confirm(self, ctx: Context, target: Target, payload: dict[str, Any], since: datetime) -> Applied | None:
        """After a worker died while creating it: the ticket with this summary the PSA opened for the company on
        the board since then, if there is one, and whether a description a member was to add followed it."""
        opening = _opening(ctx, target, payload)
        connection, new = opening.connection, opening.new
        plan = _authorship(ctx, connection)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            missing = ""
            try:
                created = psa.find_ticket(new, since=since)
                if created is None:
                    return None
                if plan.member is not None:  # its description was to follow as a note, as the member or signed
                    described = new.description or new.summary
                    texts = dict.fromkeys([described, plan.sign(described)])
                    if not any(psa.find_note(created, t, internal=False, since=since) for t in texts):
                        missing = (
                            f" Its description may not have reached {psa.noun}: check the ticket and add it as a "
                            "reply if it is missing."
                        )
            except ConnectorError:
                return None
            author = {"as": "not known", "why": "found by reading back after the worker sending it stopped"}
            return _created(ctx, psa, connection, created, payload, summary=new.summary, author=author, missing=missing)


def _created(
    ctx: Context,
    psa: WritesTickets,
    connection: Connection,
    created: str,
    payload: dict[str, Any],
    *,
    summary: str,
    author: dict[str, Any],
    missing: str,
) -> Applied:
    """A ticket the PSA now has: read back and stored, linked to the alert it was opened for, and said. If it
    cannot be read back it is still created, and said so with its number: never as refused, or it is sent again."""
    read = _refresh(ctx, psa, connection, created)
    ticket, unlinked = read.ticket, ""
    if payload.get("alert_id"):
        if ticket is not None:
            attached_by = "user" if ctx.actor.type == "user" else "rule"
            attach_alert(ctx.session, ctx.tenant_id, _int(payload["alert_id"]), ticket.id, attached_by=attached_by)
        else:
            unlinked = (
                f" It is not linked to the alert yet: check {psa.noun} before opening the alert as a ticket again."
            )
    said, more = (
        f"Created {psa.noun} ticket #{created}{_as_member(author)}: {ticket.summary if ticket else summary}",
        _signed(author) + missing + read.said + unlinked,
    )
    return Applied(
        f"{said}.{more}" if more else said,
        response={"vendor": {"id": created}, "ticket_id": ticket.id if ticket else None, "author": author},
    )


UNASSIGNED = "none"  # Assign's "Unassigned", said outright: a missing or unknown choice never unassigns


def _assignee(ctx: Context, ticket: Ticket, connection: Connection, payload: dict[str, Any]) -> PsaMember | None:
    """The member Assign asks for; None: nobody, only when asked for by ``UNASSIGNED``."""
    wanted = str(payload.get("member_id") or "").strip()
    if not wanted:  # a browser sends nothing for a chosen option that is disabled
        raise ActionFailed("Choose whom to assign the ticket to, or Unassigned.")
    if wanted == UNASSIGNED:
        return None
    member = ctx.session.get(PsaMember, _int(wanted))
    if member is None or member.connection_id != ticket.connection_id:
        raise ActionFailed(f"Choose one of {connection.name}'s members.")
    if member.inactive:
        raise ActionFailed(f"{member.name} is inactive in {connection.name}. Choose someone else.")
    return member


@register
class AssignTicket(TicketVerb):
    name = "ticket.assign"
    label = "Assign a ticket"

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        ticket = ctx.session.get(Ticket, _int(target.id))
        wanted = str(payload.get("member_id") or "").strip()
        if ticket is None or not wanted:
            return None
        if wanted == UNASSIGNED:
            return None if ticket.assignee or ticket.assignee_external_id else _nothing_sent(ctx, ticket, "unassigned")
        member = ctx.session.get(PsaMember, _int(wanted))
        if member is None or member.connection_id != ticket.connection_id:
            return None
        if member.external_id != ticket.assignee_external_id:
            return None
        return _nothing_sent(ctx, ticket, f"assigned to {member.name}")

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        ticket = _ticket(ctx, target)
        connection = _connection(ctx, ticket.connection_id)
        member = _assignee(ctx, ticket, connection, payload)
        with connector_for(ctx, connection, TriagesTickets, doing="assign tickets in") as psa:
            request = psa.assign_request(ticket.external_id, member.external_id if member else None)
            return [Sending(str(getattr(psa, "noun", connection.name)), request)]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        ticket = _ticket(ctx, target)
        connection = _connection(ctx, ticket.connection_id)
        member = _assignee(ctx, ticket, connection, payload)
        before = ticket.assignee or "nobody"
        with connector_for(ctx, connection, TriagesTickets, doing="assign tickets in") as psa:
            noun = str(getattr(psa, "noun", connection.name))
            try:
                psa.assign(ticket.external_id, member.external_id if member else None)
            except ConnectorError as exc:
                raise vendor_refused(noun, exc) from None
            read = _refresh(ctx, as_capability(psa, WritesTickets), connection, ticket.external_id)
        assignee = read.ticket.assignee if read.ticket else member.name if member else None
        message = (
            f"Ticket #{ticket.external_id} is assigned to {assignee}."
            if assignee
            else f"Ticket #{ticket.external_id} is no longer assigned to anyone."
        )
        return Applied(message + read.said, response={"before": before, "after": assignee or "nobody"})


def _priority_change(
    ctx: Context, target: Target, payload: dict[str, Any]
) -> tuple[Ticket, TicketPriority, Connection]:
    ticket = _ticket(ctx, target)
    connection = _connection(ctx, ticket.connection_id)
    priority = ctx.session.get(TicketPriority, _int(payload.get("priority_id")))
    if priority is None or priority.connection_id != ticket.connection_id:
        raise ActionFailed(f"Choose one of {connection.name}'s priorities.")
    return ticket, priority, connection


@register
class ChangeTicketPriority(TicketVerb):
    name = "ticket.set_priority"
    label = "Change a ticket's priority"

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        ticket = ctx.session.get(Ticket, _int(target.id))
        priority = ctx.session.get(TicketPriority, _int(payload.get("priority_id")))
        if ticket is None or priority is None or priority.connection_id != ticket.connection_id:
            return None
        if priority.external_id != ticket.priority_external_id:
            return None
        return _nothing_sent(ctx, ticket, priority.name)

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        ticket, priority, connection = _priority_change(ctx, target, payload)
        with connector_for(ctx, connection, TriagesTickets, doing="change priorities in") as psa:
            request = psa.priority_request(ticket.external_id, priority.external_id)
            return [Sending(str(getattr(psa, "noun", connection.name)), request)]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        ticket, priority, connection = _priority_change(ctx, target, payload)
        before = ticket.priority or "none"
        with connector_for(ctx, connection, TriagesTickets, doing="change priorities in") as psa:
            noun = str(getattr(psa, "noun", connection.name))
            try:
                psa.set_priority(ticket.external_id, priority.external_id)
            except ConnectorError as exc:
                raise vendor_refused(noun, exc) from None
            read = _refresh(ctx, as_capability(psa, WritesTickets), connection, ticket.external_id)
        after = read.ticket.priority if read.ticket else priority.name
        return Applied(
            f"Ticket #{ticket.external_id} is now {after} (was {before}).{read.said}",
            response={"before": before, "after": after},
        )


# --- an admin's choices about authorship ------------------------------------------------------------


AUTOMATIC = "auto"  # no choice: the member with the user's e-mail
NOBODY = "none"  # no member: the user's writes are signed in the text


@register
class ChooseMember(Verb):
    """Which PSA member a user is. An admin's choice outlives every sync; "auto" hands it back to e-mail."""

    name = "psa_member.choose"
    label = "Choose a user's PSA member"
    target_type = "user"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = ctx.session.get(User, _int(target.id))
        if user is None:
            raise ActionFailed("That user no longer exists.")
        connection = ctx.session.get(Connection, _int(payload.get("connection_id")))
        if connection is None or connection.id not in {c.id for c in members.psa_connections(ctx.session)}:
            raise ActionFailed("That PSA is no longer connected. Reload the page.")
        wanted = str(payload.get("member_id") or "").strip()
        choice = ctx.session.scalar(
            select(PsaMemberChoice).where(
                PsaMemberChoice.user_id == user.id, PsaMemberChoice.connection_id == connection.id
            )
        )
        before = members.mapping(ctx.session, user, connection)
        if wanted == AUTOMATIC:
            if choice is not None:
                ctx.session.delete(choice)
                ctx.session.flush()
            after = members.mapping(ctx.session, user, connection)
            found = (
                f"matched by e-mail to {after.member.name}"
                if after.member
                else "not matched: no member has that e-mail"
            )
            return Applied(
                f"{user.name} at {connection.name}: {found}.",
                response={"before": _described(before), "after": _described(after)},
            )
        member: PsaMember | None = None
        if wanted != NOBODY:
            member = ctx.session.get(PsaMember, _int(wanted))
            if member is None or member.connection_id != connection.id:
                raise ActionFailed(f"Choose one of {connection.name}'s members.")
            if member.inactive:
                raise ActionFailed(f"{member.name} is inactive in {connection.name}. Choose an active member.")
        if choice is None:
            choice = PsaMemberChoice(tenant_id=ctx.tenant_id, user_id=user.id, connection_id=connection.id)
            ctx.session.add(choice)
        choice.member_id = member.id if member else None
        choice.chosen_by = ctx.actor.user_id
        choice.chosen_at = _now()
        ctx.session.flush()
        after = members.mapping(ctx.session, user, connection)
        said = f"writes as {member.name}" if member else "has no member: their writes are signed in the text"
        return Applied(
            f"{user.name} at {connection.name} {said}.",
            response={"before": _described(before), "after": _described(after)},
        )


def _described(found: members.Mapping) -> dict[str, Any]:
    if found.member is None:
        return {"member": None, "how": found.how}
    return {"member": found.member.name, "member_id": found.member.external_id, "how": found.how}


@register
class RetryMembers(Verb):
    """Forget that a PSA refused notes written as its members: the next write tries again."""

    name = "psa_authorship.retry"
    label = "Try writing as PSA members again"
    target_type = "connection"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        connection = ctx.session.get(Connection, _int(target.id))
        if connection is None:
            raise ActionFailed("That PSA is no longer connected. Reload the page.")
        if not members.forget_refusal(ctx.session, connection.id):
            return Applied(f"{connection.name} has not refused anything: nothing to try again.")
        return Applied(
            f"The next reply to {connection.name} is sent as its writer's member again.", response={"retry": True}
        )
