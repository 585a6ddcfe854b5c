"""What the portal changes, each through ``vectis.actions`` (surface ``portal``, the same audit log as operators):
a portal user's comment, "mark resolved" and new ticket, written back to the customer's PSA through the same
``WritesTickets`` capability the operators' replies use; inviting portal users (operators from the hub, a portal
Admin for their own customer); and the admin's branding and portal settings.

A portal user is an actor of their own type (``portal_user``): operator verbs refuse them (``Verb.permitted``), and
these verbs check the ticket or customer against the user's scope again, whatever the page already checked."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import func, select

from vectis.actions.base import ActionFailed, Actor, Applied, Context, RateLimit, Sending, Target, Verb
from vectis.actions.registry import register
from vectis.actions.vendor import connection_rate, connector_for, vendor_refused, write_once
from vectis.branding import contrast
from vectis.branding.logo import LogoRefused
from vectis.branding.logo import accept as accept_logo
from vectis.connectors.capabilities import CreatesContacts, NewTicket, WritesTickets, as_capability, supports
from vectis.models import (
    Connection,
    Contact,
    Customer,
    CustomerLink,
    PortalBranding,
    PortalRole,
    PortalSettings,
    PortalUser,
    PortalUserSite,
    Role,
    Tenant,
    Ticket,
    TicketBoard,
)
from vectis.platform import params
from vectis.platform.http import ConnectorError
from vectis.portal_access import notify, resets, users
from vectis.portal_access import settings as portal_settings
from vectis.portal_access import tickets as portal_tickets
from vectis.portal_access.hosts import portal_url
from vectis.portal_access.scope import Scope, scope_of, sites_of
from vectis.tickets.writer import store_ticket

DOING = "write tickets back to"
MAX_TEXT = 10_000
ACTING = frozenset({PortalRole.ADMIN, PortalRole.MEMBER})


def _now() -> datetime:
    return datetime.now(UTC)


def _int(value: Any) -> int:
    return params.integer(value) or 0


class PortalVerb(Verb):
    """A verb only a portal user of one of ``portal_roles`` performs."""

    portal_roles: ClassVar[frozenset[PortalRole]] = ACTING

    def permitted(self, actor: Actor, target: Target) -> bool:
        return actor.type == "portal_user" and actor.role in {role.value for role in self.portal_roles}


def _portal_user(ctx: Context) -> PortalUser:
    user = ctx.session.get(PortalUser, _int(ctx.actor.id)) if ctx.actor.type == "portal_user" else None
    if user is None or not user.is_active:
        raise ActionFailed("Your portal account is no longer active. Ask your IT provider.")
    return user


def _scope(ctx: Context) -> tuple[PortalUser, Scope]:
    user = _portal_user(ctx)
    if ctx.session.get(Customer, user.customer_id) is None:
        raise ActionFailed("Your portal account is no longer active. Ask your IT provider.")
    return user, scope_of(ctx.session, user)


def _signature(user: PortalUser, scope: Scope) -> str:
    """The line that names the portal user at the PSA (its notes come from the API member); the portal reads it
    back to show their name (``tickets.SIGNED``)."""
    return f"— {user.name}, {scope.customer_name}{portal_tickets.SIGNED}"


def _ticket(ctx: Context, target: Target) -> tuple[PortalUser, Scope, Ticket, Connection]:
    user, scope = _scope(ctx)
    ticket = ctx.session.get(Ticket, _int(target.id))
    if ticket is None or not scope.allows(ticket.customer_id):
        raise ActionFailed("That ticket is not one of yours.")
    connection = ctx.session.get(Connection, ticket.connection_id)
    if connection is None:
        raise ActionFailed("This ticket can no longer be changed from the portal. Contact your IT provider.")
    return user, scope, ticket, connection


def _refresh(ctx: Context, psa: WritesTickets, connection: Connection, external_id: str) -> Ticket | None:
    """The ticket read back from the PSA and stored, so the portal shows what the PSA has (None: not readable now;
    the next sync brings it)."""
    try:
        record = psa.get_ticket(external_id)
    except ConnectorError:
        return None
    if record is None:
        return None
    try:
        with ctx.session.begin_nested():
            return store_ticket(ctx.session, connection, record)
    except LookupError:
        return None


class PortalTicketVerb(PortalVerb):
    target_type = "ticket"

    def rate_limit(self, ctx: Context, target: Target, payload: dict[str, Any]) -> RateLimit | None:
        ticket = ctx.session.get(Ticket, _int(target.id))
        connection = ctx.session.get(Connection, ticket.connection_id) if ticket else None
        return connection_rate(ctx, connection) if connection is not None else None


def _comment_text(payload: dict[str, Any]) -> str:
    text = str(payload.get("text") or "").strip()
    if not text:
        raise ActionFailed("Write your comment first.")
    if len(text) > MAX_TEXT:
        raise ActionFailed(f"Keep a comment under {MAX_TEXT:,} characters.")
    return text


@register
class CommentOnTicket(PortalTicketVerb):
    """A public reply on the ticket at the PSA, signed with the portal user's name (a PSA has no member for them)."""

    name = "portal.ticket_comment"
    label = "Comment on a ticket from the portal"
    repeatable = False

    def _signed(self, ctx: Context, target: Target, payload: dict[str, Any]) -> tuple[Ticket, Connection, str]:
        user, scope, ticket, connection = _ticket(ctx, target)
        return ticket, connection, f"{_comment_text(payload)}\n\n{_signature(user, scope)}"

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        ticket, connection, signed = self._signed(ctx, target, payload)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            return [Sending(psa.noun, psa.note_request(ticket.external_id, signed, internal=False))]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        ticket, connection, signed = self._signed(ctx, target, payload)
        external = ticket.external_id
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            since = _now()
            try:
                write_once(
                    lambda: psa.add_note(external, signed, internal=False),
                    lambda: psa.find_note(external, signed, internal=False, since=since) or None,
                    vendor=psa.noun,
                    what="your comment",
                )
            except ConnectorError as exc:
                raise vendor_refused(psa.noun, exc) from None
            _refresh(ctx, psa, connection, external)
        return Applied(
            f"Your comment was added to ticket #{external}.",
            response={"vendor": {"note": {"internal": False}}, "ticket": external},
        )

    def confirm(self, ctx: Context, target: Target, payload: dict[str, Any], since: datetime) -> Applied | None:
        ticket, connection, signed = self._signed(ctx, target, payload)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            try:
                if not psa.find_note(ticket.external_id, signed, internal=False, since=since):
                    return None
            except ConnectorError:
                return None
            _refresh(ctx, psa, connection, ticket.external_id)
        return Applied(f"Your comment is on ticket #{ticket.external_id}.", response={"ticket": ticket.external_id})


