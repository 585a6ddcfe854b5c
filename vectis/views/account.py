"""The signed-in user's own account: password and recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, g, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.identity import mfa, tokens
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.identity.sessions import end_other_sessions
from vectis.identity.tokens import listing as tokens_listing
from vectis.models import ApiToken, Role, Tenant
from vectis.platform import db
from vectis.platform.access import get_or_404
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
    end_other_sessions(current_user)
    flash(outcome.message, "ok")
    return render(
        "auth/recovery_codes.html",
        codes=outcome.private["codes"],
        continue_url=url_for("account.index"),
        first_time=False,
    )


def _tokens_page(status: int = 200) -> Response:
    actor = current_actor()
    session = db.session()
    listing = tokens_listing(session, actor)
    return render(
        "account/tokens.html",
        status=status,
        rows=listing,
        scopes=tokens.SCOPES,
        mine=tokens.scopes_for(actor.role),
        tenant=session.get(Tenant, g.tenant.id),
        is_admin=actor.role == Role.ADMIN.value,
        now=datetime.now(UTC),
        default_days=tokens.DEFAULT_DAYS,
        active="account",
    )


@bp.get("/tokens")
@bp.get("/mcp")
@signed_in
def token_list() -> Response:
    """Account -> Tokens (also /account/mcp, where an MCP client's setup points people)."""
    return _tokens_page()


@bp.post("/tokens")
@signed_in
def make_token() -> Response:
    payload = {
        "label": request.form.get("label", ""),
        "scopes": request.form.getlist("scopes"),
        "days": request.form.get("days", ""),
    }
    outcome = perform("token.create", Target.for_user(current_user), payload, actor=current_actor(), surface="ui")
    if not outcome.ok:
        flash(outcome.message, "error")
        return _tokens_page(422)
    return render("account/token_made.html", token=outcome.private["token"], message=outcome.message, active="account")


@bp.post("/tokens/<pid(token):token_id>/revoke")
@signed_in
def revoke_token(token_id: int) -> Response:
    token = get_or_404(ApiToken, token_id)
    outcome = perform(
        "token.revoke", Target("api_token", str(token.id), token.label), {}, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, outcome.tone)
    return redirect(url_for("account.token_list"))


@bp.post("/tokens/policy")
@require_role(Role.ADMIN)
def token_policy() -> Response:
    outcome = perform(
        "workspace.token_policy",
        Target("workspace", str(g.tenant.id), g.tenant.name),
        {"max_days": request.form.get("max_days", "")},
        actor=current_actor(),
        surface="ui",
    )
    flash(outcome.message, outcome.tone)
    return redirect(url_for("account.token_list"))
