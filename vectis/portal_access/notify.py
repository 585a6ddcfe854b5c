"""Mail to portal users, in the MSP's branded shell: ticket updates (transactional: always sent), invitations, and
digests (one may unsubscribe from those; ticket mail keeps coming). Queued in the caller's transaction through the
``mail`` queue; the worker renders the shell and hands it to SMTP, so no web request waits on either."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import event, select
from sqlalchemy.orm import Session, aliased

from vectis.models import (
    Customer,
    OutboxMail,
    PortalBranding,
    PortalMailOptOut,
    PortalUser,
    Tenant,
    Ticket,
    TicketNote,
)
from vectis.platform import mail as outbox
from vectis.platform import public_ids
from vectis.platform.crypto import Sealed
from vectis.portal_access.hosts import portal_url
from vectis.portal_access.scope import scope_of
from vectis.portal_access.tickets import entry
from vectis.tickets import writer as ticket_writer

TRANSACTIONAL = "transactional"
UNSUBSCRIBABLE = ("digest", "announcement")
_TX = "vectis.portal_mail"


@dataclass
class _Tx:
    """What ``outbox.queue_mail`` needs, for a session that is not an action's: its jobs go out when it commits."""

    session: Session
    tenant_id: int
    after_commit: list[Callable[[], None]] = field(default_factory=list)


def _tx(session: Session, tenant_id: int) -> _Tx:
    found: _Tx | None = session.info.get(_TX)
    if found is not None:
        return found
    tx = _Tx(session, tenant_id)
    session.info[_TX] = tx

    def committed(s: Session) -> None:
        if s.info.get(_TX) is tx:
            s.info.pop(_TX)
            for callback in tx.after_commit:
                callback()

    def rolled_back(s: Session) -> None:
        if s.info.get(_TX) is tx and not s.in_transaction():
            s.info.pop(_TX)  # nothing was queued after all: the mail rows went with the transaction

    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_rollback", rolled_back)
    return tx


def _serializer() -> URLSafeSerializer:
    secret = current_app.config["VECTIS_SETTINGS"].secret_key.encode()
    key = hmac.new(secret, b"vectis portal unsubscribe", hashlib.sha256).hexdigest()
    return URLSafeSerializer(key, salt="unsubscribe")


def unsubscribe_token(tenant_id: int, portal_user_id: int, category: str) -> str:
    return _serializer().dumps([tenant_id, portal_user_id, category])


def read_unsubscribe(token: str) -> tuple[int, int, str] | None:
    try:
        tenant_id, user_id, category = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if category not in UNSUBSCRIBABLE:
        return None
    return int(tenant_id), int(user_id), str(category)


def opted_out(session: Session, user_id: int, category: str) -> bool:
    found = session.scalar(
        select(PortalMailOptOut.id).where(
            PortalMailOptOut.portal_user_id == user_id, PortalMailOptOut.category == category
        )
    )
    return found is not None


def unsubscribe(session: Session, tenant_id: int, user: PortalUser, category: str) -> None:
    if not opted_out(session, user.id, category):
        session.add(PortalMailOptOut(tenant_id=tenant_id, portal_user_id=user.id, category=category))
        session.flush()


def _slug(session: Session, tenant_id: int) -> str:
    return str(session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id)))


def company_name(session: Session, tenant_id: int) -> str:
    """How portal mail names the MSP: its branding's company name, else the workspace's."""
    branded = session.scalar(select(PortalBranding.company_name))
    if branded:
        return str(branded)
    return str(session.scalar(select(Tenant.name).where(Tenant.id == tenant_id)) or "Your IT provider")


