"""Rules: the list, templates, the builder (new and edit), "Test on recent events", a rule's page with its
History, versions and backtest, and enable / pause / dry-run / delete."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.identity.auth import current_actor, require_role, signed_in
from vectis.models import Customer, Role, Rule, RuleVersion, TicketBoard, TicketPriority
from vectis.platform import db, params
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render
from vectis.rules import builder, conditions, engine, history
from vectis.rules import definition as rule_definition
from vectis.rules.action_types import ACTION_TYPES, ActionText, Names, describe_action
from vectis.rules.predicates import PREDICATES
from vectis.rules.templates import TEMPLATES
from vectis.rules.triggers import catalog

bp = Blueprint("rules", __name__)
writers = require_role(Role.TECHNICIAN)
MODE_ACTIONS = {"enable": "rule.enable", "pause": "rule.pause", "dry-run": "rule.dry_run", "delete": "rule.delete"}
BACKTEST_DAYS = (1, 7, 30)


def _say(names: Names | None = None) -> Callable[..., ActionText]:
    """What templates call to put an action in words, with this request's names of boards and priorities."""
    return partial(describe_action, names=names or Names(db.session()))


@bp.get("/rules")
@signed_in
def index() -> Response:
    return render("rules/index.html", rows=history.rule_list(db.session()), active="rules")


@bp.get("/rules/templates")
@signed_in
def templates() -> Response:
    return render("rules/templates.html", templates=TEMPLATES.values(), triggers=catalog(), say=_say(), active="rules")


@bp.post(f"/rules/templates/<any({', '.join(TEMPLATES)}):key>")
@writers
def from_template(key: str) -> Response:
    template = TEMPLATES.get(key) or abort(404)
    outcome = perform(
        "rule.create",
        Target("rule", None, template.name),
        {"name": template.name, "definition": template.definition, "template": template.key},
        actor=current_actor(),
        surface="ui",
    )
    flash(outcome.message, outcome.tone)
    if not outcome.ok:
        return redirect(url_for("rules.templates"))
    return redirect(url_for("rules.show", rule_id=outcome.response["rule_id"]))


def _builder_context(name: str, definition: dict[str, Any], **extra: Any) -> dict[str, Any]:
    s = db.session()
    triggers = catalog()
    return {
        "name": name,
        "definition": definition,
        "trigger": triggers.get(definition.get("trigger") or ""),
        "triggers": triggers,
        "operators": conditions.OPERATORS,
        "predicates": PREDICATES,
        "action_types": ACTION_TYPES,
        "units": builder.UNITS,
        "leaf_value": builder.leaf_value,
        "customers": s.execute(select(Customer.id, Customer.name).order_by(Customer.name)).all(),
        # The rule's own tag stays choosable even when no customer carries it any more.
        "tags": sorted(set(s.scalars(select(func.unnest(Customer.tags)).distinct())) | _scope_tag(definition)),
        "boards": s.execute(
            select(TicketBoard.id, TicketBoard.name).where(TicketBoard.inactive.is_(False)).order_by(TicketBoard.name)
        ).all(),
        "priorities": s.execute(
            select(TicketPriority.id, TicketPriority.name).order_by(TicketPriority.sort_order)
        ).all(),
        "active": "rules",
        **extra,
    }


def _scope_tag(definition: dict[str, Any]) -> set[str]:
    scope = definition.get("scope") or {}
    return {str(scope["tag"])} if scope.get("kind") == "tag" and scope.get("tag") else set()


@bp.get("/rules/new")
@writers
def new() -> Response:
    definition = builder.starting(request.args.get("trigger"))
    return render("rules/edit.html", **_builder_context("", definition, rule=None, problems=[]))


@bp.post("/rules/new")
@writers
def create() -> Response:
    name, definition = builder.from_form(request.form)
    outcome = perform(
        "rule.create", Target("rule", None, name or "new rule"), {"name": name, "definition": definition},
        actor=current_actor(), surface="ui",
    )  # fmt: skip
    if not outcome.ok:
        problems = _problems(name, definition) or [outcome.message]
        return render("rules/edit.html", status=422, **_builder_context(name, definition, rule=None, problems=problems))
    flash(outcome.message, "ok")
    return redirect(url_for("rules.show", rule_id=outcome.response["rule_id"]))


def _problems(name: str, definition: dict[str, Any]) -> list[str]:
    found = [] if name else ["Give the rule a name people will recognise in the audit log."]
    return found + rule_definition.problems(definition)


