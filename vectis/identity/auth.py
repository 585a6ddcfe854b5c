"""Who is signed in, how they get there (password, then TOTP), and what their role lets them do.

Sessions live in Redis (Flask-Session): the cookie holds only a random id, so signing out ends the session
for every copy of the cookie, and a deactivated user is out on their next request. The cookie is host-only,
so ``acme``'s cookie is never sent to ``northwind``; and the tenant id stored at sign-in must match the
host's, so even a copied cookie is useless on another tenant's host.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from vectis.actions.base import Actor, Target
from vectis.audit import writer as audit
from vectis.identity import mfa
from vectis.identity.passwords import verify_password
from vectis.identity.second_step import SecondStep, Step, enrol_secret
from vectis.identity.throttle import SignInGuard
from vectis.models import Role, User
from vectis.platform import db
from vectis.platform.dates import clock
from vectis.platform.htmx import wants_partial
from vectis.platform.queues import redis
from vectis.platform.ratelimit import AttemptWindow

login_manager = LoginManager()
F = TypeVar("F", bound=Callable[..., Any])

SIGN_IN_FAILED = "That email and password do not match an account in this workspace."
PENDING_LIFETIME = timedelta(minutes=10)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.signin"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # server-side sessions, rotated at sign-in, already do this
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)


def _load_user(user_id: str) -> User | None:
    tenant = g.get("tenant")
    if tenant is None or session.get("tenant_id") != tenant.id:
        return None
    user = db.session().get(User, int(user_id))
    if user is None or not user.is_active or not user.mfa_enrolled:
        return None
    return user if session.get("session_version") == user.session_version else None


def _unauthorized() -> Response:
    wanted = request.full_path.rstrip("?") if request.method == "GET" and request.path != "/" else None
    target = url_for("auth.signin", next=wanted)
    if wants_partial() or request.headers.get("HX-Request"):
        # htmx would swap a followed redirect into the fragment's target; send the whole page there instead.
        response = Response(status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def require_role(*roles: Role) -> Callable[[F], F]:
    """Signed in, and one of ``roles`` (admins pass every check). 401 -> sign-in, wrong role -> 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and current_user.role_enum is not Role.ADMIN and current_user.role_enum not in roles:
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


signed_in = require_role()
operator = require_role(Role.TECHNICIAN)  # technicians and admins: operate, not only look


# --- the audit trail of signing in -------------------------------------------------------------------


