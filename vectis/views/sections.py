"""The site's root: the customer list is where a technician starts."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

from vectis.identity.auth import signed_in

bp = Blueprint("sections", __name__)


@bp.get("/")
@signed_in
def home() -> Response:
    return redirect(url_for("customers.index"))
