"""Internal notes on a customer: technicians write them, only their author edits or deletes them. A note
and its timeline entry change together, in the action's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from vectis.actions.base import ActionFailed, Applied, Context, Target, Verb
from vectis.actions.registry import register
from vectis.models import Customer, CustomerNote, Role, TimelineEvent
from vectis.platform.dates import EARLIEST, within_range

MAX_LENGTH = 5000
WRITERS = frozenset({Role.ADMIN, Role.TECHNICIAN})


def _body(payload: dict[str, Any]) -> str:
    body = str(payload.get("body") or "").strip()
    if not body:
        raise ActionFailed("Write the note first.")
    if len(body) > MAX_LENGTH:
        raise ActionFailed(f"A note holds up to {MAX_LENGTH:,} characters; this one has {len(body):,}.")
    return body


def _moment(payload: dict[str, Any], default: datetime) -> datetime:
    raw = str(payload.get("occurred_at") or "").strip()
    if not raw:
        return default
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ActionFailed("The time should look like 2026-11-23 16:00.") from None
    moment = within_range(parsed)
    if moment is None:
        raise ActionFailed(f"A note's time must be between {EARLIEST.year} and now.")
    if moment > datetime.now(UTC):
        raise ActionFailed("A note can be pinned to a time that has passed, not to the future.")
    return moment


def _title(body: str) -> str:
    first = body.splitlines()[0]
    return first if len(first) <= 140 else first[:139] + "…"


def _own_note(ctx: Context, target: Target) -> CustomerNote:
    note = ctx.session.get(CustomerNote, int(target.id or 0), with_for_update=True)
    if note is None:
        raise ActionFailed("That note no longer exists.")
    if note.author_id is None or note.author_id != ctx.actor.user_id:
        raise ActionFailed("Only the note's author can change or delete it.")
    return note


def _entry(ctx: Context, note: CustomerNote) -> TimelineEvent | None:
    return ctx.session.scalar(select(TimelineEvent).where(TimelineEvent.note_id == note.id))


@register
class CreateNote(Verb):
    name = "note.create"
    label = "Add an internal note"
    target_type = "customer"
    roles = WRITERS

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        customer = ctx.session.get(Customer, int(target.id or 0))
        if customer is None:
            raise ActionFailed("That customer no longer exists.")
        body = _body(payload)
        now = datetime.now(UTC)
        note = CustomerNote(
            tenant_id=ctx.tenant_id,
            customer_id=customer.id,
            author_id=ctx.actor.user_id,
            body=body,
            occurred_at=_moment(payload, now),
        )
        ctx.session.add(note)
        ctx.session.flush()
        ctx.session.add(
            TimelineEvent(
                tenant_id=ctx.tenant_id,
                customer_id=customer.id,
                source="Note",
                kind="note",
                occurred_at=note.occurred_at,
                title=_title(body),
                detail=body,
                dedup_key=f"note:{note.id}",
                note_id=note.id,
            )
        )
        stop = "" if customer.name.endswith(".") else "."  # "Aldridge & Co." ends its own sentence
        return Applied(f"Note added to {customer.name}{stop}", response={"note_id": note.id, "length": len(body)})


@register
class EditNote(Verb):
    name = "note.edit"
    label = "Edit an internal note"
    target_type = "customer_note"
    roles = WRITERS

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        note = _own_note(ctx, target)
        before = {"length": len(note.body), "occurred_at": note.occurred_at.isoformat()}
        note.body, note.occurred_at = _body(payload), _moment(payload, note.occurred_at)
        note.updated_at = datetime.now(UTC)
        entry = _entry(ctx, note)
        if entry is not None:
            entry.title, entry.detail, entry.occurred_at = _title(note.body), note.body, note.occurred_at
        after = {"length": len(note.body), "occurred_at": note.occurred_at.isoformat()}
        return Applied("Note saved.", response={"note_id": note.id, "before": before, "after": after})


@register
class DeleteNote(Verb):
    name = "note.delete"
    label = "Delete an internal note"
    target_type = "customer_note"
    roles = WRITERS

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        note = _own_note(ctx, target)
        ctx.session.delete(note)  # its timeline entry goes with it (ON DELETE CASCADE)
        return Applied("Note deleted.", response={"note_id": note.id})
