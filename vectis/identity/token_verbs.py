"""Making and revoking personal access tokens, and the workspace's longest token life: through the audited path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from vectis.actions.base import ActionFailed, Actor, Applied, Context, SelfServiceVerb, Target, Verb
from vectis.actions.registry import register
from vectis.identity import tokens
from vectis.models import ApiToken, Role, Tenant, User
from vectis.platform import params
from vectis.platform.dates import when_in_full

MAX_LABEL = 100
MAX_DAYS_EVER = 3650


def _days(raw: Any, most: int) -> int:
    text = str(raw if raw is not None else "").strip() or str(min(tokens.DEFAULT_DAYS, most))
    days = params.integer(text, low=1, high=most)
    if days is None:
        raise ActionFailed(f"A token lives 1 to {most:,} days in this workspace (its admins set the longest).")
    return days


@register
class CreateToken(SelfServiceVerb):
    name = "token.create"
    label = "Make a personal access token"
    reaches_vendor = False

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = ctx.session.get(User, ctx.actor.user_id)
        tenant = ctx.session.get(Tenant, ctx.tenant_id)
        if user is None or tenant is None:
            raise ActionFailed("Your account could not be found.")
        label = " ".join(str(payload.get("label") or "").split())
        if not label or len(label) > MAX_LABEL:
            raise ActionFailed(f"Name the token (up to {MAX_LABEL} characters): what will use it?")
        asked = [str(s) for s in payload.get("scopes") or []]
        if not asked:
            raise ActionFailed("Choose at least one scope: what may the token do?")
        allowed = tokens.scopes_for(user.role)
        beyond = [s for s in asked if s not in allowed]
        if beyond:
            raise ActionFailed(
                f"Your role ({Role(user.role).label}) cannot grant “{beyond[0]}”: a token never does more than its owner."
            )
        days = _days(payload.get("days"), tenant.max_token_days)
        raw = tokens.generate()
        expires = datetime.now(UTC) + timedelta(days=days)
        token = ApiToken(
            tenant_id=ctx.tenant_id,
            user_id=user.id,
            label=label,
            prefix=tokens.shown(raw),
            token_hash=tokens.digest(raw),
            scopes=[s for s in tokens.SCOPES if s in asked],
            expires_at=expires,
        )
        ctx.session.add(token)
        ctx.session.flush()
        return Applied(
            f"Made “{label}”, valid until {when_in_full(expires)}. Copy it now: it is shown only this once.",
            response={"token_id": token.id, "prefix": token.prefix, "scopes": token.scopes, "days": days},
            private={"token": raw},
        )


@register
class RevokeToken(Verb):
    name = "token.revoke"
    label = "Revoke a personal access token"
    target_type = "api_token"
    roles = frozenset(Role)  # their own tokens: anyone; anyone's: admins (checked in apply)
    reaches_vendor = False

    def permitted(self, actor: Actor, target: Target) -> bool:
        return actor.type == "user" and super().permitted(actor, target)  # a person, never a rule or a token

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        token = ctx.session.get(ApiToken, int(str(target.id))) if str(target.id or "").isdigit() else None
        if token is None:
            raise ActionFailed("That token no longer exists.")
        if token.user_id != ctx.actor.user_id and ctx.actor.role != Role.ADMIN.value:
            raise ActionFailed("Only its owner or an admin can revoke a token.")
        if token.revoked_at is not None:
            return Applied(f"“{token.label}” was revoked already.", response={"prefix": token.prefix})
        token.revoked_at, token.revoked_by = datetime.now(UTC), ctx.actor.label
        return Applied(
            f"Revoked “{token.label}”: it stops working with its next request.", response={"prefix": token.prefix}
        )


@register
class SetTokenPolicy(Verb):
    name = "workspace.token_policy"
    label = "Set the longest life of a personal access token"
    target_type = "workspace"
    reaches_vendor = False

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        days = _days(payload.get("max_days"), MAX_DAYS_EVER)
        tenant = ctx.session.get(Tenant, ctx.tenant_id)
        before = tenant.max_token_days if tenant else None
        ctx.session.execute(update(Tenant).where(Tenant.id == ctx.tenant_id).values(max_token_days=days))
        return Applied(
            f"New tokens live at most {days:,} days. Tokens made before keep their expiry.",
            response={"before": before, "after": days},
        )
