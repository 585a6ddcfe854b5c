"""A PSA ticket's life on the customer's timeline: opened, each reply received or sent, each internal note,
closed. Written with the ticket by the same writer, from a sync and from the read-back after Vectis's own
write-back alike, so an entry exists once whichever saw it first (its dedup key names the vendor's ids)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from vectis.connectors.base import TicketNoteRecord, TicketRecord

EXCERPT = 280
OPENING = timedelta(minutes=2)  # a note this close to the ticket's opening is its description


def _excerpt(text: str) -> str | None:
    flat = " ".join(text.split())
    return (flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…") or None


def _note_entry(r: TicketRecord, n: TicketNoteRecord) -> tuple[str, str, str]:
    """(kind, title, severity) of one note."""
    who = n.author or "someone"
    if n.internal:
        return "ticket.internal_note", f"Internal note by {who} on #{r.external_id}: {r.summary}", "info"
    if n.by_customer:
        return "ticket.reply_received", f"Reply from {who} on #{r.external_id}: {r.summary}", "warning"
    return "ticket.reply_sent", f"Reply sent by {who} on #{r.external_id}: {r.summary}", "info"


def ticket_entries(
    records: Sequence[TicketRecord], rows: Sequence[Mapping[str, Any]], ids: Mapping[str, int], *, source: str
) -> list[dict[str, Any]]:
    """Timeline rows for these tickets (``rows`` are the ticket rows written, in the same order)."""
    entries: list[dict[str, Any]] = []
    for r, row in zip(records, rows, strict=True):
        base = {
            "tenant_id": row["tenant_id"],
            "customer_id": row["customer_id"],
            "customer_link_id": row["customer_link_id"],
            "connection_id": row["connection_id"],
            "source": source,
            "ticket_id": ids[r.external_id],
        }
        key = f"ticket:{r.external_id}"
        public = sorted((n for n in r.notes or () if not n.internal), key=lambda n: n.written_at)
        opening = public[0] if public and abs(public[0].written_at - r.opened_at) <= OPENING else None
        entries.append(
            {
                **base,
                "kind": "ticket.opened",
                "occurred_at": r.opened_at,
                "title": f"Ticket #{r.external_id} opened: {r.summary}"[:500],
                "detail": _excerpt(opening.body) if opening else None,
                "severity": "info",
                "dedup_key": f"{key}:opened",
            }
        )
        for n in r.notes or ():
            if n is opening:
                continue
            kind, title, severity = _note_entry(r, n)
            entries.append(
                {
                    **base,
                    "kind": kind,
                    "occurred_at": n.written_at,
                    "title": title[:500],
                    "detail": _excerpt(n.body),
                    "severity": severity,
                    "dedup_key": f"{key}:note:{n.external_id}"[:300],
                }
            )
        if r.closed and r.closed_at is not None:
            entries.append(
                {
                    **base,
                    "kind": "ticket.closed",
                    "occurred_at": r.closed_at,
                    "title": f"Ticket #{r.external_id} closed ({r.status_name}): {r.summary}"[:500],
                    "detail": None,
                    "severity": "resolved",
                    "dedup_key": f"{key}:closed:{r.closed_at.isoformat()}",
                }
            )
    return entries