@register
class ResolveTicket(PortalTicketVerb):
    """Mark resolved: the ticket moves to its board's resolved status at the PSA (setting a status twice is one
    change, so it may be repeated)."""

    name = "portal.ticket_resolve"
    label = "Mark a ticket resolved from the portal"

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        ticket = ctx.session.get(Ticket, _int(target.id))
        return f"Ticket #{ticket.external_id} is already {ticket.status_name}." if ticket and ticket.closed else None

    def _status(self, ctx: Context, target: Target) -> tuple[Ticket, Connection, str, str]:
        _, _, ticket, connection = _ticket(ctx, target)
        status = portal_tickets.resolved_status(ctx.session, ticket)
        if status is None:
            raise ActionFailed(
                f"Ticket #{ticket.external_id} cannot be resolved from the portal. Reply asking your IT provider to "
                "close it."
            )
        return ticket, connection, status.external_id, status.name

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        ticket, connection, status, _ = self._status(ctx, target)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            return [Sending(psa.noun, psa.status_request(ticket.external_id, status))]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        ticket, connection, status, status_name = self._status(ctx, target)
        before = ticket.status_name
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            try:
                psa.set_status(ticket.external_id, status)
            except ConnectorError as exc:
                raise vendor_refused(psa.noun, exc) from None
            read = _refresh(ctx, psa, connection, ticket.external_id)
        after = read.status_name if read else status_name
        return Applied(f"Ticket #{ticket.external_id} is marked {after}.", response={"before": before, "after": after})


def _link(ctx: Context, connection_id: int, customer: Customer) -> str | None:
    """The customer's account at the PSA; a site without one of its own is filed under its parent's."""
    found = ctx.session.scalar(
        select(CustomerLink.external_id).where(
            CustomerLink.connection_id == connection_id, CustomerLink.customer_id == customer.id
        )
    )
    if found is None and customer.parent_id is not None:
        parent = ctx.session.get(Customer, customer.parent_id)
        return _link(ctx, connection_id, parent) if parent is not None else None
    return found


