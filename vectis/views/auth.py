"""Sign-in and sign-out. (MFA and the audit trail arrive with the accounts issue.)"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from vectis import auth
from vectis.htmx import render

bp = Blueprint("auth", __name__)

SIGN_IN_FAILED = "That email and password do not match an account in this workspace."


def _safe_next(target: str | None) -> str:
    """Only same-site paths: ``next`` must never send a user to another host."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("sections.home")


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Response:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    error = None
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        user = auth.authenticate(email, request.form.get("password", ""))
        if user is not None:
            auth.sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
        error = SIGN_IN_FAILED
    return render("auth/signin.html", email=email, error=error, status=401 if error else 200)


@bp.post("/signout")
def signout() -> Response:
    auth.sign_out()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.signin"))
