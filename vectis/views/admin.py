"""Admin: the workspace's users (invites, roles and the audit log arrive with the accounts issue)."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from vectis import db
from vectis.access import get_or_404
from vectis.auth import require_role
from vectis.htmx import render
from vectis.models import Role, User

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@require_role(Role.ADMIN)
def index() -> Response:
    return redirect(url_for("admin.users"))


@bp.get("/users")
@require_role(Role.ADMIN)
def users() -> Response:
    rows = db.session().scalars(select(User).order_by(User.name, User.id)).all()
    return render("admin/users.html", "admin/_users_table.html", users=rows, active="admin")


@bp.get("/users/<int:user_id>")
@require_role(Role.ADMIN)
def user(user_id: int) -> Response:
    return render("admin/user.html", user=get_or_404(User, user_id), active="admin")
