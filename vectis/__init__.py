"""Vectis: one screen per customer for MSPs. ``create_app`` is the only way to build the app."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

from vectis import config as config_module
from vectis.config import Settings

csrf = CSRFProtect()
htmx_ext = Htmx()


def create_app(overrides: dict[str, Any] | None = None, *, settings: Settings | None = None) -> Flask:
    """Build the app. ``overrides`` replace settings fields (tests: pool size) or Flask config keys."""
    from vectis import auth, cli, crypto, db, errors, queues, tenancy
    from vectis.views import register_blueprints

    settings = settings or config_module.load()
    overrides = overrides or {}
    settings = settings.with_overrides(overrides)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        VECTIS_SETTINGS=settings,
        VECTIS_BASE_DOMAIN=settings.base_domain,
        VECTIS_DEMO=settings.is_demo,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session; an 8-hour-old tab still works
        TESTING=settings.mode == "test",
    )
    app.config.update({k: v for k, v in overrides.items() if k.isupper()})

    crypto.install_keyring(crypto.Keyring(settings.encryption_keys))
    db.init_app(app, settings)
    queues.init_app(app, settings.redis_url)
    htmx_ext.init_app(app)
    tenancy.init_app(app)  # before CSRF: an unknown host is a 404, whatever the request carries
    csrf.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    register_blueprints(app)
    return app
