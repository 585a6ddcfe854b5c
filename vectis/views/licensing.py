"""Licensing: what a technician does with a subscription from the hub's Licensing tab, inline. A seat change shows its
preflight first (term, commitment end, unit cost, monthly delta) and is sent only when confirmed; a reduction a
committed term cannot take now shows why, with the renewal date, and offers to schedule it. A quote is asked for from
the same row. Each answers with the subscription's row as it is now; without scripts, the hub's tab."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.actions.base import Outcome
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.licensing import queries
from vectis.licensing.queries import new_reference
from vectis.licensing.verbs import MAX_SEATS
from vectis.models import Role
from vectis.models.licensing import LicenseSubscription
from vectis.platform import db, params, public_ids
from vectis.platform.access import get_or_404
from vectis.platform.htmx import wants_partial

bp = Blueprint("licensing", __name__)
writers = require_role(Role.TECHNICIAN)
ROUTE = "/subscriptions/<pid(subscription):subscription_id>"


def _target(subscription: LicenseSubscription) -> Target:
    return Target("license_subscription", str(subscription.id), subscription.product_name)


def _row(
    subscription: LicenseSubscription, *, panel: str | None = None, status: int = 200, **context: object
) -> Response:
    s = db.session()
    s.refresh(subscription)
    row = queries.row_of(s, subscription)
    html = render_template(
        "licensing/_subscription.html", r=row, today=datetime.now(UTC).date(), panel=panel, **context
    )
    response = Response(html, status=status)
    response.vary.add("HX-Request")
    return response


def _tab(subscription: LicenseSubscription, **opened: object) -> Response:
    """Without scripts: the hub's Licensing tab, with this subscription's panel open when ``opened`` says which."""
    if subscription.customer_id is None:
        return redirect(url_for("customers.index"))
    if opened:
        opened["subscription"] = public_ids.encode("subscription", subscription.id)
    url = url_for("customers.tab", customer_id=subscription.customer_id, tab="licensing", **opened)  # type: ignore[arg-type]
    return redirect(f"{url}#subscription-{subscription.id}")


def _answer(subscription: LicenseSubscription, outcome: Outcome) -> Response:
    if wants_partial():
        return _row(subscription, message=outcome.message, tone=outcome.tone)
    flash(outcome.message, outcome.tone)
    return _tab(subscription)


def _said(subscription: LicenseSubscription, message: str, tone: str) -> Response:
    """Words about the row: beneath it for htmx; without scripts, flashed on the tab (never a bare fragment)."""
    if wants_partial():
        return _row(subscription, message=message, tone=tone)
    flash(message, tone)
    return _tab(subscription)


def _seats() -> int | None:
    found = params.integer(request.values.get("quantity", "").strip())
    return found if found is not None and 1 <= found <= MAX_SEATS else None


@bp.get(f"{ROUTE}/row")
@signed_in
def row(subscription_id: int) -> Response:
    subscription = get_or_404(LicenseSubscription, subscription_id)
    return _row(subscription) if wants_partial() else _tab(subscription)


@bp.get(f"{ROUTE}/preflight")
@writers
def preflight(subscription_id: int) -> Response:
    """What the seat change would do, before anything is sent."""
    subscription = get_or_404(LicenseSubscription, subscription_id)
    quantity = _seats()
    if quantity is None:
        return _said(subscription, f"Give the seats as a whole number from 1 to {MAX_SEATS:,}.", "error")
    if quantity == subscription.quantity:
        return _said(subscription, f"It already has {quantity} seats.", "info")
    if not wants_partial():
        return _tab(subscription, panel="preflight", quantity=quantity)
    found = queries.preflight(db.session(), subscription, quantity)
    return _row(subscription, panel="preflight", preflight=found)


@bp.get(f"{ROUTE}/quote/new")
@writers
def quote_form(subscription_id: int) -> Response:
    subscription = get_or_404(LicenseSubscription, subscription_id)
    if not wants_partial():
        return _tab(subscription, panel="quote")
    return _row(subscription, panel="quote", reference=new_reference())


@bp.post(f"{ROUTE}/seats")
@writers
def adjust(subscription_id: int) -> Response:
    subscription = get_or_404(LicenseSubscription, subscription_id)
    outcome = perform(
        "license.adjust_seats",
        _target(subscription),
        {"quantity": request.form.get("quantity", "")},
        actor=current_actor(),
        surface="ui",
        dry_run=request.form.get("dry_run") == "1",
    )
    return _answer(subscription, outcome)


@bp.post(f"{ROUTE}/schedule")
@writers
def schedule(subscription_id: int) -> Response:
    subscription = get_or_404(LicenseSubscription, subscription_id)
    outcome = perform(
        "license.schedule_seats",
        _target(subscription),
        {"quantity": request.form.get("quantity", "")},
        actor=current_actor(),
        surface="ui",
    )
    return _answer(subscription, outcome)


@bp.post(f"{ROUTE}/scheduled/cancel")
@writers
def cancel_scheduled(subscription_id: int) -> Response:
    subscription = get_or_404(LicenseSubscription, subscription_id)
    outcome = perform("license.cancel_scheduled", _target(subscription), {}, actor=current_actor(), surface="ui")
    return _answer(subscription, outcome)


@bp.post(f"{ROUTE}/quote")
@writers
def quote(subscription_id: int) -> Response:
    subscription = get_or_404(LicenseSubscription, subscription_id)
    payload = {k: request.form.get(k, "") for k in ("quantity", "notes", "reference")}
    outcome = perform("license.create_quote", _target(subscription), payload, actor=current_actor(), surface="ui")
    if not outcome.accepted and wants_partial():
        return _row(subscription, panel="quote", reference=payload["reference"], message=outcome.message, tone="error")
    return _answer(subscription, outcome)
