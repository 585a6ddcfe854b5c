"""A customer's own labels in Vectis (tags): what a rule's scope can name ("only customers tagged managed")."""

from __future__ import annotations

import re
from typing import Any

from vectis.actions.base import ActionFailed, Applied, Context, Target, Verb
from vectis.actions.registry import register
from vectis.models import Customer, Role

MAX_TAGS = 20
TAG = re.compile(r"[a-z0-9][a-z0-9 _-]{0,39}")


def parse_tags(text: str) -> list[str]:
    """ "Managed, VIP ,backup-only" -> ["backup-only", "managed", "vip"]; raises on a tag it cannot keep."""
    tags = sorted({t.strip().lower() for t in re.split(r"[,\n]", text) if t.strip()})
    bad = [t for t in tags if not TAG.fullmatch(t)]
    if bad:
        raise ActionFailed(
            f"“{bad[0]}” can't be a tag: use letters, digits, spaces, - and _, up to 40 characters, "
            "starting with a letter or digit."
        )
    if len(tags) > MAX_TAGS:
        raise ActionFailed(f"A customer has at most {MAX_TAGS} tags.")
    return tags


@register
class SetCustomerTags(Verb):
    name = "customer.tags"
    label = "Change a customer's tags"
    target_type = "customer"
    roles = frozenset({Role.ADMIN, Role.TECHNICIAN})

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        customer = ctx.session.get(Customer, int(str(target.id))) if str(target.id or "").isdigit() else None
        if customer is None:
            raise ActionFailed("That customer no longer exists.")
        tags = parse_tags(str(payload.get("tags") or ""))
        before = list(customer.tags or [])
        customer.tags = tags
        shown = ", ".join(tags) if tags else "none"
        return Applied(f"Tags of {customer.name}: {shown}.", response={"before": before, "after": tags})