def queue(
    session: Session,
    tenant_id: int,
    user: PortalUser,
    *,
    subject: str,
    body: str,
    category: str = TRANSACTIONAL,
    action_url: str | None = None,
    action_label: str | None = None,
    one_time: bool = False,
    after_commit: list[Callable[[], None]] | None = None,
    scheme: str | None = None,
    port: int | None = None,
) -> OutboxMail | None:
    """One mail to ``user`` in the branded shell; None when they unsubscribed from its (non-transactional) category.
    ``one_time``: ``action_url`` is a key to the account (a setup or reset link), kept sealed in ``link`` rather than
    in the shell's clear JSON. ``after_commit``: an action's own list (its jobs go out when it commits); otherwise the
    session's commit. ``scheme`` and ``port``: where the shell's own links (the logo) point, when a worker makes the
    mail on a request's behalf and the request's address is not the settings' (``portal_url``)."""
    if category != TRANSACTIONAL and opted_out(session, user.id, category):
        return None
    slug = _slug(session, tenant_id)
    tx = _tx(session, tenant_id) if after_commit is None else _Tx(session, tenant_id, after_commit)
    mail = outbox.queue_mail(tx, to=user.email, subject=subject[:200], body=body)
    shell: dict[str, str | bool | None] = {
        "action_url": None if one_time else action_url,
        "action_label": action_label,
        "logo_url": portal_url(slug, "/branding/logo", scheme=scheme, port=port),
    }
    if one_time and action_url:
        shell["one_time"] = True
        mail.link = Sealed.seal(tenant_id, action_url)
    if category != TRANSACTIONAL:
        token = unsubscribe_token(tenant_id, user.id, category)
        shell["unsubscribe_url"] = portal_url(slug, f"/unsubscribe/{token}", scheme=scheme, port=port)
    mail.category, mail.shell = category, shell
    return mail


def readers_of(session: Session, ticket: Ticket) -> list[PortalUser]:
    """The active portal users who can see ``ticket`` (its customer's, or its parent's within their sites)."""
    if ticket.customer_id is None:
        return []
    customer = session.get(Customer, ticket.customer_id)
    owners = [ticket.customer_id] + ([customer.parent_id] if customer and customer.parent_id else [])
    people = session.scalars(
        select(PortalUser).where(
            PortalUser.customer_id.in_(owners), PortalUser.is_active.is_(True), PortalUser.password_hash.is_not(None)
        )
    )
    return [p for p in people if scope_of(session, p).allows(ticket.customer_id)]


def ticket_updated(session: Session, ticket: Ticket, notes: list[TicketNote], status_before: str | None) -> None:
    """Tell the ticket's portal readers what is new on it: replies (not their own), and its status when it moved."""
    readers = readers_of(session, ticket)
    if not readers:
        return
    entries = [entry(note) for note in notes]
    tenant_id = ticket.tenant_id
    link = portal_url(_slug(session, tenant_id), f"/tickets/{public_ids.encode('ticket', ticket.id)}")
    for person in readers:
        said = [e for e in entries if not (e.from_portal and e.author == person.name)]
        moved = status_before is not None and status_before != ticket.status_name
        if not said and not moved and status_before is not None:
            continue
        parts = [f"{e.author or 'Your IT provider'} wrote:\n\n{e.body}" for e in said]
        if status_before is None:
            parts.insert(0, f"Ticket #{ticket.external_id} is open: {ticket.summary}")
        elif moved:
            parts.append(f"The ticket is now {ticket.status_name} (it was {status_before}).")
        queue(
            session,
            tenant_id,
            person,
            subject=f"[#{ticket.external_id}] {ticket.summary}",
            body=f"Hello {person.name},\n\n" + "\n\n".join(parts),
            action_url=link,
            action_label="View the ticket",
        )


def watched_customers(session: Session, customer_ids: set[int]) -> set[int]:
    """Of these customers, those whose tickets a portal user may read: with an active portal user of their own or of
    their parent (``readers_of`` then narrows to each reader's sites)."""
    if not customer_ids:
        return set()
    parent = aliased(Customer)
    readers = (
        select(PortalUser.customer_id)
        .where(PortalUser.is_active.is_(True), PortalUser.password_hash.is_not(None))
        .distinct()
        .scalar_subquery()
    )
    found = session.scalars(
        select(Customer.id)
        .outerjoin(parent, parent.id == Customer.parent_id)
        .where(Customer.id.in_(customer_ids))
        .where(Customer.id.in_(readers) | parent.id.in_(readers))
    )
    return set(found)


ticket_writer.TICKET_UPDATES.append(ticket_updated)
ticket_writer.TICKET_WATCHES.append(watched_customers)
