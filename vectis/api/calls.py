"""The audit row of an API or MCP call whose token was accepted: one for every call, answered or refused, so the log
shows what a token did and what it tried (a token probing other objects or scopes leaves its trace)."""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy.orm import Session

from vectis.audit import writer as audit
from vectis.audit.actors import Actor, Target
from vectis.identity import tokens


def actor_of(principal: tokens.Principal) -> Actor:
    return Actor("user", str(principal.user_id), principal.email, principal.role)


def record_call(
    session: Session,
    principal: tokens.Principal,
    *,
    surface: str,
    action: str,
    target: Target,
    payload: dict[str, Any],
    refused: str | None = None,
    result: str = "failed",
) -> None:
    """Add the call's row to ``session``'s transaction: ``ok``, or ``refused`` (what was wrong, in words) with
    ``result`` (``blocked``: a scope the token lacks or a tool it cannot see; ``failed``: anything else). The caller
    commits, with what the call changed."""
    audit.record(
        session,
        tenant_id=g.tenant.id,
        actor=actor_of(principal),
        surface=surface,
        action=action,
        target=target,
        result="ok" if refused is None else result,
        payload={"token": principal.prefix, **payload},
        error=refused,
    )
