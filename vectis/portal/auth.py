"""Who is signed in to the portal, and how they get there: a password, then (when they have turned it on, or the
workspace requires it) a code from their authenticator app, a recovery code, or enrolment. Sessions live in Redis
under their own prefix and cookie; the session records the workspace it was made on and the user's session version,
so a cookie carried to another workspace's portal, or kept after a password change, a reset or a deactivation, signs
nobody in. Between the password and the code the session only remembers who is half-way (for ten minutes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from vectis.audit import writer as audit
from vectis.audit.actors import Actor, Target
from vectis.identity.passwords import verify_password
from vectis.identity.second_step import SecondStep, Step
from vectis.identity.throttle import SignInGuard
from vectis.models import PortalUser
from vectis.platform import db, jobs
from vectis.platform.dates import clock
from vectis.platform.queues import redis
from vectis.platform.ratelimit import AttemptWindow
from vectis.portal_access import resets, users
from vectis.portal_access import settings as portal_settings
from vectis.portal_access.hosts import request_origin
from vectis.portal_access.scope import Scope, portal_actor, scope_of
from vectis.portal_access.settings import Surfaces, for_customer

F = TypeVar("F", bound=Callable[..., Any])
SIGN_IN_FAILED = "That email and password do not match a portal account here."
PENDING_LIFETIME = timedelta(minutes=10)


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
    if session.get("session_version") != user.session_version:
        return None
    # Required since they signed in (or their second factor was reset): out, to enrol at their next sign-in.
    if not user.mfa_enrolled and portal_settings.requires_mfa(db.session()):
        return None
    return user


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


def record(
    action: str,
    result: str,
    *,
    actor: Actor,
    target: Target,
    error: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Sign-in events are audited even when the request fails, so they commit on their own."""
    s = db.session()
    audit.record(
        s, tenant_id=g.tenant.id, actor=actor, surface="portal", action=action, target=target, result=result,
        error=error, payload=payload, request_id=audit.current_request_id(),
    )  # fmt: skip
    s.commit()


def _target(user: PortalUser) -> Target:
    return Target("portal_user", str(user.id), user.email)


def mfa_window(user: PortalUser) -> AttemptWindow:
    """Five wrong codes in 15 minutes lock the account (its own key: an operator's count is not a portal user's)."""
    return AttemptWindow(redis(), f"portal-mfa:{user.tenant_id}:{user.id}")


def sign_in(email: str, password: str) -> Step:
    """The password step: signed in, or on to the code (or enrolment); the problem in words otherwise."""
    email = email.strip().lower()
    # Its own counters: an operator locked out on the workspace's host must not lock the same email out here.
    guard = SignInGuard(redis(), g.tenant.id, f"portal:{email}", request.remote_addr or "unknown")
    user = users.by_email(db.session(), email) if email else None
    actor = portal_actor(user) if user is not None else Actor.anonymous(email)
    target = _target(user) if user is not None else Target.typed("portal_user", email)
    if (refused := guard.refusal()) is not None:
        record("portal.sign_in", "blocked", actor=actor, target=target, error=refused.message)
        return Step(error=refused.message)
    usable = user is not None and user.is_active and user.password_hash is not None
    if usable and user is not None and (until := mfa_window(user).locked_until()) is not None:
        # Judged before the password, in the same words whatever was typed: a locked account must not tell a
        # guesser which password was right.
        verify_password(password, user.password_hash)  # the same bcrypt cost as any other answer
        message = f"This account is locked after too many wrong codes. Try again at {clock(until)}."
        record("portal.sign_in", "blocked", actor=actor, target=target, error=message)
        return Step(error=message)
    valid = verify_password(password, user.password_hash if usable and user else None)
    if not valid or user is None:
        record("portal.sign_in", "failed", actor=actor, target=target, error=SIGN_IN_FAILED)
        if (locked := guard.failed()) is not None:
            return Step(error=locked.message)
        return Step(error=SIGN_IN_FAILED)
    guard.succeeded()
    following = password_accepted(user)
    if following is None:
        record("portal.sign_in", "ok", actor=actor, target=target, payload={"method": "password"})
        return Step(next_url=url_for("portal.home"))
    return Step(next_url=following)


def password_accepted(user: PortalUser) -> str | None:
    """After a right password (signing in, or a setup or reset link): signed in now (None), or half-way, and the
    URL of the code (they have two-factor on) or of enrolment (the workspace requires it and they have none)."""
    if user.mfa_enrolled:
        _start_pending(user)
        return url_for("portal.signin_code")
    if portal_settings.requires_mfa(db.session()):
        _start_pending(user)
        return url_for("portal.signin_enrol")
    start_session(user)
    return None


def _start_pending(user: PortalUser) -> None:
    """Password accepted: remember who is half-way (nothing is reachable yet), in a new session."""
    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]
    session.clear()
    session["tenant_id"] = user.tenant_id
    session["pending_user_id"] = user.id
    session["pending_version"] = user.session_version
    session["pending_at"] = datetime.now(UTC).timestamp()


def pending_user() -> PortalUser | None:
    """Who is half-way signed in, if anyone is, here, within ten minutes, with the password they gave still theirs."""
    user_id, started = session.get("pending_user_id"), session.get("pending_at")
    if user_id is None or started is None or session.get("tenant_id") != g.tenant.id:
        return None
    if datetime.now(UTC).timestamp() - float(started) > PENDING_LIFETIME.total_seconds():
        return None
    user = db.session().get(PortalUser, int(user_id))
    if user is None or not user.is_active or user.password_hash is None:
        return None
    return user if session.get("pending_version") == user.session_version else None


def finish_sign_in(user: PortalUser, method: str) -> str:
    """The second step passed: a signed-in session (a new id again), audited with how."""
    start_session(user)
    mfa_window(user).reset()
    record("portal.sign_in", "ok", actor=portal_actor(user), target=_target(user), payload={"method": method})
    return url_for("portal.home")


# The code and recovery-code steps: their rules (lockout included) are shared with the operators' sign-in.
_SECOND: SecondStep[PortalUser] = SecondStep(
    "portal", record, portal_actor, _target, window=mfa_window, finish=finish_sign_in
)
code_step, recovery_step = _SECOND.code, _SECOND.recovery


def request_reset(email: str) -> str | None:
    """For "Forgot your password?": a reset link mailed to ``email``'s portal account when it has an active one. The
    caller answers the same either way; the refusal in words comes back only when asked too often (per address typed
    and per network, counted whether or not the address has an account).

    The account is not even looked up here: the same work for any address (the limits, then one job on the ``mail``
    queue), so the answer's timing cannot tell a visitor who has an account. The job finds it and mails the link."""
    typed = email.strip().lower()[:320]  # no address is longer; a megabyte typed would sit in Redis with its job
    guard = resets.RequestGuard(redis(), g.tenant.id, typed, request.remote_addr or "unknown")
    if (refused := guard.refusal()) is not None:
        target = Target.typed("portal_user", typed)
        record(resets.ASKED, "blocked", actor=resets.asked_by(typed), target=target, error=refused)
        return refused
    jobs.RESET_LINK.enqueue(g.tenant.id, typed, audit.current_request_id(), *request_origin())
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
