"""Admin: users (invite, role, deactivate, MFA reset, their PSA member), customer matching, data retention and
the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, request, stream_with_context, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from vectis.actions import Target, perform
from vectis.audit import reader as audit_log
from vectis.identity.auth import current_actor, require_role
from vectis.ingest import matching
from vectis.models import RETENTION_DAYS, Connection, CustomerLink, LinkStatus, Role, User
from vectis.platform import db, params
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render
from vectis.retention import purge
from vectis.tickets import members

bp = Blueprint("admin", __name__, url_prefix="/admin")
admin_only = require_role(Role.ADMIN)


@bp.get("/")
@admin_only
def index() -> BaseResponse:
    return redirect(url_for("admin.users"))


def _users_page(
    status: int = 200, form: dict[str, str] | None = None, error: str | None = None, invite_link: str | None = None
) -> BaseResponse:
    s = db.session()
    rows = s.scalars(select(User).order_by(User.name, User.id)).all()
    return render(
        "admin/users.html",
        "admin/_users_table.html",
        users=rows,
        psa=members.mappings(s, rows),
        roles=list(Role),
        form=form or {},
        error=error,
        invite_link=invite_link,
        active="admin",
        tab="users",
        status=status,
    )


@bp.get("/users")
@admin_only
def users() -> BaseResponse:
    return _users_page()


@bp.post("/users")
@admin_only
def invite() -> BaseResponse:
    form = {k: request.form.get(k, "").strip() for k in ("email", "name", "role")}
    email = form["email"].lower()
    outcome = perform(
        "user.invite", Target("user", None, email or "new user"), form, actor=current_actor(), surface="ui"
    )
    if not outcome.ok:
        return _users_page(422, form, outcome.message)
    flash(outcome.message, "ok")
    return _users_page(invite_link=outcome.private["link"])


@bp.get("/users/<pid(user):user_id>")
@admin_only
def user(user_id: int) -> BaseResponse:
    s = db.session()
    shown = get_or_404(User, user_id)
    psa = [
        (found, members.members(s, found.connection.id), members.refusal(s, found.connection.id))
        for found in members.mappings(s, [shown])[shown.id]
    ]
    return render("admin/user.html", user=shown, roles=list(Role), psa=psa, active="admin", tab="users")


@bp.post("/users/<pid(user):user_id>/psa-member")
@admin_only
def choose_member(user_id: int) -> BaseResponse:
    """Which PSA member the user writes as: one chosen here outlives every sync."""
    chosen = get_or_404(User, user_id)
    payload = {k: request.form.get(k, "") for k in ("connection_id", "member_id")}
    outcome = perform("psa_member.choose", Target.for_user(chosen), payload, actor=current_actor(), surface="ui")
    flash(outcome.message, outcome.tone)
    return redirect(url_for("admin.user", user_id=chosen.id))


@bp.post("/users/<pid(user):user_id>/psa-retry")
@admin_only
def retry_members(user_id: int) -> BaseResponse:
    """From a user's page: forget that the PSA refused notes written as its members (for everyone)."""
    shown = get_or_404(User, user_id)
    connection = db.session().get(Connection, params.integer(request.form.get("connection_id")) or 0)
    target = Target("connection", str(connection.id) if connection else None, connection.name if connection else "PSA")
    outcome = perform("psa_authorship.retry", target, {}, actor=current_actor(), surface="ui")
    flash(outcome.message, outcome.tone)
    return redirect(url_for("admin.user", user_id=shown.id))


USER_ACTIONS = {
    "role": "user.change_role",
    "deactivate": "user.deactivate",
    "reactivate": "user.reactivate",
    "reset-mfa": "user.reset_mfa",
}


@bp.post("/users/<pid(user):user_id>/<any(role, deactivate, reactivate, 'reset-mfa'):action>")
@admin_only
def user_action(user_id: int, action: str) -> BaseResponse:
    target_user = get_or_404(User, user_id)
    payload = {"role": request.form.get("role", "")} if action == "role" else {}
    outcome = perform(USER_ACTIONS[action], Target.for_user(target_user), payload, actor=current_actor(), surface="ui")
    flash(outcome.message, outcome.tone)
    return redirect(url_for("admin.user", user_id=user_id))


