"""What a ticket event carries: the fields of ``tickets/triggers.py``, frozen when it happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def ticket_data(
    *,
    source: str,
    number: str,
    summary: str,
    status: str,
    previous_status: str | None,
    board: str | None,
    priority: str | None,
    assignee: str | None,
    contact: str | None,
    closed: bool,
    opened_at: datetime,
    updated_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    return {
        "ticket.number": number,
        "ticket.summary": summary,
        "ticket.status": status,
        "ticket.previous_status": previous_status,
        "ticket.board": board,
        "ticket.priority": priority,
        "ticket.assignee": assignee,
        "ticket.contact": contact,
        "ticket.closed": closed,
        "ticket.opened_at": opened_at,
        "ticket.updated_at": updated_at,
        "ticket.days_unchanged": round((now - updated_at).total_seconds() / 86400, 1),
        "source": source,
    }
