"""Who is signed in, and what their role lets them do.

The session cookie is host-only (no ``Domain``), so a cookie set by ``acme`` is never sent to
``northwind``; the user id is loaded through the tenant-bound session, and the tenant id stored at sign-in
must match the host's, so even a copied cookie is useless on another tenant's host.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, g, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from vectis import db
from vectis.htmx import wants_partial
from vectis.models import Role, User
from vectis.passwords import verify_password

login_manager = LoginManager()
F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.signin"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)


def _load_user(user_id: str) -> User | None:
    tenant = g.get("tenant")
    if tenant is None or session.get("tenant_id") != tenant.id:
        return None
    user = db.session().get(User, int(user_id))
    return user if user is not None and user.is_active else None


def _unauthorized() -> Response:
    from flask import redirect

    wanted = request.full_path.rstrip("?") if request.method == "GET" and request.path != "/" else None
    target = url_for("auth.signin", next=wanted)
    if wants_partial() or request.headers.get("HX-Request"):
        # htmx would swap a followed redirect into the fragment's target; send the whole page there instead.
        response = Response(status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def authenticate(email: str, password: str) -> User | None:
    """The active user of the request's tenant with this email and password, else None.

    Unknown email and wrong password take the same time (a dummy bcrypt check) and the same answer."""
    user = db.session().scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.is_active:
        verify_password(password, None)
        return None
    return user if verify_password(password, user.password_hash) else None


def sign_in(user: User) -> None:
    session.clear()  # a fresh session at sign-in: nothing from before survives (fixation)
    session["tenant_id"] = user.tenant_id
    login_user(user)
    user.last_sign_in_at = datetime.now(UTC)
    db.session().commit()


def sign_out() -> None:
    logout_user()
    session.clear()


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
