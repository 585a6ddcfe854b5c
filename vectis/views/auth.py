"""Signing in (password, then a TOTP code, a recovery code, or enrolment), signing out, and invites."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from vectis.actions.base import Actor, Target
from vectis.identity import accounts, auth, mfa
from vectis.identity.passwords import hash_password
from vectis.identity.second_step import enrol_secret
from vectis.models import User
from vectis.platform import db
from vectis.platform.htmx import render
from vectis.platform.redirects import safe_next

bp = Blueprint("auth", __name__)


def _demo_code(user: User) -> str | None:
    """Demo mode only: the current code, so a newcomer gets in without an authenticator app."""
    if not current_app.config["VECTIS_DEMO"] or user.totp_secret is None:
        return None
    return mfa.current_code(user.totp_secret.open(user.tenant_id))


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Response:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("sections.home"))
    if (wanted := safe_next(request.args.get("next"))) is not None:
        session["next"] = wanted
    error, email = None, ""
    if request.method == "POST":
        email = request.form.get("email", "")
        step = auth.password_step(email, request.form.get("password", ""))
        if step.next_url:
            return redirect(step.next_url)
        error = step.error
    return render("auth/signin.html", email=email, error=error, status=401 if error else 200)


def _pending_or_restart() -> User | Response:
    user = auth.pending_user()
    if user is None:
        flash("Your sign-in took too long or was not started. Please sign in again.", "info")
        return redirect(url_for("auth.signin"))
    return user


@bp.route("/signin/mfa", endpoint="mfa", methods=["GET", "POST"])
def mfa_code() -> Response:
    user = _pending_or_restart()
    if isinstance(user, Response):
        return user
    if not user.mfa_enrolled:
        return redirect(url_for("auth.enrol"))
    error = None
    if request.method == "POST":
        step = auth.code_step(user, request.form.get("code", ""))
        if step.next_url:
            return redirect(step.next_url)
        error = step.error
    return render("auth/mfa.html", user=user, error=error, demo_code=_demo_code(user), status=401 if error else 200)


@bp.route("/signin/recovery", methods=["GET", "POST"])
def recovery() -> Response:
    user = _pending_or_restart()
    if isinstance(user, Response):
        return user
    error = None
    if request.method == "POST":
        step = auth.recovery_step(user, request.form.get("code", ""))
        if step.next_url:
            flash(
                "You signed in with a recovery code; it cannot be used again. Regenerate codes in Account if few are left.",
                "info",
            )
            return redirect(step.next_url)
        error = step.error
    return render("auth/recovery.html", user=user, error=error, status=401 if error else 200)


@bp.route("/signin/enrol", methods=["GET", "POST"])
def enrol() -> Response:
    user = _pending_or_restart()
    if isinstance(user, Response):
        return user
    if user.mfa_enrolled:
        return redirect(url_for("auth.mfa"))
    error = None
    if request.method == "POST":
        step, codes = auth.enrol_step(user, request.form.get("code", ""))
        if step.next_url:
            # Shown exactly once: this response is the only place the codes ever appear.
            return render("auth/recovery_codes.html", codes=codes, continue_url=step.next_url, first_time=True)
        error = step.error
    secret = enrol_secret()
    uri = mfa.provisioning_uri(secret, user.email, g.tenant.name)
    return render(
        "auth/enrol.html",
        user=user,
        secret=secret,
        qr_svg=mfa.qr_svg(uri),
        error=error,
        demo_code=mfa.current_code(secret) if current_app.config["VECTIS_DEMO"] else None,
        status=401 if error else 200,
    )


@bp.post("/signout")
def signout() -> Response:
    auth.sign_out()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.signin"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invite(token: str) -> Response:
    s = db.session()
    found = accounts.find_invite(s, token)
    if found.problem is not None or found.invite is None:
        return render("auth/invite_problem.html", problem=found.problem, status=404 if found.invite is None else 410)
    user = s.get(User, found.invite.user_id)
    if user is None or not user.is_active:
        return render("auth/invite_problem.html", problem="This invite was withdrawn.", status=410)
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        error = accounts.password_problem(password, request.form.get("confirm_password", ""), email=user.email)
        if error is None:
            user.password_hash = hash_password(password)
            found.invite.used_at = datetime.now(UTC)
            auth.record_event(
                "auth.invite_accepted",
                "ok",
                actor=Actor.for_user(user),
                target=Target.for_user(user),
                payload={"invite_id": found.invite.id},
            )
            auth.start_pending(user)
            return redirect(url_for("auth.enrol"))
    return render("auth/invite.html", user=user, error=error, status=422 if error else 200)