def _contact(ctx: Context, connection_id: int, user: PortalUser, scope: Scope) -> str | None:
    """The PSA contact with the portal user's email among the customer's, if the PSA has one."""
    return ctx.session.scalar(
        select(Contact.external_id)
        .where(
            Contact.connection_id == connection_id,
            func.lower(Contact.email) == user.email,
            Contact.customer_id.in_([scope.customer_id, *scope.customer_ids]),
            Contact.inactive.is_(False),
        )
        .order_by(Contact.id)
        .limit(1)
    )


def _opening(ctx: Context, target: Target, payload: dict[str, Any]) -> tuple[Connection, NewTicket, Scope]:
    user, scope = _scope(ctx)
    customer_id = _int(target.id)
    if not scope.allows(customer_id):
        raise ActionFailed("Choose one of your sites for the ticket.")
    customer = ctx.session.get(Customer, customer_id)
    if customer is None:
        raise ActionFailed("Choose one of your sites for the ticket.")
    summary = " ".join(str(payload.get("summary") or "").split())
    if not summary:
        raise ActionFailed("Give the ticket a short summary of the problem.")
    if len(summary) > 100:
        raise ActionFailed("Keep the summary under 100 characters; put the details in the description.")
    description = str(payload.get("description") or "").strip()
    if len(description) > MAX_TEXT:
        raise ActionFailed(f"Keep the description under {MAX_TEXT:,} characters.")
    board = portal_settings.board_for(ctx.session, scope.customer_id) or portal_settings.board_for(
        ctx.session, customer_id
    )
    if board is None or ctx.session.get(TicketBoard, board.id) is None:
        raise ActionFailed("New tickets cannot be opened here yet. Contact your IT provider directly.")
    connection = ctx.session.get(Connection, board.connection_id)
    company = _link(ctx, board.connection_id, customer)
    if connection is None or company is None:
        raise ActionFailed("New tickets cannot be opened here yet. Contact your IT provider directly.")
    signed = f"{description or summary}\n\n— {user.name} <{user.email}>, {customer.name}{portal_tickets.SIGNED}"
    contact = _contact(ctx, board.connection_id, user, scope)
    return connection, NewTicket(company, board.external_id, summary, None, contact, signed), scope


def _as_contact(
    ctx: Context, psa: WritesTickets, connection: Connection, new: NewTicket, customer_id: int
) -> NewTicket:
    """``new`` for the portal user's PSA contact: found at the PSA by e-mail, or made there, when Vectis knows none
    and the PSA can make one (``CreatesContacts``). Stored at once, so the next ticket finds it before a sync does.
    A PSA that cannot, or refuses: the ticket goes without a contact (the description names the person)."""
    if new.contact is not None or not supports(psa, CreatesContacts):
        return new
    user = _portal_user(ctx)
    people = as_capability(psa, CreatesContacts)
    try:
        found = people.find_contact(new.company, user.email) or write_once(
            lambda: people.create_contact(new.company, user.name, user.email),
            lambda: people.find_contact(new.company, user.email),
            vendor=psa.noun,
            what="the new contact",
        )
    except (ConnectorError, ActionFailed):
        return new
    if (
        ctx.session.scalar(
            select(Contact.id).where(Contact.connection_id == connection.id, Contact.external_id == found)
        )
        is None
    ):
        ctx.session.add(
            Contact(
                tenant_id=ctx.tenant_id, connection_id=connection.id, customer_id=customer_id, external_id=found,
                name=user.name, email=user.email,
            )
        )  # fmt: skip
        ctx.session.flush()
    return replace(new, contact=found)


# Where the contact a new ticket is for goes in what a dry run shows, when the action finds or makes it first.
NEW_CONTACT = "{new contact}"


