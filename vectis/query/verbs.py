"""Saving, changing and deleting a saved query: Vectis's own data, through the one audited write path."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from vectis.actions.base import ActionFailed, Applied, Context, Target, Verb
from vectis.actions.registry import register
from vectis.models import Role, SavedQuery, User
from vectis.models.queries import AUDIENCES
from vectis.query import saved
from vectis.query.spec import SpecError, parse

MAX_NAME = 200
MAX_DESCRIPTION = 2000


def _fields(payload: dict[str, Any]) -> tuple[str, str, str]:
    name = " ".join(str(payload.get("name") or "").split())
    description = str(payload.get("description") or "").strip()
    audience = str(payload.get("audience") or "everyone")
    if not name:
        raise ActionFailed("Give the query a name, so the team can find it.")
    if len(name) > MAX_NAME:
        raise ActionFailed(f"A query's name is at most {MAX_NAME} characters.")
    if len(description) > MAX_DESCRIPTION:
        raise ActionFailed(f"A description is at most {MAX_DESCRIPTION:,} characters.")
    if audience not in AUDIENCES:
        raise ActionFailed("Share it with everyone, technicians and admins, or admins only.")
    return name, description, audience


def _name_free(ctx: Context, name: str, keep: int | None = None) -> None:
    """One saved query of a name in a workspace: the list and the API find it by its name."""
    taken = ctx.session.scalar(
        select(SavedQuery.id).where(func.lower(SavedQuery.name) == name.lower(), SavedQuery.id != (keep or 0))
    )
    if taken is not None:
        raise ActionFailed(f"A saved query called “{name}” exists already: give this one another name, or open it.")


def _spec(payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return parse(payload.get("spec")).raw
    except SpecError as error:
        raise ActionFailed(f"The query cannot be saved yet: {error.problems[0]}") from None


def _mine(ctx: Context, target: Target) -> SavedQuery:
    query = ctx.session.get(SavedQuery, int(str(target.id))) if str(target.id or "").isdigit() else None
    if query is None:
        raise ActionFailed("That saved query no longer exists.")
    if not saved.can_edit(query, ctx.actor):
        raise ActionFailed(f"Only its owner ({query.owner_label}) or an admin can change “{query.name}”.")
    return query


@register
class SaveQuery(Verb):
    name = "query.save"
    label = "Save a query"
    target_type = "saved_query"
    roles = frozenset({Role.ADMIN, Role.TECHNICIAN})
    reaches_vendor = False

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        name, description, audience = _fields(payload)
        _name_free(ctx, name)
        spec = _spec(payload)
        owner = ctx.session.get(User, ctx.actor.user_id) if ctx.actor.user_id else None
        query = SavedQuery(
            tenant_id=ctx.tenant_id,
            name=name,
            description=description,
            owner_id=owner.id if owner else None,
            owner_label=ctx.actor.label,
            audience=audience,
            spec=spec,
            spec_hash=parse(spec).hash,
        )
        ctx.session.add(query)
        ctx.session.flush()
        return Applied(f"Saved “{name}”.", response={"saved_query_id": query.id, "spec_hash": query.spec_hash})


@register
class UpdateQuery(Verb):
    name = "query.update"
    label = "Change a saved query"
    target_type = "saved_query"
    roles = frozenset({Role.ADMIN, Role.TECHNICIAN})
    reaches_vendor = False

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        query = _mine(ctx, target)
        before = query.spec_hash
        query.name, query.description, query.audience = _fields(payload)
        _name_free(ctx, query.name, keep=query.id)
        if payload.get("spec") is not None:
            query.spec = _spec(payload)
            query.spec_hash = parse(query.spec).hash
        query.updated_at = func.now()
        return Applied(f"Saved “{query.name}”.", response={"before": before, "spec_hash": query.spec_hash})


@register
class DeleteQuery(Verb):
    name = "query.delete"
    label = "Delete a saved query"
    target_type = "saved_query"
    roles = frozenset({Role.ADMIN, Role.TECHNICIAN})
    reaches_vendor = False

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        query = _mine(ctx, target)
        ctx.session.delete(query)
        return Applied(f"Deleted “{query.name}”.", response={"spec": query.spec})
