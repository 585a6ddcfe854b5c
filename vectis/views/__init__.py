"""Blueprints, one per area (CONVENTIONS #2)."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from vectis.views import (
        account,
        admin,
        alerts,
        auth,
        customers,
        health,
        integrations,
        rules,
        sections,
        tickets,
        webhooks,
    )

    for module in (auth, health, sections, customers, tickets, alerts, rules, account, admin, integrations, webhooks):
        app.register_blueprint(module.bp)