@register
class OpenTicket(PortalVerb):
    """A new ticket at the PSA on the board chosen for the customer, for the portal user's PSA contact when the
    PSA has one with their email (otherwise their name and email are in the description)."""

    name = "portal.ticket_create"
    label = "Open a ticket from the portal"
    target_type = "customer"
    repeatable = False

    def rate_limit(self, ctx: Context, target: Target, payload: dict[str, Any]) -> RateLimit | None:
        try:
            connection, _, _ = _opening(ctx, target, payload)
        except ActionFailed:
            return None  # apply says why
        return connection_rate(ctx, connection)

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        connection, new, _ = _opening(ctx, target, payload)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            sending = []
            unknown = None
            if new.contact is None and supports(psa, CreatesContacts):
                user = _portal_user(ctx)
                request = as_capability(psa, CreatesContacts).contact_request(new.company, user.name, user.email)
                maybe = f"Only if {psa.noun} has no contact with {user.email} yet; the ticket is then for it."
                sending.append(Sending(psa.noun, request, maybe))
                new = replace(new, contact=NEW_CONTACT)
                unknown = f"{NEW_CONTACT} stands for {psa.noun}'s contact with {user.email}, found or made first."
            return [*sending, Sending(psa.noun, psa.create_request(new), unknown)]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        connection, new, _ = _opening(ctx, target, payload)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            new = _as_contact(ctx, psa, connection, new, _int(target.id))
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
            stored = _refresh(ctx, psa, connection, created)
        return Applied(
            f"Ticket #{created} is open: {new.summary}.",
            response={"vendor": {"id": created}, "ticket_id": stored.id if stored else None, "contact": new.contact},
        )

    def confirm(self, ctx: Context, target: Target, payload: dict[str, Any], since: datetime) -> Applied | None:
        connection, new, _ = _opening(ctx, target, payload)
        with connector_for(ctx, connection, WritesTickets, doing=DOING) as psa:
            try:
                created = psa.find_ticket(new, since=since)
            except ConnectorError:
                return None
            if created is None:
                return None
            stored = _refresh(ctx, psa, connection, created)
        return Applied(
            f"Ticket #{created} is open: {new.summary}.",
            response={"vendor": {"id": created}, "ticket_id": stored.id if stored else None},
        )


# --- portal users ------------------------------------------------------------------------------------------------

OPERATORS = frozenset({Role.ADMIN.value, Role.TECHNICIAN.value})
ROLE_WORDS = "Choose a role: Admin, Member or Viewer."


def _site_ids(payload: dict[str, Any]) -> list[int]:
    given = payload.get("site_ids") or []
    if isinstance(given, str | int):
        given = [given]
    return sorted({_int(value) for value in given if _int(value)})


@register
class InvitePortalUser(Verb):
    """A new portal user at a customer, with a one-time setup link (mailed, and shown to whoever invited them).
    Operators invite from the hub; a portal Admin invites people of their own customer, within their own sites."""

    name = "portal_user.invite"
    label = "Invite a portal user"
    target_type = "customer"
    reaches_vendor = False
    repeatable = False

    def permitted(self, actor: Actor, target: Target) -> bool:
        if actor.type == "portal_user":
            return actor.role == PortalRole.ADMIN.value
        return actor.role in OPERATORS

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        customer = ctx.session.get(Customer, _int(target.id))
        if customer is None:
            raise ActionFailed("That customer no longer exists.")
        inviter: Scope | None = None
        if ctx.actor.type == "portal_user":
            _, inviter = _scope(ctx)
            if inviter.customer_id != customer.id:
                raise ActionFailed("You can invite people of your own organisation only.")
        name = " ".join(str(payload.get("name") or "").split())
        email = str(payload.get("email") or "").strip().lower()
        role = str(payload.get("role") or "")
        if not name:
            raise ActionFailed("Enter the person's name.")
        if "@" not in email or len(email) > 320 or any(ch.isspace() for ch in email):
            raise ActionFailed("Enter the email address the invitation should go to.")
        if role not in {r.value for r in PortalRole}:
            raise ActionFailed(ROLE_WORDS)
        sites = {site.id: site for site in sites_of(ctx.session, customer.id)}
        chosen = _site_ids(payload)
        if any(site_id not in sites for site_id in chosen):
            raise ActionFailed(f"Choose sites of {customer.name} only.")
        if inviter is not None and inviter.limited:
            mine = {site.id for site in inviter.sites}
            if not chosen or not set(chosen) <= mine:
                raise ActionFailed("Choose one or more of your own sites for the person you invite.")
        if users.by_email(ctx.session, email) is not None:
            raise ActionFailed(f"{email} already has a portal account with this provider.")
        user = PortalUser(
            tenant_id=ctx.tenant_id,
            customer_id=customer.id,
            name=name[:200],
            email=email,
            role=role,
            invited_by=ctx.actor.label,
        )
        token = users.new_setup_token(user)
        ctx.session.add(user)
        ctx.session.flush()
        for site_id in chosen:
            ctx.session.add(PortalUserSite(tenant_id=ctx.tenant_id, portal_user_id=user.id, customer_id=site_id))
        slug = ctx.session.scalar(select(Tenant.slug).where(Tenant.id == ctx.tenant_id))
        link = portal_url(str(slug), f"/setup/{token}")
        company = _company_name(ctx)
        where = f" for {', '.join(sites[s].name for s in chosen)}" if chosen else ""
        mail = notify.queue(
            ctx.session,
            ctx.tenant_id,
            user,
            subject=f"Your {company} support portal account",
            body=(
                f"Hello {name},\n\n{company} has set up a support portal account for you at {customer.name}{where} "
                f"({PortalRole(role).label}).\n\nChoose your password with the link below. It works once, for "
                f"{int(users.SETUP_LIFETIME.total_seconds() // 3600)} hours."
            ),
            action_url=link,
            action_label="Choose your password",
            one_time=True,
            after_commit=ctx.after_commit,
        )
        return Applied(
            f"Invited {email} to the portal. The setup link was mailed; you can also copy it below.",
            response={
                "portal_user_id": user.id,
                "role": role,
                "site_ids": chosen,
                "mail_id": mail.id if mail is not None else None,
                "expires_at": user.setup_expires_at.isoformat() if user.setup_expires_at else None,
            },
            private={"link": link, "portal_user_id": user.id},
        )


