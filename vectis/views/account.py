"""The signed-in user's own account: password and recovery codes."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.identity import mfa
from vectis.identity.auth import current_actor, end_other_sessions, signed_in
from vectis.platform import db
from vectis.platform.htmx import render

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/")
@signed_in
def index() -> Response:
    left = mfa.remaining_recovery_codes(db.session(), current_user)
    return render("account/index.html", recovery_left=left, active="account")


@bp.post("/password")
@signed_in
def change_password() -> Response:
    outcome = perform(
        "account.change_password",
        Target.for_user(current_user),
        {k: request.form.get(k, "") for k in ("current_password", "new_password", "confirm_password")},
        actor=current_actor(),
        surface="ui",
    )
    if outcome.ok:
        end_other_sessions(current_user)
    flash(outcome.message, outcome.tone)
    return redirect(url_for("account.index"))


@bp.post("/recovery-codes")
@signed_in
def regenerate_recovery_codes() -> Response:
    outcome = perform(
        "account.regenerate_recovery_codes",
        Target.for_user(current_user),
        {"current_password": request.form.get("current_password", "")},
        actor=current_actor(),
        surface="ui",
    )
    if not outcome.ok:
        flash(outcome.message, "error")
        return redirect(url_for("account.index"))
    return render(
        "auth/recovery_codes.html",
        codes=outcome.private["codes"],
        continue_url=url_for("account.index"),
        first_time=False,
    )
