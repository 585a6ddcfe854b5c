"""Blueprints, one per area (CONVENTIONS #2)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_login import current_user

from vectis.actions import VERBS, Actor, Target
from vectis.views import (
    account,
    admin,
    alerts,
    auth,
    customers,
    devices,
    health,
    integrations,
    licensing,
    portal_admin,
    queries,
    rules,
    sections,
    security,
    tickets,
    webhooks,
)


def _template_helpers() -> dict[str, Any]:
    """``can("user.invite")``: templates hide what the signed-in user's role cannot do."""

    def can(verb_name: str) -> bool:
        if not current_user.is_authenticated:
            return False
        actor = Actor.for_user(current_user)
        return VERBS[verb_name].permitted(actor, Target("user", actor.id, actor.label))

    return {"can": can}


def register_blueprints(app: Flask) -> None:

    for module in (
        auth,
        health,
        sections,
        customers,
        devices,
        tickets,
        alerts,
        security,
        licensing,
        rules,
        queries,
        account,
        admin,
        integrations,
        portal_admin,
        webhooks,
    ):
        app.register_blueprint(module.bp)
    app.context_processor(_template_helpers)