def _company_name(ctx: Context) -> str:
    return notify.company_name(ctx.session, ctx.tenant_id)


@register
class DeactivatePortalUser(Verb):
    """Turn a portal account off: its sessions end at once (their version no longer matches)."""

    name = "portal_user.deactivate"
    label = "Deactivate a portal user"
    target_type = "portal_user"
    reaches_vendor = False

    def permitted(self, actor: Actor, target: Target) -> bool:
        return actor.type != "portal_user" and actor.role in OPERATORS

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        user = ctx.session.get(PortalUser, _int(target.id))
        return f"{user.email} is already deactivated." if user is not None and not user.is_active else None

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = ctx.session.get(PortalUser, _int(target.id))
        if user is None:
            raise ActionFailed("That portal user no longer exists.")
        user.is_active = False
        user.session_version += 1
        user.setup_token_hash = user.reset_token_hash = None
        return Applied(f"{user.email} can no longer sign in to the portal.", response={"portal_user_id": user.id})


# --- admin: branding and settings --------------------------------------------------------------------------------


class AdminVerb(Verb):
    reaches_vendor = False

    def permitted(self, actor: Actor, target: Target) -> bool:
        return actor.type != "portal_user" and actor.role == Role.ADMIN.value


def accent_problem(accent: str) -> str | None:
    """Why ``accent`` cannot be the portal's accent, with the contrast ratio; None when it can."""
    colour = contrast.normalised(accent)
    if colour is None:
        return "Enter the accent colour as a hex code, like #1f6feb."
    verdict = contrast.judge(colour)
    if not verdict.passes:
        return (
            f"Text on {colour} has a contrast ratio of {verdict.shown}; WCAG AA needs at least 4.5:1. "
            "Choose a darker (or much lighter) accent."
        )
    return None


