"""Security: every customer's detections on one page, and what a technician does with one (isolate its endpoint,
release it, resolve it, mark it a false positive). The hub's Security tab shows the same cards for one customer
(``vectis/customers/hub.py``). An action asked by htmx answers with the card as it is now; without scripts, the
page it came from."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.models import Role
from vectis.models.security import Detection
from vectis.platform import db
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render, wants_partial
from vectis.platform.redirects import safe_next
from vectis.security import queries, service

bp = Blueprint("security", __name__)
writers = require_role(Role.TECHNICIAN)
VERBS = {
    "isolate": "detection.isolate",
    "release": "detection.release",
    "resolve": "detection.resolve",
    "false_positive": "detection.false_positive",
}
FIELDS = ("comment", "mode", "reason", "scope", "days")


@bp.get("/security")
@signed_in
def index() -> Response:
    listing = queries.listing(db.session(), queries.Filters.from_args(request.args))
    return render(
        "security/index.html",
        "security/_results.html",
        listing=listing,
        base_url=url_for("security.index"),
        across_customers=True,
        active="security",
    )


def _card(detection_id: int, *, message: str | None = None, tone: str = "ok") -> Response:
    card = queries.card(db.session(), detection_id)
    return Response(
        render_template(
            "security/_card.html",
            c=card,
            across_customers=request.values.get("across") == "1",
            back=safe_next(request.values.get("next")) or url_for("security.index"),
            message=message,
            tone=tone,
        )
    )


@bp.get("/detections/<pid(detection):detection_id>/card")
@signed_in
def card(detection_id: int) -> Response:
    """One card, its endpoint's isolation read again from the tool when it is pending: what the card polls."""
    detection = get_or_404(Detection, detection_id)
    if service.refresh_isolation(db.session(), detection):
        db.session().commit()
    return _card(detection.id)


@bp.post("/detections/<pid(detection):detection_id>/<any(isolate, release, resolve, false_positive):action>")
@writers
def act(detection_id: int, action: str) -> Response:
    detection = get_or_404(Detection, detection_id)
    label = f"{detection.title} on {detection.device_name}" if detection.device_name else detection.title
    payload = {k: request.form.get(k, "") for k in FIELDS}
    outcome = perform(
        VERBS[action], Target("detection", str(detection.id), label), payload, actor=current_actor(), surface="ui"
    )
    if wants_partial():
        return _card(detection.id, message=outcome.message, tone=outcome.tone)
    flash(outcome.message, outcome.tone)
    return redirect(safe_next(request.form.get("next")) or url_for("security.index"))
