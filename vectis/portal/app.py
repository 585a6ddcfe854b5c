"""The portal's Flask app and the dispatcher that sends a request to it by host.

Two apps rather than one with two blueprints: each has its own ``SECRET_KEY`` (so CSRF tokens and signed values do
not carry over), its own session cookie (name, prefix in Redis, ``SameSite=Strict``) and its own login manager, so the
separation of the two kinds of session is structural, not a check someone might forget. They share the database
pools, the Redis client and the verbs: a portal action is the same ``perform()`` an operator's is."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, abort, current_app, g, request
from flask_wtf.csrf import CSRFProtect

from vectis.identity import sessions
from vectis.platform import dates, headers, params, public_ids, requests_meta, tenancy
from vectis.platform.config import Settings
from vectis.portal import auth, views
from vectis.portal_access.hosts import portal_slug

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PACKAGE = Path(__file__).resolve().parents[1]  # vectis/: the same templates and static files as the operator app
SESSION_PREFIX = "vectis:portal-session:"


def portal_secret(secret_key: str) -> str:
    """The portal's own secret, derived from the installation's: nothing signed for one app verifies on the other."""
    return hmac.new(secret_key.encode(), b"vectis customer portal", hashlib.sha256).hexdigest()


def resolve_portal_tenant() -> None:
    """The workspace from ``portal.<slug>.<base domain>``, bound as the operator app binds its own (``g.tenant``)."""
    g.tenant = None
    if request.endpoint == "static":
        return
    slug = portal_slug(request.host, current_app.config["VECTIS_BASE_DOMAIN"])
    tenant = tenancy.find_tenant(slug) if slug else None
    if tenant is None:
        abort(404, description="unknown_workspace")
    g.tenant = tenant


def create_portal_app(operator: Flask, settings: Settings) -> Flask:
    app = Flask(
        "vectis.portal",
        root_path=str(PACKAGE),
        static_folder=str(PACKAGE / "static"),
        template_folder=str(PACKAGE / "templates"),
    )
    app.config.update(
        SECRET_KEY=portal_secret(settings.secret_key),
        VECTIS_SETTINGS=settings,
        VECTIS_BASE_DOMAIN=settings.base_domain,
        VECTIS_DEMO=settings.is_demo,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        SESSION_REFRESH_EACH_REQUEST=True,
        SESSION_COOKIE_NAME="__Host-vectis_portal" if settings.secure_cookies else "vectis_portal",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        # Strict: no other site can make a browser send it, not even a top-level link (a setup link from a mail
        # opens signed out, which it is anyway).
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/",
        MAX_CONTENT_LENGTH=operator.config["MAX_CONTENT_LENGTH"],
        WTF_CSRF_TIME_LIMIT=None,
        TESTING=operator.config["TESTING"],
    )
    # The same pools and Redis client as the operator app: a second set would double every connection count.
    for shared in ("vectis.platform.db", "vectis.redis"):
        app.extensions[shared] = operator.extensions[shared]
    app.teardown_appcontext(_close_request_session)
    sessions.init_app(app, prefix=SESSION_PREFIX)
    requests_meta.init_app(app)
    public_ids.init_app(app)
    dates.init_app(app)
    headers.init_app(app)
    tenancy.init_app(app, resolve=resolve_portal_tenant)
    params.init_app(app)
    csrf = CSRFProtect(app)
    # A mail client's one-click unsubscribe (RFC 8058) posts with no session: the signed link is what it carries.
    csrf.exempt(views.unsubscribe)
    auth.init_app(app)
    views.init_app(app)
    return app


def _close_request_session(exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()


class ByHost:
    """WSGI: requests for a ``portal.`` host go to the portal app, everything else to the operator app."""

    def __init__(self, operator: WSGIApplication, portal: Flask, base_domain: str) -> None:
        self.operator, self.portal, self.base_domain = operator, portal, base_domain

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""
        if portal_slug(host, self.base_domain) is not None:
            return self.portal(environ, start_response)
        return self.operator(environ, start_response)


def mount(operator: Flask, settings: Settings) -> Flask:
    """Put the portal in front of ``operator`` by host; returns the portal app (tests reach it through the
    operator app's test client, with a ``portal.`` host, as a browser would)."""
    portal = create_portal_app(operator, settings)
    operator.wsgi_app = ByHost(operator.wsgi_app, portal, settings.base_domain)  # type: ignore[method-assign]
    operator.extensions["vectis.portal"] = portal
    return portal