@register
class SaveBranding(AdminVerb):
    name = "portal.branding"
    label = "Change the portal's branding"
    target_type = "tenant"

    def redact(self, payload: dict[str, Any]) -> dict[str, Any]:
        clean = dict(payload)
        if clean.get("logo_content"):
            clean["logo_content"] = f"<{len(str(clean['logo_content'])) * 3 // 4} bytes, not kept here>"
        return clean

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        company = " ".join(str(payload.get("company_name") or "").split())
        if not company:
            raise ActionFailed("Enter the company name your customers know you by.")
        if len(company) > 200:
            raise ActionFailed("Keep the company name under 200 characters.")
        if (problem := accent_problem(str(payload.get("accent") or ""))) is not None:
            raise ActionFailed(problem)
        accent = contrast.normalised(str(payload["accent"])) or ""
        branding = ctx.session.scalar(select(PortalBranding))
        if branding is None:
            branding = PortalBranding(tenant_id=ctx.tenant_id, company_name=company, accent=accent)
            ctx.session.add(branding)
        branding.company_name, branding.accent, branding.updated_at = company, accent, _now()
        if "postal_address" in payload:
            address = " ".join(str(payload.get("postal_address") or "").split())
            if len(address) > 500:
                raise ActionFailed("Keep the postal address under 500 characters.")
            branding.postal_address = address or None
        removed: tuple[str, ...] = ()
        logo = "unchanged"
        if payload.get("logo_content"):
            try:
                content = base64.b64decode(str(payload["logo_content"]), validate=True)
            except (binascii.Error, ValueError):
                raise ActionFailed("The logo could not be read. Choose the file again.") from None
            try:
                accepted = accept_logo(str(payload.get("logo_name") or ""), content)
            except LogoRefused as refused:
                raise ActionFailed(refused.message) from None
            branding.logo, branding.logo_content_type, removed = (
                accepted.content,
                accepted.content_type,
                accepted.removed,
            )
            logo = accepted.content_type
        elif payload.get("remove_logo"):
            branding.logo = branding.logo_content_type = None
            logo = "removed"
        ctx.session.flush()
        said = f"The portal now shows {company} in {accent}."
        if removed:
            said += f" The logo was cleaned of what a logo must not carry: {', '.join(dict.fromkeys(removed))}."
        return Applied(said, response={"company_name": company, "accent": accent, "logo": logo, "removed": removed})


@register
class SavePortalSettings(AdminVerb):
    """The surfaces a customer's portal shows (or the workspace's, with no customer) and where new tickets go."""

    name = "portal.settings"
    label = "Change portal settings"
    target_type = "tenant"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        customer_id = _int(payload.get("customer_id")) or None
        customer = ctx.session.get(Customer, customer_id) if customer_id else None
        if customer_id and customer is None:
            raise ActionFailed("That customer no longer exists.")
        board_id = _int(payload.get("board_id")) or None
        if board_id is not None and (customer is None or ctx.session.get(TicketBoard, board_id) is None):
            raise ActionFailed("Choose one of your PSA's boards for this customer's tickets.")
        row = (
            portal_settings.customer_row(ctx.session, customer.id)
            if customer
            else portal_settings.workspace_row(ctx.session)
        )
        if row is None:
            row = PortalSettings(tenant_id=ctx.tenant_id, customer_id=customer.id if customer else None)
            ctx.session.add(row)
        switches = {surface: bool(payload.get(surface)) for surface in portal_settings.SURFACES}
        row.tickets, row.assets, row.backups = switches["tickets"], switches["assets"], switches["backups"]
        if customer is not None:
            row.board_id = board_id
        row.updated_at = _now()
        ctx.session.flush()
        on = [portal_settings.LABELS[s] for s, v in switches.items() if v] or ["nothing"]
        whose = customer.name if customer else "every customer"
        board = ctx.session.get(TicketBoard, board_id) if board_id else None
        where = f"; new tickets go to {board.name}" if board else ""
        return Applied(
            f"The portal shows {', '.join(on)} for {whose}{where}.",
            response={**switches, "customer_id": customer.id if customer else None, "board_id": board_id},
        )


@register
class Unsubscribe(PortalVerb):
    """A portal user stops one category of mail (digests, announcements), by the link in its footer. Ticket mail is
    transactional and has no way out but deactivation."""

    name = "portal.unsubscribe"
    label = "Unsubscribe from portal mail"
    target_type = "portal_user"
    reaches_vendor = False
    portal_roles = frozenset(PortalRole)

    def permitted(self, actor: Actor, target: Target) -> bool:
        return super().permitted(actor, target) and actor.id == target.id

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        category = str(payload.get("category") or "")
        if category in notify.UNSUBSCRIBABLE and notify.opted_out(ctx.session, _int(target.id), category):
            return f"You are already unsubscribed from {category}s."
        return None

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = ctx.session.get(PortalUser, _int(target.id))
        category = str(payload.get("category") or "")
        if user is None:
            raise ActionFailed("That portal account no longer exists.")
        if category not in notify.UNSUBSCRIBABLE:
            raise ActionFailed("Ticket updates cannot be unsubscribed from: they are about your own requests.")
        notify.unsubscribe(ctx.session, ctx.tenant_id, user, category)
        return Applied(
            f"You will get no more {category}s. Mail about your tickets keeps coming.", response={"category": category}
        )


