"""Customers: the list, the ⌘K palette, the hub and its tabs, notes, and the global timeline."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.customers import directory as customers
from vectis.customers import hub, timeline
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.models import Customer, CustomerNote, Role
from vectis.platform import db
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render, wants_partial

bp = Blueprint("customers", __name__)
writers = require_role(Role.TECHNICIAN)  # admins pass every check; read-only users cannot write notes


@bp.get("/customers")
@signed_in
def index() -> Response:
    q, sort = request.args.get("q", ""), request.args.get("sort", "name")
    sort = sort if sort in customers.SORTS else "name"
    after = request.args.get("after")
    result = customers.list_customers(db.session(), q=q, sort=sort, after=after)
    # "Load more" asks for rows only; a search or sort change for the results; a plain GET for the page.
    partial = "customers/_rows.html" if after else "customers/_results.html"
    return render(
        "customers/index.html", partial, result=result, q=q, sort=sort, sorts=customers.SORTS, active="customers"
    )


@bp.get("/customers/palette")
@signed_in
def palette() -> Response:
    found = customers.palette(db.session(), request.args.get("q", ""))
    return render("customers/_palette.html", "customers/_palette.html", found=found)


def hub_page(
    customer_id: int, tab_key: str | None, *, draft: dict[str, str] | None = None, status: int = 200
) -> Response:
    customer = get_or_404(Customer, customer_id)
    s = db.session()
    context = hub.HubContext(s, customer, customers.sites_of(s, customer))
    tabs = hub.visible_tabs(context)
    tab = next((t for t in tabs if t.key == tab_key), None) if tab_key else hub.opening(tabs)
    if tab is None:
        abort(404)
    parent = s.get(Customer, customer.parent_id) if customer.parent_id else None
    values = {
        "customer": customer,
        "parent": parent,
        "sites": context.sites,
        "tabs": tabs,
        "tab": tab,
        "badges": customers.badges_for(s, [customer.id], sites=context.sites, jobs=context.jobs).get(
            customer.id, customers.Badges()
        ),
        "contact": customers.contacts(s, [customer])[customer.id],
        "active": "customers",
        "draft": draft or {},
        **tab.context(context),
    }
    if request.args.get("before") and wants_partial():
        return render("customers/hub.html", "timeline/_entries.html", **values)
    return render("customers/hub.html", "customers/_hub_body.html", status=status, **values)


@bp.get("/customers/<pid(customer):customer_id>")
@signed_in
def show(customer_id: int) -> Response:
    return hub_page(customer_id, None)


@bp.get(
    "/customers/<pid(customer):customer_id>/"
    "<any(tickets, alerts, security, m365, licensing, devices, backups, contracts, timeline, portal):tab>"
)
@signed_in
def tab(customer_id: int, tab: str) -> Response:
    return hub_page(customer_id, tab)


def _back_to_timeline(customer_id: int, filters: timeline.Filters) -> Response:
    """Back to the timeline as the person left it: the forms carry its filters."""
    url = url_for("customers.tab", customer_id=customer_id, tab="timeline")
    return redirect(f"{url}?{filters.query_string}" if filters.query_string else url)


@bp.post("/customers/<pid(customer):customer_id>/tags")
@writers
def set_tags(customer_id: int) -> Response:
    customer = get_or_404(Customer, customer_id)
    outcome = perform(
        "customer.tags",
        Target("customer", str(customer.id), customer.name),
        {"tags": request.form.get("tags", "")},
        actor=current_actor(),
        surface="ui",
    )
    flash(outcome.message, outcome.tone)
    return redirect(url_for("customers.show", customer_id=customer.id))


@bp.post("/customers/<pid(customer):customer_id>/notes")
@writers
def add_note(customer_id: int) -> Response:
    customer = get_or_404(Customer, customer_id)
    payload = {"body": request.form.get("body", ""), "occurred_at": request.form.get("occurred_at", "")}
    outcome = perform(
        "note.create", Target("customer", str(customer.id), customer.name), payload, actor=current_actor(), surface="ui"
    )
    if not outcome.ok:  # the words stay in the form, with the reason above it
        return hub_page(customer.id, "timeline", draft={**payload, "error": outcome.message}, status=422)
    filters = timeline.Filters.from_args(request.form)
    note = db.session().get(CustomerNote, int(outcome.response.get("note_id") or 0))
    if note is not None and not filters.shows(
        source=timeline.NOTE_SOURCE, kind=timeline.NOTE_KIND, moment=note.occurred_at
    ):
        flash(f"{outcome.message} The filters above hide it: remove them to see it.", "ok")
    else:
        flash(outcome.message, "ok")
    return _back_to_timeline(customer.id, filters)


@bp.post("/customers/<pid(customer):customer_id>/notes/<pid(note):note_id>")
@writers
def edit_note(customer_id: int, note_id: int) -> Response:
    note = get_or_404(CustomerNote, note_id)
    if note.customer_id != customer_id:
        abort(404)
    payload = {"body": request.form.get("body", ""), "occurred_at": request.form.get("occurred_at", "")}
    outcome = perform(
        "note.edit",
        Target("customer_note", str(note.id), f"note {note.id}"),
        payload,
        actor=current_actor(),
        surface="ui",
    )
    flash(outcome.message, outcome.tone)
    return _back_to_timeline(customer_id, timeline.Filters.from_args(request.form))


@bp.post("/customers/<pid(customer):customer_id>/notes/<pid(note):note_id>/delete")
@writers
def delete_note(customer_id: int, note_id: int) -> Response:
    note = get_or_404(CustomerNote, note_id)
    if note.customer_id != customer_id:
        abort(404)
    outcome = perform(
        "note.delete", Target("customer_note", str(note.id), f"note {note.id}"), {}, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, outcome.tone)
    return _back_to_timeline(customer_id, timeline.Filters.from_args(request.form))


@bp.get("/timeline")
@signed_in
def timeline_all() -> Response:
    s = db.session()
    filters, customer_ids = timeline.with_customer(s, timeline.Filters.from_args(request.args))
    page = timeline.page(s, filters, customer_ids=customer_ids, before=request.args.get("before"))
    partial = "timeline/_entries.html" if request.args.get("before") else "timeline/_results.html"
    return render(
        "timeline/index.html",
        partial,
        filters=filters,
        page=page,
        customer_names=timeline.customer_names(s, page),
        customer_choices=[] if request.args.get("before") else timeline.customer_choices(s),
        active="timeline",
        base_url=url_for("customers.timeline_all"),
    )
