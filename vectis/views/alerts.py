"""Alerts: the list (Open / Acknowledged / Muted / Resolved, filtered in the URL), one alert by its own link,
and what a technician does with one alert or a selection of them."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.alerts import bulk, queries
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.models import Alert, Role
from vectis.platform import db, public_ids
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
    "unmute": "alert.unmute",
}


def _list(listing: queries.Page) -> Response:
    return render(
        "alerts/index.html",
        "alerts/_results.html",
        alerts=listing,
        base_url=url_for("alerts.index"),
        active="alerts",
    )


@bp.get("/alerts")
@signed_in
def index() -> Response:
    return _list(queries.page(db.session(), queries.Filters.from_args(request.args)))


@bp.get("/alerts/<pid(alert):alert_id>")
@signed_in
def show(alert_id: int) -> Response:
    """One alert with its evidence open: the link a ticket opened from it carries back to Vectis."""
    alert = get_or_404(Alert, alert_id)
    return _list(queries.page(db.session(), queries.Filters(state=alert.state), only=alert))


def _back() -> str:
    """Where the form came from (the Alerts page or a hub tab, with its filters): a path on this site only."""
    return safe_next(request.form.get("next")) or url_for("alerts.index")


@bp.post("/alerts/<pid(alert):alert_id>/<any(acknowledge, resolve, ticket, mute, unmute):action>")
@writers
def act(alert_id: int, action: str) -> Response:
    alert = get_or_404(Alert, alert_id)
    payload = {k: request.form.get(k, "") for k in ("hours", "reason")} if action == "mute" else {}
    if action == "ticket":
        payload["link"] = url_for("alerts.show", alert_id=alert.id, _external=True)
    outcome = perform(
        VERBS[action], Target("alert", str(alert.id), alert.subject_label), payload, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, outcome.tone)
    if outcome.ok and action == "ticket" and outcome.response.get("ticket_id"):
        return redirect(url_for("tickets.show", ticket_id=outcome.response["ticket_id"]))
    return redirect(_back())


@bp.post("/alerts/bulk")
@writers
def act_on_selected() -> Response:
    """The list's checkboxes: a plain form post, so it works without scripts too."""
    action = request.form.get("action", "")
    chosen = [key for key in (public_ids.decode("alert", v) for v in request.form.getlist("alert")) if key]
    if action not in bulk.ACTIONS:
        flash("Choose Acknowledge or Resolve for the selected alerts.", "error")
    elif not chosen:
        flash("Select the alerts first: tick the box at the start of each row.", "error")
    else:
        summary = bulk.act(db.session(), action, chosen, actor=current_actor(), surface="ui")
        flash(summary.message, summary.category)
    return redirect(_back())
