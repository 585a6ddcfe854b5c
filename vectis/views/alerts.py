"""Alerts: the list (Open / Acknowledged / Muted / Resolved) and what a technician does with one."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.alerts import service as alerts
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.models import Alert, Role
from vectis.platform import db
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render
from vectis.platform.redirects import safe_next

bp = Blueprint("alerts", __name__)
writers = require_role(Role.TECHNICIAN)
VERBS = {
    "acknowledge": "alert.acknowledge",
    "resolve": "alert.resolve",
    "ticket": "alert.open_ticket",
    "mute": "alert.mute",
}


@bp.get("/alerts")
@signed_in
def index() -> Response:
    s = db.session()
    tab = request.args.get("tab", "open")
    tab = tab if tab in alerts.TABS else "open"
    return render(
        "alerts/index.html",
        "alerts/_results.html",
        tab=tab,
        tabs=alerts.TABS,
        counts=alerts.counts(s),
        rows=alerts.listing(s, tab),
        back=url_for("alerts.index", tab=tab),
        active="alerts",
    )


def _back() -> str:
    """Where the form came from (the Alerts page or a hub tab): a path on this site only."""
    return safe_next(request.form.get("next")) or url_for("alerts.index")


@bp.post("/alerts/<pid(alert):alert_id>/<any(acknowledge, resolve, ticket, mute):action>")
@writers
def act(alert_id: int, action: str) -> Response:
    alert = get_or_404(Alert, alert_id)
    payload = {k: request.form.get(k, "") for k in ("hours", "reason")} if action == "mute" else {}
    outcome = perform(
        VERBS[action], Target("alert", str(alert.id), alert.subject_label), payload, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, "ok" if outcome.ok else "error")
    if outcome.ok and action == "ticket" and outcome.response.get("ticket_id"):
        return redirect(url_for("tickets.show", ticket_id=outcome.response["ticket_id"]))
    return redirect(_back())
