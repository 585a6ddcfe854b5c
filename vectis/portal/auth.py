"""Who is signed in to the portal. Sessions live in Redis under their own prefix and cookie; the session records
the workspace it was made on and the user's session version, so a cookie carried to another workspace's portal, or
kept after a password change or a deactivation, signs nobody in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from vectis.audit import writer as audit
from vectis.audit.actors import Actor, Target
from vectis.identity.passwords import verify_password
from vectis.identity.throttle import SignInGuard
from vectis.models import PortalUser
from vectis.platform import db
from vectis.platform.queues import redis
from vectis.portal_access import resets, users
from vectis.portal_access.scope import Scope, portal_actor, scope_of
from vectis.portal_access.settings import Surfaces, for_customer

F = TypeVar("F", bound=Callable[..., Any])
SIGN_IN_FAILED = "That email and password do not match a portal account here."
NO_ACCOUNT = "No active portal account has this address: nothing was sent."


def init_app(app: Flask) -> None:
    manager = LoginManager()
    manager.init_app(app)
    manager.login_view = "portal.signin"
    manager.login_message = "Please sign in to continue."
    manager.login_message_category = "info"
    manager.session_protection = None  # server-side sessions, made anew at sign-in, already do this
    manager.user_loader(_load_user)


def _load_user(user_id: str) -> PortalUser | None:
    tenant = g.get("tenant")
    if tenant is None or session.get("tenant_id") != tenant.id:
        return None
    user = db.session().get(PortalUser, int(user_id))
    if user is None or not user.is_active or user.password_hash is None:
        return None
    return user if session.get("session_version") == user.session_version else None


def me() -> PortalUser:
    return cast(PortalUser, current_user._get_current_object())


def scope() -> Scope:
    """The signed-in user's scope, worked out once per request."""
    if "portal_scope" not in g:
        g.portal_scope = scope_of(db.session(), me())
    found: Scope = g.portal_scope
    return found


def surfaces() -> Surfaces:
    if "portal_surfaces" not in g:
        g.portal_surfaces = for_customer(db.session(), me().customer_id)
    found: Surfaces = g.portal_surfaces
    return found


def signed_in(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        return view(*args, **kwargs)

    return cast(F, wrapped)


def surface(name: str) -> Callable[[F], F]:
    """A page of a surface that may be switched off: off, it is not there at all (404)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if not surfaces().on(name):
                abort(404)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def record(action: str, result: str, *, actor: Actor, target: Target, error: str | None = None) -> None:
    """Sign-in events are audited even when the request fails, so they commit on their own."""
    s = db.session()
    audit.record(
        s, tenant_id=g.tenant.id, actor=actor, surface="portal", action=action, target=target, result=result,
        error=error, request_id=audit.current_request_id(),
    )  # fmt: skip
    s.commit()


def _target(user: PortalUser) -> Target:
    return Target("portal_user", str(user.id), user.email)


def sign_in(email: str, password: str) -> str | None:
    """Sign in with a password; the problem in words, or None once signed in."""
    email = email.strip().lower()
    # Its own counters: an operator locked out on the workspace's host must not lock the same email out here.
    guard = SignInGuard(redis(), g.tenant.id, f"portal:{email}", request.remote_addr or "unknown")
    user = users.by_email(db.session(), email) if email else None
    actor = portal_actor(user) if user is not None else Actor.anonymous(email)
    target = _target(user) if user is not None else Target.typed("portal_user", email)
    if (refused := guard.refusal()) is not None:
        record("portal.sign_in", "blocked", actor=actor, target=target, error=refused.message)
        return refused.message
    usable = user is not None and user.is_active and user.password_hash is not None
    valid = verify_password(password, user.password_hash if usable and user else None)
    if not valid or user is None:
        record("portal.sign_in", "failed", actor=actor, target=target, error=SIGN_IN_FAILED)
        if (locked := guard.failed()) is not None:
            return locked.message
        return SIGN_IN_FAILED
    guard.succeeded()
    start_session(user)
    record("portal.sign_in", "ok", actor=actor, target=target)
    return None


def request_reset(email: str) -> str | None:
    """ "Forgot your password?": a reset link mailed to ``email``'s portal account when it has an active one. The
    caller answers the same either way; the refusal in words comes back only when asked too often (per address typed
    and per network, counted whether or not the address has an account)."""
    typed = email.strip().lower()
    guard = resets.RequestGuard(redis(), g.tenant.id, typed, request.remote_addr or "unknown")
    s = db.session()
    user = users.by_email(s, typed) if typed else None
    actor = Actor.anonymous(typed)  # whoever typed it: asking proves nothing about who they are
    target = _target(user) if user is not None else Target.typed("portal_user", typed)
    if (refused := guard.refusal()) is not None:
        record("portal.password_reset_request", "blocked", actor=actor, target=target, error=refused)
        return refused
    if user is None or not user.is_active:
        record("portal.password_reset_request", "failed", actor=actor, target=target, error=NO_ACCOUNT)
        return None
    resets.mail_link(s, g.tenant.id, user)
    record("portal.password_reset_request", "ok", actor=actor, target=target)  # commits the link and its mail
    return None


def start_session(user: PortalUser) -> None:
    """A new session id (no fixation), bound to this workspace and the user's session version."""
    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]
    session.clear()
    session.permanent = True
    session["tenant_id"] = user.tenant_id
    session["session_version"] = user.session_version
    login_user(user)
    user.last_signed_in_at = datetime.now(UTC)


def sign_out() -> None:
    if current_user.is_authenticated:
        user = me()
        record("portal.sign_out", "ok", actor=portal_actor(user), target=_target(user))
    logout_user()
    session.clear()


def unauthorized() -> Response:
    return redirect(url_for("portal.signin"))
