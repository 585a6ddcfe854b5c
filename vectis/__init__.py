"""Vectis: one screen per customer for MSPs. ``create_app`` is the only way to build the app."""

from __future__ import annotations

import gc
from datetime import timedelta
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from werkzeug.middleware.proxy_fix import ProxyFix

from vectis.platform import config as config_module
from vectis.platform.config import Settings

csrf = CSRFProtect()
htmx_ext = Htmx()


def create_app(overrides: dict[str, Any] | None = None, *, settings: Settings | None = None) -> Flask:
    """Build the app. ``overrides`` replace settings fields (tests: pool size) or Flask config keys."""
    # Imported here, not at the top: every ``import vectis.<anything>`` runs this file first, and a simulator
    # or a job must not pull in the whole web app by importing ``vectis.platform.queues``.
    import vectis.capabilities  # noqa: PLC0415, F401 - registers every capability's verbs
    from vectis import api, cli  # noqa: PLC0415
    from vectis.identity import auth, sessions  # noqa: PLC0415
    from vectis.platform import (  # noqa: PLC0415
        crypto,
        dates,
        db,
        errors,
        headers,
        params,
        public_ids,
        queues,
        requests_meta,
        tenancy,
    )
    from vectis.portal import app as portal  # noqa: PLC0415
    from vectis.views import register_blueprints, webhooks  # noqa: PLC0415

    settings = settings or config_module.load()
    overrides = overrides or {}
    settings = settings.with_overrides(overrides)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        VECTIS_SETTINGS=settings,
        VECTIS_BASE_DOMAIN=settings.base_domain,
        VECTIS_DEMO=settings.is_demo,
        # Server-side sessions in Redis: the cookie carries a random id only; 8 hours of inactivity ends it.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        SESSION_REFRESH_EACH_REQUEST=True,
        SESSION_COOKIE_NAME="__Host-vectis_session" if settings.secure_cookies else "vectis_session",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        # Nothing a person sends is larger than a 10 MB attachment with its form: refused before it is read.
        MAX_CONTENT_LENGTH=12 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session; an 8-hour-old tab still works
        TESTING=settings.mode == "test",
    )
    app.config.update({k: v for k, v in overrides.items() if k.isupper()})

    crypto.install_keyring(crypto.Keyring(settings.encryption_keys))
    db.init_app(app, settings)
    queues.init_app(app, settings.redis_url)
    sessions.init_app(app, prefix="vectis:session:")
    requests_meta.init_app(app)
    htmx_ext.init_app(app)
    public_ids.init_app(app)
    dates.init_app(app)
    headers.init_app(app)
    tenancy.init_app(app)  # before CSRF: an unknown host is a 404, whatever the request carries
    params.init_app(app)  # a NUL byte is a 400 before anything reads it
    csrf.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    register_blueprints(app)
    api_blueprints = api.init_app(app)
    csrf.exempt(webhooks.bp)  # vendors sign their callbacks; there is no browser session to forge
    for blueprint in api_blueprints:
        csrf.exempt(blueprint)  # a bearer token, never a cookie: there is no browser session to forge
    portal.mount(app, settings)  # portal.<slug>.<base domain>: an app of its own, chosen by host
    if settings.proxy_hops:
        # Sign-in limits are per client address: behind a proxy, the address is the one the proxy saw. Outside the
        # portal's dispatcher, so both apps see it.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)  # type: ignore[method-assign]
    # Everything made so far (modules, the app, SQLAlchemy's metadata, compiled templates' parents) lives as
    # long as the process: kept out of the collector's full passes, which otherwise walked all of it every
    # few requests and tripled a busy page's p95 (hub page 38 -> 110 ms; bench/hub.py).
    gc.collect()
    gc.freeze()
    return app