@bp.post("/rules/builder")
@writers
def rebuild() -> Response:
    """One change in the builder: the form comes back drawn from what the server parsed."""
    name, definition = builder.from_form(request.form)
    op = request.form.get("op", "")
    if op.startswith("trigger"):  # another trigger: its fields differ, so start its conditions afresh
        definition = {**builder.starting(definition["trigger"]), "actions": definition["actions"]}
    else:
        definition = builder.apply(definition, op)
    rule_id = params.integer(request.form.get("rule_id"))
    rule = get_or_404(Rule, rule_id) if rule_id is not None else None
    return render("rules/_builder.html", **_builder_context(name, definition, rule=rule, problems=[]))


@bp.post("/rules/test")
@writers
def test() -> Response:
    """ "Test on recent events": the draft as it stands in the form, on the last week's events."""
    _, definition = builder.from_form(request.form)
    problems = rule_definition.problems({**definition, "actions": definition["actions"] or [{"type": "create_alert"}]})
    if problems:
        return render("rules/_trials.html", trials=[], problems=problems, days=7, say=_say())
    s = db.session()
    events = history.sample(s, g.tenant.id, definition, days=7, limit=25)
    trials = engine.trial(s, g.tenant.id, definition, events)
    return render("rules/_trials.html", trials=trials, problems=[], days=7, say=_say())


def _rule_page(rule: Rule, tab: str, **extra: Any) -> Response:
    s = db.session()
    current = s.scalar(select(RuleVersion).where(RuleVersion.rule_id == rule.id, RuleVersion.version == rule.version))
    if current is None:  # every rule is saved with its version; a row without one is not ours to show
        abort(404)
    names = Names(s)
    context: dict[str, Any] = {
        "rule": rule,
        "tab": tab,
        "trigger": catalog().get(rule.trigger),
        "lines": rule_definition.describe(current.definition, names),
        "say": _say(names),
        "backtest_days": BACKTEST_DAYS,
        "active": "rules",
        **extra,
    }
    if tab == "versions":
        context["versions"] = history.versions(s, rule.id)
    elif tab == "backtest":
        days = request.args.get("days", "7")
        context["days"] = chosen if (chosen := params.integer(days)) in BACKTEST_DAYS else 7
        events = history.sample(s, rule.tenant_id, current.definition, days=context["days"], limit=2000)
        context["trials"] = [t for t in engine.trial(s, rule.tenant_id, current.definition, events)]
    else:
        context["fires"] = history.fires(s, rule.id)
        context["would_send"] = history.would_send(s, rule, context["fires"])
    return render("rules/show.html", "rules/_tab.html", **context)


@bp.get("/rules/<pid(rule):rule_id>")
@signed_in
def show(rule_id: int) -> Response:
    tab = request.args.get("tab", "history")
    return _rule_page(get_or_404(Rule, rule_id), tab if tab in ("history", "versions", "backtest") else "history")


@bp.get("/rules/<pid(rule):rule_id>/edit")
@writers
def edit(rule_id: int) -> Response:
    rule = get_or_404(Rule, rule_id)
    s = db.session()
    definition = s.scalar(
        select(RuleVersion.definition).where(RuleVersion.rule_id == rule.id, RuleVersion.version == rule.version)
    )
    return render("rules/edit.html", **_builder_context(rule.name, dict(definition or {}), rule=rule, problems=[]))


@bp.post("/rules/<pid(rule):rule_id>/edit")
@writers
def update(rule_id: int) -> Response:
    rule = get_or_404(Rule, rule_id)
    name, definition = builder.from_form(request.form)
    outcome = perform(
        "rule.update", Target("rule", str(rule.id), rule.name), {"name": name, "definition": definition},
        actor=current_actor(), surface="ui",
    )  # fmt: skip
    if not outcome.ok:
        problems = _problems(name, definition) or [outcome.message]
        return render("rules/edit.html", status=422, **_builder_context(name, definition, rule=rule, problems=problems))
    flash(outcome.message, "ok")
    return redirect(url_for("rules.show", rule_id=rule.id, tab="versions"))


@bp.post("/rules/<pid(rule):rule_id>/<any(enable, pause, 'dry-run', delete):action>")
@writers
def change_mode(rule_id: int, action: str) -> Response:
    rule = get_or_404(Rule, rule_id)
    outcome = perform(
        MODE_ACTIONS[action], Target("rule", str(rule.id), rule.name), {}, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, outcome.tone)
    if action == "delete" and outcome.ok:
        return redirect(url_for("rules.index"))
    return redirect(url_for("rules.show", rule_id=rule_id))


@bp.post("/rules/<pid(rule):rule_id>/restore")
@writers
def restore(rule_id: int) -> Response:
    """Versions → "Restore this version": a new version with the chosen one's definition, the mode kept."""
    rule = get_or_404(Rule, rule_id)
    payload = {"version": params.integer(request.form.get("version"), low=1, high=1_000_000) or 0}
    outcome = perform(
        "rule.restore", Target("rule", str(rule.id), rule.name), payload, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, outcome.tone)
    return redirect(url_for("rules.show", rule_id=rule.id, tab="versions"))
