"""What "Open as ticket" writes: a PSA priority that matches the alert's severity, and a body with the evidence
a technician would otherwise collect by hand (the job, the customer, the last attempt and success, the vendor's
message, when Vectis first saw it, and a link back to the alert)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.alerts.queries import evidence
from vectis.alerts.service import label
from vectis.models import Alert, TicketPriority

_NUMBERED = re.compile(r"^\s*(?:(?:priority|prio|p)\s*-?\s*)?(\d+)\b", re.IGNORECASE)


def urgency(priority: TicketPriority) -> tuple[int, int, str]:
    """Sort key, most urgent first. PSAs number their priorities in the name ("Priority 1 - Emergency
    Response", "P2 - High"), lower meaning sooner; that number decides when there is one. Names without a
    number ("Do not respond") come after the numbered ones, in the PSA's own sort order."""
    numbered = _NUMBERED.match(priority.name)
    return (0, int(numbered.group(1)), "") if numbered else (1, priority.sort_order, priority.name)


def matching_priority(priorities: Sequence[TicketPriority], severity: str) -> TicketPriority | None:
    """The PSA priority for an alert of ``severity``.

    The anchor is the PSA's default priority, what the desk uses for ordinary work ("Priority 3 - Normal
    Response"; without one flagged, the middle of the list). A **critical** alert (a failed or silent backup)
    gets the next more urgent one ("Priority 2 - …"): sooner than normal work, but not the top level, which
    MSPs keep for a customer who cannot work ("Priority 1 - Emergency Response") and which often pages someone
    at night. A **warning** or **info** alert gets the default. With one priority, that one."""
    ranked = sorted(priorities, key=urgency)
    if not ranked:
        return None
    normal = next((i for i, p in enumerate(ranked) if p.is_default), len(ranked) // 2)
    return ranked[max(normal - 1, 0)] if severity == "critical" else ranked[normal]


def priority_for(session: Session, connection_id: int, severity: str) -> TicketPriority | None:
    return matching_priority(
        list(session.scalars(select(TicketPriority).where(TicketPriority.connection_id == connection_id))), severity
    )


def summary(alert: Alert) -> str:
    return f"{label(alert.condition)}: {alert.subject_label}"[:100]


def body(session: Session, alert: Alert, customer: str, link: str | None) -> str:
    """The ticket's first note: plain text, because that is what every PSA shows as it was sent."""
    now = datetime.now(UTC)
    lines = [f"{summary(alert)} ({alert.severity}, from {alert.source})", "", f"Customer: {customer}"]
    lines += [f"{name}: {words}" for name, words in evidence(session, [alert], now=now, in_ticket=True)[alert.id]]
    lines += ["", f"Opened from Vectis alert {link}" if link else f"Opened from Vectis alert #{alert.id}."]
    return "\n".join(lines)
