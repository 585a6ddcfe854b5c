"""Queries: the saved list with its search, the builder with its live preview, saving and deleting.

The builder's state lives in the URL (``?q=``, ``vectis.query.form``): every change posts the form, and the answer
is the builder drawn again with the new URL pushed, so a question can be bookmarked and sent to a colleague.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, request, stream_with_context, url_for
from werkzeug.wrappers import Response

from vectis.actions import VERBS, Target, perform
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.models import Role, SavedQuery
from vectis.models.queries import AUDIENCES, EXPORT_FORMATS
from vectis.platform import db, public_ids
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render, wants_partial, with_headers
from vectis.query import display, exports, form, run, saved
from vectis.query.allowlist import EDGES, TABLES, Kind
from vectis.query.export import TooManyRows
from vectis.query.operators import OPERATORS, aggregates_for
from vectis.query.spec import JOIN_MODES, SpecError, aggregate_label, empty, parse

bp = Blueprint("queries", __name__)
writers = require_role(Role.TECHNICIAN)  # saving and changing saved queries; everyone signed in asks and exports


def _draft_from_args() -> tuple[dict[str, Any], bool]:
    """The draft a link carries, or a new one; and whether the link was unreadable."""
    token = request.args.get("q", "")
    draft = form.decode(token) if token else None
    if draft is None:
        base = request.args.get("base", "customers")
        return empty(base if base in TABLES else "customers"), bool(token)
    return draft, False


def _builder_context(draft: dict[str, Any], query: SavedQuery | None) -> dict[str, Any]:
    """What the builder shows: the draft, the choices it offers, and the preview (a run, audited) when valid."""
    actor = current_actor()
    problems: list[str] = []
    preview: run.Preview | None = None
    stopped: str | None = None
    try:
        spec = parse(draft)
    except SpecError as error:
        spec, problems = None, error.problems
    if spec is not None:
        preview, stopped = run.audited_preview(db.session(), spec, tenant_id=g.tenant.id, actor=actor, saved=query)
    in_query = [t for t in form.tables_of(draft) if t in TABLES]
    without = {j.get("to") for j in draft.get("joins") or [] if isinstance(j, dict) and j.get("mode") == "without"}
    return {
        "draft": draft,
        "spec": spec,
        "problems": problems,
        "preview": preview,
        "stopped": stopped,
        "token": form.encode(draft),
        "tables": TABLES,
        "in_query": in_query,
        # Nothing joins from a table taken as "only without": it has no rows to join from.
        "edges": [
            e for e in EDGES.values() if e.left in in_query and e.right not in in_query and e.left not in without
        ],
        "edge_labels": EDGES,
        "modes": JOIN_MODES,
        "operators": OPERATORS,
        "aggregates_for": aggregates_for,
        "aggregate_label": aggregate_label,
        "kinds": Kind,
        "cell": display.cell,
        "saved_query": query,
        "can_save": perform_allowed("query.save"),
        "can_edit": query is not None and saved.can_edit(query, actor),
        "audiences": [(a, saved.AUDIENCE_LABELS[a]) for a in AUDIENCES],
    }


def _status(context: dict[str, Any]) -> int:
    """422 while the spec cannot run (something outside the allowlist, a condition waiting for its value): the
    page still shows the builder with every problem, and htmx swaps it in like a success (``vectis.js``)."""
    return 422 if context["problems"] else 200


def perform_allowed(verb: str) -> bool:
    return VERBS[verb].permitted(current_actor(), Target("saved_query", None, ""))


def _url(draft: dict[str, Any], query: SavedQuery | None) -> str:
    token = form.encode(draft)
    if query is not None:
        return url_for("queries.show", query_id=query.id, q=token)
    return url_for("queries.new", q=token)


@bp.get("/queries")
@signed_in
def index() -> Response:
    search = request.args.get("search", "").strip()[:100]
    rows = saved.listing(db.session(), current_actor(), search)
    return render(
        "queries/index.html",
        "queries/_list.html",
        rows=rows,
        search=search,
        audiences=saved.AUDIENCE_LABELS,
        actor=current_actor(),
        can_edit=saved.can_edit,
        active="queries",
    )


@bp.get("/queries/new")
@signed_in
def new() -> Response:
    draft, unreadable = _draft_from_args()
    if unreadable:
        flash("That link's query could not be read (it may have been cut short). Here is a new one.", "error")
    context = _builder_context(draft, None)
    return render("queries/builder.html", status=_status(context), **context, active="queries")


@bp.get("/queries/<pid(saved_query):query_id>")
@signed_in
def show(query_id: int) -> Response:
    query = get_or_404(SavedQuery, query_id)
    if not saved.can_run(query, current_actor()):
        abort(404)  # shared with other roles only: as if it did not exist
    draft, unreadable = _draft_from_args() if request.args.get("q") else (dict(query.spec), False)
    if unreadable:
        draft = dict(query.spec)
    context = _builder_context(draft, query)
    return render("queries/builder.html", status=_status(context), **context, active="queries")


@bp.post("/queries/build")
@signed_in
def build() -> Response:
    """Every builder change: the form read back, the button's operation applied, the builder drawn again."""
    draft = form.apply(form.from_form(request.form), request.form.get("op", ""), request.form)
    query_id = request.form.get("saved_query", "")
    query = None
    if query_id:
        key = public_ids.decode("saved_query", query_id)
        query = db.session().get(SavedQuery, key) if key else None
        if query is not None and not saved.can_run(query, current_actor()):
            query = None
    context = _builder_context(draft, query)
    if not wants_partial():
        return redirect(_url(draft, query))
    return with_headers(
        render("queries/_builder.html", status=_status(context), **context), push_url=_url(draft, query)
    )


