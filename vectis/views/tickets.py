"""Tickets: the queue, one ticket (a page, or inline in the hub), and the write-back forms."""

from __future__ import annotations

import base64

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.models import Customer, Role, Ticket
from vectis.platform import db
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render, wants_partial
from vectis.tickets import queries as tickets
from vectis.views.customers import hub_page

bp = Blueprint("tickets", __name__)
writers = require_role(Role.TECHNICIAN)  # admins pass every check


@bp.get("/tickets")
@signed_in
def index() -> Response:
    s = db.session()
    filters = tickets.Filters.from_args(request.args)
    after = request.args.get("after")
    found = tickets.queue(s, filters, after=after)
    partial = "tickets/_rows.html" if after else "tickets/_results.html"
    return render(
        "tickets/index.html",
        partial,
        filters=filters,
        queue=found,
        choices=tickets.choices(s),
        states=tickets.STATES,
        active="tickets",
    )


def _detail(
    ticket: Ticket, *, draft: dict[str, str] | None = None, notice: str | None = None, status: int = 200
) -> Response:
    s = db.session()
    customer = s.get(Customer, ticket.customer_id) if ticket.customer_id else None
    return render(
        "tickets/show.html",
        "tickets/_detail.html",
        detail=tickets.detail(s, ticket),
        customer=customer,
        draft=draft or {},
        notice=notice,
        active="tickets",
        status=status,
    )


@bp.get("/tickets/<pid(ticket):ticket_id>")
@signed_in
def show(ticket_id: int) -> Response:
    return _detail(get_or_404(Ticket, ticket_id))


@bp.post("/tickets/<pid(ticket):ticket_id>/reply")
@writers
def reply(ticket_id: int) -> Response:
    ticket = get_or_404(Ticket, ticket_id)
    form = {
        "text": request.form.get("text", ""),
        "internal": request.form.get("internal") == "on",
        "status_id": request.form.get("status_id", ""),
    }
    upload = request.files.get("attachment")
    if upload is not None and upload.filename:
        form["attachment_name"] = upload.filename
        form["attachment_content"] = base64.b64encode(upload.read()).decode()
    outcome = perform(
        "ticket.reply",
        Target("ticket", str(ticket.id), f"#{ticket.external_id}"),
        form,
        actor=current_actor(),
        surface="ui",
    )
    if not outcome.ok:  # the draft stays in the form, with the vendor's reason above it
        draft = {"text": str(form["text"]), "internal": "on" if form["internal"] else "", "error": outcome.message}
        return _detail(ticket, draft=draft, status=422)
    db.session().refresh(ticket)
    if wants_partial():
        return _detail(ticket, notice=outcome.message)
    flash(outcome.message, "ok")
    return redirect(url_for("tickets.show", ticket_id=ticket.id))


@bp.post("/tickets/<pid(ticket):ticket_id>/status")
@writers
def change_status(ticket_id: int) -> Response:
    ticket = get_or_404(Ticket, ticket_id)
    outcome = perform(
        "ticket.update_status",
        Target("ticket", str(ticket.id), f"#{ticket.external_id}"),
        {"status_id": request.form.get("status_id", "")},
        actor=current_actor(),
        surface="ui",
    )
    db.session().refresh(ticket)
    if wants_partial():
        draft = {} if outcome.ok else {"error": outcome.message}
        return _detail(
            ticket, draft=draft, notice=outcome.message if outcome.ok else None, status=200 if outcome.ok else 422
        )
    flash(outcome.message, "ok" if outcome.ok else "error")
    return redirect(url_for("tickets.show", ticket_id=ticket.id))


@bp.post("/customers/<pid(customer):customer_id>/tickets")
@writers
def create(customer_id: int) -> Response:
    customer = get_or_404(Customer, customer_id)
    payload = {k: request.form.get(k, "") for k in ("summary", "board_id", "priority_id", "contact_id", "description")}
    outcome = perform(
        "ticket.create",
        Target("customer", str(customer.id), customer.name),
        payload,
        actor=current_actor(),
        surface="ui",
    )
    if not outcome.ok:  # what was typed and chosen stays in the form, with the reason above it
        return hub_page(customer.id, "tickets", draft={**payload, "error": outcome.message}, status=422)
    flash(outcome.message, "ok")
    if outcome.response.get("ticket_id"):
        return redirect(url_for("tickets.show", ticket_id=outcome.response["ticket_id"]))
    return redirect(url_for("customers.tab", customer_id=customer.id, tab="tickets"))