def _matching_page(status: LinkStatus) -> BaseResponse:
    s = db.session()
    rows, counts = matching.matching_queue(s, status)
    return render(
        "admin/matching.html",
        "admin/_matching_table.html",
        rows=rows,
        counts=counts,
        state=status.value,
        customers=matching.all_customers(s) if rows and status != LinkStatus.LINKED else [],
        limit=matching.QUEUE_LIMIT,
        active="admin",
        tab="matching",
    )


def _link_status(value: str | None) -> LinkStatus:
    try:
        return LinkStatus(value or LinkStatus.UNLINKED.value)
    except ValueError:
        return LinkStatus.UNLINKED


@bp.get("/matching")
@admin_only
def matching_queue() -> BaseResponse:
    return _matching_page(_link_status(request.args.get("status")))


MATCHING_ACTIONS = {
    "link": "customer_link.link",
    "create": "customer_link.create_customer",
    "separate": "customer_link.keep_separate",
    "unlink": "customer_link.unlink",
}


@bp.post("/matching/<pid(link):link_id>/<any(link, create, separate, unlink):action>")
@admin_only
def matching_action(link_id: int, action: str) -> BaseResponse:
    link = get_or_404(CustomerLink, link_id)
    payload = {"customer_id": request.form.get("customer_id", "")} if action == "link" else {}
    outcome = perform(
        MATCHING_ACTIONS[action],
        Target("customer_link", str(link.id), link.external_name),
        payload,
        actor=current_actor(),
        surface="ui",
    )
    flash(outcome.message, outcome.tone)
    # Back to the list the admin acted from: the account has moved on to another one.
    return redirect(url_for("admin.matching_queue", status=_link_status(request.form.get("from")).value))


@bp.get("/audit")
@admin_only
def audit() -> BaseResponse:
    s = db.session()
    filters = audit_log.AuditFilters.from_args(request.args)
    before = params.integer(request.args.get("before"))
    result = audit_log.page(s, filters, before)
    context: dict[str, Any] = {
        "page": result,
        "filters": filters,
        "actions": audit_log.known_actions(s),
        "users": s.scalars(select(User).order_by(User.name)).all(),
        "active": "admin",
        "tab": "audit",
        "details": audit_log.details,
        "clamp": audit_log.clamp,
    }
    # htmx asks for the results (filter change) or, with ``before``, only the older rows ("load older");
    # a plain GET of either URL gets the whole page, so every state can be bookmarked.
    partial = "admin/_audit_more.html" if before is not None else "admin/_audit_results.html"
    return render("admin/audit.html", partial, **context)


def _retention_page(status: int = 200, form: dict[str, str] | None = None, error: str | None = None) -> BaseResponse:
    s = db.session()
    policy = purge.policy_for(s, g.tenant.id)
    return render(
        "admin/retention.html",
        rows=purge.footprint(s),
        form=form or {field: str(getattr(policy, field)) for field in RETENTION_DAYS},
        limits=RETENTION_DAYS,
        keep_runs=purge.KEEP_RUNS,
        error=error,
        active="admin",
        tab="retention",
        status=status,
    )


@bp.get("/retention")
@admin_only
def retention() -> BaseResponse:
    return _retention_page()


@bp.post("/retention")
@admin_only
def change_retention() -> BaseResponse:
    form = {field: request.form.get(field, "").strip() for field in RETENTION_DAYS}
    target = Target("workspace", str(g.tenant.id), g.tenant.name)
    outcome = perform("retention.change", target, form, actor=current_actor(), surface="ui")
    if not outcome.ok:
        return _retention_page(422, form, outcome.message)
    flash(outcome.message, "ok")
    return redirect(url_for("admin.retention"))


@bp.get("/audit.csv")
@admin_only
def audit_csv() -> BaseResponse:
    filters = audit_log.AuditFilters.from_args(request.args)
    s = db.session()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(audit_log.csv_lines(s, filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="vectis-audit-{stamp}.csv"'},
    )