def record_event(
    action: str,
    result: str,
    *,
    actor: Actor,
    target: Target,
    payload: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Security events are audited even when the request fails, so they commit on their own."""
    s = db.session()
    audit.record(
        s,
        tenant_id=g.tenant.id,
        actor=actor,
        surface="ui",
        action=action,
        target=target,
        result=result,
        payload=payload,
        error=error,
    )
    s.commit()


def _user_target(user: User | None, email: str) -> Target:
    return Target.for_user(user) if user is not None else Target.typed("user", email)


# --- step 1: password --------------------------------------------------------------------------------


def signin_guard(email: str) -> SignInGuard:
    return SignInGuard(redis(), g.tenant.id, email, request.remote_addr or "unknown")


def mfa_window(user: User) -> AttemptWindow:
    return AttemptWindow(redis(), f"mfa:{user.tenant_id}:{user.id}")


def password_step(email: str, password: str) -> Step:
    email = email.strip()
    guard = signin_guard(email)
    user = db.session().scalar(select(User).where(func.lower(User.email) == email.lower()))
    actor = Actor.for_user(user) if user is not None else Actor.anonymous(email)
    target = _user_target(user, email)
    if (refused := guard.refusal()) is not None:
        record_event(
            "auth.sign_in",
            "blocked",
            actor=actor,
            target=target,
            payload={"scope": refused.scope},
            error=refused.message,
        )
        return Step(error=refused.message)
    if user is not None and user.is_active and (until := mfa_window(user).locked_until()) is not None:
        # Judged before the password, and the same words whatever was typed: a locked account must not tell a
        # guesser which password was right.
        verify_password(password, user.password_hash)  # the same bcrypt cost as any other answer
        message = f"This account is locked after too many wrong codes. Try again at {clock(until)}."
        record_event("auth.sign_in", "blocked", actor=actor, target=target, error=message)
        return Step(error=message)
    valid = user is not None and user.is_active and verify_password(password, user.password_hash)
    if user is None or not user.is_active:
        verify_password(password, None)  # the same bcrypt cost for an unknown email
    if not valid:
        record_event("auth.sign_in", "failed", actor=actor, target=target, error=SIGN_IN_FAILED)
        if (locked := guard.failed()) is not None:
            record_event(
                "auth.lockout",
                "blocked",
                actor=actor,
                target=target,
                payload={"kind": "password", "scope": locked.scope, "until": locked.until.isoformat()},
            )
            return Step(error=locked.message)
        return Step(error=SIGN_IN_FAILED)
    if user is None:  # unreachable: verify() above only passes for a user; fail closed all the same
        return Step(error=SIGN_IN_FAILED)
    guard.succeeded()
    start_pending(user)
    return Step(next_url=url_for("auth.mfa" if user.mfa_enrolled else "auth.enrol"))


def start_pending(user: User) -> None:
    """Password accepted: remember who is half-way signed in (nothing is accessible yet)."""
    next_url = session.get("next")
    _regenerate()
    session["tenant_id"] = user.tenant_id
    session["pending_user_id"] = user.id
    session["pending_at"] = datetime.now(UTC).timestamp()
    if next_url:
        session["next"] = next_url


def pending_user() -> User | None:
    user_id, started = session.get("pending_user_id"), session.get("pending_at")
    if user_id is None or started is None or session.get("tenant_id") != g.tenant.id:
        return None
    if datetime.now(UTC).timestamp() - float(started) > PENDING_LIFETIME.total_seconds():
        return None
    user = db.session().get(User, int(user_id))
    return user if user is not None and user.is_active else None


# --- step 2: a code, a recovery code, or enrolment ---------------------------------------------------


def enrol_step(user: User, code: str) -> tuple[Step, list[str]]:
    """Confirm the new secret with a code; on success returns the recovery codes to show once."""
    secret = enrol_secret()
    step = mfa.matching_step(secret, code)
    if step is None:
        return Step(
            error="That code is not right. Check that your phone's clock is set automatically and try the newest code."
        ), []
    mfa.enrol(user, secret, step)
    codes = mfa.replace_recovery_codes(db.session(), user)
    session.pop("enrol_secret", None)
    record_event(
        "auth.mfa_enrol",
        "ok",
        actor=Actor.for_user(user),
        target=Target.for_user(user),
        payload={"recovery_codes": len(codes)},
    )
    return Step(next_url=finish_sign_in(user, "password+totp_enrolment")), codes


def finish_sign_in(user: User, method: str) -> str:
    next_url = session.get("next") or url_for("sections.home")
    _regenerate()
    session.permanent = True
    session["tenant_id"] = user.tenant_id
    session["session_version"] = user.session_version
    login_user(user)
    mfa_window(user).reset()
    user.last_sign_in_at = datetime.now(UTC)
    record_event(
        "auth.sign_in", "ok", actor=Actor.for_user(user), target=Target.for_user(user), payload={"method": method}
    )
    return str(next_url)


# The code and recovery-code steps: their rules (lockout included) are shared with the portal's sign-in.
_SECOND: SecondStep[User] = SecondStep(
    "auth", record_event, Actor.for_user, Target.for_user, window=mfa_window, finish=finish_sign_in
)
code_step, recovery_step = _SECOND.code, _SECOND.recovery


def sign_out() -> None:
    if current_user.is_authenticated:
        user = cast(User, current_user._get_current_object())
        record_event("auth.sign_out", "ok", actor=Actor.for_user(user), target=Target.for_user(user))
    logout_user()
    session.clear()


def _regenerate() -> None:
    """A new session id, and nothing carried over from before (no session fixation)."""
    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]
    session.clear()


def current_actor() -> Actor:
    return Actor.for_user(cast(User, current_user._get_current_object()))
