"""Saved queries: who sees, runs and edits which, and the list with its search."""

from __future__ import annotations

from typing import Final

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from vectis.audit.actors import Actor
from vectis.models import Role, SavedQuery
from vectis.platform import db

AUDIENCE_LABELS: Final = {
    "everyone": "Everyone in the team",
    "technician": "Technicians and admins",
    "admin": "Admins only",
}
# Which audiences each role belongs to: read-only users run what is shared with everyone.
_SEES: Final = {
    Role.ADMIN.value: ("everyone", "technician", "admin"),
    Role.TECHNICIAN.value: ("everyone", "technician"),
    Role.READ_ONLY.value: ("everyone",),
}


def _audiences(actor: Actor) -> tuple[str, ...]:
    return _SEES.get(actor.role or "", ())


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """The saved queries ``actor`` may see and run: shared with their role, or their own."""
    own = SavedQuery.owner_id == actor.user_id if actor.user_id is not None else SavedQuery.id.is_(None)
    return or_(SavedQuery.audience.in_(_audiences(actor)), own)


def can_run(query: SavedQuery, actor: Actor) -> bool:
    return query.audience in _audiences(actor) or (actor.user_id is not None and query.owner_id == actor.user_id)


def can_edit(query: SavedQuery, actor: Actor) -> bool:
    """Its owner and admins; read-only users edit nothing."""
    if actor.role == Role.ADMIN.value:
        return True
    return actor.role == Role.TECHNICIAN.value and actor.user_id is not None and query.owner_id == actor.user_id


def matching(search: str) -> list[ColumnElement[bool]]:
    """Conditions for ``search``: each of its words (at most five) somewhere in the name or the description."""
    found = []
    for word in search.split()[:5]:
        pattern = db.containing(word)
        found.append(
            or_(SavedQuery.name.ilike(pattern, escape="\\"), SavedQuery.description.ilike(pattern, escape="\\"))
        )
    return found


def listing(session: Session, actor: Actor, search: str = "") -> list[SavedQuery]:
    """Visible saved queries, by name; ``search`` matches words in the name or the description."""
    statement = select(SavedQuery).where(visible_to(actor), *matching(search))
    return list(session.scalars(statement.order_by(SavedQuery.name, SavedQuery.id).limit(500)))