@register
class Announce(AdminVerb):
    """A message from the MSP to every active portal user (a maintenance window, a new service), in the branded
    shell. Mail one may unsubscribe from: its footer carries the way out and the MSP's postal address."""

    name = "portal.announce"
    label = "Send a portal announcement"
    target_type = "tenant"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        subject = " ".join(str(payload.get("subject") or "").split())
        body = str(payload.get("body") or "").strip()
        if not subject or not body:
            raise ActionFailed("Write the announcement's subject and text.")
        if len(subject) > 150 or len(body) > MAX_TEXT:
            raise ActionFailed(f"Keep the subject under 150 characters and the text under {MAX_TEXT:,}.")
        people = ctx.session.scalars(
            select(PortalUser).where(PortalUser.is_active.is_(True), PortalUser.password_hash.is_not(None))
        ).all()
        queued = 0
        for person in people:
            mail = notify.queue(
                ctx.session, ctx.tenant_id, person, subject=subject, body=f"Hello {person.name},\n\n{body}",
                category="announcement", after_commit=ctx.after_commit,
            )  # fmt: skip
            queued += mail is not None
        skipped = len(people) - queued
        said = f"The announcement goes to {queued} portal user{'s' if queued != 1 else ''}"
        said += f"; {skipped} unsubscribed from announcements." if skipped else "."
        return Applied(said, response={"subject": subject, "queued": queued, "unsubscribed": skipped})


def active_portal_user(ctx: Context, target: Target) -> PortalUser:
    """The portal user a verb acts on, or why not: gone, or deactivated."""
    user = ctx.session.get(PortalUser, _int(target.id))
    if user is None or not user.is_active:
        raise ActionFailed("That portal user no longer exists or is deactivated.")
    return user


@register
class ResendSetupLink(Verb):
    """A new one-time setup link for someone invited who has not chosen a password (theirs expired, or the mail went
    astray): the earlier link stops working."""

    name = "portal_user.resend"
    label = "Send a portal user a new setup link"
    target_type = "portal_user"
    reaches_vendor = False
    repeatable = False

    def permitted(self, actor: Actor, target: Target) -> bool:
        return actor.type != "portal_user" and actor.role in OPERATORS

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = active_portal_user(ctx, target)
        if user.password_hash is not None:
            raise ActionFailed(f"{user.email} has set a password already: they sign in with it.")
        token = users.new_setup_token(user)
        slug = ctx.session.scalar(select(Tenant.slug).where(Tenant.id == ctx.tenant_id))
        link = portal_url(str(slug), f"/setup/{token}")
        company = _company_name(ctx)
        notify.queue(
            ctx.session, ctx.tenant_id, user, subject=f"Your {company} support portal account",
            body=f"Hello {user.name},\n\nHere is a new link to choose your password. It works once, for "
            f"{int(users.SETUP_LIFETIME.total_seconds() // 3600)} hours; any earlier link no longer does.",
            action_url=link, action_label="Choose your password", one_time=True, after_commit=ctx.after_commit,
        )  # fmt: skip
        return Applied(
            f"A new setup link went to {user.email}; you can also copy it below.",
            response={"portal_user_id": user.id},
            private={"link": link, "portal_user_id": user.id},
        )


@register
class SendPasswordReset(Verb):
    """A password reset link for a portal user who has a password (one who has not gets a new setup link): mailed to
    them only. It is a key to their account, so unlike a setup link it is not shown to the operator who sent it; their
    password stays until they use it."""

    name = "portal_user.send_reset"
    label = "Send a portal user a password reset link"
    target_type = "portal_user"
    reaches_vendor = False
    repeatable = False

    def permitted(self, actor: Actor, target: Target) -> bool:
        return actor.type != "portal_user" and actor.role in OPERATORS

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = active_portal_user(ctx, target)
        if user.password_hash is None:
            raise ActionFailed(f"{user.email} has not chosen a password yet: send them a new setup link instead.")
        resets.mail_link(ctx.session, ctx.tenant_id, user, by_operator=True, after_commit=ctx.after_commit)
        hours = int(users.RESET_LIFETIME.total_seconds() // 3600)
        return Applied(
            f"A password reset link went to {user.email}. It works once, for {hours} hour{'s' if hours != 1 else ''}; "
            "their password stays as it is until they use it.",
            response={"portal_user_id": user.id, "expires_at": _iso(user.reset_expires_at)},
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
