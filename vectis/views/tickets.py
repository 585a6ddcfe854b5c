"""Tickets: the queue (search, My tickets, filters), one ticket (a page, or inline in the hub) with its
status, owner and priority controls, the reply form, and New ticket from the hub or from /tickets."""

from __future__ import annotations

import base64
from typing import cast

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from vectis.actions import Outcome, Target, perform
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.models import Customer, Role, Ticket, User
from vectis.platform import db, public_ids
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render, wants_partial
from vectis.tickets import members
from vectis.tickets import queries as tickets
from vectis.views.customers import hub_page

bp = Blueprint("tickets", __name__)
writers = require_role(Role.TECHNICIAN)  # admins pass every check
NEW_TICKET_FIELDS = ("summary", "board_id", "priority_id", "contact_id", "description")


def _me() -> User:
    return cast(User, current_user._get_current_object())


@bp.get("/tickets")
@signed_in
def index() -> Response:
    s = db.session()
    filters = tickets.Filters.from_args(request.args)
    after = request.args.get("after")
    mine = members.mine(s, _me()) if filters.mine else []
    found = tickets.queue(s, filters, after=after, mine=mine)
    partial = "tickets/_rows.html" if after else "tickets/_results.html"
    return render(
        "tickets/index.html",
        partial,
        filters=filters,
        queue=found,
        choices=tickets.choices(s),
        states=tickets.STATES,
        no_member=filters.mine and not mine,
        psas=[c.name for c in members.psa_connections(s)],
        active="tickets",
    )


def _detail(
    ticket: Ticket,
    *,
    draft: dict[str, str] | None = None,
    notice: Outcome | None = None,
    status: int = 200,
) -> Response:
    s = db.session()
    customer = s.get(Customer, ticket.customer_id) if ticket.customer_id else None
    return render(
        "tickets/show.html",
        "tickets/_detail.html",
        detail=tickets.detail(s, ticket, _me()),
        customer=customer,
        severity=tickets.SEVERITY,
        draft=draft or {},
        notice=notice.message if notice else None,
        notice_tone=notice.tone if notice else None,
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
    if not outcome.accepted:  # the draft stays in the form, with the vendor's reason above it
        draft = {"text": str(form["text"]), "internal": "on" if form["internal"] else "", "error": outcome.message}
        return _detail(ticket, draft=draft, status=422)
    db.session().refresh(ticket)
    if wants_partial():
        return _detail(ticket, notice=outcome)
    flash(outcome.message, outcome.tone)
    return redirect(url_for("tickets.show", ticket_id=ticket.id))


# Each control of its own: the field it sends and the verb it asks for.
CONTROLS = {
    "status": ("status_id", "ticket.update_status"),
    "assign": ("member_id", "ticket.assign"),
    "priority": ("priority_id", "ticket.set_priority"),
}


@bp.post("/tickets/<pid(ticket):ticket_id>/<any(status, assign, priority):control>")
@writers
def change(ticket_id: int, control: str) -> Response:
    """Status, owner or priority, each written back on its own: no reply needed to move a ticket."""
    ticket = get_or_404(Ticket, ticket_id)
    field, verb = CONTROLS[control]
    outcome = perform(
        verb,
        Target("ticket", str(ticket.id), f"#{ticket.external_id}"),
        {field: request.form.get(field, "")},
        actor=current_actor(),
        surface="ui",
    )
    db.session().refresh(ticket)
    if wants_partial():
        if outcome.accepted:
            return _detail(ticket, notice=outcome)
        return _detail(ticket, draft={"control_error": outcome.message, "control": control}, status=422)
    flash(outcome.message, outcome.tone)
    return redirect(url_for("tickets.show", ticket_id=ticket.id))


def _create(customer: Customer, payload: dict[str, str]) -> Outcome:
    return perform(
        "ticket.create",
        Target("customer", str(customer.id), customer.name),
        payload,
        actor=current_actor(),
        surface="ui",
    )


def _created(outcome: Outcome, otherwise: str) -> Response:
    """Created, or queued for the worker to create: said above the ticket, else above where it was asked."""
    flash(outcome.message, outcome.tone)
    ticket_id = outcome.response.get("ticket_id")
    return redirect(url_for("tickets.show", ticket_id=ticket_id) if ticket_id else otherwise)


@bp.post("/customers/<pid(customer):customer_id>/tickets")
@writers
def create(customer_id: int) -> Response:
    customer = get_or_404(Customer, customer_id)
    payload = {k: request.form.get(k, "") for k in NEW_TICKET_FIELDS}
    outcome = _create(customer, payload)
    if not outcome.accepted:  # what was typed and chosen stays in the form, with the reason above it
        return hub_page(customer.id, "tickets", draft={**payload, "error": outcome.message}, status=422)
    return _created(outcome, url_for("customers.tab", customer_id=customer.id, tab="tickets"))


def _new_page(customer: Customer | None, draft: dict[str, str], status: int = 200) -> Response:
    s = db.session()
    return render(
        "tickets/new.html",
        "tickets/_new_ticket.html",
        customers=tickets.ticket_customers(s),
        psas=tickets.writing_psas(s),
        customer=customer,
        new_ticket=tickets.new_ticket_for(s, customer) if customer else None,
        draft=draft,
        active="tickets",
        status=status,
    )


def _chosen_customer(value: str | None) -> Customer | None:
    key = public_ids.decode("customer", value or "")
    return get_or_404(Customer, key) if key else None


@bp.get("/tickets/new")
@writers
def new() -> Response:
    """New ticket from the queue: choose the customer, and the form offers its boards (its usual one first),
    priorities and contacts, as the hub's form does. The URL names the customer only (without scripts the
    Choose button asks for it), never what was typed."""
    return _new_page(_chosen_customer(request.args.get("customer")), {})


@bp.post("/tickets/new/customer")
@writers
def choose_customer() -> Response:
    """Changing the customer asks for its form again and keeps what was typed: posted, so a ticket's text never
    lands in a URL (access logs, history)."""
    draft = {k: request.form.get(k, "") for k in ("summary", "description")}
    return _new_page(_chosen_customer(request.form.get("customer")), draft)


@bp.post("/tickets/new")
@writers
def create_from_queue() -> Response:
    customer = _chosen_customer(request.form.get("customer"))
    payload = {k: request.form.get(k, "") for k in NEW_TICKET_FIELDS}
    if customer is None:
        return _new_page(None, {**payload, "error": "Choose the customer the ticket is for."}, status=422)
    outcome = _create(customer, payload)
    if not outcome.accepted:
        return _new_page(customer, {**payload, "error": outcome.message}, status=422)
    return _created(outcome, url_for("tickets.index"))
