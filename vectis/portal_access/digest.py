"""The weekly digest: each portal user's open tickets, in the branded shell, as mail one may unsubscribe from (its
footer carries List-Unsubscribe and the MSP's postal address)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.models import PortalUser
from vectis.portal_access import notify
from vectis.portal_access import tickets as portal_tickets
from vectis.portal_access.hosts import portal_url
from vectis.portal_access.scope import scope_of
from vectis.portal_access.settings import for_customer

SHOWN = 10


def queue_digests(session: Session, tenant_id: int, slug: str) -> int:
    """One digest per active portal user whose Tickets surface is on and who has not unsubscribed; how many."""
    sent = 0
    people = session.scalars(
        select(PortalUser).where(PortalUser.is_active.is_(True), PortalUser.password_hash.is_not(None))
    )
    for person in people:
        if not for_customer(session, person.customer_id).tickets:
            continue
        scope = scope_of(session, person)
        rows = portal_tickets.listing(session, scope, closed=False)
        if rows:
            lines = [f"#{r.number} {r.summary} ({r.status})" for r in rows[:SHOWN]]
            more = f"\n…and {len(rows) - SHOWN} more." if len(rows) > SHOWN else ""
            said = f"{len(rows)} open ticket{'s' if len(rows) != 1 else ''}:\n\n" + "\n".join(lines) + more
        else:
            said = "You have no open tickets."
        mail = notify.queue(
            session,
            tenant_id,
            person,
            subject=f"Your week with {scope.customer_name}'s tickets",
            body=f"Hello {person.name},\n\n{said}",
            category="digest",
            action_url=portal_url(slug, "/tickets"),
            action_label="Open the portal",
        )
        sent += mail is not None
    return sent