def _saved_fields() -> dict[str, Any]:
    draft = form.decode(request.form.get("q", "")) or {}
    return {
        "name": request.form.get("name", ""),
        "description": request.form.get("description", ""),
        "audience": request.form.get("audience", "everyone"),
        "spec": draft,
    }


@bp.post("/queries")
@writers
def create() -> Response:
    fields = _saved_fields()
    outcome = perform(
        "query.save", Target("saved_query", None, fields["name"][:200]), fields, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, outcome.tone)
    if outcome.ok:
        return redirect(url_for("queries.show", query_id=outcome.response["saved_query_id"]))
    return redirect(url_for("queries.new", q=request.form.get("q", "")))


@bp.post("/queries/<pid(saved_query):query_id>")
@writers
def update(query_id: int) -> Response:
    query = get_or_404(SavedQuery, query_id)
    fields = _saved_fields()
    outcome = perform(
        "query.update", Target("saved_query", str(query.id), query.name), fields, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, outcome.tone)
    return redirect(url_for("queries.show", query_id=query_id))


@bp.post("/queries/<pid(saved_query):query_id>/delete")
@writers
def delete(query_id: int) -> Response:
    query = get_or_404(SavedQuery, query_id)
    outcome = perform(
        "query.delete", Target("saved_query", str(query.id), query.name), {}, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, outcome.tone)
    return redirect(url_for("queries.index") if outcome.ok else url_for("queries.show", query_id=query_id))


def _back_to_builder(token: str, query_pid: str) -> str:
    key = public_ids.decode("saved_query", query_pid) if query_pid else None
    if key is not None:
        return url_for("queries.show", query_id=key, q=token)
    return url_for("queries.new", q=token)


@bp.post("/queries/export")
@signed_in
def export() -> Response:
    """Export: a small result downloads at once; a large one is written by the worker, with a progress page."""
    token, query_pid = request.form.get("q", ""), request.form.get("saved_query", "")
    fmt = request.form.get("format", "xlsx")
    back = _back_to_builder(token, query_pid)
    try:
        spec = parse(form.decode(token) or {})
    except SpecError as error:
        flash(f"The query cannot be exported yet: {error.problems[0]}", "error")
        return redirect(back)
    if fmt not in EXPORT_FORMATS:
        abort(400)
    saved_id = public_ids.decode("saved_query", query_pid) if query_pid else None
    try:
        started = exports.start(
            db.session(), tenant_id=g.tenant.id, actor=current_actor(), spec=spec, fmt=fmt, saved_query_id=saved_id
        )
    except (TooManyRows, run.QueryTimeout) as error:
        flash(str(error), "error")
        return redirect(back)
    if isinstance(started, exports.Download):
        response = Response(started.data, mimetype=started.content_type)
        response.headers.set("Content-Disposition", "attachment", filename=started.file_name)
        return response
    return redirect(url_for("queries.export_status", export_id=started.id))


@bp.get("/queries/exports/<pid(export):export_id>")
@signed_in
def export_status(export_id: int) -> Response:
    status = exports.status(db.session(), export_id, user_id=current_actor().user_id) or abort(404)
    return render("queries/export.html", "queries/_export.html", export=status, active="queries")


@bp.get("/queries/exports/<pid(export):export_id>/download")
@signed_in
def download(export_id: int) -> Response:
    session = db.session()
    try:
        stored = exports.read(session, export_id, user_id=current_actor().user_id) or abort(404)
    except exports.ExportUnavailable as error:
        flash(str(error), "error")
        return redirect(url_for("queries.export_status", export_id=export_id))
    response = Response(stream_with_context(stored.chunks(session)), mimetype=stored.content_type)
    response.headers.set("Content-Disposition", "attachment", filename=stored.file_name)
    response.headers["Content-Length"] = str(stored.size)
    return response
