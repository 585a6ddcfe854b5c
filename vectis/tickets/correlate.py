"""Auto-attach: a backup or connector event that falls inside a ticket's window (opened -> closed, or now)
for the same customer attaches to that ticket. One rule, in one place; idempotent, so a re-sync adds
nothing; it runs when events arrive (for those events) and when tickets arrive (for those tickets).

Only events that say something went wrong (severity error or warning) attach: a ticket about a failing
backup wants the failures, not every sign-in Keepit logged.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from vectis.models import Alert, TicketRelated

_ATTACH = """
INSERT INTO ticket_related (tenant_id, ticket_id, kind, record_id, attached_by)
SELECT e.tenant_id, t.id, 'timeline_event', e.id, 'auto'
FROM timeline_events e
JOIN tickets t ON t.customer_id = e.customer_id
 AND e.occurred_at >= t.opened_at AND e.occurred_at <= coalesce(t.closed_at, now())
WHERE e.kind LIKE 'backup.%%' AND e.severity IN ('error', 'warning') AND e.customer_id IS NOT NULL
  AND {scope}
ON CONFLICT (tenant_id, ticket_id, kind, record_id) DO NOTHING
"""


def attach_events(session: Session, connection_id: int, start: datetime, end: datetime) -> int:
    """For the events of one connection that just arrived (their time span)."""
    result = session.execute(
        text(_ATTACH.format(scope="e.connection_id = :c AND e.occurred_at BETWEEN :start AND :end").replace("%%", "%")),
        {"c": connection_id, "start": start, "end": end},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def attach_to_tickets(session: Session, ticket_ids: list[int]) -> int:
    """For tickets that just arrived or changed: events that came before them attach too."""
    if not ticket_ids:
        return 0
    result = session.execute(text(_ATTACH.format(scope="t.id = ANY(:ids)").replace("%%", "%")), {"ids": ticket_ids})
    return int(result.rowcount)  # type: ignore[attr-defined]


def attach_alert(session: Session, tenant_id: int, alert_id: int, ticket_id: int, *, attached_by: str) -> None:
    """Both ways: the alert knows its ticket; the ticket lists the alert (and so its triggering record)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return
    alert.ticket_id = ticket_id
    session.add(
        TicketRelated(
            tenant_id=tenant_id, ticket_id=ticket_id, kind="alert", record_id=alert.id, attached_by=attached_by
        )
    )
